import { EventEmitter } from 'node:events';
import type { SQSClient } from '@aws-sdk/client-sqs';
import type { Config } from '../config/index.js';
import { listDeadLetters } from '../consumer/index.js';
import { queueDepth, queueNames, requireQueueUrl, topicOf, type QueueDepth } from '../aws/resources.js';
import { describeError } from '../errors.js';
import type { Logger } from '../logger.js';
import { sleep } from '../sleep.js';
import type { SourceAdapter } from '../source/index.js';
import type { SourceStatus } from '../source/types.js';
import { formatTableName } from '../sql/identifiers.js';
import { FigureTracker, type BreakerState, type ConsumerFigures, type RelayFigures } from './figures.js';
import { deadLetterView, maskReason, type DeadLetterView } from './redact.js';
import { scrape, type ScrapeEndpoint } from './scrape.js';
import { SeriesSet, seriesCapacity, type Point } from './series.js';

/**
 * The console's picture of the pipeline, refreshed every interval from where each figure lives:
 * - the source database (`outbox status`): tracked tables, their mode and backfill progress,
 *   backlog, oldest unpublished change, oldest open transaction, leader and epoch;
 * - SQS: each target's queue (waiting, in flight) and DLQ depth, and its dead letters (read
 *   without consuming them, only while the DLQ holds any);
 * - the relays' and consumers' /metrics: publish rate, SNS breaker, commit → apply lag, apply rate,
 *   target breaker, halted;
 * - the targets' version stores, every 30 s: the schema changes a target is halted at.
 * Every part is read on its own: one that fails shows its error and the others go on.
 */
export interface TableView {
  table: string;
  mode: string;
  backlog: number;
  backfill: { status: string; rowsDone: number; rowsEstimate: number | null; percent: number | null; running: boolean } | null;
}

export interface RelayView extends RelayFigures {
  endpoint: string;
  error?: string;
}

export interface TargetView {
  name: string;
  kind: string;
  schemaChanges: string;
  queue: QueueDepth | null;
  dlq: QueueDepth | null;
  queueError?: string;
  lagSeconds: number | null;
  /** When lagSeconds was measured (it keeps the last figure while nothing is applied). */
  lagAt: string | null;
  applyRate: number | null;
  breaker: BreakerState | null;
  halted: boolean | null;
  halts: { sourceTable: string; seq: string; reason: string }[];
  lastAppliedAt: string | null;
  consumer: { endpoint: string; error?: string } | null;
  deadLetters: DeadLetterView[];
  action: ActionView | null;
}

export interface ActionView {
  kind: 'redrive' | 'verify';
  state: 'running' | 'done' | 'failed';
  startedAt: string;
  finishedAt: string | null;
  summary: string;
}

export interface ConsoleState {
  at: string;
  intervalMs: number;
  historyMinutes: number;
  actions: boolean;
  source: {
    error?: string;
    schema: string;
    schemaVersion: { database: number; code: number; pending: number } | null;
    backlog: number | null;
    oldestUnpublishedAgeSeconds: number | null;
    oldestOpenTransactionAgeSeconds: number | null;
    leader: { id: string | null; epoch: string; since: string | null } | null;
    tables: TableView[];
  };
  relay: { publishRate: number | null; breaker: BreakerState | null; instances: RelayView[] };
  targets: TargetView[];
  series: Record<string, Point[]>;
}

export interface CollectorOptions {
  config: Config;
  source: () => Promise<SourceAdapter>;
  sqs: SQSClient;
  endpoints: readonly ScrapeEndpoint[];
  logger: Logger;
  intervalMs: number;
  historyMinutes: number;
  actions: boolean;
  /** The schema changes database targets are halted at (read every haltIntervalMs). */
  readHalts?: () => Promise<{ target: string; halts: { sourceTable: string; seq: string; reason?: string | null }[] }[]>;
  haltIntervalMs?: number;
  /** Dead letters shown per target. */
  deadLetterLimit?: number;
}

interface TargetLive {
  queueUrl?: string;
  dlqUrl?: string;
  lag: { seconds: number; at: number } | null;
  consumer: ConsumerFigures | null;
  deadLetters: DeadLetterView[];
  /** The DLQ depth and time of the last dead-letter read: the DLQ is read again when its depth changes, or every DEAD_LETTER_REREAD_MS. */
  deadLettersRead: { depth: number; at: number } | null;
  action: ActionView | null;
}

/** How often a DLQ whose depth stays the same is read again (each read hides its messages for a moment). */
const DEAD_LETTER_REREAD_MS = 15_000;

export class Collector extends EventEmitter<{ state: [ConsoleState] }> {
  private readonly series: SeriesSet;
  private readonly figures = new FigureTracker();
  private readonly live = new Map<string, TargetLive>();
  private halts = new Map<string, TargetView['halts']>();
  private haltsReadAt = 0;
  private latest: ConsoleState | undefined;
  private running: Promise<ConsoleState> | undefined;
  /** Per target: DLQ reads and redrives take turns, so a redrive never misses messages a read holds hidden. */
  private readonly dlqTurns = new Map<string, Promise<unknown>>();

