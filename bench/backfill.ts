/**
 * Backfill rate: a 1M-row table into the outbox (rows/s), then those snapshot events into a
 * PostgreSQL target table (set-based apply, the in-memory version guard of the test helper — the
 * relay/SNS/consumer path is measured by its own benchmarks).
 * Run: npx tsx bench/backfill.ts [rows] [batchSize]   (default 1000000 1000)
 */
import { runBackfill } from '../src/backfill/index.js';
import { silentLogger } from '../src/logger.js';
import { createTestDatabase } from '../test/helpers/db.js';
import { replayLatestIntoTable } from '../test/helpers/outbox-replay.js';
import { createMigratedSource } from '../test/helpers/source.js';

const rows = Number(process.argv[2] ?? 1_000_000);
const batchSize = Number(process.argv[3] ?? 1000);
const ctx = await createMigratedSource();
const target = await createTestDatabase('outbox_bench_target');
try {
  const ddl = `(id bigint PRIMARY KEY, name text NOT NULL, qty int NOT NULL, price numeric(12, 2), updated_at timestamptz NOT NULL DEFAULT now())`;
  await ctx.db.pool.query(`CREATE TABLE public.big ${ddl}`);
  await ctx.db.pool.query(`INSERT INTO public.big (id, name, qty, price) SELECT g, 'item ' || g, g % 100, (g % 1000) / 4.0 FROM generate_series(1, $1) g`, [rows]);
  await ctx.db.pool.query('VACUUM ANALYZE public.big');
  await ctx.source.track({ table: { schema: 'public', table: 'big' } });

  let t = performance.now();
  const result = await runBackfill({ source: ctx.source, table: { schema: 'public', table: 'big' }, batchSize, logger: silentLogger });
  const outboxSecs = (performance.now() - t) / 1000;
  console.log(`backfill into the outbox: ${result.rows} rows in ${result.batches} batches of ${batchSize}: ${outboxSecs.toFixed(1)} s = ${Math.round(result.rows / outboxSecs)} rows/s`);

  await target.pool.query(`CREATE TABLE public.big ${ddl}`);
  t = performance.now();
  const applied = await replayLatestIntoTable(ctx.db.pool, 'outbox', { schema: 'public', table: 'big' }, target.pool, 'public.big');
  const applySecs = (performance.now() - t) / 1000;
  console.log(`snapshot events into a PostgreSQL target table: ${applied.rows} rows in ${applySecs.toFixed(1)} s = ${Math.round(applied.rows / applySecs)} rows/s`);
  console.log(`end to end (outbox + target apply): ${Math.round(rows / (outboxSecs + applySecs))} rows/s`);
} finally {
  await ctx.close();
  await target.drop();
}
