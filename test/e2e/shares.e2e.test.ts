/**
 * Filtered targets get exactly their share, end to end on the emulator: the example config's
 * `warehouse` target (where tenant_id 1, 2; renames, a mask) on PostgreSQL and the same share on
 * MariaDB; two targets (tenants 1, 2 and tenant 3) writing one table with the share column renamed;
 * and a raw policy with a numeric condition on a Number attribute. Two writers move rows into, out
 * of and inside the shares, delete, change keys and re-insert while a TRUNCATE of both tables
 * happens; every target must end equal, by checksum, to its share of the source. Then `outbox
 * verify` (the CLI) on the example target: exit 0 when equal, exit 1 naming the drift, and
 * `--repair` converges through the pipeline.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import type { Config } from '../../src/config/index.js';
import { silentLogger } from '../../src/logger.js';
import type { RelayProcess } from '../../src/relay/start.js';
import { configVerifyOptions, runVerify } from '../../src/verify/index.js';
import { ROOT, runCli, type CliRun } from '../helpers/cli.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { REDIS_URL } from '../helpers/env.js';
import { startEmulator, type Emulator } from '../helpers/fauxqs.js';
import { createMysqlDatabase, pipelineConfig, startPipelineRelay, startTarget, useEmulatorCredentials, type RunningTarget } from '../helpers/pipeline.js';
import { createMigratedSource } from '../helpers/source.js';
import { waitFor } from '../helpers/wait.js';

type Source = Awaited<ReturnType<typeof createMigratedSource>>;
type Maria = Awaited<ReturnType<typeof createMysqlDatabase>>;

let source: Source;
let warehouse: TestDatabase;
let maria: Maria;
let emulator: Emulator;
let relay: RelayProcess;
let config: Config;
let configFile: string;
const running: RunningTarget[] = [];
/** Reasons of messages any consumer sent to its DLQ: there must be none. */
const deadLettered: string[] = [];

const SOURCE_DDL = `
  CREATE TABLE public.customers (id bigint PRIMARY KEY, name text NOT NULL, email text, phone text, tenant_id int NOT NULL, card_number text);
  CREATE TABLE public.orders (id int PRIMARY KEY, customer_id int NOT NULL, amount numeric(12, 2) NOT NULL, note text);`;

const WAREHOUSE_DDL = `
  CREATE TABLE public.customers_copy (id bigint PRIMARY KEY, name text NOT NULL, email_address text, phone text, tenant_id int NOT NULL);
  CREATE TABLE public.customers_shared (id bigint PRIMARY KEY, name text NOT NULL, email_address text, tenant int NOT NULL);
  CREATE TABLE public.big_orders (id int PRIMARY KEY, customer_id int NOT NULL, amount numeric(12, 2) NOT NULL, note text);`;

const MARIA_DDL = `CREATE TABLE customers_copy (id BIGINT PRIMARY KEY, name VARCHAR(200) NOT NULL, email_address VARCHAR(200), phone VARCHAR(50), tenant_id INT NOT NULL) CHARACTER SET utf8mb4`;

const FAST_QUEUE = { waitTimeSec: 1, visibilityTimeoutSec: 10, maxReceiveCount: 5, batchSize: 10, concurrency: 2 };

