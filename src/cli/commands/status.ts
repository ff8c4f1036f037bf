import type { Command } from 'commander';
import { formatTableName } from '../../sql/identifiers.js';
import type { BackfillStatus } from '../../source/types.js';
import { print, printJson, table } from '../output.js';
import { withContext, type GetContext } from '../context.js';

function age(seconds: number | null): string {
  if (seconds === null) return '-';
  if (seconds < 120) return `${seconds.toFixed(1)}s`;
  if (seconds < 7200) return `${(seconds / 60).toFixed(1)}m`;
  return `${(seconds / 3600).toFixed(1)}h`;
}

/** "done 100000 rows", "in progress 12000/100000 rows (12%)", "FAILED at 12000 rows: …", or "-". */
function backfillText(b: BackfillStatus | null | undefined): string {
  if (!b) return '-';
  if (b.status === 'COMPLETED') return `done ${b.rowsDone} rows`;
  const pct = b.rowsEstimate ? ` (${Math.min(100, Math.floor((b.rowsDone / Math.max(b.rowsEstimate, 1)) * 100))}%)` : '';
  const progress = `${b.rowsDone}${b.rowsEstimate !== null ? `/${b.rowsEstimate}` : ''} rows${pct}, ${b.batchesDone} batches`;
  if (b.status === 'FAILED') return `FAILED at ${progress}: ${(b.remarks ?? '').split('\n')[0]!.slice(0, 60)} — rerun outbox backfill`;
  if (!b.running) return `interrupted at ${progress} — rerun outbox backfill to resume`;
  return `in progress ${progress}`;
}

export function registerStatus(program: Command, getContext: GetContext): void {
  program
    .command('status')
    .description('tracked tables, outbox backlog, oldest unpublished change and the relay leader')
    .option('--json', 'print JSON')
    .action((opts: { json?: boolean }) =>
      withContext(getContext, async (ctx) => {
        const source = await ctx.source();
        const status = await source.status();
        const { readTargetHalts } = await import('./target-halts.js');
        const targets = await readTargetHalts(ctx.config, ctx.logger);
        if (opts.json) {
          printJson({ ...status, targetHalts: targets });
          return;
        }
        for (const t of targets) for (const h of t.halts) print(`HALTED ${h.reason ?? `target "${t.target}" at a schema change of ${h.sourceTable} (seq ${h.seq})`}`);
        const m = status.migration;
        print(`Outbox schema "${status.schema}": version ${m.databaseVersion} (code ${m.codeVersion})${m.pending.length ? ` — ${m.pending.length} migration(s) pending: run outbox migrate` : ''}`);
        print(`Leader: ${status.leader.id ?? 'none yet'} (epoch ${status.leader.epoch})`);
        print(`Backlog: ${status.backlog} event(s); oldest unpublished ${age(status.oldestUnpublishedAgeSeconds)}; oldest open transaction ${age(status.oldestOpenTransactionAgeSeconds)}`);
        if (status.tables.length === 0) {
          print('No tracked tables. Run: outbox track schema.table');
          return;
        }
        print();
        print(
          table([
            ['TABLE', 'MODE', 'BACKFILL', 'KEY', 'BACKLOG', 'EXCLUDED', 'ATTRIBUTES'],
            ...status.tables.map((t) => [formatTableName(t.table), t.mode, backfillText(t.backfill), t.keyColumns.join(','), String(t.backlog), t.excludedColumns.join(',') || '-', t.attributeColumns.join(',') || '-']),
          ]),
        );
        for (const t of status.tables.filter((t) => t.drift?.length)) {
          print(`Schema drift: ${formatTableName(t.table)} (${t.drift!.join(', ')}); capture goes on, the relay announces it before the table's next row event (see outbox doctor).`);
        }
      }),
    );
}
