import type { Command } from 'commander';
import { parseTableName, formatTableName } from '../../sql/identifiers.js';
import { print, printJson, splitList } from '../output.js';
import { withContext, type GetContext } from '../context.js';
import { wholeNumber } from '../options.js';

export function registerTrack(program: Command, getContext: GetContext): void {
  program
    .command('track')
    .description('capture every change of a table into the outbox (installs its triggers; run again after a column change: options left out keep their values)')
    .argument('<table>', 'schema.table')
    .option('--exclude <columns>', 'comma-separated columns that never leave the database')
    .option('--attributes <columns>', 'comma-separated columns sent as SNS message attributes (for filter policies)')
    .option('--key <columns>', 'comma-separated key columns, for a table without a primary key')
    .option('--json', 'print the tracked table as JSON')
    .action((tableArg: string, opts: { exclude?: string; attributes?: string; key?: string; json?: boolean }) =>
      withContext(getContext, async (ctx) => {
        const table = parseTableName(tableArg);
        const source = await ctx.source();
        // an option left out keeps what a tracked table was tracked with; --exclude '' clears it
        const list = (value: string | undefined) => (value === undefined ? undefined : splitList(value));
        const tracked = await source.track({ table, exclude: list(opts.exclude), attributes: list(opts.attributes), key: list(opts.key) });
        if (opts.json) {
          printJson({ ...tracked, table: formatTableName(tracked.table) });
          return;
        }
        print(
          `Tracking ${formatTableName(table)}: key (${tracked.keyColumns.join(', ')}), ${tracked.capturedColumns.length} captured column(s)` +
            (tracked.excludedColumns.length ? `, excluded ${tracked.excludedColumns.join(', ')}` : '') +
            (tracked.attributeColumns.length ? `, attributes ${tracked.attributeColumns.join(', ')}` : '') +
            '.',
        );
      }),
    );

  program
    .command('untrack')
    .description('stop capturing a table: removes its triggers, then waits for the relay to publish what was captured of it')
    .argument('<table>', 'schema.table')
    .option('--wait <seconds>', 'how long to wait for the relay (default 30; then run it again to finish)', wholeNumber('--wait', 0, 3600))
    .option('--force', 'finish at once, even while the relay has not published every captured change of the table (those are quarantined)')
    .option('--json', 'print the result as JSON')
    .action((tableArg: string, opts: { force?: boolean; wait?: number; json?: boolean }) =>
      withContext(getContext, async (ctx) => {
        const table = parseTableName(tableArg);
        const source = await ctx.source();
        const removed = await source.untrack(table, { force: Boolean(opts.force), ...(opts.wait !== undefined ? { waitMs: opts.wait * 1000 } : {}) });
        if (opts.json) printJson({ table: formatTableName(table), wasTracked: removed });
        else print(removed ? `Stopped tracking ${formatTableName(table)}.` : `${formatTableName(table)} was not tracked; any leftover triggers were removed.`);
      }),
    );
}
