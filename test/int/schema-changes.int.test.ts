import { createHmac, randomBytes } from 'node:crypto';
import type { SNSClient } from '@aws-sdk/client-sns';
import { PurgeQueueCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createSnsClient, createSqsClient } from '../../src/aws/clients.js';
import { parseConfig, type Config } from '../../src/config/index.js';
import { openConsumer, type Consumer, type HaltedEvent } from '../../src/consumer/index.js';
import { queueDepth } from '../../src/aws/resources.js';
import { applySubscription, planSubscription, type SubscriptionResult } from '../../src/subscriptions/subscribe.js';
import type { ColumnShape } from '../../src/wire/envelope.js';
import { createLogger, silentLogger } from '../../src/logger.js';
import { createMetrics, type Metrics } from '../../src/observability/metrics.js';
import { buildTransformer, createTargetWriter, type TargetWriter } from '../../src/targets/index.js';
import { hasSchemaAdmin } from '../../src/targets/types.js';
import { outboxEvent } from '../helpers/consumer-fixtures.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { startEmulator, type Emulator } from '../helpers/fauxqs.js';
import { createMysqlDatabase } from '../helpers/pipeline.js';
import { publishMessages, rowMessage, schemaMessage, shuffled, type WireMessage } from '../helpers/schema-events.js';
import { waitFor } from '../helpers/wait.js';

/**
 * Schema changes through SNS → SQS (shuffled by the emulator, and published shuffled with duplicates)
 * to PostgreSQL and MariaDB targets under schemaChanges apply, ignore and stop.
 */
let emulator: Emulator;
let db: TestDatabase;
let maria: Awaited<ReturnType<typeof createMysqlDatabase>>;
const mariaState = `outbox_state_${randomBytes(4).toString('hex')}`;
let config: Config;
let sns: SNSClient;
let sqs: SQSClient;
const SALT = 'pepper';
const subscriptions: Record<string, SubscriptionResult> = {};
const running: { consumer: Consumer; writer: TargetWriter }[] = [];

beforeAll(async () => {
  emulator = await startEmulator();
  Object.assign(process.env, emulator.awsEnv);
  db = await createTestDatabase('outbox_schema');
  await db.pool.query(`CREATE TABLE items_pg (id int PRIMARY KEY, name text NOT NULL, tenant text);
                       CREATE TABLE items_ign (id int PRIMARY KEY, name text, tenant text);
                       CREATE TABLE orders_stop (id int PRIMARY KEY, name text, tenant text)`);
  maria = await createMysqlDatabase();
  await maria.conn.query('CREATE TABLE items_my (id int PRIMARY KEY, name text, tenant text)');
  const queue = { visibilityTimeoutSec: 5, waitTimeSec: 1, maxReceiveCount: 30, batchSize: 10, concurrency: 2 };
  config = parseConfig(
    {
      source: { url: 'postgres://unused@127.0.0.1/unused' },
      publish: { topics: { default: { name: `schema-${randomBytes(4).toString('hex')}` } } },
      targets: {
        pgapply: {
          kind: 'postgres', urlEnv: 'PG_URL', tables: ['public.items'], queue, stateSchema: 'state_schema', schemaChanges: 'apply', droppedColumns: 'drop', hashSaltEnv: 'SALT',
          mapping: { 'public.items': { table: 'items_pg', rename: { label: 'title' }, hash: ['secret'] } },
        },
        myapply: { kind: 'mysql', urlEnv: 'MY_URL', tables: ['public.items'], queue, stateSchema: mariaState, schemaChanges: 'apply', mapping: { 'public.items': { table: 'items_my' } } },
        pgignore: { kind: 'postgres', urlEnv: 'PG_URL', tables: ['public.items'], queue, stateSchema: 'state_schema', schemaChanges: 'ignore', mapping: { 'public.items': { table: 'items_ign' } } },
        pgstop: { kind: 'postgres', urlEnv: 'PG_URL', tables: ['public.orders'], where: { tenant: ['a'] }, queue, stateSchema: 'state_schema', schemaChanges: 'stop', mapping: { 'public.orders': { table: 'orders_stop' } } },
      },
    },
    { ...emulator.awsEnv, PG_URL: db.url, MY_URL: maria.url, SALT },
  );
  sns = createSnsClient(config);
  sqs = createSqsClient(config);
  for (const name of Object.keys(config.targets)) subscriptions[name] = await applySubscription(planSubscription(config, name), sns, sqs);
});

afterEach(async () => {
  for (const r of running.splice(0)) {
    await r.consumer.stop();
    await r.writer.close();
  }
  for (const s of Object.values(subscriptions)) {
    await sqs.send(new PurgeQueueCommand({ QueueUrl: s.queueUrl }));
    await sqs.send(new PurgeQueueCommand({ QueueUrl: s.dlqUrl }));
  }
});

