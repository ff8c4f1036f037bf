/**
 * Consumer throughput into a target, against a bare receive + delete baseline on the same queue
 * volume, in the same run: the ratio shows what parse + validate + transform + one target
 * transaction per batch + delete cost over moving messages alone.
 *
 *   npx tsx bench/consumer-throughput.ts            # 5,000 messages, 1 consumer, PostgreSQL target
 *   BENCH_TARGET=mysql npx tsx bench/consumer-throughput.ts       # MariaDB/MySQL (TEST_MYSQL_URL)
 *   BENCH_TARGET=dynamodb npx tsx bench/consumer-throughput.ts    # DynamoDB Local (needs java)
 *   BENCH_MESSAGES=20000 BENCH_CONSUMERS=4 npx tsx bench/consumer-throughput.ts
 *
 * Needs PostgreSQL (TEST_PG_URL, default postgres://postgres@127.0.0.1:5432/postgres); SNS/SQS come
 * from the fauxqs emulator, in this process (it shares the CPU with both runs alike). Prints the load
 * average at the start and the end.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ScanCommand } from '@aws-sdk/client-dynamodb';
import mysql from 'mysql2/promise';
import { ReceiveMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { createSnsClient, createSqsClient } from '../src/aws/clients.js';
import { parseConfig } from '../src/config/index.js';
import { openConsumer, type Consumer } from '../src/consumer/index.js';
import { queueDepth } from '../src/aws/resources.js';
import { deleteMessages } from '../src/aws/sqs-batch.js';
import { applySubscription, planSubscription } from '../src/subscriptions/subscribe.js';
import { silentLogger } from '../src/logger.js';
import { buildTransformer, createTargetWriter } from '../src/targets/index.js';
import { outboxEvent, publishEvents } from '../test/helpers/consumer-fixtures.js';
import { createTestDatabase } from '../test/helpers/db.js';
import { startDynamoLocal } from '../test/helpers/dynamodb.js';
import { MYSQL_URL } from '../test/helpers/env.js';
import { startEmulator } from '../test/helpers/fauxqs.js';

const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 5_000);
const CONSUMERS = Number(process.env.BENCH_CONSUMERS ?? 1);
const KIND = process.env.BENCH_TARGET ?? 'postgres';
if (KIND !== 'postgres' && KIND !== 'mysql' && KIND !== 'dynamodb') throw new Error(`BENCH_TARGET is "${KIND}": use postgres, mysql or dynamodb`);
const KIND_NAME = { postgres: 'PostgreSQL', mysql: 'MariaDB', dynamodb: 'DynamoDB Local' }[KIND];
const load = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
const loadAtStart = load();

/** The target database with a customers table, its URL, a row count and a clean-up. */
interface BenchTarget {
  url: string;
  target: Record<string, unknown>;
  count(): Promise<number>;
  drop(): Promise<void>;
}

async function openTarget(): Promise<BenchTarget> {
  if (KIND === 'postgres') {
    const db = await createTestDatabase('outbox_bench');
    await db.pool.query('CREATE TABLE customers (id int PRIMARY KEY, name text, email text, tenant text, score numeric, updated_at timestamptz)');
    const count = async () => Number((await db.pool.query<{ n: string }>('SELECT count(*) AS n FROM customers')).rows[0]!.n);
    return { url: db.url, target: {}, count, drop: () => db.drop() };
  }
  if (KIND === 'mysql') {
    const database = `outbox_bench_${randomBytes(4).toString('hex')}`;
    const admin = await mysql.createConnection({ uri: MYSQL_URL });
    await admin.query(`CREATE DATABASE \`${database}\` CHARACTER SET utf8mb4`);
    await admin.query(`CREATE TABLE \`${database}\`.customers (id int PRIMARY KEY, name text, email text, tenant text, score decimal(12,2), updated_at datetime(6))`);
    const url = new URL(MYSQL_URL);
    url.pathname = `/${database}`;
    const count = async () => Number(((await admin.query(`SELECT count(*) AS n FROM \`${database}\`.customers`))[0] as { n: number }[])[0]!.n);
    const drop = async () => {
      await admin.query(`DROP DATABASE IF EXISTS \`${database}\``);
      await admin.query(`DROP DATABASE IF EXISTS \`st_${database}\``);
      await admin.end();
    };
    return { url: url.toString(), target: { stateSchema: `st_${database}`, mapping: { 'public.customers': { table: 'customers' } } }, count, drop };
  }
  const ddb = await startDynamoLocal();
  const count = async () => {
    let n = 0;
    let start: Record<string, never> | undefined;
    do {
      const page = await ddb.client.send(new ScanCommand({ TableName: 'customers', Select: 'COUNT', FilterExpression: 'attribute_exists(#n)', ExpressionAttributeNames: { '#n': 'name' }, ExclusiveStartKey: start }));
      n += page.Count ?? 0;
      start = page.LastEvaluatedKey as Record<string, never> | undefined;
    } while (start);
    return n;
  };
  return { url: ddb.endpoint, target: { mapping: { 'public.customers': { table: 'customers' } }, dynamodb: { attributeTypes: { 'public.customers': { id: 'number', score: 'number' } } } }, count, drop: () => ddb.stop() };
}

const emulator = await startEmulator();
Object.assign(process.env, emulator.awsEnv);
const bench = await openTarget();
const config = parseConfig(
  {
    source: { url: 'postgres://unused@127.0.0.1/unused' },
    publish: { topics: { default: { name: `bench-${randomBytes(4).toString('hex')}` } } },
    targets: { bench: { kind: KIND, urlEnv: 'BENCH_TARGET_URL', tables: ['public.customers'], queue: { waitTimeSec: 1, visibilityTimeoutSec: 60, batchSize: 10 }, ...bench.target } },
  },
  { ...emulator.awsEnv, BENCH_TARGET_URL: bench.url },
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
    const problems = await writer.init({ keyColumns: { 'public.customers': ['id'] }, create: true });
    if (problems.length > 0) throw new Error(problems.join('; '));
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
  const rows = await bench.count();
  const baseRate = MESSAGES / base;
  const rate = MESSAGES / run.seconds;
  console.log(`consumer throughput: ${MESSAGES} messages, ${CONSUMERS} consumer(s), fauxqs in-process, ${KIND_NAME} target; load ${loadAtStart} at the start, ${load()} at the end`);
  console.log(`  baseline receive+delete : ${baseRate.toFixed(0).padStart(6)} msg/s  (mean of ${before.toFixed(2)} s before and ${after.toFixed(2)} s after)`);
  console.log(`  consume into the target : ${rate.toFixed(0).padStart(6)} rows/s (${run.seconds.toFixed(2)} s, ${rows} rows in the target)`);
  console.log(`  ratio consumer/baseline : ${(rate / baseRate).toFixed(2)}`);
  if (rows !== MESSAGES) {
    console.error(`target holds ${rows} rows, expected ${MESSAGES}`);
    process.exitCode = 1;
  }
} finally {
  sns.destroy();
  sqs.destroy();
  await bench.drop();
  await emulator.stop();
}
