import { EventEmitter } from 'node:events';
import { ChangeMessageVisibilityBatchCommand, ReceiveMessageCommand, type Message } from '@aws-sdk/client-sqs';
import type { SqsSender } from '../aws/clients.js';
import { breakerStateOf, type BreakerState } from '../breaker.js';
import { DEFAULT_APPLY_CONCURRENCY, type TargetConfig } from '../config/index.js';
import type { ChangeData } from '../wire/envelope.js';
import { describeError } from '../errors.js';
import { silentLogger, type Logger } from '../logger.js';
import { createMetrics, type Metrics } from '../observability/metrics.js';
import type { HealthChecks } from '../observability/server.js';
import { abortListeners, emitterListeners, type ListenerCounts } from '../listeners.js';
import { sleep } from '../sleep.js';
import { hasSchemaAdmin, type ApplyOutcome, type TargetChange, type TargetWriter } from '../targets/types.js';
import { createApplyBreaker, type ApplyBreaker } from './breaker.js';
import { deadLetterMessage, type DeadLetter, type DeadLetterCode } from './dead-letter.js';
import { decodeMessage, type ClaimCheckFetcher, type Decoded, type FullEnvelope } from './decode.js';
import { createConsumerMetrics, type ConsumerMetrics } from './metrics.js';
import { deleteMessages, sendMessages, type EntryFailure } from '../aws/sqs-batch.js';

/**
 * The consumer of one target: long-polls the target's queue, turns each message into a change
 * (parse, schema check, claim-check, transform), applies the batch in one call to the target writer
 * (one transaction for a database; batches of other receive loops that arrive while a call is under
 * way share the next call), and deletes the messages only after that call returned. Poison
 * messages and changes the target rejects go to the DLQ with their reason. When the target fails,
 * nothing is deleted: the messages come back after the visibility timeout, and once the breaker
 * opens the consumer stops receiving until the half-open trial.
 */

/**
 * Turns a change into what the target writes: one change, several (a user transform may write rows of
 * other tables), or null when it means nothing for this target. Throws to dead-letter it.
 */
export type ChangeTransform = (data: ChangeData, meta: ChangeMessageMeta) => TargetChange | TargetChange[] | null;

export interface ChangeMessageMeta {
  messageId: string;
  eventId: string;
  time: string;
  /** The envelope's source (outbox-relay:<name>). */
  source?: string;
  /** The message attributes SQS delivered (raw delivery keeps the ones the relay set). */
  attributes?: Message['MessageAttributes'];
}

export interface ConsumerOptions {
  target: string;
  queue: TargetConfig['queue'];
  breaker: TargetConfig['breaker'];
  queueUrl: string;
  dlqUrl: string;
  fifo: boolean;
  sqs: SqsSender;
  writer: TargetWriter;
  transform: ChangeTransform;
  fetchClaimCheck?: ClaimCheckFetcher;
  metrics?: Metrics;
  logger?: Logger;
  /** Pause after a failed receive, doubled up to 30 s while it keeps failing. */
  receiveRetryMs?: number;
  /** The target's schemaChanges setting (labels the schema-change metric). */
  schemaChanges?: TargetConfig['schemaChanges'];
  /** While halted at a schema change: how often to look whether it was resumed. */
  haltCheckMs?: number;
}

export interface BatchAppliedEvent {
  messages: number;
  applied: number;
  stale: number;
  skipped: number;
  deadLettered: number;
  deleted: number;
  /** Row changes sent back to the queue to wait for their schema change. */
  waiting: number;
  durationMs: number;
}

export interface HaltedEvent {
  /** Names the table, the change, and how to resume. */
  reason: string;
  messageId: string;
}

export interface DeadLetteredEvent {
  messageId: string;
  code: DeadLetterCode;
  reason: string;
}

export interface ConsumerEvents {
  'batch-applied': [BatchAppliedEvent];
  'message-dead-lettered': [DeadLetteredEvent];
  /** The apply threw (or the open breaker refused it): nothing of the batch was deleted. */
  'apply-failed': [{ error: Error; messages: number }];
  /** SQS did not delete these messages after their apply; they will come back and be skipped as stale. */
  'delete-failed': [EntryFailure<Message>[]];
  'receive-failed': [Error];
  'visibility-extended': [{ messages: number }];
  'breaker-open': [];
  'breaker-half-open': [];
  'breaker-close': [];
  /** A schema change stopped the target: it receives nothing until resumed. */
  halted: [HaltedEvent];
  /** The halt was lifted (`outbox target resume`): receiving again. */
  resumed: [];
  stopped: [];
}

