/**
 * Backfill rate, as ratios to bare loops measured in the same run.
 *
 * 1. Into the outbox: `runBackfill` of an N-row table (resumable, tracked batches, snapshot windows)
 *    against the bare loop — keyset pages of the same size, each written as `to_json` of the rows into
 *    a plain table in one statement per page: what any batched copy of the table into a log costs.
 * 2. Into a PostgreSQL target table: the snapshot events applied with the real target writer (version
 *    store, version guard, set-based apply; the relay/SNS/consumer path is measured by its own
 *    benchmarks) against the bare loop — the same pages read back and inserted with one
 *    `json_populate_recordset` statement each.
 * Run: npx tsx bench/backfill.ts [rows] [batchSize]   (default 1000000 1000)
 */
import type pg from 'pg';
import { runBackfill } from '../src/backfill/index.js';
import { silentLogger } from '../src/logger.js';
import { createTestDatabase } from '../test/helpers/db.js';
import { replayLatestIntoTable } from '../test/helpers/outbox-replay.js';
import { createMigratedSource } from '../test/helpers/source.js';
import { machineLoad, ratioLine } from './lib/machine.js';

const rows = Number(process.argv[2] ?? 1_000_000);
const batchSize = Number(process.argv[3] ?? 1000);
const ddl = `(id bigint PRIMARY KEY, name text NOT NULL, qty int NOT NULL, price numeric(12, 2), updated_at timestamptz NOT NULL DEFAULT now())`;

/**
 * Keyset pages of `batchSize` rows of public.big, each written as to_json into a plain log table;
 * `forShare` also takes the row locks a backfill takes (so that no snapshot carries older content
 * with a newer seq than a live change), which shows what that guarantee costs by itself.
 */
async function bareSnapshotLoop(pool: pg.Pool, log: string, forShare: boolean): Promise<number> {
  await pool.query(`CREATE TABLE public.${log} (seq bigserial PRIMARY KEY, id bigint NOT NULL, image json NOT NULL)`);
  let last = '0';
  let copied = 0;
  for (;;) {
    const res = await pool.query<{ last: string | null; n: string }>(
      `WITH page AS (SELECT * FROM public.big b WHERE b.id > $1 ORDER BY b.id LIMIT $2${forShare ? ' FOR SHARE' : ''}),
            ins AS (INSERT INTO public.${log} (id, image) SELECT p.id, to_json(p) FROM page p RETURNING id)
       SELECT max(id)::text AS last, count(*)::text AS n FROM ins`,
      [last, batchSize],
    );
    const n = Number(res.rows[0]!.n);
    if (n === 0) return copied;
    copied += n;
    last = res.rows[0]!.last!;
  }
}

/** The bare log read back in pages and inserted at the target, one statement per page. */
async function bareApplyLoop(source: pg.Pool, target: pg.Pool): Promise<number> {
  await target.query(`CREATE TABLE public.big_bare ${ddl}`);
  let last = '0';
  let applied = 0;
  for (;;) {
    const page = await source.query<{ seq: string; images: unknown[] | null }>(
      'SELECT max(seq)::text AS seq, json_agg(image ORDER BY seq) AS images FROM (SELECT seq, image FROM public.bare_log WHERE seq > $1 ORDER BY seq LIMIT $2) p',
      [last, batchSize],
    );
    const { seq, images } = page.rows[0]!;
    if (!images) return applied;
    await target.query('INSERT INTO public.big_bare SELECT * FROM json_populate_recordset(NULL::public.big_bare, $1::json) ON CONFLICT (id) DO NOTHING', [JSON.stringify(images)]);
    applied += images.length;
    last = seq;
  }
}

const ctx = await createMigratedSource();
const target = await createTestDatabase('outbox_bench_target');
try {
  await ctx.db.pool.query(`CREATE TABLE public.big ${ddl}`);
  await ctx.db.pool.query(`INSERT INTO public.big (id, name, qty, price) SELECT g, 'item ' || g, g % 100, (g % 1000) / 4.0 FROM generate_series(1, $1) g`, [rows]);
  await ctx.db.pool.query('VACUUM ANALYZE public.big');
  await ctx.source.track({ table: { schema: 'public', table: 'big' } });
  console.log(`${rows} rows, batches of ${batchSize}; ${machineLoad()}`);

  let t = performance.now();
  const bareCopied = await bareSnapshotLoop(ctx.db.pool, 'bare_log', false);
  const bareSecs = (performance.now() - t) / 1000;
  t = performance.now();
  const lockedCopied = await bareSnapshotLoop(ctx.db.pool, 'bare_log_locked', true);
  const lockedRate = lockedCopied / ((performance.now() - t) / 1000);
  t = performance.now();
  const result = await runBackfill({ source: ctx.source, table: { schema: 'public', table: 'big' }, batchSize, logger: silentLogger });
  const outboxSecs = (performance.now() - t) / 1000;
  const outboxRate = result.rows / outboxSecs;
  const bareRate = bareCopied / bareSecs;
  console.log(`into the outbox: backfill ${result.rows} rows in ${result.batches} batches: ${outboxSecs.toFixed(1)} s = ${Math.round(outboxRate)} rows/s; bare keyset loop ${Math.round(bareRate)} rows/s, ratio ${ratioLine(outboxRate, bareRate)}; the same loop with the backfill's FOR SHARE row locks ${Math.round(lockedRate)} rows/s, ratio ${ratioLine(outboxRate, lockedRate)}`);

  await target.pool.query(`CREATE TABLE public.big ${ddl}`);
  t = performance.now();
  const applied = await replayLatestIntoTable(ctx.db.pool, 'outbox', { schema: 'public', table: 'big' }, target.pool, 'public.big');
  const applySecs = (performance.now() - t) / 1000;
  t = performance.now();
  const bareApplied = await bareApplyLoop(ctx.db.pool, target.pool);
  const bareApplySecs = (performance.now() - t) / 1000;
  const applyRate = applied.rows / applySecs;
  const bareApplyRate = bareApplied / bareApplySecs;
  console.log(`into a PostgreSQL target: ${applied.rows} rows in ${applySecs.toFixed(1)} s = ${Math.round(applyRate)} rows/s; bare page insert ${Math.round(bareApplyRate)} rows/s; ratio ${ratioLine(applyRate, bareApplyRate)}`);
  console.log(`end to end (outbox + target apply): ${Math.round(rows / (outboxSecs + applySecs))} rows/s; bare ${Math.round(rows / (bareSecs + bareApplySecs))} rows/s; ratio ${ratioLine(bareSecs + bareApplySecs, outboxSecs + applySecs)}; ${machineLoad()}`);
} finally {
  await ctx.close();
  await target.drop();
}
