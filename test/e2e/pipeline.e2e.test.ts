/**
 * The whole product, end to end: PostgreSQL source → capture triggers → relay (Redis lock, epoch) →
 * SNS (emulator, which shuffles) → filter policies → SQS → consumers → PostgreSQL and MariaDB targets.
 * A randomized workload with updates, deletes, re-inserts, key changes and a truncate, written from a
 * session in a non-UTC time zone, must leave each target equal to its share of the source.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBackfill } from '../../src/backfill/index.js';
import { silentLogger } from '../../src/logger.js';
import type { RelayProcess } from '../../src/relay/start.js';
import { openE2eWorld, type E2eWorld } from '../helpers/e2e-world.js';
import { pipelineConfig, startPipelineRelay, startTarget, type RunningTarget } from '../helpers/pipeline.js';
import { waitFor } from '../helpers/wait.js';

let world: E2eWorld;
let source: E2eWorld['source'];
let pgTarget: E2eWorld['pgTarget'];
let maria: E2eWorld['maria'];
let relay: RelayProcess;
const targets: RunningTarget[] = [];

const SOURCE_DDL = `
  CREATE TABLE public.customers (
    id bigint PRIMARY KEY, name text NOT NULL, tenant_id int NOT NULL, balance numeric(30, 10),
    seen_at timestamptz, local_at timestamp, card text);
  CREATE TABLE public.orders (id uuid PRIMARY KEY, customer_id bigint NOT NULL, total numeric(12, 2) NOT NULL, note text);
  CREATE TABLE public.legacy (id int PRIMARY KEY, payload text NOT NULL, version int NOT NULL DEFAULT 0);`;

const PG_TARGET_DDL = `
  CREATE TABLE public.customers_copy (
    id bigint PRIMARY KEY, name text NOT NULL, tenant_id int NOT NULL, balance numeric(30, 10),
    seen_at timestamptz, local_at timestamp);
  CREATE TABLE public.orders (id uuid PRIMARY KEY, customer_id bigint NOT NULL, total numeric(12, 2) NOT NULL, note text);
  CREATE TABLE public.legacy (id int PRIMARY KEY, payload text NOT NULL, version int NOT NULL);`;

const MARIA_DDL = `
  CREATE TABLE customers (
    id BIGINT PRIMARY KEY, name VARCHAR(200) NOT NULL, tenant_id INT NOT NULL, balance DECIMAL(30, 10),
    seen_at DATETIME(6), local_at DATETIME(6)) CHARACTER SET utf8mb4`;

beforeAll(async () => {
  world = await openE2eWorld('e2e-shop', { source: SOURCE_DDL, pgTarget: PG_TARGET_DDL, maria: MARIA_DDL });
  ({ source, pgTarget, maria } = world);
  await source.source.track({ table: { schema: 'public', table: 'customers' }, exclude: ['card'], attributes: ['tenant_id'] });
  await source.source.track({ table: { schema: 'public', table: 'orders' } });

  const config = pipelineConfig(
    world.configDoc(
      {
        copy: {
          kind: 'postgres',
          urlEnv: 'PG_URL',
          tables: ['public.customers', 'public.orders', 'public.legacy'],
          stateSchema: 'sync_state',
          queue: { waitTimeSec: 1, visibilityTimeoutSec: 10, maxReceiveCount: 5, batchSize: 10 },
          mapping: { 'public.customers': { table: 'customers_copy' } },
        },
        tenant1: {
          kind: 'mysql',
          urlEnv: 'MARIA_URL',
          tables: ['public.customers'],
          where: { tenant_id: ['1'] },
          stateSchema: world.mariaState,
          mapping: { 'public.customers': { table: 'customers' } },
          queue: { waitTimeSec: 1, visibilityTimeoutSec: 10, maxReceiveCount: 5, batchSize: 10 },
        },
      },
      { readBatchSize: 500 },
    ),
    world.env,
  );
  targets.push(await startTarget(config, 'copy'), await startTarget(config, 'tenant1'));
  relay = await startPipelineRelay(config);
}, 90_000);

afterAll(async () => {
  await world?.close({ relay, targets });
});

/** A deterministic pseudo-random sequence, so a failure can be replayed. */
function random(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s * 1103515245 + 12345) & 0x7fffffff;
    return s / 0x7fffffff;
  };
}

const CUSTOMERS_SQL = `SELECT id::text, name, tenant_id, balance::text, extract(epoch FROM seen_at)::numeric(20,6)::text AS seen,
  to_char(local_at, 'YYYY-MM-DD HH24:MI:SS.US') AS local FROM %s ORDER BY id`;

async function sourceCustomers(filter = 'true') {
  return (await source.db.pool.query(CUSTOMERS_SQL.replace('%s', `public.customers WHERE ${filter}`))).rows;
}