/** A receive's result: the batch (its visibility kept up until it is acknowledged), or why the receive failed. */
type Received = { ok: true; messages: Message[]; extender: { stop(): void } } | { ok: false; error: Error };

/** SQS refuses to keep a message invisible longer than 12 hours after its first receive. */
const MAX_VISIBILITY_MS = 12 * 3600 * 1000;

/** Which outcome of a message's several changes is the message's: the highest. */
const OUTCOME_RANK: Record<ApplyOutcome['status'], number> = { halt: 4, wait: 3, rejected: 2, applied: 1, stale: 0 };

/** How often an extra receive loop looks whether the queue has a backlog for it. */
const IDLE_LOOP_CHECK_MS = 100;

/** A batch in hand longer than this is slow: while one is, an idle loop receives what waits in the queue meanwhile. */
const SLOW_BATCH_MS = 100;

export class Consumer extends EventEmitter<ConsumerEvents> {
  readonly target: string;
  private readonly options: ConsumerOptions;
  private readonly breaker: ApplyBreaker;
  private readonly metrics: ConsumerMetrics;
  private readonly logger: Logger;
  private readonly labels: { target: string };
  private stopping = false;
  private running: Promise<void> | undefined;
  /** Aborted by a forced stop: the receive and claim-check reads under way. */
  private readonly abort = new AbortController();
  /** Aborted by any stop: ends pauses (breaker open, receive retry). */
  private readonly wake = new AbortController();
  private writerRetriesSeen = 0;
  private lastTick = Date.now();
  private lastReceiveOk = false;
  /** Whether the last receive came back full: the queue has a backlog, so the extra loops receive too. */
  private backlogged = false;
  /** When each loop that has a batch in hand (decode, apply) started it, by loop index. */
  private readonly batchSince = new Map<number, number>();
  /** Receives under way (prefetched ones included). */
  private receiving = 0;
  /** Set while the target is halted at a schema change. */
  private halt: HaltedEvent | undefined;
  private resumeCheck: Promise<void> | undefined;
  /** Batches waiting for a writer call to start: queue.applyConcurrency calls are under way (applyTogether). */
  private readonly applyQueue: { changes: TargetChange[]; resolve: (outcomes: ApplyOutcome[]) => void; reject: (err: unknown) => void }[] = [];
  private appliesInFlight = 0;

  constructor(options: ConsumerOptions) {
    super();
    this.options = options;
    this.target = options.target;
    this.labels = { target: options.target };
    this.logger = (options.logger ?? silentLogger).child({ component: 'consumer', target: options.target });
    this.metrics = createConsumerMetrics(options.metrics ?? createMetrics());
    this.breaker = createApplyBreaker(options.target, options.writer, options.breaker, {
      gauge: (value) => this.metrics.breakerState.set(this.labels, value),
      onChange: (state) => {
        if (state === 'open') {
          this.logger.warn({ resetTimeoutMs: options.breaker.resetTimeoutMs }, 'target breaker open: stopped receiving; messages wait in the queue');
          this.emit('breaker-open');
        } else if (state === 'half-open') {
          this.logger.info('target breaker half-open: trying one batch');
          this.emit('breaker-half-open');
        } else {
          this.logger.info('target breaker closed: consuming again');
          this.emit('breaker-close');
        }
      },
    });
    this.metrics.halted.set(this.labels, 0);
  }

  /** Starts the receive loop; the returned promise settles when the consumer has stopped. */
  start(): Promise<void> {
    // queue.concurrency loops receive and apply side by side: a batch's round trips (receive, apply,
    // delete) leave the process mostly waiting, and the version guard keeps concurrent batches correct.
    this.running ??= Promise.all(Array.from({ length: this.options.queue.concurrency ?? 1 }, (_, i) => this.loop(i))).then(() => undefined).finally(() => {
      this.breaker.shutdown();
      this.emit('stopped');
    });
    return this.running;
  }

  /**
   * Graceful: let a receive under way finish (at most waitTimeSec: aborting it could leave messages
   * SQS already handed out invisible until their timeout), finish (apply, delete) the batch in hand,
   * then resolve. Forced: resolve at once; the batch in hand is not deleted and comes back after
   * its visibility timeout.
   */
  async stop(options: { force?: boolean } = {}): Promise<void> {
    this.stopping = true;
    this.wake.abort();
    if (options.force) this.abort.abort();
    if (options.force || !this.running) return;
    await this.running;
  }

