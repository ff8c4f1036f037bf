import type { Command } from 'commander';
import { ConfigError, describeError } from '../../errors.js';
import { formatTableName } from '../../sql/identifiers.js';
import { note, print, printJson } from '../output.js';
import { withContext, type GetContext } from '../context.js';

export function registerTarget(program: Command, getContext: GetContext): void {
  const target = program.command('target').description('manage targets');
  target
    .command('init')
    .description("create the target's version store and check its tables (exists, key for upserts, mapped columns); HTTP: check the endpoint answers. Exits 1 on problems")
    .argument('<target>', 'target name from the config')
    .option('--no-source', 'do not read key columns from the source (checks only that each table has some key)')
    .option('--create', 'DynamoDB: create missing tables (on-demand billing) and the state table, and turn on Time to Live')
    .option('--json', 'print the problems found as JSON')
    .action((name: string, opts: { source: boolean; create?: boolean; json?: boolean }) =>
      withContext(getContext, async (ctx) => {
        const [{ targetOf }, { buildTransformer, createTargetWriter, loadUserTransforms }] = await Promise.all([import('../../aws/resources.js'), import('../../targets/index.js')]);
        const config = targetOf(ctx.config, name);
        const secrets = ctx.config.targetSecrets(name);
        const problems: string[] = [];
        let keyColumns: Record<string, string[]> | undefined;
        if (opts.source && config.kind !== 'http') {
          try {
            const tracked = await (await ctx.source()).listTracked();
            keyColumns = Object.fromEntries(tracked.map((t) => [formatTableName(t.table), t.keyColumns]));
            for (const table of config.tables) if (!keyColumns[table]) problems.push(`source table ${table} is not tracked: run \`outbox track ${table}\``);
          } catch (err) {
            note(`Note: key columns not checked, the source could not be read (${describeError(err)}).`);
          }
        }
        try {
          buildTransformer(name, config, secrets, { keyColumns });
        } catch (err) {
          if (!(err instanceof ConfigError)) throw err;
          problems.push(...err.problems);
        }
        try {
          await loadUserTransforms(name, config, ctx.config.origin);
        } catch (err) {
          if (!(err instanceof ConfigError)) throw err;
          problems.push(...err.problems);
        }
        const writer = createTargetWriter(name, config, secrets, ctx.logger, { region: ctx.config.aws.region });
        try {
          problems.push(...(await writer.init({ keyColumns, ...(opts.create ? { create: true } : {}) })));
        } finally {
          await writer.close();
        }
        if (problems.length > 0) process.exitCode = 1;
        if (opts.json) {
          printJson({ target: name, kind: config.kind, ready: problems.length === 0, problems });
          return;
        }
        for (const p of problems) print(`PROBLEM ${p}`);
        if (problems.length > 0) {
          print(`${problems.length} problem(s) found for target "${name}".`);
        } else {
          print(
            config.kind === 'http'
              ? `Target "${name}": the endpoint answers.`
              : config.kind === 'dynamodb'
                ? `Target "${name}" is ready: ${config.tables.length} DynamoDB table(s) checked, truncate markers in "${config.dynamodb?.stateTable ?? 'outbox_target_state'}".`
                : `Target "${name}" is ready: version store in "${config.stateSchema}", ${config.tables.length} table(s) checked.`,
          );
        }
      }),
    );
  target
    .command('resume')
    .description('lift a halt at a schema change (schemaChanges stop, or one apply could not do) after applying it at the target by hand; the running consumer goes on within seconds')
    .argument('<target>', 'target name from the config')
    .option('--json', 'print the resumed schema changes as JSON')
    .action((name: string, opts: { json?: boolean }) =>
      withContext(getContext, async (ctx) => {
        const [{ targetOf }, { createTargetWriter }, { hasSchemaAdmin }] = await Promise.all([import('../../aws/resources.js'), import('../../targets/index.js'), import('../../targets/types.js')]);
        const config = targetOf(ctx.config, name);
        const writer = createTargetWriter(name, config, ctx.config.targetSecrets(name), ctx.logger);
        try {
          if (!hasSchemaAdmin(writer)) throw new ConfigError([`targets.${name}.kind: is ${config.kind}, which never halts at a schema change (nothing to resume)`], 'the command line');
          const resumed = await writer.resumeSchemaChanges();
          if (opts.json) {
            printJson({ target: name, resumed });
            return;
          }
          for (const r of resumed) print(`RESUMED ${r.sourceTable} seq ${r.seq} (${r.targetTable})`);
          print(resumed.length === 0 ? `Target "${name}" is not halted at a schema change.` : `Target "${name}": ${resumed.length} schema change(s) marked as applied by hand; the consumer goes on.`);
        } finally {
          await writer.close();
        }
      }),
    );
}
