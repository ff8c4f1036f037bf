/**
 * End to end into DynamoDB: PostgreSQL source → capture → relay → SNS (emulator, which shuffles) →
 * SQS → consumers → DynamoDB Local. One target copies a table through a randomized workload
 * (updates, deletes, re-inserts, key changes, a truncate) and must equal the source, which verify then
 * confirms; another builds order documents with the documented user transform
 * (docs/examples/order-document.js) from two source tables.
 */
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { GetItemCommand, ScanCommand, type AttributeValue } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../src/config/index.js';
import { silentLogger } from '../../src/logger.js';
import type { RelayProcess } from '../../src/relay/start.js';
import { normalizeNumber } from '../../src/targets/dynamodb/values.js';
import { DynamodbTargetWriter } from '../../src/targets/dynamodb/writer.js';
import { runVerify } from '../../src/verify/index.js';
import { startDynamoLocal, type DynamoLocal } from '../helpers/dynamodb.js';
import { REDIS_URL } from '../helpers/env.js';
import { startEmulator, type Emulator } from '../helpers/fauxqs.js';
import { pipelineConfig, startPipelineRelay, startTarget, useEmulatorCredentials, type RunningTarget } from '../helpers/pipeline.js';
import { createMigratedSource } from '../helpers/source.js';
import { waitFor } from '../helpers/wait.js';

type Source = Awaited<ReturnType<typeof createMigratedSource>>;
let source: Source;
let emulator: Emulator;
let ddb: DynamoLocal;
let relay: RelayProcess;
let config: Config;
const targets: RunningTarget[] = [];
const MODULE = fileURLToPath(new URL('../../docs/examples/order-document.js', import.meta.url));

beforeAll(async () => {
  useEmulatorCredentials();
  process.env.AWS_REGION ??= 'us-east-1';
  [source, emulator, ddb] = await Promise.all([createMigratedSource(), startEmulator(), startDynamoLocal()]);
  await source.db.pool.query(`
    CREATE TABLE public.customers (id bigint PRIMARY KEY, name text NOT NULL, tenant_id int NOT NULL, balance numeric(30, 10), seen_at timestamptz, card text);
    CREATE TABLE public.orders (id bigint PRIMARY KEY, customer text NOT NULL, status text NOT NULL, total numeric(12, 2));
    CREATE TABLE public.order_lines (order_id bigint, line_no int, product text NOT NULL, qty int NOT NULL, price numeric(10, 2), PRIMARY KEY (order_id, line_no));`);
  await source.source.track({ table: { schema: 'public', table: 'customers' }, exclude: ['card'], attributes: ['tenant_id'] });
  await source.source.track({ table: { schema: 'public', table: 'orders' } });
  await source.source.track({ table: { schema: 'public', table: 'order_lines' } });
  const queue = { waitTimeSec: 1, visibilityTimeoutSec: 10, maxReceiveCount: 5, batchSize: 10 };
  config = pipelineConfig(
    {
      source: { url: source.db.url, schema: 'outbox', name: 'e2e-ddb' },
      redis: { urls: [REDIS_URL], keyPrefix: `e2e-ddb-${randomBytes(5).toString('hex')}`, commandTimeoutMs: 200 },
      relay: { lockTtlMs: 2_000, pollIntervalMs: 100, readBatchSize: 500, publishConcurrency: 4 },
      publish: { topics: { default: { name: `e2e-ddb-${randomBytes(4).toString('hex')}` } } },
      aws: { region: 'us-east-1', endpoint: emulator.endpoint },
      targets: {
        ddb_copy: {
          kind: 'dynamodb',
          urlEnv: 'DDB_URL',
          tables: ['public.customers'],
          mapping: { 'public.customers': { table: 'customers' } },
          dynamodb: { attributeTypes: { 'public.customers': { id: 'number', balance: 'number' } } },
          queue,
        },
        ddb_docs: {
          kind: 'dynamodb',
          urlEnv: 'DDB_URL',
          tables: ['public.orders', 'public.order_lines'],
          mapping: { 'public.orders': { table: 'orders', transform: MODULE }, 'public.order_lines': { table: 'orders', transform: MODULE, onTruncate: 'ignore' } },
          dynamodb: { attributeTypes: { 'public.orders': { order_id: 'number', total: 'number' }, 'public.order_lines': { price: 'number' } } },
          queue,
        },
      },
      log: { level: 'silent' },
    },
    { DDB_URL: ddb.endpoint },
  );
  // the tables, as `outbox target init --create` makes them with the source reachable
  for (const [name, keyColumns] of [['ddb_copy', { 'public.customers': ['id'] }], ['ddb_docs', { 'public.orders': ['order_id'] }]] as const) {
    const target = config.targets[name]!;
    const w = new DynamodbTargetWriter({ name, target: { ...target, tables: Object.keys(keyColumns) }, endpoint: ddb.endpoint, region: 'us-east-1', logger: silentLogger });
    const problems = await w.init({ keyColumns, create: true });
    await w.close();
    if (problems.length) throw new Error(problems.join('; '));
  }
  targets.push(await startTarget(config, 'ddb_copy'), await startTarget(config, 'ddb_docs'));
  relay = await startPipelineRelay(config);
}, 120_000);