  constructor(private readonly options: CollectorOptions) {
    super();
    this.series = new SeriesSet(seriesCapacity(options.historyMinutes, options.intervalMs));
    for (const name of Object.keys(options.config.targets)) this.live.set(name, { lag: null, consumer: null, deadLetters: [], deadLettersRead: null, action: null });
  }

  state(): ConsoleState | undefined {
    return this.latest;
  }

  /** Samples every intervalMs until the signal aborts (the first one after an interval when a sample exists already). */
  async run(signal: AbortSignal): Promise<void> {
    if (this.latest && !(await sleep(this.options.intervalMs, signal))) return;
    while (!signal.aborted) {
      await this.refresh();
      if (!(await sleep(this.options.intervalMs, signal))) break;
    }
  }

  /** One sample now (joins the one under way, if any). */
  refresh(): Promise<ConsoleState> {
    this.running ??= this.sample().finally(() => (this.running = undefined));
    return this.running;
  }

  /** Runs fn while no DLQ read of the target is under way, and keeps the next read waiting until it ends. */
  withDlq<T>(target: string, fn: () => Promise<T>): Promise<T> {
    const turn = (this.dlqTurns.get(target) ?? Promise.resolve()).then(fn, fn);
    this.dlqTurns.set(target, turn.catch(() => undefined));
    return turn;
  }

  /** Makes the next sample read the target's DLQ again (after a redrive). */
  dlqChanged(target: string): void {
    const live = this.live.get(target);
    if (live) live.deadLettersRead = null;
  }

  /** Records an action's progress on a target (shown on the page). */
  setAction(target: string, action: ActionView): void {
    const live = this.live.get(target);
    if (live) live.action = action;
  }

  action(target: string): ActionView | null {
    return this.live.get(target)?.action ?? null;
  }

  private async sample(): Promise<ConsoleState> {
    const now = Date.now();
    const [source, instances, targets] = await Promise.all([this.sampleSource(), this.sampleRelays(), this.sampleTargets()]);
    const leader = instances.find((r) => r.leader);
    const rates = instances.map((r) => r.publishRate).filter((r): r is number => r !== null);
    const relay = { publishRate: rates.length ? rates.reduce((a, b) => a + b, 0) : null, breaker: (leader ?? instances[0])?.breaker ?? null, instances };
    this.series.push('backlog', now, source.backlog);
    this.series.push('publishRate', now, relay.publishRate);
    for (const t of targets) {
      // measured this interval; else 0 while the queue is empty (nothing waits, nothing lags); else unknown
      const measured = t.lagAt !== null && now - Date.parse(t.lagAt) <= this.options.intervalMs * 1.5;
      this.series.push(`lag:${t.name}`, now, measured ? t.lagSeconds : t.queue && t.queue.visible + t.queue.inFlight === 0 ? 0 : null);
      this.series.push(`queue:${t.name}`, now, t.queue ? t.queue.visible + t.queue.inFlight : null);
      this.series.push(`dlq:${t.name}`, now, t.dlq?.visible ?? null);
    }
    const state: ConsoleState = {
      at: new Date(now).toISOString(),
      intervalMs: this.options.intervalMs,
      historyMinutes: this.options.historyMinutes,
      actions: this.options.actions,
      source,
      relay,
      targets,
      series: this.series.toJSON(),
    };
    this.latest = state;
    this.emit('state', state);
    return state;
  }

  private async sampleSource(): Promise<ConsoleState['source']> {
    const schema = this.options.config.source.schema;
    let status: SourceStatus;
    try {
      status = await (await this.options.source()).status();
    } catch (err) {
      return { error: `source database: ${describeError(err)}`, schema, schemaVersion: null, backlog: null, oldestUnpublishedAgeSeconds: null, oldestOpenTransactionAgeSeconds: null, leader: null, tables: [] };
    }
    return {
      schema,
      schemaVersion: { database: status.migration.databaseVersion, code: status.migration.codeVersion, pending: status.migration.pending.length },
      backlog: status.backlog,
      oldestUnpublishedAgeSeconds: status.oldestUnpublishedAgeSeconds,
      oldestOpenTransactionAgeSeconds: status.oldestOpenTransactionAgeSeconds,
      leader: { id: status.leader.id, epoch: status.leader.epoch, since: status.leader.since?.toISOString() ?? null },
      tables: status.tables.map((t) => ({
        table: formatTableName(t.table),
        mode: t.mode,
        backlog: t.backlog,
        backfill: t.backfill
          ? {
              status: t.backfill.status,
              rowsDone: t.backfill.rowsDone,
              rowsEstimate: t.backfill.rowsEstimate,
              percent: t.backfill.status === 'COMPLETED' ? 100 : t.backfill.rowsEstimate ? Math.min(100, Math.floor((t.backfill.rowsDone / Math.max(1, t.backfill.rowsEstimate)) * 100)) : null,
              running: t.backfill.running,
            }
          : null,
      })),
    };
  }

