/**
 * An ordinary week of a user, end to end: the things people do in combination rather than one at a
 * time. PostgreSQL source → relay (Redis lock) → SNS/SQS emulator → a PostgreSQL copy of every table
 * and a MariaDB target filtered to tenant 1. Each day ends with every target equal to its share of
 * the source (a direct comparison, then verify); `outbox verify`, `outbox doctor` and `outbox status`
 * (the CLI) must tell the truth with their documented exit codes along the way.
 *
 * Monday a first load. Tuesday, with the consumers stopped and a load running: ADD COLUMN with a
 * default, RENAME COLUMN (names with quotes, unicode and comment markers), then the consumers start
 * (rows that existed before get the default at the targets too, from the schema change).
 * Wednesday a TRUNCATE then writes, a key change then a delete. Thursday the CLI's verdicts, drift
 * and repair. Friday a table tracked while the relay runs (plus its backfill), and another untracked
 * while the relay is down with changes it has not read. Saturday the filtered target's `where`
 * widened, then narrowed. Sunday both relays restarted while Redis is down, consumers first.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../src/config/index.js';
import { runBackfill } from '../../src/backfill/index.js';
import { silentLogger } from '../../src/logger.js';
import type { RelayProcess } from '../../src/relay/start.js';
import { quoteCatalogIdent } from '../../src/sql/identifiers.js';
import { configVerifyOptions, runVerify } from '../../src/verify/index.js';
import { runCli, type CliRun } from '../helpers/cli.js';
import { openE2eWorld, type E2eWorld } from '../helpers/e2e-world.js';
import { logCapture, pipelineConfig, startPipelineRelay, startTarget, type RunningTarget } from '../helpers/pipeline.js';
import { startPrivateRedis } from '../helpers/relay.js';
import { waitFor } from '../helpers/wait.js';

type Row = Record<string, string | null>;

let world: E2eWorld;
let source: E2eWorld['source'];
let copyDb: E2eWorld['pgTarget'];
let maria: E2eWorld['maria'];
let relay: RelayProcess | undefined;
let config: Config;
let configFile: string;
const running = new Map<string, RunningTarget>();
const deadLettered: string[] = [];
const logs = logCapture();
/** The tenant1 target's share of accounts, as SQL (its `where` changes on Saturday). */
let tenantShare = 'tenant_id = 1';
let doc: Record<string, unknown>;
/** The source tables tracked now, which verify compares. */
const tracked = new Set(['public.accounts', 'public.order']);

// A table whose name is a reserved word, with column names a user may well have: spaces, quotes,
// unicode, a reserved word. (Table names are plain identifiers: `outbox track` refuses others.)
const LINES = 'order';
const LINE_ID = 'line id';
const SELECT = 'select';
const QTY = 'Qty ü';
const qLines = `public.${quoteCatalogIdent(LINES)}`;
const q = quoteCatalogIdent;

const SOURCE_DDL = `
  CREATE TABLE public.accounts (id int PRIMARY KEY, name text NOT NULL, tenant_id int NOT NULL, note text);
  CREATE TABLE ${qLines} (${q(LINE_ID)} int PRIMARY KEY, ${q(SELECT)} text, ${q(QTY)} int NOT NULL DEFAULT 1);
  CREATE TABLE public.notes (id int PRIMARY KEY, body text);`;
const COPY_DDL = SOURCE_DDL.replace(` DEFAULT 1`, '');
const MARIA_DDL = `CREATE TABLE accounts (id INT PRIMARY KEY, name VARCHAR(200) NOT NULL, tenant_id INT NOT NULL, note LONGTEXT) CHARACTER SET utf8mb4`;

const QUEUE = { waitTimeSec: 1, visibilityTimeoutSec: 10, maxReceiveCount: 10, batchSize: 10 };

beforeAll(async () => {
  world = await openE2eWorld('week', { source: SOURCE_DDL, pgTarget: COPY_DDL, maria: MARIA_DDL });
  ({ source, pgTarget: copyDb, maria } = world);
  await source.source.track({ table: { schema: 'public', table: 'accounts' }, attributes: ['tenant_id'] });
  await source.source.track({ table: { schema: 'public', table: LINES } });
  useConfig(
    world.configDoc({
      copy: { kind: 'postgres', urlEnv: 'PG_URL', tables: ['public.accounts', `public.${LINES}`, 'public.notes'], stateSchema: 'week_state', queue: QUEUE },
      tenant1: { kind: 'mysql', urlEnv: 'MARIA_URL', tables: ['public.accounts'], where: { tenant_id: ['1'] }, stateSchema: world.mariaState, queue: QUEUE, mapping: { 'public.accounts': { table: 'accounts' } } },
    }),
  );
  for (const name of Object.keys(config.targets)) await start(name);
  relay = await startPipelineRelay(config, 'week-relay', logs.logger);
}, 90_000);