afterAll(async () => {
  await relay?.close();
  await Promise.all(targets.map((t) => t.stop()));
  await Promise.all([source?.close(), emulator?.stop(), ddb?.stop()]);
});

function random(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s * 1103515245 + 12345) & 0x7fffffff;
    return s / 0x7fffffff;
  };
}

async function scan(table: string): Promise<Record<string, AttributeValue>[]> {
  const items: Record<string, AttributeValue>[] = [];
  let start: Record<string, AttributeValue> | undefined;
  do {
    const page = await ddb.client.send(new ScanCommand({ TableName: table, ConsistentRead: true, ...(start ? { ExclusiveStartKey: start } : {}) }));
    items.push(...(page.Items ?? []));
    start = page.LastEvaluatedKey;
  } while (start);
  return items;
}

describe('end to end into DynamoDB', () => {
  it('keeps a DynamoDB copy equal to the source through a randomized workload with key changes and a truncate; verify agrees', async () => {
    const rnd = random(20261202);
    const live = new Set<number>();
    for (let step = 0; step < 400; step++) {
      const id = 1 + Math.floor(rnd() * 80);
      const roll = rnd();
      if (!live.has(id)) {
        await source.db.pool.query(`INSERT INTO customers (id, name, tenant_id, balance, seen_at, card) VALUES ($1, $2, $3, $4, now(), 'secret')`, [id, `name-${id}-${step} ✓`, 1 + (id % 3), `12345678901234567890.${String(step).padStart(10, '0')}`]);
        live.add(id);
      } else if (roll < 0.6) {
        await source.db.pool.query(`UPDATE customers SET name = $2, balance = balance + 1 WHERE id = $1`, [id, `upd-${step}`]);
      } else if (roll < 0.8) {
        await source.db.pool.query(`DELETE FROM customers WHERE id = $1`, [id]);
        live.delete(id);
      } else {
        await source.db.pool.query(`UPDATE customers SET id = $2 WHERE id = $1`, [id, 1000 + step]);
        live.delete(id);
      }
      if (step === 150) {
        await source.db.pool.query('TRUNCATE customers');
        live.clear();
      }
    }
    const expected = (await source.db.pool.query(`SELECT id::text, name, tenant_id, balance::text FROM customers ORDER BY id`)).rows;
    const copy = async () =>
      (await scan('customers'))
        .filter((i) => !i.outbox_deleted)
        .map((i) => ({ id: i.id!.N!, name: i.name!.S!, tenant_id: Number(i.tenant_id!.N), balance: normalizeNumber(i.balance!.N!), card: i.card }))
        .sort((a, b) => Number(a.id) - Number(b.id));
    const normalized = expected.map((r) => ({ ...r, balance: normalizeNumber(r.balance), card: undefined })).sort((a, b) => Number(a.id) - Number(b.id));
    await waitFor(async () => JSON.stringify(await copy()) === JSON.stringify(normalized), { timeoutMs: 90_000, intervalMs: 500, what: 'the DynamoDB copy to equal the source' }).catch(async () => expect(await copy()).toEqual(normalized));
    expect(expected.length).toBeGreaterThan(10);
    const report = await runVerify({ source: source.source, targetName: 'ddb_copy', target: config.targets.ddb_copy!, secrets: config.targetSecrets('ddb_copy'), awsRegion: 'us-east-1', logger: silentLogger });
    expect(report.drift).toBe(false);
    expect(report.tables[0]!.sourceRows).toBe(expected.length);
  });

  it('builds order documents from orders and order lines with the user transform, in whatever order SNS delivers', async () => {
    await source.db.pool.query(`
      INSERT INTO orders VALUES (1, 'ann', 'new', 10.00), (2, 'bob', 'new', 5.50);
      INSERT INTO order_lines VALUES (1, 1, 'tea', 2, 2.50), (1, 2, 'cake', 1, 5.00), (2, 1, 'coffee', 1, 5.50);
      UPDATE orders SET status = 'paid' WHERE id = 1;
      UPDATE order_lines SET qty = 3 WHERE order_id = 1 AND line_no = 1;
      DELETE FROM order_lines WHERE order_id = 1 AND line_no = 2;
      INSERT INTO order_lines VALUES (1, 3, 'jam', 1, 3.25);
      DELETE FROM orders WHERE id = 2;`);
    const doc = async (id: number) => (await ddb.client.send(new GetItemCommand({ TableName: 'orders', Key: { order_id: { N: String(id) } }, ConsistentRead: true }))).Item;
    await waitFor(
      async () => {
        const one = await doc(1);
        const two = await doc(2);
        return one?.status?.S === 'paid' && one.lines?.M && Object.keys(one.lines.M).sort().join() === '1,3' && one.lines.M['1']?.M?.qty?.N === '3' && two?.outbox_deleted?.BOOL === true;
      },
      { timeoutMs: 60_000, intervalMs: 250, what: 'the order documents' },
    );
    const one = (await doc(1))!;
    expect(one.customer).toEqual({ S: 'ann' });
    expect(one.lines!.M!['3']).toEqual({ M: { product: { S: 'jam' }, qty: { N: '1' }, price: { N: '3.25' } } });
  });
});