afterAll(async () => {
  sns?.destroy();
  sqs?.destroy();
  await db?.drop();
  await maria?.conn.query(`DROP DATABASE IF EXISTS \`${mariaState}\``);
  await maria?.drop();
  await emulator?.stop();
});

async function startConsumer(name: string, metrics: Metrics = createMetrics()) {
  const target = config.targets[name]!;
  const secrets = config.targetSecrets(name);
  const writer = createTargetWriter(name, target, secrets, process.env.DEBUG_SCHEMA ? createLogger('info') : silentLogger);
  const consumer = await openConsumer(config, name, { sqs, writer, transform: buildTransformer(name, target, secrets), metrics, logger: process.env.DEBUG_SCHEMA ? createLogger('info') : silentLogger, haltCheckMs: 200 });
  running.push({ consumer, writer });
  void consumer.start();
  return { consumer, writer, metrics };
}

async function drained(name: string): Promise<boolean> {
  const d = await queueDepth(sqs, subscriptions[name]!.queueUrl);
  return d.visible === 0 && d.inFlight === 0;
}

async function metricValue(metrics: Metrics, name: string, labels: string): Promise<number> {
  const text = await metrics.registry.metrics();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(labels));
  return line ? Number(line.split(' ').at(-1)) : 0;
}

const col = (name: string, type: string, nullable = true): ColumnShape => ({ name, type, nullable });
const hash = (text: string) => createHmac('sha256', SALT).update(text, 'utf8').digest('hex');

