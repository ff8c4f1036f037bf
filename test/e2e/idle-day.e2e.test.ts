/**
 * A quiet day, then a burst. What a night without writes does to a running pipeline is that the
 * servers and the network between close its connections: PostgreSQL's idle_session_timeout,
 * MariaDB's wait_timeout, Redis' timeout, a load balancer's idle limit. Here every connection the two
 * relays and the two consumers hold is closed at once while they are idle — the source's and the
 * PostgreSQL target's backends (pg_terminate_backend), the MariaDB target's (KILL), Redis' (CLIENT
 * KILL), the emulator's (its HTTP server restarted) — and then a burst of writes must reach both
 * targets with nothing lost. Then the same again in the middle of a burst, with queries in flight.
 * The duplicates the targets absorbed and the batches that failed and were retried are counted.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../src/config/index.js';
import type { RelayProcess } from '../../src/relay/start.js';
import { configVerifyOptions, runVerify } from '../../src/verify/index.js';
import { silentLogger } from '../../src/logger.js';
import { openE2eWorld, type E2eWorld } from '../helpers/e2e-world.js';
import { logCapture, pipelineConfig, startPipelineRelay, startTarget, type RunningTarget } from '../helpers/pipeline.js';
import { startPrivateRedis, type PrivateRedis } from '../helpers/relay.js';
import { waitFor } from '../helpers/wait.js';

type Row = Record<string, string | null>;

const SOURCE_DDL = `CREATE TABLE public.accounts (id int PRIMARY KEY, name text NOT NULL, balance numeric(12,2) NOT NULL DEFAULT 0, note text)`;
const MARIA_DDL = `CREATE TABLE accounts (id INT PRIMARY KEY, name VARCHAR(200) NOT NULL, balance DECIMAL(12,2) NOT NULL, note LONGTEXT) CHARACTER SET utf8mb4`;
const QUEUE = { waitTimeSec: 1, visibilityTimeoutSec: 10, maxReceiveCount: 10, batchSize: 10 };

let world: E2eWorld;
let redis: PrivateRedis;
let config: Config;
const relays: RelayProcess[] = [];
const running: RunningTarget[] = [];
const logs = logCapture();
const counts = { applied: 0, stale: 0, failedBatches: 0, failures: [] as string[], deadLettered: [] as string[] };

beforeAll(async () => {
  world = await openE2eWorld('idle', { source: SOURCE_DDL, pgTarget: SOURCE_DDL, maria: MARIA_DDL });
  redis = await startPrivateRedis();
  await world.source.source.track({ table: { schema: 'public', table: 'accounts' } });
  const doc = world.configDoc({
    copy: { kind: 'postgres', urlEnv: 'PG_URL', tables: ['public.accounts'], stateSchema: 'idle_state', queue: QUEUE },
    maria: { kind: 'mysql', urlEnv: 'MARIA_URL', tables: ['public.accounts'], stateSchema: world.mariaState, queue: QUEUE, mapping: { 'public.accounts': { table: 'accounts' } } },
  });
  config = pipelineConfig({ ...doc, redis: { ...(doc.redis as Record<string, unknown>), urls: [redis.url] } }, world.env);
  for (const name of Object.keys(config.targets)) {
    const target = await startTarget(config, name, { logger: logs.logger });
    target.consumer.on('batch-applied', (e) => {
      counts.applied += e.applied;
      counts.stale += e.stale;
    });
    target.consumer.on('apply-failed', (e) => {
      counts.failedBatches += 1;
      counts.failures.push(`${name}: ${e.error.message}`);
    });
    target.consumer.on('message-dead-lettered', (e) => counts.deadLettered.push(`${name}: ${e.code} ${e.reason}`));
    running.push(target);
  }
  relays.push(await startPipelineRelay(config, 'idle-a', logs.logger), await startPipelineRelay(config, 'idle-b', logs.logger));
}, 90_000);

afterAll(async () => {
  await Promise.all(relays.map((r) => r.close()));
  await world?.close({ targets: running });
  await redis?.stop();
});

const asText = (rows: Record<string, unknown>[]): Row[] =>
  rows.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, v === null ? null : String(v)]))).sort((a, b) => Number(a.id) - Number(b.id));

async function unequal(): Promise<string[]> {
  const source = asText((await world.source.db.pool.query(`SELECT id, name, balance::text AS balance, note FROM accounts`)).rows);
  const copy = asText((await world.pgTarget.pool.query(`SELECT id, name, balance::text AS balance, note FROM accounts`)).rows);
  const [maria] = await world.maria.conn.query(`SELECT id, name, CAST(balance AS CHAR) AS balance, note FROM accounts`);
  const bad: string[] = [];
  if (JSON.stringify(copy) !== JSON.stringify(source)) bad.push(`copy (${copy.length} rows, source ${source.length})`);
  if (JSON.stringify(asText(maria as Record<string, unknown>[])) !== JSON.stringify(source)) bad.push(`maria (${(maria as unknown[]).length} rows, source ${source.length})`);
  return bad;
}

async function expectConverged(what: string): Promise<void> {
  let last: string[] = [];
  await waitFor(async () => (last = await unequal()).length === 0, { timeoutMs: 60_000, intervalMs: 250, what: `${what}: both targets to equal the source` }).catch((err: unknown) => {
    console.error(`${what}: still unequal: ${last.join(', ')}\n${logs.lines.slice(-30).join('\n')}`);
    throw err;
  });
  for (const name of Object.keys(config.targets)) {
    const report = await runVerify({ source: world.source.source, ...configVerifyOptions(config, name), table: { schema: 'public', table: 'accounts' }, repair: false, logger: silentLogger });
    expect({ what, name, drift: report.drift }).toEqual({ what, name, drift: false });
  }
  expect(counts.deadLettered).toEqual([]);
}

/** n changes over ids [from, from + span): inserts, updates and deletes, from one session. */
async function churn(seed: number, n: number, from: number, span: number): Promise<void> {
  let s = seed;
  const rnd = () => (s = (s * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  for (let i = 0; i < n; i++) {
    const id = from + Math.floor(rnd() * span);
    const roll = rnd();
    if (roll < 0.45) await world.source.db.pool.query(`INSERT INTO accounts (id, name, balance) VALUES ($1, $2, $3) ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, balance = EXCLUDED.balance`, [id, `a${id}-${seed}-${i}`, (i % 1000) / 4]);
    else if (roll < 0.8) await world.source.db.pool.query(`UPDATE accounts SET balance = balance + 1, note = coalesce(note, '') || '.' WHERE id = $1`, [id]);
    else await world.source.db.pool.query(`DELETE FROM accounts WHERE id = $1`, [id]);
  }
}

/** Writer calls the targets' writers ran again inside one apply (a lost connection, a lock conflict). */
const writerRetries = () => running.reduce((sum, t) => sum + (t.writer.stats?.retries ?? 0), 0);

/** A burst from four sessions at once, on ranges of their own. */
const burst = (seed: number, perSession: number) => Promise.all([0, 1, 2, 3].map((k) => churn(seed * 10 + k, perSession, 1 + k * 100, 100)));

/** Closes every connection of the relays and consumers, on every server; how many were closed. */
async function closeEveryConnection(): Promise<{ postgres: number; mariadb: number; redis: number }> {
  const dbs = [world.source.db.name, world.pgTarget.name];
  const pgKilled = (
    await world.source.db.pool.query<{ n: number }>(
      `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE datname = ANY($1) AND application_name LIKE 'outbox-relay%' AND pid <> pg_backend_pid()`,
      [dbs],
    )
  ).rows[0]!.n;
  const [processes] = (await world.maria.conn.query(`SELECT ID AS id FROM information_schema.PROCESSLIST WHERE DB IN (?, ?) AND ID <> CONNECTION_ID()`, [world.maria.name, world.mariaState])) as [{ id: number }[], unknown];
  for (const p of processes) await world.maria.conn.query(`KILL CONNECTION ${Number(p.id)}`).catch(() => undefined);
  const admin = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  let redisKilled = 0;
  try {
    await admin.connect();
    redisKilled = Number(await admin.call('CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes'));
  } finally {
    admin.disconnect();
  }
  await world.emulator.restart(0);
  return { postgres: pgKilled, mariadb: processes.length, redis: redisKilled };
}

describe('a quiet day, then a burst', () => {
  it('a first load reaches both targets', async () => {
    await world.source.db.pool.query(`INSERT INTO accounts (id, name, balance) SELECT g, 'acct ' || g, g FROM generate_series(1, 400) g`);
    await burst(1, 50);
    await expectConverged('first load');
  });

  it('every connection closed while idle: the next burst reaches both targets, nothing lost', async () => {
    // Idle: both targets equal the source and nothing is written; every part still holds its
    // connections (the consumers' SQS long polls, the relays' pools and LISTEN, Redis, the writers' pools).
    await waitFor(async () => (await world.source.db.pool.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND application_name = 'outbox-relay:listen'`, [world.source.db.name])).rows[0].n >= 1, { timeoutMs: 10_000, what: 'the leader to LISTEN' });
    const closed = await closeEveryConnection();
    expect(closed.postgres).toBeGreaterThan(0);
    expect(closed.mariadb).toBeGreaterThan(0);
    expect(closed.redis).toBeGreaterThan(0);
    const before = { ...counts, retries: writerRetries() };
    await burst(2, 150);
    await expectConverged('after the idle day');
    // The leader listens again (a change is announced, not only found by the next poll).
    await waitFor(async () => (await world.source.db.pool.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND application_name = 'outbox-relay:listen'`, [world.source.db.name])).rows[0].n >= 1, { timeoutMs: 10_000, what: 'the leader to LISTEN again' });
    console.info(`idle day: closed ${JSON.stringify(closed)}; then ${counts.applied - before.applied} changes applied, ${counts.stale - before.stale} duplicates absorbed, ${writerRetries() - before.retries} writer calls run again at once, ${counts.failedBatches - before.failedBatches} batches failed and retried${counts.failures.length ? ` (${counts.failures.join("; ")})` : ""}`);
  });

  it('every connection closed again in the middle of a burst: nothing lost', async () => {
    const before = { ...counts, retries: writerRetries() };
    const load = burst(3, 150);
    await waitFor(async () => counts.applied - before.applied >= 50, { timeoutMs: 30_000, what: 'the burst to be under way at the targets' });
    const closed = await closeEveryConnection();
    await load;
    await expectConverged('after connections closed mid-burst');
    console.info(`mid-burst: closed ${JSON.stringify(closed)}; ${counts.applied - before.applied} changes applied, ${counts.stale - before.stale} duplicates absorbed, ${writerRetries() - before.retries} writer calls run again at once, ${counts.failedBatches - before.failedBatches} batches failed and retried${counts.failures.length ? ` (${counts.failures.join("; ")})` : ""}`);
  });
});
