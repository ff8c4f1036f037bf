import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isOutboxError } from '../../src/errors.js';
import { runBackfill } from '../../src/backfill/index.js';
import { silentLogger } from '../../src/logger.js';
import { createMetrics } from '../../src/observability/metrics.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { replayLatestIntoTable } from '../helpers/outbox-replay.js';
import { runCli, spawnCli } from '../helpers/cli.js';
import { createMigratedSource } from '../helpers/source.js';
import { waitFor } from '../helpers/wait.js';

type Ctx = Awaited<ReturnType<typeof createMigratedSource>>;
let ctx: Ctx;
let target: TestDatabase;

const ITEMS_DDL = `(id bigint PRIMARY KEY, name text NOT NULL, qty int NOT NULL, price numeric(12, 2), tags text[], updated_at timestamptz NOT NULL DEFAULT now())`;

beforeAll(async () => {
  ctx = await createMigratedSource();
  target = await createTestDatabase('outbox_target');
});

afterAll(async () => {
  await ctx?.close();
  await target?.drop();
});

async function createItems(table: string, rows: number, step = 1): Promise<void> {
  await ctx.db.pool.query(`CREATE TABLE public.${table} ${ITEMS_DDL}`);
  await ctx.db.pool.query(
    `INSERT INTO public.${table} (id, name, qty, price, tags)
     SELECT g * $2, 'item ' || g, g % 100, (g % 1000) / 4.0, ARRAY['t' || (g % 7)] FROM generate_series(1, $1) g`,
    [rows, step],
  );
  await ctx.source.track({ table: { schema: 'public', table } });
}

/** id → md5 of the row text, read in one session setting so both databases render alike. */
async function rowDigests(pool: import('pg').Pool, table: string): Promise<Map<string, string>> {
  const client = await pool.connect();
  try {
    await client.query("SET TimeZone = 'UTC'");
    const res = await client.query<{ id: string; h: string }>(`SELECT id::text, md5(ROW(name, qty, price, tags, updated_at)::text) AS h FROM ${table}`);
    return new Map(res.rows.map((r) => [r.id, r.h]));
  } finally {
    client.release();
  }
}

async function snapshotCounts(table: string): Promise<{ keys: number; duplicates: number }> {
  const res = await ctx.db.pool.query<{ keys: number; duplicates: number }>(
    `SELECT count(*)::int AS keys, count(*) FILTER (WHERE n > 1)::int AS duplicates
       FROM (SELECT key, count(*) AS n FROM outbox.events WHERE table_name = $1 AND op = 'snapshot' GROUP BY key) s`,
    [table],
  );
  return res.rows[0]!;
}

async function batches(table: string) {
  const res = await ctx.db.pool.query(
    `SELECT b.run_id::text, b.batch_no, b.from_key, b.to_key, b.rows, b.status, b.attempts, b.remarks
       FROM outbox.backfill_batches b WHERE b.table_name = $1 ORDER BY b.run_id, b.batch_no`,
    [table],
  );
  return res.rows;
}

function expectContiguous(rows: { from_key: unknown; to_key: unknown; status: string }[]): void {
  expect(rows.every((b) => b.status === 'COMPLETED')).toBe(true);
  expect(rows[0]!.from_key).toBeNull();
  for (let i = 1; i < rows.length; i++) expect(rows[i]!.from_key).toEqual(rows[i - 1]!.to_key);
}