  /** The schema change the target is halted at, if any. */
  get halted(): HaltedEvent | undefined {
    return this.halt;
  }

  get breakerState(): BreakerState {
    return breakerStateOf(this.breaker);
  }

  /** Listeners on the consumer's long-lived signals and emitters: constant while it runs (bench/soak.ts). */
  listenerCounts(): ListenerCounts {
    return {
      'consumer stop signal': abortListeners(this.wake.signal),
      'consumer abort signal': abortListeners(this.abort.signal),
      'consumer breaker': emitterListeners(this.breaker),
      'consumer events': emitterListeners(this),
    };
  }

  health(): HealthChecks {
    const stallMs = (this.options.queue.waitTimeSec + this.options.queue.visibilityTimeoutSec) * 1000 + this.options.breaker.resetTimeoutMs + 60_000;
    return {
      live: () => !this.stopping && Date.now() - this.lastTick < stallMs,
      ready: () => !this.stopping && this.lastReceiveOk,
    };
  }

  /**
   * One receive-apply loop. Loop 0 always receives; the others while the queue has a backlog (the
   * last receive came back full), so a quiet queue is drained by one loop and a busy one by all of
   * them — and while a loop has held a batch for SLOW_BATCH_MS (a slow target call) and no receive
   * is under way, so what arrives in the queue meanwhile does not wait for that batch: an idle loop
   * then receives in the busy one's place, one at a time: it starts no receive while another is
   * under way (the busy loop starts its own once its batch is done).
   * While backlogged a loop also receives its next batch while it applies the current one, and
   * acknowledges a batch (DLQ, deletes) while it applies the next: a batch's messages are deleted
   * only after its own apply returned, and one acknowledgement is in flight per loop.
   */
  private async loop(index: number): Promise<void> {
    let retryMs = this.options.receiveRetryMs ?? 1_000;
    let acknowledging: Promise<void> = Promise.resolve();
    let prefetched: Promise<Received> | undefined;
    const handle = async (batch: Received & { ok: true }) => {
      this.batchSince.set(index, Date.now());
      let acknowledge: () => Promise<void>;
      try {
        acknowledge = await this.processBatch(batch.messages, batch.extender);
      } finally {
        this.batchSince.delete(index);
      }
      await acknowledging;
      acknowledging = acknowledge();
    };
    try {
      while (!this.stopping) {
        this.lastTick = Date.now();
        if (!prefetched) {
          if (this.halt) {
            await (this.resumeCheck ??= this.checkResumed().finally(() => (this.resumeCheck = undefined)));
            continue;
          }
          if (this.breaker.opened) {
            await this.waitForHalfOpen();
            continue;
          }
          if (index > 0 && !this.backlogged && !this.slowBatchWithoutReceive()) {
            await sleep(IDLE_LOOP_CHECK_MS, this.wake.signal);
            continue;
          }
        }
        const batch = await (prefetched ?? this.tryReceive());
        prefetched = undefined;
        if (!batch.ok) {
          if (this.stopping) break;
          this.lastReceiveOk = false;
          this.logger.warn({ err: describeError(batch.error), retryMs }, 'receive failed; retrying');
          this.emit('receive-failed', batch.error);
          await sleep(retryMs, this.wake.signal);
          retryMs = Math.min(retryMs * 2, 30_000);
          continue;
        }
        this.lastReceiveOk = true;
        retryMs = this.options.receiveRetryMs ?? 1_000;
        if (batch.messages.length === 0) continue;
        if (this.backlogged && !this.stopping && !this.halt && !this.breaker.opened) prefetched = this.tryReceive();
        await handle(batch);
      }
      // Graceful stop: a receive under way finishes, and its batch is the batch in hand.
      if (prefetched && !this.abort.signal.aborted) {
        const batch = await prefetched;
        if (batch.ok && batch.messages.length > 0) await handle(batch);
      }
    } finally {
      await acknowledging;
    }
  }

  /** Whether a loop has held its batch for SLOW_BATCH_MS while no receive is under way: what arrives in the queue would wait for that batch. */
  private slowBatchWithoutReceive(): boolean {
    if (this.receiving > 0) return false;
    const slowSince = Date.now() - SLOW_BATCH_MS;
    for (const since of this.batchSince.values()) if (since <= slowSince) return true;
    return false;
  }