afterAll(async () => {
  await world?.close({ relay, targets: running.values() });
});

/** The config the CLI and the in-process parts use from now on. */
function useConfig(next: Record<string, unknown>): void {
  doc = next;
  config = pipelineConfig(doc, world.env);
  configFile = join(mkdtempSync(join(tmpdir(), 'outbox-week-')), 'outbox.config.yaml');
  writeFileSync(configFile, JSON.stringify(doc));
}

async function start(name: string): Promise<void> {
  const target = await startTarget(config, name, { logger: logs.logger });
  target.consumer.on('message-dead-lettered', (e) => deadLettered.push(`${name}: ${e.code} ${e.reason}`));
  running.set(name, target);
}

async function stop(name: string): Promise<void> {
  await running.get(name)?.stop();
  running.delete(name);
}

/** Every column of a table as text, ordered by its first column, for a PostgreSQL pool. */
async function pgRows(pool: { query: (sql: string) => Promise<{ rows: Row[] }> }, table: string, where = 'true'): Promise<Row[]> {
  const rows = (await pool.query(`SELECT * FROM ${table} WHERE ${where}`)).rows;
  return sortRows(rows.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, v === null ? null : String(v)]))));
}

async function mariaRows(): Promise<Row[]> {
  const [rows] = await maria.conn.query(`SELECT * FROM accounts`);
  return sortRows((rows as Record<string, unknown>[]).map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, v === null ? null : String(v)]))));
}

function sortRows(rows: Row[]): Row[] {
  return rows.sort((a, b) => Number(Object.values(a)[0]) - Number(Object.values(b)[0]));
}

/** The targets whose rows differ from their share of the source (empty when all are equal). */
async function unequal(): Promise<string[]> {
  const bad: string[] = [];
  if (JSON.stringify(await pgRows(copyDb.pool, 'public.accounts')) !== JSON.stringify(await pgRows(source.db.pool, 'public.accounts'))) bad.push('copy accounts');
  // public.order is compared while it is tracked (untracked on Friday, later writes are not captured)
  if (tracked.has('public.order') && JSON.stringify(await pgRows(copyDb.pool, qLines)) !== JSON.stringify(await pgRows(source.db.pool, qLines))) bad.push('copy order');
  if (JSON.stringify(await pgRows(copyDb.pool, 'public.notes')) !== JSON.stringify(await pgRows(source.db.pool, 'public.notes'))) bad.push('copy notes');
  if (JSON.stringify(await mariaRows()) !== JSON.stringify(await pgRows(source.db.pool, 'public.accounts', tenantShare))) bad.push('tenant1 accounts');
  return bad;
}

/** Waits until every target equals its share, then verify must agree; prints the differences otherwise. */
async function expectConverged(what: string): Promise<void> {
  await waitFor(async () => (await unequal()).length === 0, { timeoutMs: 45_000, intervalMs: 250, what: `${what}: every target to equal its share` }).catch(async (err: unknown) => {
    console.error(logs.lines.slice(-20).join('\n'));
    expect(await pgRows(copyDb.pool, 'public.accounts')).toEqual(await pgRows(source.db.pool, 'public.accounts'));
    if (tracked.has('public.order')) expect(await pgRows(copyDb.pool, qLines)).toEqual(await pgRows(source.db.pool, qLines));
    expect(await pgRows(copyDb.pool, 'public.notes')).toEqual(await pgRows(source.db.pool, 'public.notes'));
    expect(await mariaRows()).toEqual(await pgRows(source.db.pool, 'public.accounts', tenantShare));
    throw err;
  });
  for (const [name, target] of Object.entries(config.targets)) {
    for (const table of target.tables.filter((t) => tracked.has(t))) {
      const report = await verifyTarget(name, table);
      expect({ what, name, table, drift: report.drift }).toEqual({ what, name, table, drift: false });
    }
  }
  expect(deadLettered).toEqual([]);
}

function verifyTarget(name: string, table: string) {
  return runVerify({
    source: source.source,
    ...configVerifyOptions(config, name),
    table: { schema: 'public', table: table.slice('public.'.length) },
    repair: false,
    logger: silentLogger,
  });
}

