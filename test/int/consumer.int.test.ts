import { randomBytes } from 'node:crypto';
import { CreateBucketCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import type { SNSClient } from '@aws-sdk/client-sns';
import { PurgeQueueCommand, ReceiveMessageCommand, SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createS3Client, createSnsClient, createSqsClient, createThreadedSqsClient, type SqsSender } from '../../src/aws/clients.js';
import { parseConfig, type Config, type TargetConfig } from '../../src/config/index.js';
import { openConsumer, type Consumer, type DeadLetteredEvent } from '../../src/consumer/index.js';
import { redriveMessages } from '../../src/consumer/redrive.js';
import { queueDepth } from '../../src/aws/resources.js';
import { applySubscription, planSubscription, type SubscriptionResult } from '../../src/subscriptions/subscribe.js';
import { buildEnvelope } from '../../src/wire/envelope.js';
import { silentLogger } from '../../src/logger.js';
import { createMetrics, type Metrics } from '../../src/observability/metrics.js';
import { startObservabilityServer } from '../../src/observability/server.js';
import { buildTransformer, createTargetWriter, type TargetWriter } from '../../src/targets/index.js';
import { countCommands, outboxEvent, publishEvents, SOURCE_NAME, startTcpProxy, type TcpProxy } from '../helpers/consumer-fixtures.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { createMysqlDatabase } from '../helpers/pipeline.js';
import { startEmulator, type Emulator } from '../helpers/fauxqs.js';
import { waitFor } from '../helpers/wait.js';

/**
 * Three targets on one topic: PostgreSQL alpha (tenant a, every operation, reached through a TCP
 * proxy the tests can cut), PostgreSQL beta (tenant b, inserts and updates only) and MariaDB gamma
 * (tenant c).
 */
let emulator: Emulator;
let db: TestDatabase;
let maria: Awaited<ReturnType<typeof createMysqlDatabase>>;
const mariaState = `outbox_state_${randomBytes(4).toString('hex')}`;
let proxy: TcpProxy;
let config: Config;
let sns: SNSClient;
let sqs: SQSClient;
const subscriptions: Record<string, SubscriptionResult> = {};
const running: { consumer: Consumer; writer: TargetWriter; sqs: SqsSender }[] = [];

beforeAll(async () => {
  emulator = await startEmulator();
  Object.assign(process.env, emulator.awsEnv);
  db = await createTestDatabase('outbox_consumer');
  await db.pool.query('CREATE TABLE customers_a (id int PRIMARY KEY, name text, tenant text); CREATE TABLE customers_b (id int PRIMARY KEY, name text, tenant text)');
  maria = await createMysqlDatabase();
  await maria.conn.query('CREATE TABLE customers_c (id int PRIMARY KEY, name text, tenant text)');
  proxy = await startTcpProxy(Number(new URL(db.url).port || 5432));
  const viaProxy = new URL(db.url);
  viaProxy.port = String(proxy.port);
  const queue = { visibilityTimeoutSec: 5, waitTimeSec: 1, maxReceiveCount: 50, batchSize: 10 };
  const breaker = { timeoutMs: 5_000, volumeThreshold: 1, errorThresholdPercentage: 50, resetTimeoutMs: 1_000 };
  config = parseConfig(
    {
      source: { url: 'postgres://unused@127.0.0.1/unused' },
      publish: { topics: { default: { name: `consumer-${randomBytes(4).toString('hex')}` } } },
      targets: {
        alpha: { kind: 'postgres', urlEnv: 'ALPHA_URL', tables: ['public.customers'], where: { tenant: ['a'] }, queue, breaker, stateSchema: 'state_a', mapping: { 'public.customers': { table: 'customers_a' } } },
        beta: { kind: 'postgres', urlEnv: 'BETA_URL', tables: ['public.customers'], operations: ['insert', 'update'], where: { tenant: ['b'] }, queue, breaker, stateSchema: 'state_b', mapping: { 'public.customers': { table: 'customers_b' } } },
        gamma: { kind: 'mysql', urlEnv: 'GAMMA_URL', tables: ['public.customers'], where: { tenant: ['c'] }, queue, breaker, stateSchema: mariaState, mapping: { 'public.customers': { table: 'customers_c' } } },
      },
    },
    { ...emulator.awsEnv, ALPHA_URL: viaProxy.toString(), BETA_URL: db.url, GAMMA_URL: maria.url },
  );
  sns = createSnsClient(config);
  sqs = createSqsClient(config);
  for (const name of ['alpha', 'beta', 'gamma']) subscriptions[name] = await applySubscription(planSubscription(config, name), sns, sqs);
});

afterEach(async () => {
  for (const r of running.splice(0)) {
    await r.consumer.stop();
    await r.writer.close();
    r.sqs.destroy();
  }
  for (const s of Object.values(subscriptions)) {
    await sqs.send(new PurgeQueueCommand({ QueueUrl: s.queueUrl }));
    await sqs.send(new PurgeQueueCommand({ QueueUrl: s.dlqUrl }));
  }
});

afterAll(async () => {
  sns?.destroy();
  sqs?.destroy();
  await proxy?.close();
  await db?.drop();
  await maria?.conn.query(`DROP DATABASE IF EXISTS \`${mariaState}\``);
  await maria?.drop();
  await emulator?.stop();
});

/**
 * A consumer with its own SQS client (so its calls can be counted) and the real writer and transform.
 * The client runs the SDK on this thread, as `outbox consume` does by default; sdkThread true puts
 * it on a worker thread (aws.sdkThread: true).
 */
/** `settings`: queue and breaker settings laid over the target's for this consumer only. */
async function startConsumer(
  name: string,
  metrics: Metrics = createMetrics(),
  wrap: (w: TargetWriter) => TargetWriter = (w) => w,
  sdkThread = false,
  settings: { queue?: Partial<TargetConfig['queue']>; breaker?: Partial<NonNullable<TargetConfig['breaker']>> } = {},
) {
  const target = config.targets[name]!;
  const secrets = config.targetSecrets(name);
  const writer = wrap(createTargetWriter(name, target, secrets, silentLogger));
  const client = sdkThread ? createThreadedSqsClient(config) : createSqsClient(config);
  const calls = countCommands(client);
  const s3 = createS3Client(config);
  const kept = { queue: target.queue, breaker: target.breaker };
  target.queue = { ...kept.queue, ...settings.queue };
  if (settings.breaker) target.breaker = { ...kept.breaker!, ...settings.breaker };
  let consumer;
  try {
    consumer = await openConsumer(config, name, { sqs: client, s3, writer, transform: buildTransformer(name, target, secrets), metrics, logger: silentLogger });
  } finally {
    Object.assign(target, kept);
  }
  running.push({ consumer, writer, sqs: client });
  void consumer.start();
  return { consumer, calls, metrics };
}

async function rows(table: string, from: number, to: number): Promise<{ id: number; name: string; tenant: string }[]> {
  return (await db.pool.query(`SELECT id, name, tenant FROM ${table} WHERE id BETWEEN $1 AND $2 ORDER BY id`, [from, to])).rows;
}

async function drained(name: string): Promise<boolean> {
  const d = await queueDepth(sqs, subscriptions[name]!.queueUrl);
  return d.visible === 0 && d.inFlight === 0;
}

const customer = (id: number, tenant: string, name = `n${id}`) => ({ id, row: { id, name, tenant }, attributes: { tenant } });

describe('consumer', () => {
  it.each([true, false])('gives targets with different filter policies exactly their share (PostgreSQL and MariaDB; SDK on its own thread: %s)', async (sdkThread) => {
    const metrics = createMetrics();
    const alpha = await startConsumer('alpha', metrics, undefined, sdkThread);
    await startConsumer('beta', undefined, undefined, sdkThread);
    await startConsumer('gamma', undefined, undefined, sdkThread);
    const events = [];
    for (let id = 1; id <= 20; id++) events.push(outboxEvent(customer(id, id % 2 ? 'a' : 'b')));
    for (let id = 31; id <= 35; id++) events.push(outboxEvent(customer(id, 'c')));
    events.push(outboxEvent({ ...customer(3, 'a', 'renamed'), op: 'update' }));
    events.push(outboxEvent({ ...customer(1, 'a'), op: 'delete' })); // alpha takes deletes
    events.push(outboxEvent({ ...customer(2, 'b'), op: 'delete' })); // beta's filter drops deletes
    events.push(outboxEvent(customer(21, 'z'))); // nobody's tenant
    await publishEvents(sns, subscriptions.alpha!.topicArn, events);

    const expectedA = [3, 5, 7, 9, 11, 13, 15, 17, 19].map((id) => ({ id, name: id === 3 ? 'renamed' : `n${id}`, tenant: 'a' }));
    const expectedB = [2, 4, 6, 8, 10, 12, 14, 16, 18, 20].map((id) => ({ id, name: `n${id}`, tenant: 'b' }));
    await waitFor(async () => JSON.stringify(await rows('customers_a', 1, 21)) === JSON.stringify(expectedA), { what: 'alpha rows' });
    await waitFor(async () => JSON.stringify(await rows('customers_b', 1, 21)) === JSON.stringify(expectedB), { what: 'beta rows' });
    const mariaRows = async () => (await maria.conn.query('SELECT id, name, tenant FROM customers_c ORDER BY id'))[0];
    await waitFor(async () => JSON.stringify(await mariaRows()) === JSON.stringify([31, 32, 33, 34, 35].map((id) => ({ id, name: `n${id}`, tenant: 'c' }))), { what: 'gamma rows' });
    await waitFor(async () => (await drained('alpha')) && (await drained('beta')) && (await drained('gamma')), { what: 'queues drained' });
    for (const name of ['alpha', 'beta', 'gamma']) expect((await queueDepth(sqs, subscriptions[name]!.dlqUrl)).visible).toBe(0);

    const server = await startObservabilityServer(0, metrics, alpha.consumer.health(), '127.0.0.1');
    try {
      const get = async (path: string) => {
        const res = await fetch(`http://127.0.0.1:${server.port}${path}`);
        return { status: res.status, body: await res.text() };
      };
      expect((await get('/healthz')).status).toBe(200);
      expect((await get('/readyz')).status).toBe(200);
      const body = (await get('/metrics')).body;
      const value = (name: string) => Number(new RegExp(`^${name}\\{target="alpha"\\} (\\S+)$`, 'm').exec(body)?.[1]);
      // alpha received 12 messages (10 inserts, an update, a delete); the shuffled order may make some stale.
      expect(value('outbox_consumer_received_total')).toBe(12);
      expect(value('outbox_consumer_applied_total') + value('outbox_consumer_stale_skipped_total')).toBe(12);
      expect(value('outbox_consumer_commit_to_apply_seconds_count')).toBe(value('outbox_consumer_applied_total'));
      expect(value('outbox_consumer_apply_seconds_count')).toBeGreaterThan(0);
      expect(value('outbox_consumer_last_applied_timestamp_seconds')).toBeGreaterThan(Date.now() / 1000 - 60);
      expect(body).toContain('outbox_consumer_breaker_state{target="alpha"} 0');
    } finally {
      await server.close();
    }
    await alpha.consumer.stop();
    expect(alpha.consumer.health().ready()).toBe(false);
  });

  it("counts the retries a writer reports in its stats as outbox_consumer_target_retries_total", async () => {
    const metrics = createMetrics();
    // the real PostgreSQL writer, with a running retry count beside it (as the DynamoDB writer keeps one): two per apply
    const stats = { retries: 0 };
    const withStats = (w: TargetWriter): TargetWriter =>
      Object.assign(Object.create(w) as TargetWriter, {
        stats,
        apply: async (changes: Parameters<TargetWriter['apply']>[0]) => {
          stats.retries += 2;
          return w.apply(changes);
        },
      });
    await startConsumer('beta', metrics, withStats);
    const events = [900, 902, 904].map((id) => outboxEvent(customer(id, 'b')));
    await publishEvents(sns, subscriptions.beta!.topicArn, events);
    await waitFor(async () => (await rows('customers_b', 900, 904)).length === 3, { what: 'beta rows 900-904' });
    await waitFor(async () => {
      const counted = await metrics.registry.getSingleMetric('outbox_consumer_target_retries_total')!.get();
      return stats.retries > 0 && counted.values.reduce((sum, v) => sum + v.value, 0) === stats.retries;
    }, { what: 'the retry counter to equal the writer count' });
  });

  it('applies the batches received while an apply is under way together in one writer call, deleting each only after that call returned', async () => {
    const metrics = createMetrics();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const calls: number[] = [];
    // the real PostgreSQL writer; its first apply waits for the gate, so the other receive loops' batches queue up meanwhile
    const gated = (w: TargetWriter): TargetWriter =>
      Object.assign(Object.create(w) as TargetWriter, {
        apply: async (changes: Parameters<TargetWriter['apply']>[0]) => {
          calls.push(changes.length);
          if (calls.length === 1) await gate;
          return w.apply(changes);
        },
      });
    // one writer call at a time (queue.applyConcurrency 1): the batches that arrive meanwhile share the next call
    const { consumer, calls: sqsCalls } = await startConsumer('beta', metrics, gated, false, { queue: { applyConcurrency: 1 } });
    const batches: number[] = [];
    consumer.on('batch-applied', (e) => batches.push(e.messages));
    // 40 messages (4 full batches for the 4 loops); key 990 twice with different seqs, which may land in different batches of one call
    const events = [...Array.from({ length: 38 }, (_, i) => outboxEvent(customer(1000 + i, 'b'))), outboxEvent({ ...customer(990, 'b', 'newer'), seq: 9_000_002 }), outboxEvent({ ...customer(990, 'b', 'older'), seq: 9_000_001 })];
    await publishEvents(sns, subscriptions.beta!.topicArn, events);
    const received = async () => (await metrics.registry.getSingleMetric('outbox_consumer_received_total')!.get()).values.reduce((sum, v) => sum + v.value, 0);
    await waitFor(async () => (await received()) >= 40, { what: 'all 40 messages received while the first apply waits' });
    await waitFor(() => calls.length === 1, { what: 'one writer call under way' });
    expect(sqsCalls.get('DeleteMessageBatchCommand') ?? 0).toBe(0); // nothing deleted before an apply returned
    release();
    await waitFor(async () => (await rows('customers_b', 1000, 1037)).length === 38, { what: 'beta rows 1000-1037' });
    await waitFor(async () => await drained('beta'), { what: 'the beta queue drained' });
    expect(await rows('customers_b', 990, 990)).toEqual([{ id: 990, name: 'newer', tenant: 'b' }]);
    expect(calls.reduce((a, b) => a + b, 0)).toBe(40);
    // a batch is reported once its delete returned to the consumer, which may be after the queue shows it drained
    await waitFor(() => batches.reduce((a, b) => a + b, 0) === 40, { what: 'every batch reported applied' });
    expect(batches.length).toBeGreaterThan(calls.length); // several batches shared a writer call
  });

  it('runs queue.applyConcurrency writer calls at once: other calls commit and delete while one is under way, whose batch is deleted only after it returned', async () => {
    const metrics = createMetrics();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const calls: number[] = [];
    let inFlight = 0;
    let maxInFlight = 0;
    // the real PostgreSQL writer; its first call waits for the gate and then fails (as a call that did
    // not commit): its messages must not have been deleted when the other calls' were, so they come back
    const gated = (w: TargetWriter): TargetWriter =>
      Object.assign(Object.create(w) as TargetWriter, {
        apply: async (changes: Parameters<TargetWriter['apply']>[0]) => {
          const n = calls.push(changes.length);
          maxInFlight = Math.max(maxInFlight, ++inFlight);
          try {
            if (n > 1) return await w.apply(changes);
            await gate;
            throw new Error('the held call did not commit');
          } finally {
            inFlight -= 1;
          }
        },
      });
    // a breaker timeout far beyond the wait below: the held call ends by its own failure, not by a timeout
    const started = await startConsumer('beta', metrics, gated, false, { queue: { applyConcurrency: 2 }, breaker: { timeoutMs: 120_000 } });
    const reported: number[] = [];
    started.consumer.on('batch-applied', (e) => reported.push(e.messages));
    const events = [...Array.from({ length: 38 }, (_, i) => outboxEvent(customer(3000 + i, 'b'))), outboxEvent({ ...customer(3990, 'b', 'newer'), seq: 9_100_002 }), outboxEvent({ ...customer(3990, 'b', 'older'), seq: 9_100_001 })];
    await publishEvents(sns, subscriptions.beta!.topicArn, events);
    await waitFor(() => calls.length >= 2 && maxInFlight === 2, { what: 'a second writer call while the first one is under way' });
    await waitFor(() => reported.length >= 1, { what: 'a batch of another call applied and deleted while the first call is under way' });
    release();
    await waitFor(async () => (await rows('customers_b', 3000, 3037)).length === 38, { what: 'beta rows 3000-3037, the failed call\'s among them' });
    await waitFor(async () => await drained('beta'), { what: 'the beta queue drained' });
    expect(await rows('customers_b', 3990, 3990)).toEqual([{ id: 3990, name: 'newer', tenant: 'b' }]);
    expect(calls.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(40 + calls[0]!);
    expect(maxInFlight).toBe(2);
  });

  it('with two MariaDB writer calls at once, a row the target refuses is dead-lettered alone and its batch-mates commit', async () => {
    await maria.conn.query("ALTER TABLE customers_c ADD CONSTRAINT c_no_bad_names CHECK (name <> 'bad')");
    try {
      let secondStarted!: () => void;
      const second = new Promise<void>((resolve) => (secondStarted = resolve));
      let calls = 0;
      // the real MariaDB writer; its first call waits until a second one has started beside it
      const paired = (w: TargetWriter): TargetWriter =>
        Object.assign(Object.create(w) as TargetWriter, {
          apply: async (changes: Parameters<TargetWriter['apply']>[0]) => {
            calls += 1;
            if (calls === 1) await second;
            else if (calls === 2) secondStarted();
            return w.apply(changes);
          },
        });
      const started = await startConsumer('gamma', undefined, paired, false, { queue: { applyConcurrency: 2 } });
      const dead: DeadLetteredEvent[] = [];
      started.consumer.on('message-dead-lettered', (e) => dead.push(e));
      await publishEvents(sns, subscriptions.gamma!.topicArn, Array.from({ length: 40 }, (_, i) => outboxEvent(customer(4000 + i, 'c', i % 10 === 0 ? 'bad' : `n${4000 + i}`))));
      const mariaIds = async () => ((await maria.conn.query('SELECT id FROM customers_c WHERE id BETWEEN 4000 AND 4039 ORDER BY id'))[0] as { id: number }[]).map((r) => r.id);
      await waitFor(async () => (await mariaIds()).length === 36, { what: 'the 36 good gamma rows' });
      await waitFor(() => dead.length === 4, { what: 'four rejections' });
      expect(await mariaIds()).toEqual(Array.from({ length: 40 }, (_, i) => 4000 + i).filter((id) => id % 10 !== 0));
      expect(new Set(dead.map((d) => d.code))).toEqual(new Set(['TARGET_REJECTED']));
      expect(dead[0]!.reason).toContain('c_no_bad_names');
      expect(calls).toBeGreaterThanOrEqual(2);
      expect(started.consumer.breakerState).toBe('closed');
      await waitFor(() => drained('gamma'), { what: 'the gamma queue drained' });
      expect((await queueDepth(sqs, subscriptions.gamma!.dlqUrl)).visible).toBe(4);
    } finally {
      await maria.conn.query('ALTER TABLE customers_c DROP CONSTRAINT c_no_bad_names');
    }
  });

  it('keeps one call per batch, run concurrently, for a writer that does not apply batches together (HTTP, DynamoDB)', async () => {
    const metrics = createMetrics();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const calls: number[] = [];
    // the real PostgreSQL writer, presented as one that sends change by change; its first call waits for the gate
    const gated = (w: TargetWriter): TargetWriter =>
      Object.assign(Object.create(w) as TargetWriter, {
        appliesTogether: false,
        apply: async (changes: Parameters<TargetWriter['apply']>[0]) => {
          calls.push(changes.length);
          if (calls.length === 1) await gate;
          return w.apply(changes);
        },
      });
    // a breaker timeout far beyond the wait below: a second call can only start beside the first, never after its timeout
    const beta = config.targets.beta!;
    const kept = beta.breaker;
    beta.breaker = { ...kept!, timeoutMs: 120_000 };
    try {
      await startConsumer('beta', metrics, gated);
    } finally {
      beta.breaker = kept;
    }
    await publishEvents(sns, subscriptions.beta!.topicArn, Array.from({ length: 40 }, (_, i) => outboxEvent(customer(2000 + i, 'b'))));
    await waitFor(() => calls.length >= 2, { what: 'a second writer call while the first one is under way' });
    release();
    await waitFor(async () => (await rows('customers_b', 2000, 2039)).length === 40, { what: 'beta rows 2000-2039' });
    await waitFor(async () => await drained('beta'), { what: 'the beta queue drained' });
  });

  it('sends poison messages to the DLQ with their reason, counts them, and redrive moves them back', async () => {
    const metrics = createMetrics();
    const { consumer } = await startConsumer('alpha', metrics);
    const dead: DeadLetteredEvent[] = [];
    consumer.on('message-dead-lettered', (e) => dead.push(e));
    const queueUrl = subscriptions.alpha!.queueUrl;
    const unknownTable = buildEnvelope(SOURCE_NAME, outboxEvent({ table: 'public.elsewhere', id: 1 }));
    for (const body of ['{not json', JSON.stringify({ specversion: '1.0', id: 'x' }), JSON.stringify(unknownTable)]) {
      await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: body, MessageAttributes: { table: { DataType: 'String', StringValue: 'public.customers' } } }));
    }
    await waitFor(() => dead.length === 3, { what: 'three dead letters' });
    expect(dead.map((d) => d.code).sort()).toEqual(['SCHEMA_INVALID', 'TRANSFORM_FAILED', 'UNPARSEABLE']);
    await waitFor(() => drained('alpha'), { what: 'queue drained' });

    const inDlq = await sqs.send(new ReceiveMessageCommand({ QueueUrl: subscriptions.alpha!.dlqUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1, VisibilityTimeout: 1, MessageAttributeNames: ['All'] }));
    const reasons = (inDlq.Messages ?? []).map((m) => [m.MessageAttributes?.outbox_error_code?.StringValue, m.MessageAttributes?.outbox_error_reason?.StringValue, m.MessageAttributes?.table?.StringValue]);
    expect(reasons).toHaveLength(3);
    expect(reasons.find((r) => r[0] === 'TRANSFORM_FAILED')?.[1]).toContain('public.elsewhere');
    expect(reasons.find((r) => r[0] === 'SCHEMA_INVALID')?.[1]).toContain('must have required property');
    expect(reasons.every((r) => r[2] === 'public.customers')).toBe(true);
    const counted = await metrics.registry.getSingleMetric('outbox_consumer_dead_lettered_total')!.get();
    expect(counted.values.reduce((sum, v) => sum + v.value, 0)).toBe(3);

    await consumer.stop();
    // The emulator returns expired in-flight messages on the next receive, which redrive makes.
    const result = { moved: 0, failed: 0, duplicated: 0 };
    await waitFor(async () => {
      const r = await redriveMessages(sqs, subscriptions.alpha!.dlqUrl, queueUrl, { fifo: false, limit: 3 - result.moved });
      result.moved += r.moved;
      result.failed += r.failed;
      result.duplicated += r.duplicated;
      return result.moved >= 3;
    }, { what: 'redrive of three messages' });
    expect(result).toEqual({ moved: 3, failed: 0, duplicated: 0 });
    expect(await queueDepth(sqs, subscriptions.alpha!.dlqUrl)).toEqual({ visible: 0, inFlight: 0 });
    expect((await queueDepth(sqs, queueUrl)).visible).toBe(3);
    const back = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1, MessageAttributeNames: ['All'] }));
    expect(back.Messages?.every((m) => m.MessageAttributes?.outbox_error_code === undefined && m.MessageAttributes?.table?.StringValue === 'public.customers')).toBe(true);
  });

  it('deletes nothing while the target is down, opens the breaker while the other target goes on, and drains after it returns', async () => {
    const alpha = await startConsumer('alpha');
    await startConsumer('beta');
    const opened = new Promise<void>((resolve) => alpha.consumer.once('breaker-open', resolve));
    const closed = new Promise<void>((resolve) => alpha.consumer.once('breaker-close', resolve));
    await proxy.cut();

    const events = [];
    for (let id = 101; id <= 120; id++) events.push(outboxEvent(customer(id, id % 2 ? 'a' : 'b')));
    events.push(outboxEvent({ ...customer(101, 'a', 'second'), op: 'update' }));
    await publishEvents(sns, subscriptions.alpha!.topicArn, events);

    await opened;
    expect(alpha.consumer.breakerState).not.toBe('closed');
    // The other target keeps going.
    await waitFor(async () => (await rows('customers_b', 101, 120)).length === 10, { what: 'beta rows while alpha is down' });
    // Alpha: nothing applied, nothing deleted, every message still in its queue.
    expect(await rows('customers_a', 101, 120)).toEqual([]);
    expect(alpha.calls.get('DeleteMessageBatchCommand') ?? 0).toBe(0);
    const depth = await queueDepth(sqs, subscriptions.alpha!.queueUrl);
    expect(depth.visible + depth.inFlight).toBe(11);

    await proxy.restore();
    await closed;
    const expected = [101, 103, 105, 107, 109, 111, 113, 115, 117, 119].map((id) => ({ id, name: id === 101 ? 'second' : `n${id}`, tenant: 'a' }));
    await waitFor(async () => JSON.stringify(await rows('customers_a', 101, 120)) === JSON.stringify(expected), { what: 'alpha rows after the target returned', timeoutMs: 30_000 });
    await waitFor(() => drained('alpha'), { what: 'alpha queue drained', timeoutMs: 30_000 });
    expect((await queueDepth(sqs, subscriptions.alpha!.dlqUrl)).visible).toBe(0);
  });

  it('extends visibility while a slow batch is applied, and a graceful stop finishes the batch', async () => {
    const target = config.targets.beta!;
    const secrets = config.targetSecrets('beta');
    const real = createTargetWriter('beta', target, secrets, silentLogger);
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let started!: () => void;
    const applying = new Promise<void>((resolve) => (started = resolve));
    const slow: TargetWriter = { kind: 'postgres', init: () => real.init(), close: () => real.close(), apply: async (changes) => (started(), await gate, real.apply(changes)) };
    const client = createSqsClient(config);
    const consumer = await openConsumer(config, 'beta', { sqs: client, writer: slow, transform: buildTransformer('beta', target, secrets), logger: silentLogger });
    running.push({ consumer, writer: slow, sqs: client });
    const extended = new Promise<void>((resolve) => consumer.once('visibility-extended', () => resolve()));
    void consumer.start();

    await publishEvents(sns, subscriptions.beta!.topicArn, [outboxEvent(customer(200, 'b'))]);
    await applying;
    await extended; // at half the 5 s visibility timeout
    const stopped = consumer.stop();
    release();
    await stopped;
    expect(await rows('customers_b', 200, 200)).toEqual([{ id: 200, name: 'n200', tenant: 'b' }]);
    expect(await drained('beta')).toBe(true);
  });

  it('dead-letters what the target rejects without tripping the breaker, reads claim-checked events from S3, and runs two consumers of one target side by side', async () => {
    await db.pool.query("ALTER TABLE customers_b ADD CONSTRAINT no_bad_names CHECK (name <> 'bad')");
    const first = await startConsumer('beta');
    const second = await startConsumer('beta');
    const dead: DeadLetteredEvent[] = [];
    for (const c of [first, second]) c.consumer.on('message-dead-lettered', (e) => dead.push(e));

    const s3 = createS3Client(config);
    await s3.send(new CreateBucketCommand({ Bucket: 'claims' }));
    const large = buildEnvelope(SOURCE_NAME, outboxEvent(customer(399, 'b', 'from s3')));
    await s3.send(new PutObjectCommand({ Bucket: 'claims', Key: 'e399', Body: JSON.stringify(large) }));
    const { data: _data, ...claim } = large;
    await sqs.send(new SendMessageCommand({ QueueUrl: subscriptions.beta!.queueUrl, MessageBody: JSON.stringify({ ...claim, claimcheck: 's3://claims/e399' }) }));
    s3.destroy();

    const events = [];
    for (let id = 300; id < 340; id++) events.push(outboxEvent(customer(id, 'b', id % 10 === 0 ? 'bad' : `n${id}`)));
    await publishEvents(sns, subscriptions.beta!.topicArn, events);

    await waitFor(async () => (await rows('customers_b', 300, 399)).length === 37, { what: '36 good rows and the claim-checked one' });
    await waitFor(() => dead.length === 4, { what: 'four rejections' });
    expect(new Set(dead.map((d) => d.code))).toEqual(new Set(['TARGET_REJECTED']));
    expect(dead[0]!.reason).toContain('no_bad_names');
    expect(dead[0]!.reason).not.toContain("'bad'");
    expect((await rows('customers_b', 399, 399))[0]?.name).toBe('from s3');
    expect([first.consumer.breakerState, second.consumer.breakerState]).toEqual(['closed', 'closed']);
    await waitFor(() => drained('beta'), { what: 'queue drained' });
    expect((await queueDepth(sqs, subscriptions.beta!.dlqUrl)).visible).toBe(4);
  });
});
