import type { Command } from 'commander';
import type { SNSClient } from '@aws-sdk/client-sns';
import { createProgress, formatDuration, type ProgressReporter } from '../../backfill/progress.js';
import type { Config } from '../../config/index.js';
import { OutboxError, describeError } from '../../errors.js';
import { componentLogger, type Logger } from '../../logger.js';
import type { ReplayFilter, ReplaySource } from '../../source/capabilities.js';
import { openSource } from '../../source/index.js';
import { formatTableName, parseTableName } from '../../sql/identifiers.js';
import { isoInstant, sequenceNumber } from '../options.js';
import { note, print, printJson, progressStream } from '../output.js';
import { withContext, type GetContext } from '../context.js';

export interface ReplayOptions extends ReplayFilter {
  config: Config;
  logger: Logger;
  /** Count only; publish nothing. */
  dryRun?: boolean;
  /** Events per page (default relay.readBatchSize). */
  pageSize?: number;
  /** An SNS client for the publisher (tests); default from the config. */
  sns?: SNSClient;
  /** Stops after the page in flight. */
  signal?: AbortSignal;
  onProgress?: (published: number, total: number) => void;
}

export interface ReplayResult {
  /** Events that match: what a dry run would re-publish. */
  matched: number;
  /** Events re-published (0 on a dry run). */
  published: number;
  firstSeq: string | null;
  lastSeq: string | null;
  /** When stopped early (signal): the seq to continue from with --from-seq. */
  resumeFromSeq: string | null;
  elapsedMs: number;
}

/**
 * Re-publishes retained events the relay has already published, in seq order and in pages, through
 * the same publisher the relay uses (limits, claim-check, quarantine). It never takes the leader lock
 * and never writes the relay's cursor: the copies it sends are duplicates, which targets ignore or
 * re-apply harmlessly because apply is version-guarded.
 */
export async function runReplay(options: ReplayOptions): Promise<ReplayResult> {
  const { config } = options;
  const logger = componentLogger(options.logger, { component: 'replay' });
  const started = performance.now();
  const filter: ReplayFilter = { ...(options.since ? { since: options.since } : {}), ...(options.fromSeq ? { fromSeq: options.fromSeq } : {}), ...(options.tables ? { tables: options.tables } : {}) };
  const [{ createMetrics }, { createPublisher }] = await Promise.all([import('../../observability/metrics.js'), import('../../relay/publisher/index.js')]);
  const source: ReplaySource = await openReplay(config, logger);
  try {
    const counted = await source.count(filter);
    const result: ReplayResult = { matched: counted.events, published: 0, firstSeq: counted.firstSeq, lastSeq: counted.lastSeq, resumeFromSeq: null, elapsedMs: 0 };
    const logFilter = { since: filter.since?.toISOString(), fromSeq: filter.fromSeq, tables: filter.tables?.map(formatTableName) };
    if (options.dryRun || counted.events === 0) {
      logger.info({ ...logFilter, matched: counted.events, dryRun: Boolean(options.dryRun) }, 'replay: nothing published');
      return { ...result, elapsedMs: performance.now() - started };
    }
    logger.info({ ...logFilter, matched: counted.events, firstSeq: counted.firstSeq, lastSeq: counted.lastSeq }, 'replay started');
    const publisher = createPublisher({
      config,
      logger,
      metrics: createMetrics(),
      ...(options.sns ? { sns: options.sns } : {}),
      quarantine: (event, envelope, reason) => source.quarantine(event, envelope, reason),
    });
    try {
      const pageSize = options.pageSize ?? config.relay.readBatchSize;
      let after = '-1';
      for (;;) {
        if (options.signal?.aborted) {
          result.resumeFromSeq = (BigInt(after) + 1n).toString();
          break;
        }
        const { events, through } = await source.readPage(filter, after, pageSize);
        if (through === null) break;
        // A page of rows that all publish nothing is passed, not taken for the end.
        if (events.length === 0) {
          after = through;
          continue;
        }
        const outcome = await publisher.publish(events, options.signal);
        result.published += outcome.acknowledged;
        if (outcome.acknowledged < events.length) {
          if (options.signal?.aborted) {
            result.resumeFromSeq = events[outcome.acknowledged]!.seq;
            break;
          }
          const next = events[outcome.acknowledged]!.seq;
          throw new OutboxError(
            'PUBLISH_FAILED',
            `Replay stopped after re-publishing ${result.published} event(s): seq ${next} and later were not published (${describeError(outcome.error ?? 'not acknowledged')}). Fix the cause and run again with --from-seq ${next} to continue.`,
            { cause: outcome.error, context: { published: result.published, nextSeq: next }, retryable: true },
          );
        }
        after = through;
        options.onProgress?.(result.published, counted.events);
      }
    } finally {
      await publisher.close();
    }
    result.elapsedMs = performance.now() - started;
    logger.info({ published: result.published, resumeFromSeq: result.resumeFromSeq, elapsedMs: Math.round(result.elapsedMs) }, 'replay finished');
    return result;
  } finally {
    await source.close();
  }
}