describe('end to end', () => {
  it('keeps a PostgreSQL copy and a filtered MariaDB target equal to the source through a randomized workload', async () => {
    const rnd = random(20261121);
    // Keys whose tenant changed move into and out of the tenant-1 target's share: each such update is
    // published as two messages (old and new attribute values), which the emulator routes like SNS.
    const tenantMoved = new Set<number>();
    const writer = await source.db.pool.connect();
    try {
      // Writers in India: timestamptz must arrive as the same instant, timestamp as the same wall time.
      await writer.query(`SET TimeZone = 'Asia/Kolkata'`);
      const live = new Set<number>();
      for (let step = 0; step < 600; step++) {
        const id = 1 + Math.floor(rnd() * 120);
        const roll = rnd();
        if (!live.has(id)) {
          await writer.query(
            `INSERT INTO customers (id, name, tenant_id, balance, seen_at, local_at, card)
             VALUES ($1, $2, $3, $4, '2024-03-10 12:00:00'::timestamptz + $5 * interval '1 minute', '2024-03-10 12:00:00.123456'::timestamp + $5 * interval '1 second', 'secret')`,
            [id, `name-${id}-${step} ✓ 日本`, 1 + (id % 3), `${id}${step}.0123456789`, step],
          );
          live.add(id);
        } else if (roll < 0.6) {
          await writer.query(`UPDATE customers SET name = $2, balance = balance + 1, seen_at = seen_at + interval '1 hour' WHERE id = $1`, [id, `upd-${step}`]);
        } else if (roll < 0.75) {
          await writer.query(`UPDATE customers SET tenant_id = 1 + (tenant_id % 3) WHERE id = $1`, [id]);
          tenantMoved.add(id);
        } else if (roll < 0.9) {
          await writer.query(`DELETE FROM customers WHERE id = $1`, [id]);
          live.delete(id);
        } else {
          const to = 1000 + step;
          await writer.query(`UPDATE customers SET id = $2 WHERE id = $1`, [id, to]);
          live.delete(id);
        }
        if (step % 50 === 0) {
          await writer.query(`INSERT INTO orders (id, customer_id, total, note) SELECT gen_random_uuid(), g, g * 1.5, 'bulk' FROM generate_series(1, 20) g`);
          await writer.query(`UPDATE orders SET total = total + 1 WHERE customer_id % 2 = 0`);
        }
        if (step === 300) await writer.query('TRUNCATE orders');
      }
      await writer.query(`UPDATE customers SET balance = balance * 2 WHERE tenant_id = 1`);
    } finally {
      writer.release();
    }

    const expectedCopy = await sourceCustomers();
    const expectedOrders = (await source.db.pool.query('SELECT id::text, customer_id::text, total::text, note FROM orders ORDER BY id')).rows;
    await waitFor(
      async () => {
        const copy = (await pgTarget.pool.query(CUSTOMERS_SQL.replace('%s', 'public.customers_copy'))).rows;
        const orders = (await pgTarget.pool.query('SELECT id::text, customer_id::text, total::text, note FROM public.orders ORDER BY id')).rows;
        return JSON.stringify(copy) === JSON.stringify(expectedCopy) && JSON.stringify(orders) === JSON.stringify(expectedOrders);
      },
      { timeoutMs: 90_000, intervalMs: 250, what: 'the PostgreSQL copy to equal the source' },
    );
    expect(expectedCopy.length).toBeGreaterThan(10);

    // MariaDB receives tenant 1 only (SNS filter policy on the tenant_id attribute): every key,
    // including those that moved into or out of tenant 1, must end as the source has it.
    const tenant1 = await sourceCustomers('tenant_id = 1');
    const mariaRows = async () => {
      const [rows] = await maria.conn.query(
        `SELECT CAST(id AS CHAR) AS id, name, tenant_id, CAST(balance AS CHAR) AS balance, CAST(CAST(UNIX_TIMESTAMP(seen_at) AS DECIMAL(20,6)) AS CHAR) AS seen,
                DATE_FORMAT(local_at, '%Y-%m-%d %H:%i:%s.%f') AS local FROM customers ORDER BY id`,
      );
      return (rows as { id: string; tenant_id: unknown }[]).map((r) => ({ ...r, tenant_id: Number(r.tenant_id) }));
    };
    await waitFor(async () => JSON.stringify(await mariaRows()) === JSON.stringify(tenant1), { timeoutMs: 60_000, intervalMs: 250, what: 'MariaDB to hold the tenant-1 rows of the source' }).catch(
      async () => expect(await mariaRows()).toEqual(tenant1),
    );
    expect(tenant1.length).toBeGreaterThan(3);
    // The workload did move keys in and out of tenant 1, and some of them are in the check.
    expect(tenantMoved.size).toBeGreaterThan(10);
    expect(tenant1.filter((r) => tenantMoved.has(Number(r.id))).length).toBeGreaterThan(0);
  });

  it('backfills a table that held rows before it was tracked, while it is being written, and converges', async () => {
    await source.db.pool.query(`INSERT INTO legacy (id, payload) SELECT g, 'old-' || g FROM generate_series(1, 5000) g`);
    await source.source.track({ table: { schema: 'public', table: 'legacy' } });
    const stop = new AbortController();
    const rnd = random(7);
    const churn = (async () => {
      while (!stop.signal.aborted) {
        const id = 1 + Math.floor(rnd() * 6000);
        const roll = rnd();
        if (roll < 0.5) await source.db.pool.query(`UPDATE legacy SET payload = 'live-' || version, version = version + 1 WHERE id = $1`, [id]);
        else if (roll < 0.7) await source.db.pool.query(`DELETE FROM legacy WHERE id = $1`, [id]);
        else await source.db.pool.query(`INSERT INTO legacy (id, payload) VALUES ($1, 'new') ON CONFLICT (id) DO UPDATE SET payload = 'upsert', version = legacy.version + 1`, [id]);
      }
    })();
    const result = await runBackfill({ source: source.source, table: { schema: 'public', table: 'legacy' }, batchSize: 250, logger: silentLogger });
    stop.abort();
    await churn;
    expect(result.status).toBe('completed');
    const expected = (await source.db.pool.query('SELECT id, payload, version FROM legacy ORDER BY id')).rows;
    await waitFor(
      async () => {
        const got = (await pgTarget.pool.query('SELECT id, payload, version FROM public.legacy ORDER BY id')).rows;
        return JSON.stringify(got) === JSON.stringify(expected);
      },
      { timeoutMs: 90_000, intervalMs: 500, what: 'the backfilled table to equal the source' },
    );
    const status = await source.source.status();
    expect(status.tables.find((t) => t.table.table === 'legacy')?.mode).toBe('incremental');
  });
});
