/**
 * Relay read cost: what one relay read (`sql/postgres/runtime/relay_read_window.sql`) costs the
 * source database, in CPU of the backend that runs it (utime + stime from /proc/<pid>/stat), for a
 * small page (the relay keeping up: a window of a few changes) and for an idle poll (the window
 * snapshot and a read of an empty window). Measured in the same run against the same read without
 * the `tracked_state` digest (the baseline), and against the read as it was up to migration 9 (the
 * digest inline: tracked_tables joined to pg_class, pg_attribute and pg_type in the statement).
 * Each variant runs on its own connection, the variants take turns in each round, and the planning
 * and execution times PostgreSQL reports (EXPLAIN ANALYZE) are printed beside the CPU.
 *
 *   npx tsx bench/relay-read-cost.ts [--rounds 5] [--repeats 200] [--page 5] [--filler 200] [--analyze-tracked]
 *
 * `--filler` untracked tables of 12 columns each grow pg_attribute as an application's schema does.
 * Needs PostgreSQL as for the tests (TEST_PG_URL). A rate-free figure, but CPU of a backend on
 * shared cores moves with the load: run it under the bench lock.
 */
import { parseArgs } from 'node:util';
import pg from 'pg';
import { DEFAULT_PAGE_BYTES } from '../src/config/schema.js';
import { runtimeSql } from '../src/sql/files.js';
import { createMigratedSource } from '../test/helpers/source.js';
import { cpuSecondsOf } from './lib/process-cpu.js';
import { machineLoad, runBench } from './lib/machine.js';

const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string', default: '5' },
    repeats: { type: 'string', default: '200' },
    page: { type: 'string', default: '5' },
    filler: { type: 'string', default: '200' },
    'analyze-tracked': { type: 'boolean', default: false },
  },
});
const ROUNDS = Number(args.rounds);
const REPEATS = Number(args.repeats);
const PAGE = Number(args.page);
const FILLER = Number(args.filler);

/** The read as migrations 1–9 shipped it: the digest computed inline over the catalog joins. */
const INLINE_DIGEST_READ = `SELECT e.seq, e.xid::text AS xid, e.table_schema, e.table_name, e.op, e.key, e.before, e.after,
       e.changed, e.attributes, e.changed_at, e.relid::int8::text AS relid, e.old_row::text AS old_row,
       e.new_row::text AS new_row,
       CASE WHEN coalesce(e.new_row, e.old_row) IS NOT NULL THEN ARRAY(SELECT json_object_keys(coalesce(e.new_row, e.old_row))) END AS names,
       (SELECT pg_catalog.md5(coalesce(string_agg(s.part, E'\\n' ORDER BY s.part), ''))
          FROM (SELECT t::text AS part FROM "outbox".tracked_tables t WHERE t.relid IS NOT NULL
                UNION ALL
                SELECT concat_ws(' ', c.oid, n.nspname, c.relname, a.attnum, a.attname, a.atttypid, a.atttypmod, a.attnotnull,
                                 a.attisdropped, tn.nspname, ty.typname, ty.typtype, ty.typbasetype)
                  FROM "outbox".tracked_tables t
                  JOIN pg_catalog.pg_class c ON c.oid = t.relid
                  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                  JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0
                  JOIN pg_catalog.pg_type ty ON ty.oid = a.atttypid
                  JOIN pg_catalog.pg_namespace tn ON tn.oid = ty.typnamespace
                UNION ALL
                SELECT concat_ws(' ', 'partition', p.relid, p.parentrelid)
                  FROM "outbox".tracked_tables t, pg_catalog.pg_partition_tree(t.relid) p
                 WHERE t.relid IS NOT NULL) s) AS tracked_state
  FROM "outbox".events e
 WHERE (e.xid = ANY (ARRAY(SELECT pg_snapshot_xip($1::pg_snapshot)))
        OR (e.xid >= pg_snapshot_xmax($1::pg_snapshot) AND e.xid < pg_snapshot_xmax($2::pg_snapshot)))
   AND pg_visible_in_snapshot(e.xid, $2::pg_snapshot)
   AND e.seq > $3::bigint
 ORDER BY e.seq
 LIMIT $4`;

