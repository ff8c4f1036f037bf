import { EventEmitter } from 'node:events';
import { describeError } from '../errors.js';
import { throttledWarn, type Logger, type ThrottledWarn } from '../logger.js';
import type { LeaderElector, Lease } from './leader.js';
import type { RelayMetrics } from './relay-metrics.js';
import type { LeaderSession, OutboxPage, OutboxStore } from '../source/outbox-store.js';
import type { EventPublisher, PublishOutcome } from './types.js';
import { abortListeners, emitterListeners, type ListenerCounts } from '../listeners.js';
import { sleep } from '../sleep.js';
import { Waker } from './waker.js';

export interface RelaySettings {
  readBatchSize: number;
  pollIntervalMs: number;
  /** Published events are kept at least this long before their partition is reclaimed. */
  retentionMs: number;
  /** How often the leader checks whether a partition can be reclaimed. */
  reclaimIntervalMs: number;
  /** An idle leader writes its cursor this often (moves done_snapshot, detects fencing). */
  heartbeatMs: number;
  /** How often backlog and ages are measured for metrics. */
  statsIntervalMs: number;
  /** Publish the next page while the last calls of a page are in flight (relay.pageOverlap). */
  pageOverlap: boolean;
}

export const DEFAULT_RELAY_TIMINGS = { reclaimIntervalMs: 60_000, heartbeatMs: 5_000, statsIntervalMs: 10_000 } as const;

export interface RelayOptions {
  instanceId: string;
  store: OutboxStore;
  publisher: EventPublisher;
  elector: LeaderElector;
  settings: RelaySettings;
  logger: Logger;
  metrics?: RelayMetrics;
}

/** Lifecycle events, for tests and the benchmarks to await (no sleeping). */
export interface RelayEvents {
  'leader-acquired': [{ epoch: string }];
  'leader-lost': [{ epoch: string; reason: string }];
  'batch-published': [{ epoch: string; count: number; firstSeq: string; lastSeq: string; seqs: string[]; durationMs: number }];
  /**
   * republished: events of the page after the failed one that SNS acknowledged (page overlap) but
   * the cursor did not pass: they are published again with the rest.
   */
  'publish-failed': [{ epoch: string; acknowledged: number; pending: number; error: string; republished: number }];
  /** lockHeld: this relay still held its Redis lock, so the newer leader does not share that lock. */
  fenced: [{ epoch: string; lockHeld: boolean }];
  reclaimed: [{ partition: number }];
  error: [Error];
  stopped: [];
}

/** A page being published: its outcome settles once its last call is done. */
interface InFlightPage {
  page: OutboxPage;
  outcome: Promise<PublishOutcome>;
  /** Stops the page's calls (the page before it was not published whole, or the term ended). */
  abort(reason: string): void;
  /** performance.now() when its read started, for the batch duration. */
  started: number;
}

/**
 * The relay loop. While this instance holds the lock: claim an epoch, then read a page of the
 * outbox, publish it, advance the cursor past the acknowledged prefix (fenced), and repeat; wait
 * for a NOTIFY or the poll interval when there is nothing to do; pause reading while the publisher
 * is unavailable (breaker open). With relay.pageOverlap the next page is read and handed to the
 * publisher while a page publishes, so its calls start as soon as the page's last calls leave
 * slots free; the pages are advanced strictly in order, and a page not published whole stops the
 * one after it, which is then not advanced (docs/architecture.md, "The relay loop"). stop() drains
 * the pages in flight and releases the lock.
 */
export class Relay extends EventEmitter<RelayEvents> {
  private readonly waker = new Waker();
  private readonly stopController = new AbortController();
  private running: Promise<void> | undefined;
  private watcher: { close(): Promise<void> } | undefined;
  private statsTimer: NodeJS.Timeout | undefined;
  private statsBusy = false;
  private currentEpoch: string | undefined;
  private term: { lease: AbortSignal; wake: AbortSignal } | undefined;
  private crashed = false;
  /** Date.now() of the term's last reclaim check. */
  private lastReclaim = 0;
  private readonly throttledWarn: ThrottledWarn;

