import type { Command } from 'commander';
import { nodeSupport } from '../../config/index.js';
import type { DoctorFinding } from '../../source/types.js';
import { print, printJson } from '../output.js';
import { withContext, type GetContext } from '../context.js';

/** What doctor checks outside the source database: the Node.js this process runs on. */
function runtimeFindings(): DoctorFinding[] {
  const node = nodeSupport();
  return node.warning ? [{ severity: 'warning', check: 'node', message: node.warning }] : [];
}

export function registerDoctor(program: Command, getContext: GetContext): void {
  program
    .command('doctor')
    .description('check that capture is intact; exits 1 when a trigger is missing or disabled, the ledger drifted, the schema is newer than the code or a target is halted at a schema change')
    .option('--json', 'print the findings as JSON')
    .action((opts: { json?: boolean }) =>
      withContext(getContext, async (ctx) => {
        const source = await ctx.source();
        const { haltFindings, readTargetHalts } = await import('./target-halts.js');
        const findings = [...(await source.doctor()), ...runtimeFindings(), ...haltFindings(await readTargetHalts(ctx.config, ctx.logger))];
        const notes = await source.doctorNotes();
        const errors = findings.filter((f) => f.severity === 'error').length;
        if (errors > 0) process.exitCode = 1;
        if (opts.json) {
          printJson({ ok: errors === 0, errors, warnings: findings.length - errors, findings, notes });
          return;
        }
        for (const n of notes) print(`INFO ${n}`);
        for (const f of findings) print(`${f.severity.toUpperCase()} [${f.check}] ${f.message}`);
        print(errors === 0 ? 'OK: capture is intact.' : `${errors} problem(s) found.`);
      }),
    );
}