describe('schema changes at targets', () => {
  it('apply converges PostgreSQL (through the mapping) and MariaDB targets over add, rename, alter and drop in any order; ignore keeps rows flowing', async () => {
    const table = 'public.items';
    const v0 = [col('id', 'integer', false), col('name', 'text', false), col('tenant', 'text')];
    const v1 = [...v0, col('qty', 'integer'), col('secret', 'text'), col('extra', 'character varying(20)')];
    const v2 = v1.map((c) => (c.name === 'name' ? { ...c, name: 'label' } : c));
    const v3 = v2.map((c) => (c.name === 'qty' ? { ...c, type: 'bigint' } : c));
    const v4 = v3.filter((c) => c.name !== 'extra');
    const row = (seq: number, id: number, values: Record<string, unknown>) => rowMessage(outboxEvent({ table, op: seq <= 10 ? 'insert' : 'update', id, seq, row: { id, tenant: 'a', ...values } }));
    const schema: WireMessage[] = [
      schemaMessage(table, 20, v0, v1, ['id'], [{ kind: 'add_column', column: 'qty', type: 'integer' }, { kind: 'add_column', column: 'secret', type: 'text' }, { kind: 'add_column', column: 'extra', type: 'character varying(20)' }]),
      schemaMessage(table, 40, v1, v2, ['id'], [{ kind: 'rename_column', column: 'label', from: 'name' }]),
      schemaMessage(table, 50, v2, v3, ['id'], [{ kind: 'alter_type', column: 'qty', from: 'integer', to: 'bigint' }]),
      schemaMessage(table, 60, v3, v4, ['id'], [{ kind: 'drop_column', column: 'extra' }]),
    ];
    const rows: WireMessage[] = [];
    for (let id = 1; id <= 10; id++) rows.push(row(id, id, { name: `n${id}` }));
    for (let id = 1; id <= 10; id++) rows.push(row(20 + id, id, { name: `n${id}`, qty: id * 10, secret: `s${id}`, extra: `e${id}` }));
    for (let id = 1; id <= 5; id++) rows.push(row(40 + id, id, { label: `L${id}`, qty: id * 10, secret: `s${id}`, extra: `e${id}` }));
    rows.push(row(51, 6, { label: 'n6', qty: '9000000000', secret: 's6', extra: 'e6' }));
    rows.push(row(61, 7, { label: 'L7', qty: 70, secret: 's7' }));
    // Every schema change twice, a few rows twice; published in a shuffled order (the emulator shuffles again).
    await publishMessages(sns, subscriptions.pgapply!.topicArn, shuffled([...schema, ...schema, ...rows, rows[3]!, rows[15]!], 8));

    const pgMetrics = createMetrics();
    await startConsumer('pgapply', pgMetrics);
    await startConsumer('myapply');
    await startConsumer('pgignore');
    const expected = (id: number) => ({
      id,
      title: id <= 5 || id === 7 ? `L${id}` : `n${id}`,
      tenant: 'a',
      qty: id === 6 ? '9000000000' : String(id * 10),
      secret: hash(`s${id}`),
    });
    const pgRows = async () => (await db.pool.query('SELECT id, title, tenant, qty::text AS qty, secret FROM items_pg ORDER BY id')).rows;
    await waitFor(async () => JSON.stringify(await pgRows()) === JSON.stringify(Array.from({ length: 10 }, (_, i) => expected(i + 1))), { what: 'PostgreSQL target converged', timeoutMs: 60_000 });
    const pgColumns = (await db.pool.query<{ column_name: string; data_type: string }>(`SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'items_pg' ORDER BY ordinal_position`)).rows;
    expect(pgColumns).toEqual([
      { column_name: 'id', data_type: 'integer' },
      { column_name: 'title', data_type: 'text' },
      { column_name: 'tenant', data_type: 'text' },
      { column_name: 'qty', data_type: 'bigint' },
      { column_name: 'secret', data_type: 'text' },
    ]);

    // droppedColumns keep: extra stays with the values written before the drop. Row 7's newest version
    // (seq 61) has no extra: it keeps "e7" when seq 27 came first, or NULL when 27 came after and was stale.
    const myRows = async () => ((await maria.conn.query('SELECT id, label, tenant, CAST(qty AS CHAR) AS qty, secret, extra FROM items_my ORDER BY id'))[0] as Record<string, unknown>[]).map((r) => (r.id === 7 && r.extra === 'e7' ? { ...r, extra: null } : r));
    const myExpected = Array.from({ length: 10 }, (_, i) => {
      const id = i + 1;
      return { id, label: id <= 5 || id === 7 ? `L${id}` : `n${id}`, tenant: 'a', qty: id === 6 ? '9000000000' : String(id * 10), secret: `s${id}`, extra: id === 7 ? null : `e${id}` };
    });
    await waitFor(async () => JSON.stringify(await myRows()) === JSON.stringify(myExpected), { what: 'MariaDB target converged', timeoutMs: 60_000 });
    const [myColumns] = await maria.conn.query(`SELECT COLUMN_NAME AS name, COLUMN_TYPE AS type, IS_NULLABLE AS nullable FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = 'items_my' ORDER BY ORDINAL_POSITION`, [maria.name]);
    expect(myColumns).toEqual([
      { name: 'id', type: 'int(11)', nullable: 'NO' },
      { name: 'label', type: 'text', nullable: 'YES' },
      { name: 'tenant', type: 'text', nullable: 'YES' },
      { name: 'qty', type: 'bigint(20)', nullable: 'YES' },
      { name: 'secret', type: 'longtext', nullable: 'YES' },
      { name: 'extra', type: 'varchar(20)', nullable: 'YES' },
    ]);

    // ignore: no DDL, every row applied in the shape the table has (new columns left out).
    const ignRows = async () => (await db.pool.query('SELECT id, name, tenant FROM items_ign ORDER BY id')).rows;
    await waitFor(async () => (await ignRows()).length === 10 && (await drained('pgignore')), { what: 'ignore target has every row', timeoutMs: 60_000 });
    // A row written after the rename carries "label", which this target lacks: it is left out, so "name"
    // keeps what an older row wrote, or stays NULL when the newer row came first (the older one is then stale).
    for (const r of await ignRows()) {
      expect(r.tenant).toBe('a');
      if (r.id <= 7) expect([`n${r.id}`, null]).toContain(r.name);
      else expect(r.name).toBe(`n${r.id}`);
    }
    expect((await db.pool.query(`SELECT count(*)::int AS n FROM information_schema.columns WHERE table_name = 'items_ign'`)).rows[0].n).toBe(3);

    await waitFor(async () => (await drained('pgapply')) && (await drained('myapply')), { what: 'queues drained', timeoutMs: 30_000 });
    for (const name of ['pgapply', 'myapply', 'pgignore']) expect((await queueDepth(sqs, subscriptions[name]!.dlqUrl)).visible).toBe(0);
    // Four schema changes applied once each; their duplicates changed nothing.
    expect(await metricValue(pgMetrics, 'outbox_consumer_schema_changes_total', 'action="applied"')).toBe(4);
    expect(await metricValue(pgMetrics, 'outbox_consumer_schema_changes_total', 'action="duplicate"')).toBe(4);
    const recorded = (await db.pool.query(`SELECT target, seq::int AS seq, status FROM state_schema.schema_changes WHERE target IN ('pgapply', 'pgignore') ORDER BY target, seq`)).rows;
    expect(recorded).toEqual([
      ...[20, 40, 50, 60].map((seq) => ({ target: 'pgapply', seq, status: 'applied' })),
      ...[20, 40, 50, 60].map((seq) => ({ target: 'pgignore', seq, status: 'ignored' })),
    ]);
  }, 150_000);

  it('stop halts the target with a message naming table, change and how to resume; nothing is deleted or dead-lettered; it resumes after the fix with nothing lost', async () => {
    const table = 'public.orders';
    const v0 = [col('id', 'integer', false), col('name', 'text'), col('tenant', 'text')];
    const v1 = [...v0, col('note', 'character varying(40)')];
    const messages: WireMessage[] = [];
    for (let id = 1; id <= 5; id++) messages.push(rowMessage(outboxEvent({ table, id, seq: 100 + id, row: { id, name: `n${id}`, tenant: 'a' }, attributes: { tenant: 'a' } })));
    messages.push(schemaMessage(table, 110, v0, v1, ['id'], [{ kind: 'add_column', column: 'note', type: 'character varying(40)' }]));
    for (let id = 1; id <= 5; id++) messages.push(rowMessage(outboxEvent({ table, op: 'update', id, seq: 110 + id, row: { id, name: `n${id}`, tenant: 'a', note: `note ${id}` }, attributes: { tenant: 'a' } })));
    await publishMessages(sns, subscriptions.pgstop!.topicArn, shuffled(messages, 3));

    const metrics = createMetrics();
    const { consumer, writer } = await startConsumer('pgstop', metrics);
    const halted = await new Promise<HaltedEvent>((resolve) => consumer.once('halted', resolve));
    expect(halted.reason).toContain('Target "pgstop" stopped at a schema change of public.orders (seq 110: add column "note" (character varying(40)))');
    expect(halted.reason).toContain('targets.pgstop.schemaChanges is stop');
    expect(halted.reason).toContain('outbox target resume pgstop');
    expect(consumer.halted?.reason).toBe(halted.reason);
    expect(await metricValue(metrics, 'outbox_consumer_halted', 'target="pgstop"')).toBe(1);
    expect(await metricValue(metrics, 'outbox_consumer_schema_changes_total', 'action="stopped"')).toBe(1);
    if (!hasSchemaAdmin(writer)) throw new Error('a PostgreSQL writer has schema-change admin');
    const halts = await writer.schemaChanges(['halted']);
    expect(halts).toMatchObject([{ sourceTable: 'public.orders', targetTable: 'public.orders_stop', seq: '110', status: 'halted', reason: halted.reason }]);

    // Halted: the rows written after the change are not applied, and nothing left the queue for the DLQ.
    const rows = async () => (await db.pool.query('SELECT * FROM orders_stop ORDER BY id')).rows as Record<string, unknown>[];
    expect((await rows()).every((r) => !('note' in r))).toBe(true);
    const depth = await queueDepth(sqs, subscriptions.pgstop!.queueUrl);
    expect(depth.visible + depth.inFlight).toBeGreaterThanOrEqual(1);
    expect((await queueDepth(sqs, subscriptions.pgstop!.dlqUrl)).visible).toBe(0);

    // The operator applies the change by hand and resumes.
    await db.pool.query('ALTER TABLE orders_stop ADD COLUMN note varchar(40)');
    const resumed = new Promise<void>((resolve) => consumer.once('resumed', resolve));
    expect((await writer.resumeSchemaChanges()).map((r) => r.seq)).toEqual(['110']);
    await resumed;
    await waitFor(async () => JSON.stringify(await rows()) === JSON.stringify(Array.from({ length: 5 }, (_, i) => ({ id: i + 1, name: `n${i + 1}`, tenant: 'a', note: `note ${i + 1}` }))), { what: 'stop target caught up', timeoutMs: 60_000 });
    await waitFor(() => drained('pgstop'), { what: 'stop queue drained', timeoutMs: 30_000 });
    expect((await queueDepth(sqs, subscriptions.pgstop!.dlqUrl)).visible).toBe(0);
    expect(await metricValue(metrics, 'outbox_consumer_halted', 'target="pgstop"')).toBe(0);
    expect((await db.pool.query(`SELECT status FROM state_schema.schema_changes WHERE target = 'pgstop'`)).rows).toEqual([{ status: 'resumed' }]);
  }, 150_000);

  // Last in this file: it leaves pgapply and myapply halted.
  it('apply halts at a drop_table (published by the PostgreSQL DDL event trigger), naming the table and what to do', async () => {
    const shape = [col('id', 'integer', false), col('label', 'text', false), col('tenant', 'text')];
    await publishMessages(sns, subscriptions.pgapply!.topicArn, [schemaMessage('public.items', 900, shape, null, [], [{ kind: 'drop_table' }])]);
    for (const name of ['pgapply', 'myapply']) {
      const { consumer } = await startConsumer(name);
      const halted = consumer.halted ?? (await new Promise<HaltedEvent>((resolve) => consumer.once('halted', resolve)));
      expect(halted.reason).toContain(`Target "${name}" stopped at a schema change of public.items (seq 900`);
      expect(halted.reason).toContain('the source table public.items was dropped');
      expect((await queueDepth(sqs, subscriptions[name]!.dlqUrl)).visible).toBe(0);
    }
  }, 60_000);
});