/** The source's replay reader; the adapter that made it is closed at once (the reader has its own connections). */
async function openReplay(config: Config, logger: Logger): Promise<ReplaySource> {
  const adapter = await openSource(config, logger);
  try {
    return await adapter.openReplay({ pageBytes: config.relay.readBatchBytes });
  } finally {
    await adapter.close();
  }
}

const collect = (value: string, previous: string[] = []): string[] => [...previous, ...value.split(/[\s,]+/).filter(Boolean)];

export function registerReplay(program: Command, getContext: GetContext): void {
  program
    .command('replay')
    .description(
      're-publish retained events the relay has already published (kept relay.retentionMinutes), in seq order, to every target subscribed to them. ' +
        'Needs no leader lock and leaves the relay cursor alone; duplicates are harmless because targets apply by version (an older or equal version of a row is skipped)',
    )
    .option('--since <time>', 'only changes made at or after this ISO 8601 instant (e.g. 2024-05-01T12:00:00Z)', isoInstant('--since'))
    .option('--from-seq <n>', 'only events with seq >= n (the value a stopped replay tells you to continue from)', sequenceNumber('--from-seq'))
    .option('--table <tables...>', 'only these tables (schema.table; repeat or separate with commas)', collect)
    .option('--dry-run', 'count what would be re-published; publish nothing')
    .option('--json', 'print the result as JSON (progress still goes to standard error)')
    .action((opts: { since?: Date; fromSeq?: string; table?: string[]; dryRun?: boolean; json?: boolean }) =>
      withContext(getContext, async (ctx) => {
        const tables = opts.table?.map((t) => parseTableName(t));
        const abort = new AbortController();
        const onSignal = () => {
          note('Stopping after the current page…');
          abort.abort();
        };
        process.once('SIGINT', onSignal);
        process.once('SIGTERM', onSignal);
        let progress: ProgressReporter | undefined;
        try {
          const result = await runReplay({
            config: ctx.config,
            logger: ctx.logger,
            ...(opts.since ? { since: opts.since } : {}),
            ...(opts.fromSeq ? { fromSeq: opts.fromSeq } : {}),
            ...(tables ? { tables } : {}),
            dryRun: opts.dryRun,
            signal: abort.signal,
            onProgress: (published, total) => {
              progress ??= createProgress({ label: 'replay', unit: 'events', total, stream: progressStream, printLine: note });
              progress.update(published);
            },
          });
          progress?.stop();
          progress = undefined;
          if (opts.json) {
            printJson({ dryRun: Boolean(opts.dryRun), ...result });
            return;
          }
          const range = result.firstSeq !== null ? ` (seq ${result.firstSeq}–${result.lastSeq})` : '';
          if (opts.dryRun) print(`Dry run: would re-publish ${result.matched} event(s)${range}. Nothing was published.`);
          else if (result.resumeFromSeq !== null) print(`Stopped: re-published ${result.published} of ${result.matched} event(s). Run again with --from-seq ${result.resumeFromSeq} to continue.`);
          else print(`Re-published ${result.published} event(s)${range} in ${formatDuration(result.elapsedMs / 1000)}. The relay cursor is unchanged; targets skip versions they already have.`);
        } finally {
          progress?.stop();
          process.off('SIGINT', onSignal);
          process.off('SIGTERM', onSignal);
        }
      }),
    );
}
