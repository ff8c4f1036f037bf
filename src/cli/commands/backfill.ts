import type { Command } from 'commander';
import { runBackfill, DEFAULT_BATCH_SIZE } from '../../backfill/index.js';
import { createProgress, formatDuration, type ProgressReporter } from '../../backfill/progress.js';
import { parseTableName } from '../../sql/identifiers.js';
import { hostName, portNumber, wholeNumber } from '../options.js';
import { note, print, printJson, progressStream } from '../output.js';
import { withContext, type GetContext } from '../context.js';

interface BackfillFlags {
  batchSize?: number;
  restart?: boolean;
  metricsPort?: number;
  metricsHost?: string;
  json?: boolean;
}

export function registerBackfill(program: Command, getContext: GetContext): void {
  program
    .command('backfill')
    .description('initial full sync of a tracked table: snapshot events for every row, in resumable batches, while the table stays writable')
    .argument('<table>', 'schema.table (tracked with outbox track)')
    .option('--batch-size <n>', `rows per batch (default ${DEFAULT_BATCH_SIZE}; a resumed run keeps its size unless given)`, wholeNumber('--batch-size', 1, 1_000_000))
    .option('--restart', 'start again from the first row even if a backfill of the table completed before')
    .option('--metrics-port <port>', 'serve Prometheus metrics on this port while running', portNumber('--metrics-port'))
    .option('--metrics-host <host>', 'the address the metrics server listens on (default metrics.host, 127.0.0.1)', hostName('--metrics-host'))
    .option('--json', 'print the result as JSON (progress still goes to standard error)')
    .action((tableArg: string, opts: BackfillFlags) =>
      withContext(getContext, async (ctx) => {
        const table = parseTableName(tableArg);
        const source = await ctx.source();
        const [{ createMetrics }, { startObservabilityServer }] = await Promise.all([import('../../observability/metrics.js'), import('../../observability/server.js')]);
        const metrics = createMetrics({ labels: { source: ctx.config.source.name } });
        const server = opts.metricsPort !== undefined ? await startObservabilityServer(opts.metricsPort, metrics, { live: () => true, ready: () => true }, opts.metricsHost ?? ctx.config.metrics.host) : undefined;
        const abort = new AbortController();
        const onSignal = () => {
          note('Stopping after the current batch (run the same command again to resume)…');
          abort.abort();
        };
        process.once('SIGINT', onSignal);
        process.once('SIGTERM', onSignal);
        let progress: ProgressReporter | undefined;
        try {
          const result = await runBackfill({
            source,
            table,
            batchSize: opts.batchSize,
            restart: opts.restart,
            logger: ctx.logger,
            metrics,
            signal: abort.signal,
            onProgress: (p) => {
              progress ??= createProgress({ label: `backfill ${p.table}`, unit: 'rows', total: p.rowsEstimate, initial: p.rowsDone - p.batchRows, stream: progressStream, printLine: note });
              progress.update(p.rowsDone);
            },
          });
          progress?.stop();
          progress = undefined;
          if (opts.json) {
            printJson(result);
            return;
          }
          const took = formatDuration(result.elapsedMs / 1000);
          if (result.status === 'already-completed') {
            print(`${result.table} was already backfilled (run ${result.runId}: ${result.rows} rows in ${result.batches} batches, finished ${result.finishedAt?.toISOString() ?? '?'}). Nothing to do; use --restart to backfill it again.`);
          } else if (result.status === 'stopped') {
            print(`Stopped: ${result.rows} rows in ${result.batches} batches so far (run ${result.runId}). Run outbox backfill ${result.table} again to resume.`);
          } else {
            const resumed = result.resumedAtBatch !== null ? `, resumed at batch ${result.resumedAtBatch}` : '';
            const retried = result.retriedBatches ? `, ${result.retriedBatches} batch(es) retried` : '';
            print(`Backfilled ${result.table}: ${result.rows} rows in ${result.batches} batches (run ${result.runId}; this process: ${result.rowsThisRun} rows in ${took}${resumed}${retried}). The table is in incremental mode.`);
          }
        } finally {
          progress?.stop();
          process.off('SIGINT', onSignal);
          process.off('SIGTERM', onSignal);
          await server?.close();
        }
      }),
    );
}
