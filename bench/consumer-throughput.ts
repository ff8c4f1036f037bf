/**
 * Consumer throughput into a PostgreSQL target, against a bare receive + delete baseline on the same
 * queue volume, in the same run: the ratio shows what parse + validate + transform + one target
 * transaction per batch + delete cost over moving messages alone.
 *
 *   npx tsx bench/consumer-throughput.ts            # 5,000 messages, 1 consumer
 *   BENCH_MESSAGES=20000 BENCH_CONSUMERS=4 npx tsx bench/consumer-throughput.ts
 *
 * Needs PostgreSQL (TEST_PG_URL, default postgres://postgres@127.0.0.1:5432/postgres); SNS/SQS come
 * from the fauxqs emulator, in this process (it shares the CPU with both runs alike).
 */
import { randomBytes } from 'node:crypto';
import { ReceiveMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { createSnsClient, createSqsClient } from '../src/aws/clients.js';
import { parseConfig } from '../src/config/index.js';
import { openConsumer, type Consumer } from '../src/consumer/index.js';
import { queueDepth } from '../src/subscriptions/resources.js';
import { deleteMessages } from '../src/aws/sqs-batch.js';
import { applySubscription, planSubscription } from '../src/subscriptions/subscribe.js';
import { silentLogger } from '../src/logger.js';
import { buildTransformer, createTargetWriter } from '../src/targets/index.js';
import { outboxEvent, publishEvents } from '../test/helpers/consumer-fixtures.js';
import { createTestDatabase } from '../test/helpers/db.js';
import { startEmulator } from '../test/helpers/fauxqs.js';

const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 5_000);
const CONSUMERS = Number(process.env.BENCH_CONSUMERS ?? 1);

const emulator = await startEmulator();
Object.assign(process.env, emulator.awsEnv);
const db = await createTestDatabase('outbox_bench');
await db.pool.query('CREATE TABLE customers (id int PRIMARY KEY, name text, email text, tenant text, score numeric, updated_at timestamptz)');
const config = parseConfig(
  {
    source: { url: 'postgres://unused@127.0.0.1/unused' },
    publish: { topics: { default: { name: `bench-${randomBytes(4).toString('hex')}` } } },
    targets: { bench: { kind: 'postgres', urlEnv: 'BENCH_TARGET_URL', tables: ['public.customers'], queue: { waitTimeSec: 1, visibilityTimeoutSec: 60, batchSize: 10 } } },
  },
  { ...emulator.awsEnv, BENCH_TARGET_URL: db.url },
);
const sns = createSnsClient(config);
const sqs = createSqsClient(config);
const sub = await applySubscription(planSubscription(config, 'bench'), sns, sqs);

let nextId = 1;
async function fill(): Promise<void> {
  const events = Array.from({ length: MESSAGES }, () => {
    const id = nextId++;
    return outboxEvent({ id, row: { id, name: `customer ${id}`, email: `c${id}@example.com`, tenant: String(id % 7), score: '12.50', updated_at: new Date().toISOString() }, attributes: { tenant: String(id % 7) } });
  });
  const lanes = 16;
  const per = Math.ceil(events.length / lanes / 10) * 10;
  await Promise.all(Array.from({ length: lanes }, (_, i) => publishEvents(sns, sub.topicArn, events.slice(i * per, (i + 1) * per))));
  for (;;) {
    const d = await queueDepth(sqs, sub.queueUrl);
    if (d.visible >= MESSAGES) return;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Receive up to 10, delete them (checking every entry), until the queue is empty. */
async function baselineLoop(client: SQSClient, counter: { n: number }): Promise<void> {
  while (counter.n < MESSAGES) {
    const reply = await client.send(new ReceiveMessageCommand({ QueueUrl: sub.queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1, MessageAttributeNames: ['All'] }));
    const messages = reply.Messages ?? [];
    if (messages.length === 0) continue;
    const deleted = await deleteMessages(client, sub.queueUrl, messages);
    counter.n += deleted.succeeded.length;
  }
}

async function baseline(): Promise<number> {
  await fill();
  const counter = { n: 0 };
  const started = performance.now();
  await Promise.all(Array.from({ length: CONSUMERS }, () => baselineLoop(sqs, counter)));
  return (performance.now() - started) / 1000;
}

async function consumers(): Promise<{ seconds: number; applied: number }> {
  await fill();
  const target = config.targets.bench!;
  const secrets = config.targetSecrets('bench');
  const running: { consumer: Consumer; close(): Promise<void> }[] = [];
  let applied = 0;
  let resolveDone!: () => void;
  const done = new Promise<void>((r) => (resolveDone = r));
  for (let i = 0; i < CONSUMERS; i++) {
    const writer = createTargetWriter('bench', target, secrets, silentLogger);
    await writer.init();
    const consumer = await openConsumer(config, 'bench', { sqs, writer, transform: buildTransformer('bench', target, secrets), logger: silentLogger });
    consumer.on('batch-applied', (e) => {
      applied += e.applied + e.stale;
      if (applied >= MESSAGES) resolveDone();
    });
    running.push({ consumer, close: () => writer.close() });
  }
  const started = performance.now();
  for (const r of running) void r.consumer.start();
  await done;
  const seconds = (performance.now() - started) / 1000;
  for (const r of running) {
    await r.consumer.stop();
    await r.close();
  }
  return { seconds, applied };
}

try {
  // Baseline before and after, so load that changes during the run weighs on both sides alike.
  const before = await baseline();
  const run = await consumers();
  const after = await baseline();
  const base = (before + after) / 2;
  const rows = Number((await db.pool.query<{ n: string }>('SELECT count(*) AS n FROM customers')).rows[0]!.n);
  const baseRate = MESSAGES / base;
  const rate = MESSAGES / run.seconds;
  console.log(`consumer throughput: ${MESSAGES} messages, ${CONSUMERS} consumer(s), fauxqs in-process, PostgreSQL target`);
  console.log(`  baseline receive+delete : ${baseRate.toFixed(0).padStart(6)} msg/s  (mean of ${before.toFixed(2)} s before and ${after.toFixed(2)} s after)`);
  console.log(`  consume into PostgreSQL : ${rate.toFixed(0).padStart(6)} rows/s (${run.seconds.toFixed(2)} s, ${rows} rows in the target)`);
  console.log(`  ratio consumer/baseline : ${(rate / baseRate).toFixed(2)}`);
  if (rows !== MESSAGES) {
    console.error(`target holds ${rows} rows, expected ${MESSAGES}`);
    process.exitCode = 1;
  }
} finally {
  sns.destroy();
  sqs.destroy();
  await db.drop();
  await emulator.stop();
}
