import type { S3Client } from '@aws-sdk/client-s3';
import { createS3Client, createSnsClient, createThreadedSnsClient, type SnsSender } from '../../aws/clients.js';
import type { Config } from '../../config/index.js';
import type { OutboxEvent } from '../../wire/envelope.js';
import { OutboxError, describeError } from '../../errors.js';
import { componentLogger, type Logger } from '../../logger.js';
import type { Metrics } from '../../observability/metrics.js';
import type { EventPublisher, PublishOutcome, QuarantineSink } from '../types.js';
import type { BreakerState } from '../../breaker.js';
import { createSnsBreaker } from './breaker.js';
import { MAX_MESSAGE_BYTES } from '../../wire/limits.js';
import { createPublisherMetrics } from './metrics.js';
import { handleOversized } from './oversized.js';
import { prepareMessages, type PreparedMessage } from './prepare.js';
import { DEFAULT_RETRY, breakerOpenError, sendBatch, type RetryPolicy } from './send-batch.js';
import { acknowledgedPrefix } from './prefix.js';
import { createSlots } from './slots.js';
import { planTasks, runTasks, type PublishTask } from './tasks.js';
import { resolveTopics, routeEvent, type TopicTable } from './topics.js';

export interface PublisherOptions {
  config: Config;
  logger: Logger;
  metrics: Metrics;
  /**
   * Defaults to a client from the SDK's standard chain (config.aws), on a worker thread of its own
   * when aws.sdkThread is true; an injected client is not destroyed on close.
   */
  sns?: SnsSender;
  /** Needed only with publish.claimCheck; defaults like sns. */
  s3?: S3Client;
  quarantine: QuarantineSink;
  retry?: Partial<RetryPolicy>;
}

export interface SnsPublisher extends EventPublisher {
  /** Resolves (creates, if named) the configured topics; publish() does it on first use. */
  start(signal?: AbortSignal): Promise<void>;
  breakerState(): BreakerState;
}

/**
 * The SNS publisher. publish() sends events with PublishBatch (several calls in flight, limits
 * enforced here), retries failed entries, and acknowledges only the contiguous prefix that SNS
 * (or S3 claim-check, or quarantine) accepted. Calls to publish() may overlap (the relay publishes
 * the next page while the last calls of a page are in flight): together they keep at most
 * relay.publishConcurrency calls in flight, an earlier call's tasks start first, and a FIFO lane's
 * task waits for the same lane's task of the call before it — and sends nothing if that one did not
 * finish whole — so a message group keeps its order across calls.
 */