beforeAll(async () => {
  useEmulatorCredentials();
  [source, warehouse, maria, emulator] = await Promise.all([createMigratedSource(), createTestDatabase('outbox_shares'), createMysqlDatabase(), startEmulator()]);
  await source.db.pool.query(SOURCE_DDL);
  await warehouse.pool.query(WAREHOUSE_DDL);
  await maria.conn.query(MARIA_DDL);
  // As the README's quick start tracks it.
  await source.source.track({ table: { schema: 'public', table: 'customers' }, exclude: ['card_number'], attributes: ['tenant_id'] });
  await source.source.track({ table: { schema: 'public', table: 'orders' }, attributes: ['amount'] });

  // The example config, pointed at this test's services; its warehouse target is kept as written.
  const doc = parseYaml(readFileSync(join(ROOT, 'outbox.config.example.yaml'), 'utf8')) as Record<string, Record<string, unknown>>;
  const example = doc.targets!.warehouse as Record<string, unknown>;
  const suffix = randomBytes(4).toString('hex');
  doc.source = { ...doc.source, url: source.db.url, schema: 'outbox', name: 'shares-e2e' };
  doc.redis = { urls: [REDIS_URL], keyPrefix: `shares-${suffix}`, commandTimeoutMs: 200 };
  doc.relay = { ...doc.relay, lockTtlMs: 2_000, pollIntervalMs: 100, readBatchSize: 500, publishConcurrency: 4 };
  doc.publish = { ...doc.publish, topics: { default: { name: `shares-${suffix}` } }, numberAttributes: { 'public.orders': ['amount'] } };
  doc.aws = { region: 'us-east-1', endpoint: emulator.endpoint };
  doc.log = { level: 'silent' };
  const shared = (tenants: string[]) => ({
    kind: 'postgres',
    urlEnv: 'WAREHOUSE_URL',
    tables: ['public.customers'],
    where: { tenant_id: tenants },
    queue: FAST_QUEUE,
    mapping: { 'public.customers': { table: 'customers_shared', rename: { email: 'email_address', tenant_id: 'tenant' }, exclude: ['phone'] } },
  });
  doc.targets = {
    warehouse: { ...example, queue: { ...(example.queue as object), ...FAST_QUEUE } },
    warehouse_maria: { ...example, kind: 'mysql', urlEnv: 'MARIA_URL', stateSchema: `${maria.name}_state`, queue: { ...(example.queue as object), ...FAST_QUEUE } },
    eu: shared(['1', '2']),
    us: shared(['3']),
    big: {
      kind: 'postgres',
      urlEnv: 'WAREHOUSE_URL',
      tables: ['public.orders'],
      filterPolicy: { table: ['public.orders'], $or: [{ amount: [{ numeric: ['>=', 100] }] }, { operation: ['truncate'] }] },
      queue: FAST_QUEUE,
      mapping: { 'public.orders': { table: 'big_orders' } },
    },
  };
  const env = { WAREHOUSE_URL: warehouse.url, MARIA_URL: maria.url };
  config = pipelineConfig(doc, env);
  const dir = mkdtempSync(join(tmpdir(), 'outbox-shares-'));
  configFile = join(dir, 'outbox.config.yaml');
  writeFileSync(configFile, JSON.stringify(doc));
  for (const name of Object.keys(config.targets)) {
    const target = await startTarget(config, name);
    target.consumer.on('message-dead-lettered', (e) => deadLettered.push(`${name}: ${e.code} ${e.reason}`));
    running.push(target);
  }
  relay = await startPipelineRelay(config, 'shares-relay');
}, 120_000);

afterAll(async () => {
  await relay?.close();
  await Promise.all(running.map((t) => t.stop()));
  await maria?.conn.query(`DROP DATABASE IF EXISTS \`${maria.name}_state\``).catch(() => undefined);
  await Promise.all([source?.close(), warehouse?.drop(), maria?.drop(), emulator?.stop()]);
});

/** A deterministic pseudo-random sequence, so a failure can be replayed. */
function random(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s * 1103515245 + 12345) & 0x7fffffff;
    return s / 0x7fffffff;
  };
}

type Row = Record<string, string | null>;
const checksum = (rows: Row[]) => createHash('sha256').update(JSON.stringify(rows)).digest('hex');

/** The warehouse mapping in SQL: email renamed, phone masked to its last 4 characters, tenants 1 and 2. */
const EXPECTED_COPY = `SELECT id::text, name, email AS email_address,
    CASE WHEN phone IS NULL THEN NULL ELSE repeat('*', greatest(char_length(phone) - 4, 0)) || right(phone, 4) END AS phone, tenant_id::text
  FROM public.customers WHERE tenant_id IN (1, 2) ORDER BY id`;

async function expectedShares(): Promise<Record<string, Row[]>> {
  const q = async (sql: string) => (await source.db.pool.query<Row>(sql)).rows;
  const copy = await q(EXPECTED_COPY);
  return {
    warehouse: copy,
    warehouse_maria: copy,
    eu: await q(`SELECT id::text, name, email AS email_address, tenant_id::text AS tenant FROM public.customers WHERE tenant_id IN (1, 2) ORDER BY id`),
    us: await q(`SELECT id::text, name, email AS email_address, tenant_id::text AS tenant FROM public.customers WHERE tenant_id = 3 ORDER BY id`),
    big: await q(`SELECT id::text, customer_id::text, amount::text, note FROM public.orders WHERE amount >= 100 ORDER BY id`),
  };
}

async function targetShares(): Promise<Record<string, Row[]>> {
  const q = async (sql: string) => (await warehouse.pool.query<Row>(sql)).rows;
  const [mariaRows] = await maria.conn.query(`SELECT CAST(id AS CHAR) AS id, name, email_address, phone, CAST(tenant_id AS CHAR) AS tenant_id FROM customers_copy ORDER BY id`);
  const shared = await q(`SELECT id::text, name, email_address, tenant::text FROM public.customers_shared ORDER BY id`);
  return {
    warehouse: await q(`SELECT id::text, name, email_address, phone, tenant_id::text FROM public.customers_copy ORDER BY id`),
    warehouse_maria: mariaRows as Row[],
    eu: shared.filter((r) => r.tenant === '1' || r.tenant === '2'),
    us: shared.filter((r) => r.tenant === '3'),
    big: await q(`SELECT id::text, customer_id::text, amount::text, note FROM public.big_orders ORDER BY id`),
  };
}