  /** A receive whose failure is a value (a prefetched one may fail before it is awaited), with the batch's visibility kept up from the start. */
  private tryReceive(): Promise<Received> {
    this.receiving += 1;
    return this.receive()
      .then(
        (messages) => ({ ok: true as const, messages, extender: messages.length > 0 ? this.extendVisibility(messages, Date.now()) : { stop() {} } }),
        (error: unknown) => ({ ok: false as const, error: error as Error }),
      )
      .finally(() => {
        this.receiving -= 1;
      });
  }

  private async receive(): Promise<Message[]> {
    const reply = await this.options.sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: this.options.queueUrl,
        MaxNumberOfMessages: this.options.queue.batchSize,
        WaitTimeSeconds: this.options.queue.waitTimeSec,
        VisibilityTimeout: this.options.queue.visibilityTimeoutSec,
        MessageAttributeNames: ['All'],
        MessageSystemAttributeNames: ['MessageGroupId', 'ApproximateReceiveCount'],
      }),
      { abortSignal: this.abort.signal },
    );
    const messages = reply.Messages ?? [];
    this.metrics.lastReceive.set(this.labels, Date.now() / 1000);
    this.backlogged = messages.length >= this.options.queue.batchSize;
    if (messages.length > 0) this.metrics.received.inc(this.labels, messages.length);
    return messages;
  }

  /**
   * Decodes, transforms and applies a batch; returns its acknowledgement (waiting rows back to the
   * queue, dead letters, deletes), which the loop runs while it applies the next batch.
   */
  private async processBatch(messages: Message[], extender: { stop(): void }): Promise<() => Promise<void>> {
    const started = Date.now();
    try {
      const deadLetters: DeadLetter[] = [];
      const done: Message[] = [];
      const work: { message: Message; change: TargetChange; envelope: FullEnvelope }[] = [];
      let skipped = 0;
      /** Whether every message became at most one change (outcomes are then the messages' own, in order). */
      let oneChangeEach = true;

      // Decoded in place; only claim-check envelopes wait for S3 (an outage leaves the message alone: it comes back).
      const decoded: (Decoded | undefined)[] = new Array(messages.length);
      let fetches: Promise<void>[] | undefined;
      for (let i = 0; i < messages.length; i++) {
        const message = messages[i]!;
        const result = decodeMessage(message.Body, this.options.fetchClaimCheck, this.abort.signal);
        if (!(result instanceof Promise)) decoded[i] = result;
        else {
          (fetches ??= []).push(
            result.then(
              (full) => void (decoded[i] = full),
              (err: unknown) => this.logger.warn({ messageId: message.MessageId, err: describeError(err) }, 'could not read a claim-check object; the message will be retried'),
            ),
          );
        }
      }
      if (fetches) await Promise.all(fetches);
      for (let i = 0; i < messages.length; i++) {
        const message = messages[i]!;
        const result = decoded[i];
        if (result === undefined) continue;
        if (!result.ok) {
          deadLetters.push({ message, code: result.code, reason: result.reason });
          continue;
        }
        const { envelope } = result;
        try {
          const meta: ChangeMessageMeta = { messageId: message.MessageId ?? '', eventId: envelope.id, time: envelope.time, source: envelope.source };
          if (message.MessageAttributes) meta.attributes = message.MessageAttributes;
          const change = this.options.transform(envelope.data, meta);
          if (change === null || (Array.isArray(change) && change.length === 0)) {
            skipped += 1;
            done.push(message);
          } else if (!Array.isArray(change)) work.push({ message, change, envelope });
          else {
            for (const c of change) work.push({ message, change: c, envelope });
            oneChangeEach = false;
          }
        } catch (err) {
          deadLetters.push({ message, code: 'TRANSFORM_FAILED', reason: describeError(err) });
        }
      }

      let applied = 0;
      let stale = 0;
      let applyFailed = false;
      const waiting: { message: Message; reason: string }[] = [];
      if (work.length > 0) {
        const changes: TargetChange[] = new Array(work.length);
        for (let i = 0; i < work.length; i++) changes[i] = work[i]!.change;
        const outcomes = await this.apply(changes);
        applyFailed = outcomes === undefined;
        if (outcomes) {
          const now = Date.now();
          const settle = (item: (typeof work)[number], outcome: ApplyOutcome) => {
            if (item.change.op === 'schema') this.countSchemaChange(item.change.sourceTable, outcome.status);
            if (outcome.status === 'rejected') deadLetters.push({ message: item.message, code: 'TARGET_REJECTED', reason: outcome.reason });
            else if (outcome.status === 'wait') waiting.push({ message: item.message, reason: outcome.reason });
            else if (outcome.status === 'halt') this.enterHalt({ reason: outcome.reason, messageId: item.message.MessageId ?? '' });
            else {
              if (outcome.status === 'applied') {
                applied += 1;
                const lag = (now - Date.parse(item.envelope.time)) / 1000;
                if (Number.isFinite(lag)) this.metrics.lagSeconds.observe(this.labels, Math.max(0, lag));
              } else stale += 1;
              done.push(item.message);
            }
          };
          // Each message's outcome: its change's, in order; a message that became several changes is
          // halted or waiting if one is (it stays in the queue), else rejected if one was, applied if
          // one was, else stale.
          if (oneChangeEach) for (let i = 0; i < work.length; i++) settle(work[i]!, outcomes[i]!);
          else {
            const merged = new Map<Message, { item: (typeof work)[number]; outcome: ApplyOutcome }>();
            outcomes.forEach((outcome, i) => {
              const item = work[i]!;
              const seen = merged.get(item.message);
              if (!seen || OUTCOME_RANK[outcome.status] > OUTCOME_RANK[seen.outcome.status]) merged.set(item.message, { item, outcome });
            });
            for (const { item, outcome } of merged.values()) settle(item, outcome);
          }
          this.metrics.applied.inc(this.labels, applied);
          this.metrics.stale.inc(this.labels, stale);
          this.metrics.skipped.inc(this.labels, skipped);
          if (applied > 0) this.metrics.lastApplied.set(this.labels, now / 1000);
        }
      }

      return async () => {
        try {
          deadLetters.push(...(await this.sendBack(waiting)));
          const deadLettered = await this.deadLetter(deadLetters);
          const toDelete = [...done, ...deadLettered];
          const deleted = await deleteMessages(this.options.sqs, this.options.queueUrl, toDelete);
          if (deleted.failed.length > 0) {
            this.metrics.deleteFailures.inc(this.labels, deleted.failed.length);
            this.logger.warn({ failed: deleted.failed.length, codes: [...new Set(deleted.failed.map((f) => f.code))] }, 'SQS did not delete some applied messages; they will come back and be skipped as stale');
            this.emit('delete-failed', deleted.failed);
          }
          if (!applyFailed) {
            this.emit('batch-applied', { messages: messages.length, applied, stale, skipped, deadLettered: deadLettered.length, deleted: deleted.succeeded.length, waiting: waiting.length, durationMs: Date.now() - started });
          }
        } catch (err) {
          // Nothing here should throw (the SQS helpers report failed entries); if it does, the messages come back.
          this.logger.warn({ err: describeError(err) }, 'could not acknowledge a batch; its messages come back after the visibility timeout');
        } finally {
          extender.stop();
        }
      };
    } catch (err) {
      extender.stop();
      throw err;
    }
  }

  /** One apply of a batch's changes through the breaker; undefined when it failed (then nothing of the batch is deleted). */
  private async apply(changes: TargetChange[]): Promise<ApplyOutcome[] | undefined> {
    try {
      return await this.applyTogether(changes); // fireGroup checks the writer's outcome count
    } catch (err) {
      this.metrics.applyFailures.inc(this.labels);
      this.logger.warn({ err: describeError(err), changes: changes.length, breaker: this.breakerState }, 'apply failed; nothing deleted, the messages come back after the visibility timeout');
      this.emit('apply-failed', { error: err as Error, messages: changes.length });
      return undefined;
    }
  }

  /**
   * Group apply: while a writer call is under way, the batches the other receive loops bring are
   * queued and then applied together in one writer call (one transaction, for a database: its round
   * trips and statements are shared by several batches). Each batch gets its own outcomes, and only
   * after that call returned — so its deletes still follow the commit; a key in two of the batches is
   * ordered by the version guard as within one batch; a refused row still fails the set-based path of
   * the call and is rejected alone change by change; a failed call fails every batch in it (nothing
   * of them is deleted). Up to queue.applyConcurrency calls run at once, each its own transaction on
   * its own pooled connection: a batch that arrives while fewer are under way starts a call at once,
   * the rest wait for the next free one and share it. Concurrent calls are kept apart by what keeps
   * consumer replicas apart: the version guard decides a key in two calls (the newer seq wins,
   * whichever commits first), rows are locked in one order (src/targets/base/batch.ts), and the
   * database writers run a transaction again that the server rolled back on a deadlock. Only for a
   * writer that says it appliesTogether (the database writers); others keep one call per batch.
   */
  private applyTogether(changes: TargetChange[]): Promise<ApplyOutcome[]> {
    return new Promise((resolve, reject) => {
      const batch = { changes, resolve, reject };
      // A writer that sends change by change (HTTP) or spreads one call over parallel requests
      // (DynamoDB) keeps one call per batch, run as the receive loops bring them.
      if (!this.options.writer.appliesTogether) {
        void this.fireGroup([batch]);
        return;
      }
      this.applyQueue.push(batch);
      this.startApply();
    });
  }

  private startApply(): void {
    if (this.appliesInFlight >= (this.options.queue.applyConcurrency ?? DEFAULT_APPLY_CONCURRENCY) || this.applyQueue.length === 0) return;
    this.appliesInFlight += 1;
    void this.fireGroup(this.applyQueue.splice(0)).finally(() => {
      this.appliesInFlight -= 1;
      this.startApply();
    });
  }

  /** One writer call through the breaker for the group's batches; each batch gets its own outcomes. */
  private async fireGroup(group: { changes: TargetChange[]; resolve: (outcomes: ApplyOutcome[]) => void; reject: (err: unknown) => void }[]): Promise<void> {
    const all = group.length === 1 ? group[0]!.changes : group.flatMap((g) => g.changes);
    const stopTimer = this.metrics.applySeconds.startTimer(this.labels);
    try {
      const outcomes = await this.breaker.fire(all);
      if (!Array.isArray(outcomes) || outcomes.length !== all.length) {
        throw new Error(`the ${this.options.writer.kind} writer returned ${Array.isArray(outcomes) ? outcomes.length : 'no'} outcomes for ${all.length} changes`);
      }
      stopTimer();
      let at = 0;
      for (const g of group) {
        g.resolve(group.length === 1 ? outcomes : outcomes.slice(at, at + g.changes.length));
        at += g.changes.length;
      }
    } catch (err) {
      for (const g of group) g.reject(err);
    } finally {
      this.countWriterRetries();
    }
  }

  /** Counts the retries the writer made since the last look (its own running count). */
  private countWriterRetries(): void {
    const retries = this.options.writer.stats?.retries;
    if (typeof retries !== 'number' || retries <= this.writerRetriesSeen) return;
    this.metrics.targetRetries.inc(this.labels, retries - this.writerRetriesSeen);
    this.writerRetriesSeen = retries;
  }

  /**
   * Row changes that wait for their schema change go back to the queue (not deleted) and come back
   * after a short delay that doubles with each receive; at the queue's maxReceiveCount they are
   * dead-lettered with the reason instead, so a schema change that never comes cannot hold a row
   * forever, nor let SQS move it to the DLQ without one. Returns the ones to dead-letter.
   */
  private async sendBack(waiting: { message: Message; reason: string }[]): Promise<DeadLetter[]> {
    if (waiting.length === 0) return [];
    const expired: DeadLetter[] = [];
    const entries: { Id: string; ReceiptHandle: string | undefined; VisibilityTimeout: number }[] = [];
    for (const [i, w] of waiting.entries()) {
      const received = Number(w.message.Attributes?.ApproximateReceiveCount ?? '1');
      if (received >= this.options.queue.maxReceiveCount) {
        expired.push({ message: w.message, code: 'SCHEMA_WAIT_EXPIRED', reason: `received ${received} times and still waiting: ${w.reason}. Apply the schema change at the target (or check the subscription lets op schema through), then redrive the DLQ` });
        continue;
      }
      entries.push({ Id: String(i), ReceiptHandle: w.message.ReceiptHandle, VisibilityTimeout: Math.min(2 ** received, this.options.queue.visibilityTimeoutSec) });
    }
    this.metrics.schemaWaits.inc(this.labels, waiting.length);
    this.logger.info({ waiting: waiting.length, expired: expired.length, reason: waiting[0]!.reason }, 'row changes wait for their schema change; they come back from the queue shortly');
    for (let i = 0; i < entries.length; i += 10) {
      const chunk = entries.slice(i, i + 10);
      await this.options.sqs.send(new ChangeMessageVisibilityBatchCommand({ QueueUrl: this.options.queueUrl, Entries: chunk })).catch((err: unknown) => this.logger.warn({ err: describeError(err) }, 'could not shorten the visibility of waiting messages; they come back after the visibility timeout'));
    }
    return expired;
  }

  private countSchemaChange(table: string, status: ApplyOutcome['status']): void {
    const action = status === 'applied' ? (this.options.schemaChanges === 'ignore' ? 'ignored' : 'applied') : status === 'stale' ? 'duplicate' : status === 'halt' ? 'stopped' : status;
    this.metrics.schemaChanges.inc({ ...this.labels, table, action });
  }

  private enterHalt(event: HaltedEvent): void {
    if (!this.halt) {
      this.logger.error({ reason: event.reason }, 'target halted at a schema change; receiving nothing until it is resumed');
      this.metrics.halted.set(this.labels, 1);
      this.halt = event;
      this.emit('halted', event);
    }
  }

  /** While halted: looks every haltCheckMs whether the target still has a halted schema change; resumes when none is left. */
  private async checkResumed(): Promise<void> {
    await sleep(this.options.haltCheckMs ?? 5_000, this.wake.signal);
    if (this.stopping || !hasSchemaAdmin(this.options.writer)) return;
    try {
      const halts = await this.options.writer.schemaChanges(['halted']);
      if (halts.length > 0) return;
    } catch (err) {
      this.logger.warn({ err: describeError(err) }, 'could not read the halted schema changes; looking again later');
      return;
    }
    this.halt = undefined;
    this.metrics.halted.set(this.labels, 0);
    this.logger.info('schema-change halt resumed: receiving again');
    this.emit('resumed');
  }

  /** Sends to the DLQ and returns the messages SQS accepted there (only those may be deleted from the queue). */
  private async deadLetter(letters: DeadLetter[]): Promise<Message[]> {
    if (letters.length === 0) return [];
    const sent = await sendMessages(this.options.sqs, this.options.dlqUrl, letters, (l) => deadLetterMessage(l, this.options.fifo));
    for (const letter of sent.succeeded) {
      this.metrics.deadLettered.inc({ ...this.labels, code: letter.code });
      this.logger.warn({ messageId: letter.message.MessageId, code: letter.code, reason: letter.reason }, 'message sent to the dead-letter queue');
      this.emit('message-dead-lettered', { messageId: letter.message.MessageId ?? '', code: letter.code, reason: letter.reason });
    }
    if (sent.failed.length > 0) {
      this.logger.warn({ failed: sent.failed.length, codes: [...new Set(sent.failed.map((f) => f.code))] }, 'could not send some messages to the dead-letter queue; they stay in the queue and come back');
    }
    return sent.succeeded.map((l) => l.message);
  }

  /** Keeps the batch invisible while it is worked on: at half the timeout, extend by a full timeout. */
  private extendVisibility(messages: Message[], receivedAt: number): { stop(): void } {
    const timeoutSec = this.options.queue.visibilityTimeoutSec;
    const timer = setInterval(() => {
      if (Date.now() - receivedAt + timeoutSec * 1000 > MAX_VISIBILITY_MS) return;
      const entries = messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: timeoutSec }));
      this.options.sqs.send(new ChangeMessageVisibilityBatchCommand({ QueueUrl: this.options.queueUrl, Entries: entries })).then(
        (reply) => {
          if (reply.Failed?.length) this.logger.warn({ failed: reply.Failed.length }, 'could not extend the visibility of some messages; they may be delivered twice');
          this.emit('visibility-extended', { messages: messages.length - (reply.Failed?.length ?? 0) });
        },
        (err: unknown) => this.logger.warn({ err: describeError(err) }, 'could not extend visibility; messages may be delivered twice'),
      );
    }, (timeoutSec * 1000) / 2);
    timer.unref();
    return { stop: () => clearInterval(timer) };
  }

  private async waitForHalfOpen(): Promise<void> {
    await new Promise<void>((resolve) => {
      const done = () => {
        this.breaker.off('halfOpen', done);
        this.breaker.off('close', done);
        this.wake.signal.removeEventListener('abort', done);
        resolve();
      };
      this.breaker.on('halfOpen', done);
      this.breaker.on('close', done);
      this.wake.signal.addEventListener('abort', done);
      if (!this.breaker.opened || this.wake.signal.aborted) done();
    });
  }
}