describe('backfill', () => {
  it('converges to source = target for 100k rows under concurrent inserts, updates and deletes', async () => {
    // Even ids exist before tracking (no events); writers insert odd ids inside the walked range and
    // new ids past its end, update and delete at random, move keys, and hold row locks briefly.
    await createItems('items', 100_000, 2);
    let stop = false;
    let writes = 0;
    const writer = async (seed: number) => {
      const client = await ctx.db.pool.connect();
      let n = seed;
      try {
        while (!stop) {
          n = (n * 1103515245 + 12345) % 2147483648;
          const id = (n % 200_000) + 1;
          const kind = n % 10;
          try {
            await client.query('BEGIN');
            if (kind < 3) await client.query(`INSERT INTO items (id, name, qty) VALUES ($1, 'new', 1) ON CONFLICT (id) DO UPDATE SET qty = items.qty + 1`, [id]);
            else if (kind < 6) await client.query(`UPDATE items SET qty = qty + 1, name = md5(random()::text), updated_at = clock_timestamp() WHERE id BETWEEN $1 AND $1 + 10`, [id]);
            else if (kind < 8) await client.query('DELETE FROM items WHERE id = $1', [id]);
            else if (kind < 9) await client.query(`UPDATE items SET id = id + 1 WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM items WHERE id = $1 + 1)`, [id]);
            else await client.query(`INSERT INTO items (id, name, qty) VALUES ($1, 'tail', 0) ON CONFLICT DO NOTHING`, [200_000 + (n % 5000)]);
            if (n % 3 === 0) await client.query('SELECT pg_sleep(0.002)');
            await client.query('COMMIT');
            writes += 1;
          } catch {
            await client.query('ROLLBACK').catch(() => undefined);
          }
        }
      } finally {
        client.release();
      }
    };
    const writers = [writer(7), writer(11)];
    const metrics = createMetrics();
    const result = await runBackfill({ source: ctx.source, table: { schema: 'public', table: 'items' }, batchSize: 1000, logger: silentLogger, metrics });
    const writesDuringBackfill = writes;
    stop = true;
    await Promise.all(writers);

    expect(result.status).toBe('completed');
    expect(writesDuringBackfill).toBeGreaterThan(100);
    // The live changes interleave with the snapshots.
    const interleaved = await ctx.db.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM outbox.events e
        WHERE e.table_name = 'items' AND e.op <> 'snapshot'
          AND e.seq BETWEEN (SELECT min(seq) FROM outbox.events WHERE op = 'snapshot' AND table_name = 'items')
                        AND (SELECT max(seq) FROM outbox.events WHERE op = 'snapshot' AND table_name = 'items')`,
    );
    expect(interleaved.rows[0]!.n).toBeGreaterThan(50);
    expect((await snapshotCounts('items')).duplicates).toBe(0);
    expectContiguous(await batches('items'));
    expect((await metrics.registry.getSingleMetricAsString('outbox_backfill_rows_total'))).toContain(`${result.rows}`);

    await target.pool.query(`CREATE TABLE public.items ${ITEMS_DDL}`);
    await replayLatestIntoTable(ctx.db.pool, 'outbox', { schema: 'public', table: 'items' }, target.pool, 'public.items');
    const [src, dst] = [await rowDigests(ctx.db.pool, 'public.items'), await rowDigests(target.pool, 'public.items')];
    const differing = [...new Set([...src.keys(), ...dst.keys()])].filter((k) => src.get(k) !== dst.get(k));
    expect(differing.slice(0, 10)).toEqual([]);
    expect(dst.size).toBe(src.size);
    expect(src.size).toBeGreaterThan(90_000);

    const tracked = await ctx.source.status();
    const items = tracked.tables.find((t) => t.table.table === 'items')!;
    expect(items.mode).toBe('incremental');
    expect(items.backfill).toMatchObject({ status: 'COMPLETED', rowsDone: result.rows });
  });

  it('resumes after kill -9 from the tracker, losing and repeating no batch; one backfill per table at a time', async () => {
    await createItems('killed', 40_000);
    const child = await startCli(['backfill', 'public.killed', '--batch-size', '500']);
    const done = await waitFor(async () => {
      const res = await ctx.db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM outbox.backfill_batches WHERE table_name = 'killed' AND status = 'COMPLETED'`);
      return res.rows[0]!.n >= 10 ? res.rows[0]!.n : 0;
    }, { timeoutMs: 30_000, intervalMs: 5, what: 'the child to complete 10 batches' });
    expect(done).toBeGreaterThanOrEqual(10);

    // While it runs, a second backfill of the same table is refused.
    const second = await runBackfill({ source: ctx.source, table: { schema: 'public', table: 'killed' }, logger: silentLogger }).catch((e: unknown) => e);
    expect(isOutboxError(second, 'BACKFILL_RUNNING')).toBe(true);
    expect((second as Error).message).toMatch(/already running/);

    process.kill(-child.process.pid!, 'SIGKILL');
    await child.exited;
    const before = await batches('killed');
    const completedBefore = before.filter((b) => b.status === 'COMPLETED').length;
    expect(completedBefore).toBeLessThan(80);

    // Once the killed process's connection is gone, status tells the run is interrupted, not running.
    await waitFor(async () => /public\.killed\s+backfilling\s+interrupted at \d+\/\d+ rows.*rerun outbox backfill/.test((await runOutbox(['status'])).stdout), {
      timeoutMs: 20_000,
      intervalMs: 200,
      what: 'outbox status to show the killed backfill as interrupted',
    });

    const resumed = await runOutbox(['backfill', 'public.killed']);
    expect(resumed.code).toBe(0);
    expect(resumed.stdout).toMatch(/Backfilled public\.killed: 40000 rows in 80 batches .*resumed at batch \d+/);
    const after = await batches('killed');
    expect(after).toHaveLength(80);
    expectContiguous(after);
    // Batches completed before the kill were not redone; at most the in-flight one was retried.
    expect(after.slice(0, completedBefore).every((b) => b.attempts === 1)).toBe(true);
    expect(after.filter((b) => b.attempts > 1).length).toBeLessThanOrEqual(1);
    expect(await snapshotCounts('killed')).toEqual({ keys: 40_000, duplicates: 0 });

    const again = await runOutbox(['backfill', 'public.killed']);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/already backfilled .*--restart/);
  });

  it('records a failing batch as FAILED with its reason and retries it on the next run', async () => {
    await createItems('flaky', 5_000);
    await ctx.db.pool.query(`
      CREATE FUNCTION public.fail_snapshot() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.op = 'snapshot' AND NEW.table_name = 'flaky' AND (NEW.key->>'id')::bigint = 2500 THEN RAISE EXCEPTION 'injected failure'; END IF;
        RETURN NEW;
      END $$;
      CREATE TRIGGER fail_snapshot BEFORE INSERT ON outbox.events FOR EACH ROW EXECUTE FUNCTION public.fail_snapshot();`);
    const table = { schema: 'public', table: 'flaky' };
    const failed = await runBackfill({ source: ctx.source, table, batchSize: 1000, logger: silentLogger }).catch((e: unknown) => e);
    expect(isOutboxError(failed, 'BACKFILL_FAILED')).toBe(true);
    expect((failed as Error).message).toMatch(/batch 3 .*injected failure.*run outbox backfill public\.flaky again/);
    const rows = await batches('flaky');
    expect(rows.map((b) => b.status)).toEqual(['COMPLETED', 'COMPLETED', 'FAILED']);
    expect(rows[2]!.remarks).toMatch(/attempt 1: injected failure/);
    const mid = (await ctx.source.status()).tables.find((t) => t.table.table === 'flaky')!;
    expect(mid.mode).toBe('backfilling');
    expect(mid.backfill).toMatchObject({ status: 'FAILED', rowsDone: 2000 });
    expect((await snapshotCounts('flaky')).keys).toBe(2000);

    await ctx.db.pool.query('DROP TRIGGER fail_snapshot ON outbox.events');
    const result = await runBackfill({ source: ctx.source, table, logger: silentLogger });
    expect(result).toMatchObject({ status: 'completed', rows: 5000, batches: 5, retriedBatches: 1, resumedAtBatch: 3 });
    const final = await batches('flaky');
    expectContiguous(final);
    expect(final[2]).toMatchObject({ attempts: 2, rows: 1000 });
    expect(await snapshotCounts('flaky')).toEqual({ keys: 5000, duplicates: 0 });

    const again = await runBackfill({ source: ctx.source, table, logger: silentLogger });
    expect(again.status).toBe('already-completed');
    const restarted = await runBackfill({ source: ctx.source, table, restart: true, batchSize: 2500, logger: silentLogger });
    expect(restarted).toMatchObject({ status: 'completed', rows: 5000, batches: 2 });
    expect(restarted.runId).not.toBe(result.runId);
  });

  it('refuses an untracked table with what to run', async () => {
    await ctx.db.pool.query('CREATE TABLE public.loose (id int PRIMARY KEY)');
    const err = await runBackfill({ source: ctx.source, table: { schema: 'public', table: 'loose' }, logger: silentLogger }).catch((e: unknown) => e);
    expect(isOutboxError(err, 'TABLE_NOT_TRACKED')).toBe(true);
    expect((err as Error).message).toMatch(/outbox track public\.loose/);
  });
});

/** The CLI with this file's source database (test/helpers/cli.ts). */
const cliOptions = () => ({ inheritEnv: true, env: { OUTBOX_SOURCE_URL: ctx.db.url, OUTBOX_LOG_LEVEL: 'warn' }, timeoutMs: 60_000 });
const startCli = (args: string[]) => spawnCli(args, cliOptions());
const runOutbox = (args: string[]) => runCli(args, cliOptions());