  constructor(private readonly options: RelayOptions) {
    super();
    this.throttledWarn = throttledWarn(options.logger);
    // 'error' events are for observers; without one, an EventEmitter would throw.
    this.on('error', () => undefined);
  }

  /** The epoch of the term this instance leads, or undefined on a standby. */
  get epoch(): string | undefined {
    return this.currentEpoch;
  }

  get isLeader(): boolean {
    return this.currentEpoch !== undefined;
  }

  /** Listeners on the relay's long-lived signals and emitters: constant while it runs (bench/soak.ts). */
  listenerCounts(): ListenerCounts {
    return {
      'relay stop signal': abortListeners(this.stopController.signal),
      'relay lease signal': this.term ? abortListeners(this.term.lease) : 0,
      'relay term signal': this.term ? abortListeners(this.term.wake) : 0,
      'relay elector': emitterListeners(this.options.elector),
      'relay events': emitterListeners(this),
    };
  }

  /** For /healthz: the loop has not died. */
  live(): boolean {
    return !this.crashed;
  }

  /** For /readyz: running, and either leading or able to reach Redis to take over. */
  ready(): boolean {
    return this.running !== undefined && !this.stopController.signal.aborted && !this.crashed && (this.isLeader || this.options.elector.reachable);
  }

  async start(): Promise<void> {
    if (this.running) return;
    const { store, elector, settings } = this.options;
    this.watcher = await store.watch(() => this.waker.notify());
    this.statsTimer = setInterval(() => void this.measure(), settings.statsIntervalMs);
    void this.measure();
    this.running = elector.run((lease) => this.lead(lease), this.stopController.signal).catch((err: Error) => {
      this.crashed = true;
      this.options.logger.fatal({ err: describeError(err) }, 'relay loop crashed');
      this.emit('error', err);
    });
  }

  /** Graceful stop: finishes the batch in flight, releases the lock, stops watching. Idempotent. */
  async stop(): Promise<void> {
    this.stopController.abort();
    await this.running;
    clearInterval(this.statsTimer);
    await this.watcher?.close();
    this.watcher = undefined;
    if (this.running) this.emit('stopped');
    this.running = undefined;
  }

  private async lead(lease: Lease): Promise<void> {
    const { store, instanceId, logger, metrics } = this.options;
    const session = await store.claimLeadership(instanceId);
    const epoch = session.epoch;
    this.currentEpoch = epoch;
    metrics?.leader.set(1);
    metrics?.epoch.set(Number(epoch));
    logger.info({ epoch }, 'leading');
    this.emit('leader-acquired', { epoch });
    let reason = 'stopped';
    // one per term (Node 20 keeps a weak reference per AbortSignal.any call on the stop signal)
    const wake = AbortSignal.any([lease.signal, this.stopController.signal]);
    this.term = { lease: lease.signal, wake };
    try {
      reason = await this.work(session, lease, wake);
    } finally {
      if (lease.signal.aborted && reason === 'stopped') reason = describeError(lease.signal.reason);
      this.currentEpoch = undefined;
      this.term = undefined;
      metrics?.leader.set(0);
      metrics?.epoch.set(0);
      if (reason === 'stopped') await session.release().catch((err: Error) => logger.warn({ err: describeError(err) }, 'could not clear the leader name'));
      logger.info({ epoch, reason }, 'stopped leading');
      this.emit('leader-lost', { epoch, reason });
    }
  }

