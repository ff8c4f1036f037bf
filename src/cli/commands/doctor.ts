import type { Command } from 'commander';
import { print } from '../output.js';
import { withContext, type GetContext } from './index.js';

export function registerDoctor(program: Command, getContext: GetContext): void {
  program
    .command('doctor')
    .description('check that capture is intact; exits 1 when a trigger is missing or disabled, the ledger drifted or the schema is newer than the code')
    .action(() =>
      withContext(getContext, async (ctx) => {
        const source = await ctx.source();
        const findings = await source.doctor();
        for (const f of findings) print(`${f.severity.toUpperCase()} [${f.check}] ${f.message}`);
        const errors = findings.filter((f) => f.severity === 'error').length;
        print(errors === 0 ? 'OK: capture is intact.' : `${errors} problem(s) found.`);
        if (errors > 0) process.exitCode = 1;
      }),
    );
}
