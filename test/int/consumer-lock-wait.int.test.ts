import { randomBytes } from 'node:crypto';
import mysql from 'mysql2/promise';
import type { SNSClient } from '@aws-sdk/client-sns';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createS3Client, createSnsClient, createSqsClient } from '../../src/aws/clients.js';
import { queueDepth } from '../../src/aws/resources.js';
import { parseConfig, type Config } from '../../src/config/index.js';
import { openConsumer } from '../../src/consumer/index.js';
import { silentLogger } from '../../src/logger.js';
import { createMetrics } from '../../src/observability/metrics.js';
import { applySubscription, planSubscription, type SubscriptionResult } from '../../src/subscriptions/subscribe.js';
import { buildTransformer, createTargetWriter } from '../../src/targets/index.js';
import { outboxEvent, publishEvents } from '../helpers/consumer-fixtures.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { startEmulator, type Emulator } from '../helpers/fauxqs.js';
import { createMysqlDatabase } from '../helpers/pipeline.js';
import { waitFor } from '../helpers/wait.js';

/**
 * A row lock another session holds on a key the batch writes, past the target's lockWaitTimeoutSec:
 * the server ends the writer's statement (PostgreSQL 55P03, MariaDB 1205), the writer runs the row
 * transaction again, and the batch is applied once — against PostgreSQL and MariaDB, through fauxqs.
 */
let emulator: Emulator;
let pgDb: TestDatabase;
let maria: Awaited<ReturnType<typeof createMysqlDatabase>>;
const mariaState = `outbox_state_${randomBytes(4).toString('hex')}`;
let config: Config;
let sns: SNSClient;
let sqs: SQSClient;
const subscriptions: Record<string, SubscriptionResult> = {};

/** What the test needs of each target database: a session of its own to hold a lock, and the rows. */
interface Side {
  target: 'pg' | 'maria';
  tenant: string;
  open(): Promise<{ exec(sql: string): Promise<void>; close(): Promise<void> }>;
  rows(): Promise<{ id: number; name: string }[]>;
}

const sides: Side[] = [
  {
    target: 'pg',
    tenant: 'p',
    open: async () => {
      const client = await pgDb.pool.connect();
      return { exec: async (sql) => void (await client.query(sql)), close: async () => client.release() };
    },
    rows: async () => (await pgDb.pool.query<{ id: number; name: string }>('SELECT id, name FROM customers ORDER BY id')).rows,
  },
  {
    target: 'maria',
    tenant: 'm',
    open: async () => {
      const conn = await mysql.createConnection({ uri: maria.url });
      return { exec: async (sql) => void (await conn.query(sql)), close: () => conn.end() };
    },
    rows: async () => (await maria.conn.query('SELECT id, name FROM customers ORDER BY id'))[0] as { id: number; name: string }[],
  },
];

beforeAll(async () => {
  emulator = await startEmulator();
  Object.assign(process.env, emulator.awsEnv);
  pgDb = await createTestDatabase('outbox_lock_wait');
  await pgDb.pool.query('CREATE TABLE customers (id int PRIMARY KEY, name text, tenant text)');
  maria = await createMysqlDatabase();
  await maria.conn.query('CREATE TABLE customers (id int PRIMARY KEY, name text, tenant text)');
  // one loop, so the batch is the one that waits; visibility far beyond the test, so a failed batch cannot come back within it
  const queue = { visibilityTimeoutSec: 120, waitTimeSec: 1, maxReceiveCount: 50, batchSize: 10, concurrency: 1 };
  const breaker = { timeoutMs: 60_000, volumeThreshold: 1, errorThresholdPercentage: 50, resetTimeoutMs: 1_000 };
  const mapping = { 'public.customers': { table: 'customers' } };
  config = parseConfig(
    {
      source: { url: 'postgres://unused@127.0.0.1/unused' },
      publish: { topics: { default: { name: `lock-wait-${randomBytes(4).toString('hex')}` } } },
      targets: {
        pg: { kind: 'postgres', urlEnv: 'PG_URL', tables: ['public.customers'], where: { tenant: ['p'] }, queue, breaker, mapping, lockWaitTimeoutSec: 1 },
        maria: { kind: 'mysql', urlEnv: 'MARIA_URL', tables: ['public.customers'], where: { tenant: ['m'] }, queue, breaker, mapping, stateSchema: mariaState, lockWaitTimeoutSec: 1 },
      },
    },
    { ...emulator.awsEnv, PG_URL: pgDb.url, MARIA_URL: maria.url },
  );
  sns = createSnsClient(config);
  sqs = createSqsClient(config);
  for (const name of ['pg', 'maria']) subscriptions[name] = await applySubscription(planSubscription(config, name), sns, sqs);
});