  /** The loop of one term; returns why it ended. */
  private async work(session: LeaderSession, lease: Lease, wake: AbortSignal): Promise<string> {
    const { publisher, settings, logger, metrics } = this.options;
    const epoch = session.epoch;
    let lastWrite = Date.now();
    this.lastReclaim = 0;
    const fenced = () => {
      // Fenced while the lock is still ours: one lock key can have one holder, so the newer leader
      // took the epoch without this lock — another Redis, key prefix or source name (or a Redis
      // restart that lost the key). Two such relays would fence each other over and over.
      const lockHeld = Date.now() < lease.validUntil();
      metrics?.fenced.inc();
      if (lockHeld) {
        metrics?.fencedHoldingLock.inc();
        logger.error(
          { epoch, lockKey: this.options.elector.lockKey },
          'fenced by a relay that does not share this relay\'s leader lock: every relay of one outbox must use the same Redis (redis.urls), redis.keyPrefix and source.name, which make the lock key; stop or reconfigure the other relay (outbox status shows the current leader). A Redis restart that lost the lock can also cause this once',
        );
      } else logger.warn({ epoch }, 'fenced: a newer leader advanced the epoch; stopping');
      this.emit('fenced', { epoch, lockHeld });
      lease.abandon('fenced');
      return 'fenced';
    };

    while (!this.stopController.signal.aborted && !lease.signal.aborted) {
      try {
        if (!publisher.available()) {
          await sleep(settings.pollIntervalMs, wake);
          continue;
        }
        if (Date.now() - this.lastReclaim >= settings.reclaimIntervalMs) {
          this.lastReclaim = Date.now();
          const result = await session.reclaim(settings.retentionMs);
          if (result.done) {
            metrics?.reclaimed.inc();
            logger.info({ partition: result.partition }, 'outbox partition reclaimed (truncated and made current)');
            this.emit('reclaimed', { partition: result.partition });
          } else if (result.reason === 'fenced') return fenced();
          else if (result.reason !== 'not-due') logger.info({ reason: result.reason }, 'outbox rotation postponed');
        }

        const started = performance.now();
        const page = await session.readPage(settings.readBatchSize);
        if (page.events.length === 0) {
          if (Date.now() - lastWrite >= settings.heartbeatMs) {
            if (!(await session.checkpoint())) return fenced();
            lastWrite = Date.now();
          }
          await this.waker.wait(settings.pollIntervalMs, wake);
          continue;
        }
        // A paused process wakes up with its lock expired: do not even start a publish then.
        if (lease.signal.aborted || Date.now() >= lease.validUntil()) break;

        let head = this.startPublish(page, started, lease.signal);
        let next: InFlightPage | undefined;
        try {
          for (;;) {
            next = await this.overlapNext(session, head, lease);
            const outcome = await head.outcome;
            const acknowledged = Math.max(0, Math.min(outcome.acknowledged, head.page.events.length));
            if (acknowledged > 0) {
              if (!(await session.advance(head.page, acknowledged))) {
                await this.dropNext(next, 'fenced');
                next = undefined;
                return fenced();
              }
              lastWrite = Date.now();
              this.published(epoch, head, acknowledged);
            }
            if (acknowledged < head.page.events.length) {
              // Nothing after the first unacknowledged event is advanced: the next page is stopped
              // and what it got out is published again with the rest (a duplicate, never a loss).
              const republished = await this.dropNext(next, 'the page before it was not published whole');
              next = undefined;
              const pending = head.page.events.length - acknowledged;
              const error = describeError(outcome.error ?? 'not acknowledged');
              this.logThrottled({ epoch, acknowledged, pending, republished, err: error }, 'publish incomplete; the rest stays in the outbox and is retried');
              this.emit('publish-failed', { epoch, acknowledged, pending, error, republished });
              await sleep(settings.pollIntervalMs, wake);
              break;
            }
            if (!next) break;
            [head, next] = [next, undefined];
          }
        } finally {
          // An error (a failed advance) leaves the next page unadvanced: it is read again.
          if (next) await this.dropNext(next, 'the relay step failed');
        }
      } catch (err) {
        if (lease.signal.aborted) break;
        this.logThrottled({ epoch, err: describeError(err) }, 'relay step failed; retrying');
        this.emit('error', err as Error);
        await sleep(settings.pollIntervalMs, wake);
      }
    }
    return lease.signal.aborted ? describeError(lease.signal.reason) : 'stopped';
  }