/** Targets whose checksum differs from their share of the source (empty when all are equal). */
async function unequalShares(): Promise<string[]> {
  const [expected, actual] = await Promise.all([expectedShares(), targetShares()]);
  return Object.keys(expected).filter((name) => checksum(expected[name]!) !== checksum(actual[name]!));
}

function runOutbox(args: string[]): Promise<CliRun> {
  return runCli(['--config', configFile, ...args], { inheritEnv: true, env: { WAREHOUSE_URL: warehouse.url, MARIA_URL: maria.url, OUTBOX_LOG_LEVEL: 'warn' }, timeoutMs: 90_000 });
}

describe('filtered targets', () => {
  it('each end equal to its share through moves into, out of and inside it, a TRUNCATE under load, and re-inserts', async () => {
    const stats = { moves: 0, orderWrites: 0, truncated: false, reinserts: 0 };
    let steps = 0;
    const truncatedAt = 250;
    const write = async (seed: number, offset: number) => {
      const rnd = random(seed);
      const client = await source.db.pool.connect();
      try {
        for (let step = 0; step < 400; step++) {
          steps += 1;
          const id = 1 + Math.floor(rnd() * 120);
          const roll = rnd();
          if (roll < 0.25) {
            const res = await client.query(
              `INSERT INTO customers (id, name, email, phone, tenant_id, card_number) VALUES ($1, $2, $3, $4, $5, '4111') ON CONFLICT (id) DO NOTHING`,
              [id, `c${id}-${seed}-${step}`, `c${id}@example.com`, `+49 30 ${1000 + step}`, 1 + Math.floor(rnd() * 4)],
            );
            if (stats.truncated && res.rowCount) stats.reinserts += 1;
          } else if (roll < 0.5) {
            await client.query(`UPDATE customers SET name = $2, phone = CASE WHEN phone IS NULL THEN '12' ELSE NULL END WHERE id = $1`, [id, `u${seed}-${step}`]);
          } else if (roll < 0.75) {
            // Moves between tenants 1-4: inside the warehouse share (1 ↔ 2), out of it, into it.
            const res = await client.query(`UPDATE customers SET tenant_id = $2, name = name || '.' WHERE id = $1 AND tenant_id <> $2`, [id, 1 + Math.floor(rnd() * 4)]);
            stats.moves += res.rowCount ?? 0;
          } else if (roll < 0.85) {
            await client.query(`DELETE FROM customers WHERE id = $1`, [id]);
          } else if (roll < 0.9) {
            await client.query(`UPDATE customers SET id = $2 WHERE id = $1`, [id, offset + step]);
          } else {
            const amount = Math.floor(rnd() * 200);
            await client.query(`INSERT INTO orders (id, customer_id, amount, note) VALUES ($1, $2, $3, 'o') ON CONFLICT (id) DO UPDATE SET amount = EXCLUDED.amount, note = orders.note || '+'`, [
              id % 40,
              id,
              amount,
            ]);
            stats.orderWrites += 1;
          }
        }
      } finally {
        client.release();
      }
    };
    const truncate = (async () => {
      await waitFor(() => steps >= truncatedAt, { timeoutMs: 60_000, what: 'the writers to get going' });
      await source.db.pool.query('TRUNCATE customers, orders');
      stats.truncated = true;
    })();
    await Promise.all([write(11, 100_000), write(23, 200_000), truncate]);
    expect(stats.truncated).toBe(true);
    // How many of the random writes hit an existing row depends on the interleaving: lower bounds only.
    expect(stats.moves).toBeGreaterThan(20);
    expect(stats.reinserts).toBeGreaterThan(10);

    await waitFor(async () => (await unequalShares()).length === 0, { timeoutMs: 120_000, intervalMs: 500, what: 'every target to equal its share of the source' }).catch(async (err: unknown) => {
      const [expected, actual] = await Promise.all([expectedShares(), targetShares()]);
      for (const name of await unequalShares()) expect({ name, rows: actual[name] }).toEqual({ name, rows: expected[name] });
      throw err;
    });
    const expected = await expectedShares();
    for (const name of ['warehouse', 'eu', 'us', 'big']) expect(expected[name]!.length, name).toBeGreaterThan(3);
    // Every message was applied or stale: nothing went to a dead-letter queue.
    expect(deadLettered).toEqual([]);
  });

  it('verify (the CLI) exits 0 on the equal share, names drift with exit 1, and --repair converges through the pipeline', async () => {
    const cli = await runOutbox(['verify', 'warehouse']);
    // progress lines go to standard error, the result alone to standard output
    expect(cli.stderr).not.toMatch(/^outbox: /m);
    expect(cli.stdout).not.toMatch(/rows\/s/);
    expect(cli.code).toBe(0);
    expect(cli.stdout).toMatch(/in the target's share, \d+ outside it/);
    expect(cli.stdout).toMatch(/matches the source/);
    for (const name of ['warehouse_maria', 'eu', 'us', 'big']) {
      const report = await verifyTarget(name);
      expect(report.drift, name).toBe(false);
    }
    // eu and us write one table: each is verified with the union of both shares.
    expect((await verifyTarget('eu')).tables[0]!.sharedWith).toEqual(['us']);
    const shared = await runOutbox(['verify', 'us']);
    expect(shared.code).toBe(0);
    expect(shared.stdout).toMatch(/in the share of this target and eu \(they write one table\)/);

    // Drift at the example target: a row lost, a row changed, a row of no source key, and a row whose
    // source key is outside the share (a move out of the share the target missed).
    const inShare = (await source.db.pool.query<{ id: string }>(`SELECT id::text FROM customers WHERE tenant_id IN (1, 2) ORDER BY id LIMIT 2`)).rows.map((r) => r.id);
    const outside = (await source.db.pool.query<{ id: string; name: string }>(`SELECT id::text, name FROM customers WHERE tenant_id IN (3, 4) ORDER BY id LIMIT 1`)).rows[0]!;
    await warehouse.pool.query(`DELETE FROM customers_copy WHERE id = $1`, [inShare[0]]);
    await warehouse.pool.query(`UPDATE customers_copy SET name = 'changed at the target' WHERE id = $1`, [inShare[1]]);
    await warehouse.pool.query(`INSERT INTO customers_copy VALUES (999999, 'ghost', NULL, NULL, 1), ($1, $2, NULL, NULL, 2)`, [outside.id, outside.name]);
    await maria.conn.query(`DELETE FROM customers_copy WHERE id = ?`, [inShare[0]]);

    const drift = await runOutbox(['verify', 'warehouse']);
    expect(drift.code).toBe(1);
    expect(drift.stdout).toMatch(/missing at the target: 1/);
    expect(drift.stdout).toMatch(/different: 1 \(columns: name ×1\)/);
    expect(drift.stdout).toMatch(/extra at the target \(no source row in its share\): 2/);
    expect(drift.stdout).toContain('{"id":999999}');

    const lost = await verifyTarget('warehouse_maria');
    expect(lost.tables[0]!.missing.count).toBe(1);

    // One repair of the example target; its events reach every target whose share they fall in, so
    // the row the MariaDB copy lost comes back too.
    const repair = await runOutbox(['verify', 'warehouse', '--repair']);
    expect(repair.code).toBe(1);
    expect(repair.stdout).toMatch(/repair: 3 snapshot and 1 delete event\(s\)/);
    await waitFor(async () => !(await verifyTarget('warehouse')).drift && !(await verifyTarget('warehouse_maria')).drift, { timeoutMs: 60_000, intervalMs: 500, what: 'the repair to reach the targets' });
    const clean = await runOutbox(['verify', 'warehouse']);
    expect(clean.code).toBe(0);
    // The repair's events reached the other targets too, and left them equal to their shares.
    await waitFor(async () => (await unequalShares()).length === 0, { timeoutMs: 30_000, intervalMs: 500, what: 'the other targets to stay equal to their shares' });
    expect(deadLettered).toEqual([]);
  });

  it('refuses what it cannot judge, with exit 2', async () => {
    const unsupported = await runCli(['--config', writeConfig({ ...JSON.parse(readFileSync(configFile, 'utf8')), targets: { few: { kind: 'postgres', urlEnv: 'WAREHOUSE_URL', tables: ['public.customers'], operations: ['insert', 'delete'] } } }), 'verify', 'few'], {
      inheritEnv: true,
      env: { WAREHOUSE_URL: warehouse.url },
    });
    expect(unsupported.code).toBe(2);
    expect(unsupported.stderr).toMatch(/does not receive update events/);
  });
});

function verifyTarget(name: string, repair = false) {
  return runVerify({
    source: source.source,
    ...configVerifyOptions(config, name),
    repair,
    logger: silentLogger,
  });
}

function writeConfig(doc: unknown): string {
  const file = join(mkdtempSync(join(tmpdir(), 'outbox-shares-')), 'outbox.config.yaml');
  writeFileSync(file, JSON.stringify(doc));
  return file;
}