  private async sampleRelays(): Promise<RelayView[]> {
    const relays = this.options.endpoints.filter((e) => e.role === 'relay');
    return Promise.all(
      relays.map(async (e): Promise<RelayView> => {
        const result = await scrape(e, Math.min(2_000, this.options.intervalMs));
        if (!result.ok) {
          this.figures.forget(e.url);
          return { endpoint: e.label, error: result.error, leader: null, epoch: null, publishRate: null, breaker: null };
        }
        return { endpoint: e.label, ...this.figures.relay(e.url, result.samples, result.at) };
      }),
    );
  }

  private async sampleTargets(): Promise<TargetView[]> {
    void this.refreshHalts();
    return Promise.all(Object.entries(this.options.config.targets).map(([name, target]) => this.sampleTarget(name, target.kind, target.schemaChanges)));
  }

  private async sampleTarget(name: string, kind: string, schemaChanges: string): Promise<TargetView> {
    const live = this.live.get(name)!;
    const endpoint = this.options.endpoints.find((e) => e.role === 'consumer' && e.target === name);
    let consumerError: string | undefined;
    if (endpoint) {
      const result = await scrape(endpoint, Math.min(2_000, this.options.intervalMs));
      if (result.ok) {
        live.consumer = this.figures.consumer(endpoint.url, name, result.samples, result.at);
        if (live.consumer.lagSeconds !== null) live.lag = { seconds: live.consumer.lagSeconds, at: result.at };
      } else {
        consumerError = result.error;
        live.consumer = null;
        this.figures.forget(endpoint.url);
      }
    }
    let queue: QueueDepth | null = null;
    let dlq: QueueDepth | null = null;
    let queueError: string | undefined;
    try {
      const { sqs, config } = this.options;
      if (!live.queueUrl || !live.dlqUrl) {
        const names = queueNames(name, config.targets[name]!, topicOf(config, config.targets[name]!));
        live.queueUrl = await requireQueueUrl(sqs, names.queue, name);
        live.dlqUrl = await requireQueueUrl(sqs, names.dlq, name);
      }
      [queue, dlq] = await Promise.all([queueDepth(sqs, live.queueUrl), queueDepth(sqs, live.dlqUrl)]);
      const depth = dlq.visible + dlq.inFlight;
      const read = live.deadLettersRead;
      if (depth === 0) {
        live.deadLetters = [];
        live.deadLettersRead = null;
      } else if (!read || read.depth !== depth || Date.now() - read.at >= DEAD_LETTER_REREAD_MS) {
        await this.readDeadLetters(name, live);
        live.deadLettersRead = { depth, at: Date.now() };
      }
    } catch (err) {
      queueError = describeError(err);
    }
    const figures = live.consumer;
    return {
      name,
      kind,
      schemaChanges,
      queue,
      dlq,
      ...(queueError ? { queueError } : {}),
      lagSeconds: live.lag?.seconds ?? null,
      lagAt: live.lag ? new Date(live.lag.at).toISOString() : null,
      applyRate: figures?.applyRate ?? null,
      breaker: figures?.breaker ?? null,
      halted: figures?.halted ?? (this.halts.has(name) ? (this.halts.get(name)!.length > 0 ? true : null) : null),
      halts: this.halts.get(name) ?? [],
      lastAppliedAt: figures?.lastAppliedAt ? new Date(figures.lastAppliedAt).toISOString() : null,
      consumer: endpoint ? { endpoint: endpoint.label, ...(consumerError ? { error: consumerError } : {}) } : null,
      deadLetters: live.deadLetters,
      action: live.action,
    };
  }

  private async readDeadLetters(name: string, live: TargetLive): Promise<void> {
    await this.withDlq(name, async () => {
      const report = await listDeadLetters(this.options.config, name, this.options.sqs, { limit: this.options.deadLetterLimit ?? 20, visibilityTimeoutSec: 10 });
      // an empty read while messages are in flight (another reader holds them) keeps what was shown
      if (report.messages.length > 0 || report.depth.visible + report.depth.inFlight === 0) live.deadLetters = report.messages.map(deadLetterView);
    });
  }

  private async refreshHalts(): Promise<void> {
    const { readHalts } = this.options;
    const interval = this.options.haltIntervalMs ?? 30_000;
    if (!readHalts || Date.now() - this.haltsReadAt < interval) return;
    this.haltsReadAt = Date.now();
    try {
      const all = await readHalts();
      this.halts = new Map(all.map((t) => [t.target, t.halts.map((h) => ({ sourceTable: h.sourceTable, seq: h.seq, reason: maskReason(h.reason ?? `halted at a schema change of ${h.sourceTable}`) }))]));
    } catch (err) {
      this.options.logger.warn({ err: describeError(err) }, 'could not read the targets\' schema-change halts');
    }
  }
}