export function createPublisher(options: PublisherOptions): SnsPublisher {
  const { config, quarantine } = options;
  const logger = componentLogger(options.logger, { component: 'publisher' });
  const metrics = createPublisherMetrics(options.metrics);
  const sns = options.sns ?? (config.aws.sdkThread ? createThreadedSnsClient(config) : createSnsClient(config));
  const s3 = options.s3 ?? (config.publish.claimCheck ? createS3Client(config) : undefined);
  const retry: RetryPolicy = { ...DEFAULT_RETRY, ...options.retry };
  const breaker = createSnsBreaker(sns, config.relay.breaker, metrics, logger);
  const concurrency = config.relay.publishConcurrency;
  const sourceName = config.source.name;
  const warned = new Set<string>();
  const numberColumns = new Map(Object.entries(config.publish.numberAttributes).map(([table, columns]) => [table, new Set(columns)]));
  let topics: Promise<TopicTable> | undefined;
  const slots = createSlots(concurrency);
  /**
   * Each FIFO lane's last task, of the latest publish() call to plan its tasks: true once it
   * finished with every message acknowledged. A call takes the map of the call before it (in the
   * order publish() was called), so a lane's tasks run in call order whatever each call awaits first.
   */
  let laneTails: Promise<Map<string, Promise<boolean>>> = Promise.resolve(new Map());

  const ensureTopics = (signal?: AbortSignal): Promise<TopicTable> => {
    topics ??= resolveTopics(config.publish, (command) => breaker.call(command, signal)).then(
      (table) => {
        logger.info({ topics: [...table.values()].map((t) => ({ topic: t.key, fifo: t.fifo })) }, 'SNS topics resolved');
        return table;
      },
      (err: unknown) => {
        topics = undefined;
        throw err;
      },
    );
    return topics;
  };

  const warnOnce = (key: string, warn: () => void) => {
    if (warned.has(key)) return;
    warned.add(key);
    warn();
  };
  const warnDropped = (message: PreparedMessage) => {
    const table = `${message.event.tableSchema}.${message.event.tableName}`;
    for (const d of message.dropped) {
      if (d.reason === 'empty-value') continue;
      warnOnce(`${table}\0${d.name}\0${d.reason}`, () =>
        logger.warn({ table, attribute: d.name, reason: d.reason }, 'attribute column not sent as an SNS message attribute (SNS allows 10, with valid names; source, table, operation and changed are reserved). Track the table with fewer or renamed attribute columns'),
      );
    }
    for (const name of message.asString) {
      warnOnce(`${table}\0${name}\0number`, () =>
        logger.warn({ table, attribute: name }, 'a publish.numberAttributes column holds a value that is not a number SNS takes; it was sent as a String attribute, which numeric filter conditions do not match. Remove the column from publish.numberAttributes or fix the values'),
      );
    }
  };

  /** An event SNS refuses for good goes to the quarantine, with an error log and a metric. */
  async function quarantineRejected(message: PreparedMessage, reason: string): Promise<void> {
    const where = { table: `${message.event.tableSchema}.${message.event.tableName}`, seq: message.event.seq, topic: message.topic.key };
    await quarantine(message.event, message.body, reason);
    metrics.quarantined.inc({ table: where.table, reason: 'rejected' });
    logger.error({ ...where, reason }, 'event quarantined: SNS refuses it. Fix the cause (see reason), then re-publish it from the quarantine table');
  }

  async function publish(events: OutboxEvent[], signal?: AbortSignal): Promise<PublishOutcome> {
    if (events.length === 0) return { acknowledged: 0 };
    // Taken synchronously, so that the lanes of this call follow those of the call made before it.
    const before = laneTails;
    let planned!: (tails: Map<string, Promise<boolean>>) => void;
    laneTails = new Promise((resolve) => (planned = resolve));
    const tails = await before;
    try {
      return await publishAfter(events, tails, planned, signal);
    } finally {
      planned(tails); // a call that planned nothing hands the lanes on as they were (a no-op if it did)
    }
  }

  async function publishAfter(events: OutboxEvent[], tails: Map<string, Promise<boolean>>, planned: (tails: Map<string, Promise<boolean>>) => void, signal?: AbortSignal): Promise<PublishOutcome> {
    if (!breaker.available()) return { acknowledged: 0, error: breakerOpenError() };
    let table: TopicTable;
    try {
      table = await ensureTopics(signal);
    } catch (err) {
      return { acknowledged: 0, error: new OutboxError('PUBLISH_FAILED', `Could not resolve the SNS topics: ${describeError(err)}. Check aws.endpoint/region, credentials and sns:CreateTopic permission.`, { cause: err, retryable: true }) };
    }

    const acked = new Array<boolean>(events.length).fill(false);
    /** Messages of each event not acknowledged yet: an event is acknowledged when all of its messages are. */
    const unsent = new Array<number>(events.length).fill(0);
    const acknowledge = (m: PreparedMessage) => {
      const left = (unsent[m.index] ?? 1) - 1;
      unsent[m.index] = left;
      if (left === 0) acked[m.index] = true;
    };
    let giveUpAt = events.length;
    let firstError: Error | undefined;
    let breakerOpened = false;
    const giveUp = (index: number, error: Error) => {
      if (index < giveUpAt) [giveUpAt, firstError] = [index, error];
    };

    const ready: PreparedMessage[] = [];
    eachEvent: for (let i = 0; i < events.length; i++) {
      const event = events[i]!;
      const messages = prepareMessages(i, event, sourceName, routeEvent(config.publish, table, event), numberColumns.get(`${event.tableSchema}.${event.tableName}`));
      for (let j = 0; j < messages.length; j++) {
        let message = messages[j]!;
        warnDropped(message);
        if (message.bytes <= MAX_MESSAGE_BYTES) continue;
        try {
          const result = await handleOversized(message, { claimCheck: config.publish.claimCheck, s3, quarantine, metrics, logger }, signal);
          if (result.kind === 'quarantined') {
            // The event is kept whole in the quarantine: none of its messages goes out.
            acked[i] = true;
            continue eachEvent;
          }
          message = result.message;
          messages[j] = message;
        } catch (err) {
          const kind = config.publish.claimCheck ? 'claim_check' : 'quarantine';
          metrics.errors.inc({ topic: message.topic.key, kind });
          const where = { table: `${event.tableSchema}.${event.tableName}`, seq: event.seq };
          logger.error({ ...where, err: describeError(err) }, `oversized event could not be ${kind === 'claim_check' ? 'stored in S3' : 'quarantined'}; it is retried`);
          giveUp(i, new OutboxError('PUBLISH_FAILED', `Oversized event ${where.table} seq ${event.seq} could not be ${kind === 'claim_check' ? 'claim-checked to S3' : 'quarantined'}: ${describeError(err)}`, { cause: err, context: where, retryable: true }));
          break eachEvent;
        }
      }
      unsent[i] = messages.length;
      ready.push(...messages);
    }

    const tasks = planTasks(ready, concurrency);
    /** Per FIFO task: the same lane's task of the call before, and how this one ends (true: every message acknowledged). */
    const lanes = new Map<PublishTask, { before: Promise<boolean> | undefined; done: (whole: boolean) => void }>();
    const nextTails = new Map(tails);
    for (const task of tasks) {
      if (task.lane === undefined) continue;
      let done!: (whole: boolean) => void;
      nextTails.set(task.lane, new Promise<boolean>((resolve) => (done = resolve)));
      lanes.set(task, { before: tails.get(task.lane), done });
    }
    planned(nextTails);

    await runTasks(tasks, concurrency, async (task) => {
      const lane = lanes.get(task);
      let whole = false;
      try {
        if (lane?.before && !(await lane.before)) {
          // Sending this lane now could put a group's later message before an earlier one's retry.
          giveUp(task.first, new OutboxError('PUBLISH_FAILED', `FIFO messages of topic ${task.batches[0]![0]!.topic.key} were held back: a message of the same message-group lane in the page before is not acknowledged yet, and a group's order must be kept; they are retried with it.`, { retryable: true }));
          return;
        }
        for (const batch of task.batches) {
          if (breakerOpened || signal?.aborted || batch[0]!.index > giveUpAt) return;
          const result = await sendBatch(batch, {
            call: breaker.call,
            metrics,
            logger,
            retry,
            ...(signal ? { signal } : {}),
            stop: (pending) => breakerOpened || pending.every((m) => m.index > giveUpAt),
            reject: (m, reason) => quarantineRejected(m, reason),
          }, acknowledge);
          if (!result.ok) {
            breakerOpened ||= result.breakerOpen;
            giveUp(Math.min(...result.pending.map((m) => m.index)), result.error);
            return;
          }
        }
        whole = true;
      } finally {
        lane?.done(whole);
      }
    }, slots, signal);
    // A task no worker started (the signal aborted while waiting for a slot) did not finish whole.
    for (const lane of lanes.values()) lane.done(false);

    const acknowledged = acknowledgedPrefix(acked);
    if (acknowledged === events.length) return { acknowledged };
    return { acknowledged, error: firstError ?? new OutboxError('PUBLISH_FAILED', 'publishing was aborted before it finished', { retryable: true }) };
  }

  return {
    publish,
    async start(signal) {
      await ensureTopics(signal);
    },
    available: () => breaker.available(),
    breakerState: () => breaker.state(),
    async close() {
      breaker.shutdown();
      if (!options.sns) sns.destroy();
      if (!options.s3) s3?.destroy();
    },
  };
}
