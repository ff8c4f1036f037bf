/**
 * Verify time for a 1M-row table against an equal PostgreSQL target, with 100 drifted rows, and of a
 * filtered target's share (where on an attribute column: half the rows) against the whole table in
 * the same run. Baseline, same run: the bare chunked comparison a user could write — keyset chunks of
 * the same size read from both copies at once as row JSON, compared as strings in the client (no
 * transform, no digest, no drift report).
 * Run: npx tsx bench/verify.ts [rows] [chunkSize]   (default 1000000 1000)
 */
import type pg from 'pg';
import { targetSchema } from '../src/config/index.js';
import { silentLogger } from '../src/logger.js';
import { runVerify } from '../src/verify/index.js';
import { createTestDatabase } from '../test/helpers/db.js';
import { createMigratedSource } from '../test/helpers/source.js';
import { machineLoad, ratioLine } from './lib/machine.js';

const rows = Number(process.argv[2] ?? 1_000_000);
const chunkSize = Number(process.argv[3] ?? 1000);
const ctx = await createMigratedSource();
const target = await createTestDatabase('outbox_bench_target');
try {
  const ddl = `(id bigint PRIMARY KEY, name text NOT NULL, qty int NOT NULL, price numeric(12, 2), updated_at timestamptz NOT NULL DEFAULT '2024-01-01 00:00:00+00')`;
  const fill = `INSERT INTO public.big (id, name, qty, price) SELECT g, 'item ' || g, g % 100, (g % 1000) / 4.0 FROM generate_series(1, ${rows}) g`;
  for (const pool of [ctx.db.pool, target.pool]) {
    await pool.query(`CREATE TABLE public.big ${ddl}`);
    await pool.query(fill);
    await pool.query('VACUUM ANALYZE public.big');
  }
  await target.pool.query(`CREATE TABLE public.big_share ${ddl}`);
  await target.pool.query(`INSERT INTO public.big_share SELECT * FROM public.big WHERE qty < 50`);
  await target.pool.query('VACUUM ANALYZE public.big_share');
  await ctx.source.track({ table: { schema: 'public', table: 'big' }, attributes: ['qty'] });
  const config = targetSchema.parse({ kind: 'postgres', urlEnv: 'BENCH_URL', tables: ['public.big'] });
  const run = () => runVerify({ source: ctx.source, targetName: 'bench', target: config, secrets: { url: target.url }, chunkSize, logger: silentLogger });

  const chunk = (pool: pg.Pool, after: string) => pool.query<{ id: string; j: string }>('SELECT b.id::text AS id, row_to_json(b)::text AS j FROM public.big b WHERE b.id > $1 ORDER BY b.id LIMIT $2', [after, chunkSize]);
  let t = performance.now();
  let bareDifferent = 0;
  for (let after = '0'; ; ) {
    const [a, b] = await Promise.all([chunk(ctx.db.pool, after), chunk(target.pool, after)]);
    if (a.rows.length === 0 && b.rows.length === 0) break;
    a.rows.forEach((r, i) => (bareDifferent += r.j === b.rows[i]?.j ? 0 : 1));
    after = a.rows.at(-1)?.id ?? b.rows.at(-1)!.id;
  }
  const bareSecs = (performance.now() - t) / 1000;
  if (bareDifferent !== 0) throw new Error(`the bare comparison found ${bareDifferent} different rows in equal copies`);
  t = performance.now();
  let report = await run();
  let secs = (performance.now() - t) / 1000;
  console.log(`verify, equal data: ${report.tables[0]!.sourceRows} rows in ${report.tables[0]!.chunks} chunks of ${chunkSize}: ${secs.toFixed(1)} s = ${Math.round(rows / secs)} rows/s (drift: ${report.drift}); bare chunked comparison ${bareSecs.toFixed(1)} s; rate ratio ${ratioLine(bareSecs, secs)}; ${machineLoad()}`);

  await target.pool.query(`UPDATE public.big SET qty = qty + 1 WHERE id % ${Math.max(1, Math.floor(rows / 100))} = 0`);
  t = performance.now();
  report = await run();
  secs = (performance.now() - t) / 1000;
  const r = report.tables[0]!;
  console.log(`verify, ${r.different.count} drifted rows in ${r.mismatchedChunks} chunks: ${secs.toFixed(1)} s`);

  // The share of a filtered target, then the whole table again: same run, so the ratio holds under load.
  const share = targetSchema.parse({ kind: 'postgres', urlEnv: 'BENCH_URL', tables: ['public.big'], where: { qty: Array.from({ length: 50 }, (_, i) => String(i)) }, mapping: { 'public.big': { table: 'big_share' } } });
  await target.pool.query(`UPDATE public.big SET qty = qty - 1 WHERE id % ${Math.max(1, Math.floor(rows / 100))} = 0`);
  t = performance.now();
  report = await runVerify({ source: ctx.source, targetName: 'share', target: share, secrets: { url: target.url }, chunkSize, logger: silentLogger });
  const shareSecs = (performance.now() - t) / 1000;
  const s = report.tables[0]!;
  t = performance.now();
  const whole = await run();
  const wholeSecs = (performance.now() - t) / 1000;
  console.log(
    `verify of a share (where qty in 0..49: ${s.sourceRows - s.outsideShare} of ${s.sourceRows} rows, drift: ${report.drift}): ${shareSecs.toFixed(1)} s; the whole table (drift: ${whole.drift}): ${wholeSecs.toFixed(1)} s; time ratio ${(shareSecs / wholeSecs).toFixed(2)}; ${machineLoad()}`,
  );
} finally {
  await ctx.close();
  await target.drop();
}