/** INLINE_DIGEST_READ with another expression in place of its inline digest. */
const withDigest = (expression: string) =>
  INLINE_DIGEST_READ.slice(0, INLINE_DIGEST_READ.indexOf('(SELECT pg_catalog.md5(')) + expression + INLINE_DIGEST_READ.slice(INLINE_DIGEST_READ.indexOf(') AS tracked_state') + 1);

/** The read of migration 10 before pages were bounded by bytes (relay.readBatchBytes): the digest as relay_tracked_state(). */
const UNBOUNDED_READ = withDigest('(SELECT "outbox".relay_tracked_state())');

/** The same read with no digest at all: the baseline. */
const NO_DIGEST_READ = withDigest('NULL::text');

interface Variant {
  name: string;
  sql: string;
  /** Parameters after the four of every variant (the current read's byte bound). */
  extra: unknown[];
  client: pg.Client;
  pid: number;
}

async function main(): Promise<void> {
  const env = await createMigratedSource();
  const clients: pg.Client[] = [];
  try {
    const db = env.db.pool;
    // Tracked: four plain tables and a partitioned one with four partitions, 12 columns each.
    const cols = (n: number) => Array.from({ length: n }, (_, k) => `c${k} ${['int', 'text', 'numeric', 'timestamptz'][k % 4]}`).join(', ');
    for (let k = 0; k < 4; k++) {
      await db.query(`CREATE TABLE public.t${k} (id bigint PRIMARY KEY, ${cols(11)})`);
      await env.source.track({ table: { schema: 'public', table: `t${k}` } });
    }
    await db.query(`CREATE TABLE public.parts (id bigint NOT NULL, ${cols(11)}, PRIMARY KEY (id)) PARTITION BY RANGE (id)`);
    for (let p = 0; p < 4; p++) await db.query(`CREATE TABLE public.parts_${p} PARTITION OF public.parts FOR VALUES FROM (${p * 1_000_000}) TO (${(p + 1) * 1_000_000})`);
    await env.source.track({ table: { schema: 'public', table: 'parts' } });
    for (let k = 0; k < FILLER; k++) await db.query(`CREATE TABLE public.filler_${k} (id bigint PRIMARY KEY, ${cols(11)})`);
    // Statistics as a running database has them: the catalog analyzed (autovacuum does it), the
    // outbox's tracked_tables not (a few rows stay under autovacuum's analyze threshold of 50), so
    // the planner guesses its size. `--analyze-tracked` analyzes it too.
    await db.query('ANALYZE pg_catalog.pg_class, pg_catalog.pg_attribute, pg_catalog.pg_type, pg_catalog.pg_namespace, pg_catalog.pg_inherits');
    if (args['analyze-tracked']) await db.query('ANALYZE outbox.tracked_tables');
    const catalog = (await db.query<{ n: string }>('SELECT count(*)::text AS n FROM pg_catalog.pg_attribute')).rows[0]!.n;

    const before = (await db.query<{ s: string }>('SELECT pg_current_snapshot()::text AS s')).rows[0]!.s;
    await db.query(`INSERT INTO public.t0 (id, c0, c1) SELECT g, g, md5(g::text) FROM generate_series(1, $1::int) g`, [PAGE]);
    const after = (await db.query<{ s: string }>('SELECT pg_current_snapshot()::text AS s')).rows[0]!.s;

    const variants: Variant[] = [];
    for (const [name, sql] of [
      ['no digest (baseline)', NO_DIGEST_READ],
      ['inline digest (up to migration 9)', INLINE_DIGEST_READ],
      ['without the byte bound (before relay.readBatchBytes)', UNBOUNDED_READ],
      ['current read', runtimeSql('postgres', 'relay_read_window', { schema: '"outbox"' })],
    ] as const) {
      const client = new pg.Client({ connectionString: env.db.url, application_name: `relay-read-cost:${name}` });
      await client.connect();
      clients.push(client);
      const pid = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
      variants.push({ name, sql, client, pid, extra: name === 'current read' ? [DEFAULT_PAGE_BYTES] : [] });
    }

    const page = async (v: Variant) => {
      const res = await v.client.query(v.sql, [before, after, '-1', 1000, ...v.extra]);
      if (res.rowCount !== PAGE) throw new Error(`${v.name}: read ${res.rowCount} rows, expected ${PAGE}`);
    };
    // An idle poll as the session makes it: the window snapshot, then a read of the (empty) window.
    const idle = async (v: Variant) => {
      const snap = (await v.client.query<{ s: string }>('SELECT pg_current_snapshot()::text AS s')).rows[0]!.s;
      const res = await v.client.query(v.sql, [after, snap, '-1', 1000, ...v.extra]);
      if (res.rowCount !== 0) throw new Error(`${v.name}: an idle window read ${res.rowCount} rows`);
    };

    console.log(`relay read cost: ${ROUNDS} rounds × ${REPEATS} reads per variant; page of ${PAGE} changes; 5 tracked tables (one partitioned, 4 partitions), ${FILLER} untracked tables; pg_attribute ${catalog} rows; tracked_tables ${args['analyze-tracked'] ? '' : 'not '}analyzed`);
    console.log(`start: ${machineLoad()}`);
    for (const [scenario, run] of [
      [`page of ${PAGE} changes`, page],
      ['idle poll (window snapshot + read of an empty window)', idle],
    ] as const) {
      for (const v of variants) for (let k = 0; k < 20; k++) await run(v); // warm the caches
      const cpu = new Map<string, number>();
      const wall = new Map<string, number>();
      for (let r = 0; r < ROUNDS; r++) {
        // Rotate the order so no variant always runs first in a round.
        for (let i = 0; i < variants.length; i++) {
          const v = variants[(i + r) % variants.length]!;
          const c0 = cpuSecondsOf([v.pid]);
          const t0 = performance.now();
          for (let k = 0; k < REPEATS; k++) await run(v);
          wall.set(v.name, (wall.get(v.name) ?? 0) + (performance.now() - t0));
          cpu.set(v.name, (cpu.get(v.name) ?? 0) + (cpuSecondsOf([v.pid]) - c0));
        }
      }
      const n = ROUNDS * REPEATS;
      const base = cpu.get(variants[0]!.name)! / n;
      console.log(`\n${scenario}: backend CPU per ${scenario.startsWith('idle') ? 'poll' : 'page'} (ratio to the baseline), wall per call, PostgreSQL's planning / execution (median of 20 EXPLAIN ANALYZE)`);
      for (const v of variants) {
        const perCall = cpu.get(v.name)! / n;
        const plan = await explain(v, [...(scenario.startsWith('idle') ? [after, after, '-1', 1000] : [before, after, '-1', 1000]), ...v.extra]);
        console.log(
          `  ${v.name.padEnd(52)} ${(perCall * 1e6).toFixed(0).padStart(6)} µs CPU  ${(perCall / base).toFixed(2).padStart(5)}×   wall ${((wall.get(v.name)! / n) * 1e3).toFixed(0).padStart(6)} µs   plan ${plan.planning.toFixed(3)} ms, run ${plan.execution.toFixed(3)} ms`,
        );
      }
      console.log(`  ${machineLoad()}`);
    }
  } finally {
    for (const c of clients) await c.end();
    await env.close();
  }
}

/** Median planning and execution times of the read, as EXPLAIN (ANALYZE) reports them. */
async function explain(v: Variant, params: unknown[]): Promise<{ planning: number; execution: number }> {
  const planning: number[] = [];
  const execution: number[] = [];
  for (let k = 0; k < 20; k++) {
    const res = await v.client.query<{ 'QUERY PLAN': string }>(`EXPLAIN (ANALYZE, TIMING OFF, SUMMARY ON) ${v.sql}`, params);
    const text = res.rows.map((r) => r['QUERY PLAN']).join('\n');
    planning.push(Number(/Planning Time: ([\d.]+)/.exec(text)?.[1] ?? NaN));
    execution.push(Number(/Execution Time: ([\d.]+)/.exec(text)?.[1] ?? NaN));
  }
  const median = (xs: number[]) => xs.sort((a, b) => a - b)[xs.length >> 1]!;
  return { planning: median(planning), execution: median(execution) };
}

runBench(main);