function outbox(args: string[]): Promise<CliRun> {
  return runCli(['--config', configFile, ...args], { inheritEnv: true, env: { ...world.env, OUTBOX_LOG_LEVEL: 'warn' }, timeoutMs: 60_000 });
}

/** Writes n changes to accounts: inserts, updates, tenant moves and deletes over ids [from, from + span). */
async function churn(seed: number, n: number, from: number, span: number): Promise<void> {
  let s = seed;
  const rnd = () => ((s = (s * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
  for (let i = 0; i < n; i++) {
    const id = from + Math.floor(rnd() * span);
    const roll = rnd();
    if (roll < 0.4) await source.db.pool.query(`INSERT INTO accounts (id, name, tenant_id) VALUES ($1, $2, $3) ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name`, [id, `a${id}-${seed}-${i}`, 1 + (id % 2)]);
    else if (roll < 0.7) await source.db.pool.query(`UPDATE accounts SET name = name || '.' WHERE id = $1`, [id]);
    else if (roll < 0.85) await source.db.pool.query(`UPDATE accounts SET tenant_id = 3 - tenant_id WHERE id = $1`, [id]);
    else await source.db.pool.query(`DELETE FROM accounts WHERE id = $1`, [id]);
  }
}

describe('a user\'s week', () => {
  it('Monday: a first load reaches both targets', async () => {
    await source.db.pool.query(`INSERT INTO accounts (id, name, tenant_id, note) SELECT g, 'acct ' || g, 1 + g % 2, 'n' FROM generate_series(1, 60) g`);
    await source.db.pool.query(`INSERT INTO ${qLines} (${q(LINE_ID)}, ${q(SELECT)}) SELECT g, 'sel ' || g FROM generate_series(1, 20) g`);
    await churn(1, 60, 1, 80);
    await expectConverged('Monday');
  });

  it('Tuesday: the table is altered while a load runs and the consumers are stopped, then they start', async () => {
    await Promise.all([stop('copy'), stop('tenant1')]);
    const load = churn(2, 150, 1, 90);
    await source.db.pool.query(`ALTER TABLE accounts ADD COLUMN status text NOT NULL DEFAULT 'new'`);
    await source.db.pool.query(`ALTER TABLE accounts RENAME COLUMN note TO remark`);
    await source.db.pool.query(`ALTER TABLE ${qLines} ADD COLUMN ${q('Größe "x"')} int DEFAULT 7`);
    await source.db.pool.query(`ALTER TABLE ${qLines} RENAME COLUMN ${q(QTY)} TO ${q('Menge "ü" -- */')}`);
    await load;
    await source.db.pool.query(`UPDATE accounts SET status = 'active', remark = 'r' WHERE id % 5 = 0`);
    await source.db.pool.query(`UPDATE ${qLines} SET ${q(SELECT)} = ${q(SELECT)} || '!' WHERE ${q(LINE_ID)} % 4 = 0`);
    await Promise.all([start('copy'), start('tenant1')]);
    // Rows that existed before the ADD COLUMN hold its default at the source without any change
    // captured; the schema change carries that value and each target fills them with it
    // (docs/schema-changes.md, "Columns added with a default"), so no repair is needed: the
    // targets converge (expectConverged also runs verify).
    // once the targets applied the schema changes
    const columns = async () => {
      const pg = await copyDb.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM information_schema.columns WHERE table_schema = 'public' AND column_name IN ('status', 'remark', 'Größe "x"')`);
      const [my] = await maria.conn.query(`SELECT count(*) AS n FROM information_schema.columns WHERE table_schema = ? AND table_name = 'accounts' AND column_name IN ('status', 'remark')`, [maria.name]);
      return pg.rows[0]!.n === 3 && Number((my as { n: number }[])[0]!.n) === 2;
    };
    await waitFor(columns, { timeoutMs: 30_000, intervalMs: 200, what: 'the targets to apply the schema changes' });
    await expectConverged('Tuesday');
  });

  it('Wednesday: a TRUNCATE, then writing goes on; a key changes and is then deleted', async () => {
    await source.db.pool.query(`TRUNCATE ${qLines}`);
    await source.db.pool.query(`INSERT INTO ${qLines} (${q(LINE_ID)}, ${q(SELECT)}) SELECT g, 'again ' || g FROM generate_series(5, 15) g`);
    await source.db.pool.query(`UPDATE accounts SET id = 1000 + id WHERE id IN (SELECT id FROM accounts ORDER BY id LIMIT 3)`);
    await source.db.pool.query(`DELETE FROM accounts WHERE id = (SELECT min(id) FROM accounts WHERE id > 1000)`);
    await source.db.pool.query(`UPDATE ${qLines} SET ${q(LINE_ID)} = 100 WHERE ${q(LINE_ID)} = 5`);
    await source.db.pool.query(`DELETE FROM ${qLines} WHERE ${q(LINE_ID)} = 100`);
    await churn(3, 60, 1, 90);
    await expectConverged('Wednesday');
  });

  it('Thursday: verify, doctor and status (the CLI) tell the truth with their exit codes', async () => {
    // The copy target lists public.notes, which is not tracked yet: verify says so, and what to do.
    const untracked = await outbox(['verify', 'copy']);
    expect(untracked.code, untracked.stdout + untracked.stderr).toBe(1);
    expect(untracked.stderr).toContain('Table public.notes is not tracked. Run: outbox track public.notes');
    expect(untracked.stderr).not.toContain('a backfill relies');
    for (const table of ['public.accounts', 'public.order']) {
      const verify = await outbox(['verify', 'copy', '--table', table]);
      expect(verify.code, verify.stdout + verify.stderr).toBe(0);
    }
    const verify1 = await outbox(['verify', 'tenant1']);
    expect(verify1.code, verify1.stdout + verify1.stderr).toBe(0);
    const doctor = await outbox(['doctor', '--json']);
    expect(doctor.code, doctor.stdout + doctor.stderr).toBe(0);
    const status = await outbox(['status', '--json']);
    expect(status.code, status.stderr).toBe(0);
    const report = JSON.parse(status.stdout) as { tables: { table: { table: string }; mode: string }[] };
    expect(report.tables.map((t) => t.table.table).sort()).toEqual([LINES, 'accounts'].sort());
    // A row lost at a target: verify names it with exit 1.
    const [lost] = (await copyDb.pool.query<{ id: number }>(`SELECT id FROM accounts ORDER BY id LIMIT 1`)).rows;
    await copyDb.pool.query(`DELETE FROM accounts WHERE id = $1`, [lost!.id]);
    const drift = await outbox(['verify', 'copy', '--table', 'public.accounts']);
    expect(drift.code, drift.stdout + drift.stderr).toBe(1);
    expect(drift.stdout).toMatch(/missing at the target: 1/);
    const repair = await outbox(['verify', 'copy', '--table', 'public.accounts', '--repair']);
    expect(repair.code).toBe(1);
    await expectConverged('Thursday');
  });

  it('Friday: a table is tracked while the relay runs; another is untracked with changes the relay has not read yet', async () => {
    await source.db.pool.query(`INSERT INTO notes (id, body) SELECT g, 'before tracking ' || g FROM generate_series(1, 10) g`);
    await source.source.track({ table: { schema: 'public', table: 'notes' } });
    tracked.add('public.notes');
    await source.db.pool.query(`INSERT INTO notes (id, body) SELECT g, 'tracked ' || g FROM generate_series(11, 20) g`);
    await source.db.pool.query(`UPDATE notes SET body = body || ' (edited)' WHERE id % 3 = 0`);
    const backfill = await runBackfill({ source: source.source, table: { schema: 'public', table: 'notes' }, batchSize: 4, logger: silentLogger });
    expect(backfill.status).toBe('completed');
    await expectConverged('Friday, tracked');

    // The relay is down (a deploy) when the user writes to a table and then stops tracking it.
    await relay!.close();
    relay = undefined;
    await source.db.pool.query(`UPDATE ${qLines} SET ${q(SELECT)} = 'last words' WHERE ${q(LINE_ID)} % 2 = 0`);
    // Untrack waits for a relay to publish what was captured (docs/capture.md, "Untracking a table").
    const untracked = source.source.untrack({ schema: 'public', table: LINES }, { pollMs: 100 });
    await waitFor(async () => (await source.db.pool.query(`SELECT 1 FROM outbox.tracked_tables WHERE table_name = 'order' AND untracking`)).rowCount === 1, { what: 'untrack to stop the capture' });
    const doctor = await outbox(['doctor']);
    expect(doctor.code, doctor.stdout + doctor.stderr).toBe(0);
    expect(doctor.stdout).toContain('Table public.order is being untracked');
    relay = await startPipelineRelay(config, 'week-relay', logs.logger);
    expect(await untracked).toBe(true);
    tracked.delete('public.order');
    await source.db.pool.query(`UPDATE ${qLines} SET ${q(SELECT)} = 'not captured' WHERE ${q(LINE_ID)} = 7`);
    const quarantined = await source.db.pool.query(`SELECT count(*)::int AS n FROM outbox.quarantine`);
    expect(quarantined.rows[0].n).toBe(0);
    await expectConverged('Friday, untracked');
    const afterUntrack = await pgRows(copyDb.pool, qLines);
    expect(afterUntrack.filter((r) => r[SELECT] === 'last words')).toHaveLength(5);
  });

  it('Saturday: the filtered target\'s share is widened, then narrowed, with messages in flight', async () => {
    const withWhere = (tenants: string[]) => {
      const targets = doc.targets as Record<string, Record<string, unknown>>;
      return { ...doc, targets: { ...targets, tenant1: { ...targets.tenant1, where: { tenant_id: tenants } } } };
    };
    await stop('tenant1');
    await churn(5, 60, 1, 90);
    // Widened to tenants 1 and 2: subscribe again (docs/operations.md), then the consumer restarts.
    useConfig(withWhere(['1', '2']));
    tenantShare = 'tenant_id IN (1, 2)';
    const widen = await outbox(['subscribe', 'tenant1']);
    expect(widen.code, widen.stdout + widen.stderr).toBe(0);
    await churn(6, 40, 1, 90);
    await start('tenant1');
    // Rows of tenant 2 that did not change since are not at the target yet: verify names them, and
    // --repair brings them (docs/operations.md, "Changing a target's filter").
    const widened = await outbox(['verify', 'tenant1', '--repair']);
    expect(widened.code, widened.stdout + widened.stderr).toBe(1);
    expect(widened.stdout).toMatch(/missing at the target: \d+/);
    await expectConverged('Saturday, widened');

    // Narrowed to tenant 2: the tenant-1 rows left the share but stay at the target until repaired.
    await stop('tenant1');
    useConfig(withWhere(['2']));
    tenantShare = 'tenant_id = 2';
    const narrow = await outbox(['subscribe', 'tenant1']);
    expect(narrow.code, narrow.stdout + narrow.stderr).toBe(0);
    await churn(7, 40, 1, 90);
    await start('tenant1');
    const narrowed = await outbox(['verify', 'tenant1', '--repair']);
    expect(narrowed.code, narrowed.stdout + narrowed.stderr).toBe(1);
    expect(narrowed.stdout).toMatch(/extra at the target \(no source row in its share\): \d+/);
    // No event can reach the target for rows outside its share by their own values: verify says
    // so, and they are deleted at the target by hand (docs/operations.md, "Changing a target's filter").
    expect(narrowed.stderr).toMatch(/\d+ extra row\(s\) at target "tenant1" are outside its share by their own values too/);
    await maria.conn.query(`DELETE FROM accounts WHERE tenant_id <> 2`);
    await expectConverged('Saturday, narrowed');
  });

  it('Sunday: Redis is down when both relays restart, the consumers start first; then Redis comes back', async () => {
    const redis = await startPrivateRedis();
    await redis.stop();
    await relay!.close();
    relay = undefined;
    await Promise.all([stop('copy'), stop('tenant1')]);
    useConfig({ ...doc, redis: { ...(doc.redis as Record<string, unknown>), urls: [redis.url] } });
    // The wrong order: consumers first, then two relays that cannot reach Redis.
    await Promise.all([start('copy'), start('tenant1')]);
    const relays = await Promise.all([startPipelineRelay(config, 'week-a', logs.logger), startPipelineRelay(config, 'week-b', logs.logger)]);
    try {
      await churn(8, 60, 1, 90);
      await source.db.pool.query(`UPDATE notes SET body = body || ' (sunday)' WHERE id % 2 = 1`);
      // No leader without Redis: the changes wait in the outbox, and status says so.
      const waiting = await source.source.status();
      expect(waiting.backlog).toBeGreaterThan(0);
      await redis.start();
      await expectConverged('Sunday');
      const status = await outbox(['status', '--json']);
      expect(status.code, status.stderr).toBe(0);
      expect(JSON.parse(status.stdout)).toMatchObject({ backlog: 0 });
    } finally {
      await Promise.all(relays.map((r) => r.close()));
      await redis.stop();
    }
  });
});
