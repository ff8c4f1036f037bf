import type { Command } from 'commander';
import { createProgress, formatDuration, type ProgressReporter } from '../../backfill/progress.js';
import { parseTableName } from '../../sql/identifiers.js';
import { runVerify, configVerifyOptions, DEFAULT_CHUNK_SIZE, type TableReport } from '../../verify/index.js';
import { wholeNumber } from '../options.js';
import { note, print, printJson, progressStream } from '../output.js';

import { withContext, type GetContext } from '../context.js';

function describe(t: TableReport): string[] {
  const whose = t.sharedWith.length ? `the share of this target and ${t.sharedWith.join(', ')} (they write one table)` : "the target's share";
  const share = t.outsideShare ? ` (${t.sourceRows - t.outsideShare} in ${whose}, ${t.outsideShare} outside it)` : '';
  const lines = [`${t.sourceTable} → ${t.targetTable}: ${t.sourceRows} source rows${share} in ${t.chunks} chunk(s), ${t.mismatchedChunks} differed`];
  const sample = (keys: unknown[]) => (keys.length ? `; e.g. ${keys.map((k) => JSON.stringify(k)).join(' ')}` : '');
  if (t.missing.count) lines.push(`  missing at the target: ${t.missing.count}${sample(t.missing.sample)}`);
  if (t.extra.count) lines.push(`  extra at the target (no source row in its share): ${t.extra.count}${sample(t.extra.sample)}`);
  if (t.kept.count) lines.push(`  kept at the target (no source row in its share; expected, the target receives no deletes or truncates): ${t.kept.count}${sample(t.kept.sample)}`);
  if (t.different.count) {
    const cols = Object.entries(t.different.columns).map(([c, n]) => `${c} ×${n}`).join(', ');
    lines.push(`  different: ${t.different.count} (columns: ${cols})${sample(t.different.sample)}`);
  }
  if (!t.missing.count && !t.extra.count && !t.different.count) lines.push('  in sync');
  if (t.repair) lines.push(`  repair: ${t.repair.snapshots} snapshot and ${t.repair.deletes} delete event(s) written to the outbox; the relay and consumer apply them`);
  return lines;
}

export function registerVerify(program: Command, getContext: GetContext): void {
  program
    .command('verify')
    .description('compare source tables (after the target\'s transform) with a target, chunk by chunk; exit 1 on drift')
    .argument('<target>', 'target name from the config')
    .option('--table <table>', 'only this source table (schema.table)')
    .option('--repair', 're-emit snapshot events for missing and different keys, and events that remove extra keys (a delete, or a share move for a row outside the target\'s share), through the normal pipeline')
    .option('--chunk-size <n>', `rows per compared chunk (default ${DEFAULT_CHUNK_SIZE})`, wholeNumber('--chunk-size', 1, 100_000))
    .option('--sample <n>', 'keys shown per kind of difference (default 10)', wholeNumber('--sample', 1, 100_000))
    .option('--json', 'print the report as JSON (progress still goes to standard error)')
    .action((targetName: string, opts: { table?: string; repair?: boolean; chunkSize?: number; sample?: number; json?: boolean }) =>
      withContext(getContext, async (ctx) => {
        const [{ targetOf }, { createMetrics }] = await Promise.all([import('../../aws/resources.js'), import('../../observability/metrics.js')]);
        const target = targetOf(ctx.config, targetName);
        const table = opts.table ? parseTableName(opts.table) : undefined;
        const source = await ctx.source();
        const bars = new Map<string, ProgressReporter>();
        const report = await runVerify({
          source,
          ...configVerifyOptions(ctx.config, targetName),
          target,
          table,
          chunkSize: opts.chunkSize,
          sampleSize: opts.sample,
          repair: opts.repair,
          logger: ctx.logger,
          metrics: createMetrics(),
          onProgress: (p) => {
            let bar = bars.get(p.table);
            if (!bar) {
              for (const other of bars.values()) other.stop();
              bars.clear();
              bar = createProgress({ label: `verify ${p.table}`, unit: 'rows', total: p.rowsEstimate, stream: progressStream, printLine: note });
              bars.set(p.table, bar);
            }
            bar.update(p.rowsDone, p.rowsEstimate);
          },
        });
        for (const bar of bars.values()) bar.stop();
        if (opts.json) printJson(report);
        else {
          for (const t of report.tables) for (const line of describe(t)) print(line);
          print(report.drift ? `Drift found (${formatDuration(report.elapsedMs / 1000)}).${opts.repair ? '' : ' Run again with --repair to re-emit the divergent keys.'}` : `Target "${targetName}" matches the source (${formatDuration(report.elapsedMs / 1000)}).`);
        }
        if (report.drift) process.exitCode = 1;
      }),
    );
}