afterAll(async () => {
  sns?.destroy();
  sqs?.destroy();
  await pgDb?.drop();
  await maria?.conn.query(`DROP DATABASE IF EXISTS \`${mariaState}\``);
  await maria?.drop();
  await emulator?.stop();
});

const customer = (id: number, tenant: string, name: string, op: 'insert' | 'update' = 'insert') => outboxEvent({ id, op, row: { id, name, tenant }, attributes: { tenant } });

describe.each(sides)('a lock wait timeout at the target ($target)', (side) => {
  it('runs the row transaction again once the other session lets the row go: applied once, counted as a retry, the target equals the source', async () => {
    const target = config.targets[side.target]!;
    const secrets = config.targetSecrets(side.target);
    const writer = createTargetWriter(side.target, target, secrets, silentLogger);
    const client = createSqsClient(config);
    const metrics = createMetrics();
    const consumer = await openConsumer(config, side.target, { sqs: client, s3: createS3Client(config), writer, transform: buildTransformer(side.target, target, secrets), metrics, logger: silentLogger });
    const applied: number[] = [];
    let applyFailures = 0;
    consumer.on('batch-applied', (e) => applied.push(e.applied));
    consumer.on('apply-failed', () => (applyFailures += 1));
    void consumer.start();
    const other = await side.open();
    try {
      const topicArn = subscriptions[side.target]!.topicArn;
      await publishEvents(sns, topicArn, [customer(1, side.tenant, 'before')]);
      await waitFor(async () => (await side.rows()).length === 1, { what: 'key 1 at the target' });
      await waitFor(() => applied.length === 1, { what: 'the first batch acknowledged' });

      // The other session holds key 1's row; the next batch writes it (and key 2) and waits for it.
      await other.exec('BEGIN');
      await other.exec('SELECT * FROM customers WHERE id = 1 FOR UPDATE');
      const retriesBefore = writer.stats?.retries ?? 0;
      await publishEvents(sns, topicArn, [customer(1, side.tenant, 'after', 'update'), customer(2, side.tenant, 'second')]);
      // The first try ends at lockWaitTimeoutSec; the writer runs the transaction again at once …
      await waitFor(() => (writer.stats?.retries ?? 0) > retriesBefore, { what: "the writer's first try ended by the lock wait timeout" });
      // … and this time the row is let go while it waits.
      await other.exec('COMMIT');

      const source = [
        { id: 1, name: 'after' },
        { id: 2, name: 'second' },
      ];
      await waitFor(async () => JSON.stringify(await side.rows()) === JSON.stringify(source), { what: 'the target equal to the source' });
      await waitFor(() => applied.length === 2, { what: 'the second batch acknowledged' });
      expect(applied).toEqual([1, 2]); // each batch applied once, nothing stale from a second delivery
      expect(applyFailures).toBe(0);
      const retries = (writer.stats?.retries ?? 0) - retriesBefore;
      // once, or twice when the retry also waited out the timeout on a slow machine before the COMMIT arrived; the third try is the last
      expect(retries).toBeGreaterThanOrEqual(1);
      expect(retries).toBeLessThanOrEqual(2);
      const counted = (await metrics.registry.getSingleMetric('outbox_consumer_target_retries_total')!.get()).values.reduce((sum, v) => sum + v.value, 0);
      expect(counted).toBe(writer.stats?.retries);
      const received = (await metrics.registry.getSingleMetric('outbox_consumer_received_total')!.get()).values.reduce((sum, v) => sum + v.value, 0);
      expect(received).toBe(3); // no message came back for a second try
      await waitFor(async () => {
        const d = await queueDepth(sqs, subscriptions[side.target]!.queueUrl);
        return d.visible === 0 && d.inFlight === 0;
      }, { what: 'the queue drained' });
    } finally {
      await other.exec('ROLLBACK').catch(() => undefined);
      await other.close();
      await consumer.stop();
      await writer.close();
      client.destroy();
    }
  });
});