  /** Hands a page to the publisher; its calls start once slots are free (src/relay/publisher/slots.ts). */
  private startPublish(page: OutboxPage, started: number, lease: AbortSignal): InFlightPage {
    // One controller per page, so the page after a failed one can be stopped alone.
    const controller = new AbortController();
    const onLease = () => controller.abort(lease.reason);
    lease.addEventListener('abort', onLease, { once: true });
    const outcome = this.options.publisher.publish(page.events, controller.signal).finally(() => lease.removeEventListener('abort', onLease));
    // Awaited later (after the next page is read): a rejection must not count as unhandled meanwhile.
    outcome.catch(() => undefined);
    return { page, outcome, started, abort: (reason) => controller.abort(new Error(reason)) };
  }

  /**
   * The page after `head`, read and handed to the publisher while `head` publishes — unless overlap
   * is off, the dialect cannot read ahead, nothing follows yet, or the relay should pause between
   * pages (stopping, lock about to lapse, breaker open, a reclaim due).
   */
  private async overlapNext(session: LeaderSession, head: InFlightPage, lease: Lease): Promise<InFlightPage | undefined> {
    const { settings, publisher } = this.options;
    if (!settings.pageOverlap || !session.readAfter) return undefined;
    const pause = () => this.stopController.signal.aborted || lease.signal.aborted || Date.now() >= lease.validUntil() || !publisher.available() || Date.now() - this.lastReclaim >= settings.reclaimIntervalMs;
    if (pause()) return undefined;
    const started = performance.now();
    let page: OutboxPage | undefined;
    try {
      page = await session.readAfter(head.page, settings.readBatchSize);
    } catch (err) {
      // The page is read again once the one in flight is advanced; that read reports a lasting error.
      this.logThrottled({ err: describeError(err) }, 'could not read the next page ahead; it is read after the current one');
      return undefined;
    }
    if (!page || pause()) return undefined;
    return this.startPublish(page, started, lease.signal);
  }

  /** Stops a page that must not be advanced and waits for its calls; returns how many of its events SNS acknowledged anyway. */
  private async dropNext(next: InFlightPage | undefined, reason: string): Promise<number> {
    if (!next) return 0;
    next.abort(reason);
    const outcome = await next.outcome.catch(() => ({ acknowledged: 0 }));
    const republished = Math.max(0, Math.min(outcome.acknowledged, next.page.events.length));
    if (republished > 0) this.options.metrics?.republished.inc(republished);
    return republished;
  }

  /** Metrics and the batch-published event of a page advanced past its first `acknowledged` events. */
  private published(epoch: string, head: InFlightPage, acknowledged: number): void {
    const { metrics } = this.options;
    const durationMs = performance.now() - head.started;
    const done = head.page.events.slice(0, acknowledged);
    if (metrics) {
      metrics.advanced.inc(acknowledged);
      metrics.batchDuration.observe(durationMs / 1000);
      const now = Date.now();
      for (const e of done) {
        if (e.op === 'schema') metrics.schemaChanges.inc({ table: `${e.tableSchema}.${e.tableName}` });
        else metrics.eventLag.observe(Math.max(0, now - e.changedAt.getTime()) / 1000);
      }
    }
    this.emit('batch-published', {
      epoch,
      count: acknowledged,
      firstSeq: done[0]!.seq,
      lastSeq: done[acknowledged - 1]!.seq,
      seqs: done.map((e) => e.seq),
      durationMs,
    });
  }

  private async measure(): Promise<void> {
    const metrics = this.options.metrics;
    if (!metrics || this.statsBusy) return;
    this.statsBusy = true;
    try {
      const stats = await this.options.store.stats();
      metrics.backlog.set(stats.backlog);
      metrics.oldestUnpublishedAge.set(Math.max(0, stats.oldestUnpublishedAgeSeconds ?? 0));
      // a transaction that began after this measurement's own snapshot reads as a negative age
      metrics.oldestOpenTransactionAge.set(Math.max(0, stats.oldestOpenTransactionAgeSeconds ?? 0));
    } catch (err) {
      this.logThrottled({ err: describeError(err) }, 'could not measure the outbox backlog');
    } finally {
      this.statsBusy = false;
    }
  }

  private logThrottled(fields: Record<string, unknown>, message: string): void {
    this.throttledWarn(fields, message);
  }
}
