/**
 * Trigger cost: what capture adds to the writers of a tracked table. One database, two identical
 * tables with the same rows, one tracked and one not, measured in the same run:
 *
 *   1. TPS ratio, tracked / untracked, of a CPU-bound single-row UPDATE workload: pgbench with a custom
 *      script, several clients, synchronous_commit=off per session (PGOPTIONS) so commits do not wait
 *      for the disk. Runs alternate (untracked, tracked, untracked, …) to spread drift. Goal ≥ 0.90.
 *   2. µs added per row by a 100k-row bulk UPDATE: the median of several runs of each table, both
 *      vacuumed before each run, the outbox emptied between runs. Goal ≤ 10 µs/row. For reference,
 *      the cost of writing the same event rows with a plain INSERT … SELECT (no trigger at all).
 *
 *   npx tsx bench/trigger-cost.ts [--seconds 15] [--rounds 3] [--clients 4] [--rows 100000] [--bulk-runs 5] [--keep]
 * or npm run bench:trigger. Needs PostgreSQL (TEST_PG_URL, as for the tests) and pgbench on PATH.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { silentLogger } from '../src/logger.js';
import { PostgresSource } from '../src/source/postgres/adapter.js';
import { createTestDatabase } from '../test/helpers/db.js';

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '15' },
    rounds: { type: 'string', default: '3' },
    clients: { type: 'string', default: '4' },
    rows: { type: 'string', default: '100000' },
    'bulk-runs': { type: 'string', default: '5' },
    keep: { type: 'boolean', default: false },
  },
});
const SECONDS = Number(args.seconds);
const ROUNDS = Number(args.rounds);
const CLIENTS = Number(args.clients);
const ROWS = Number(args.rows);
const BULK_RUNS = Number(args['bulk-runs']);

const TABLES = { plain: 'bench_plain', tracked: 'bench_tracked' } as const;
type Kind = keyof typeof TABLES;

/** A typical business row: key, a tenant, a status, money, a timestamp and some text. */
const TABLE_DDL = (name: string) => `
  CREATE TABLE public.${name} (
    id         int PRIMARY KEY,
    tenant_id  int NOT NULL,
    status     text NOT NULL,
    amount     numeric(12, 2) NOT NULL,
    note       text,
    updated_at timestamptz NOT NULL DEFAULT now()
  ) WITH (fillfactor = 80);
  INSERT INTO public.${name} (id, tenant_id, status, amount, note)
  SELECT g, g % 50, 'open', g / 100.0, md5(g::text) FROM generate_series(1, ${ROWS}) g;`;

/** One event row per row of bench_plain, built as the capture function builds an update event. */
const REFERENCE_INSERT = `
  INSERT INTO outbox.events (part, seq, table_schema, table_name, op, key, before, after, changed, attributes, changed_at)
  SELECT 0, nextval('outbox.event_seq'), 'public', '${TABLES.plain}', 'update', jsonb_build_object('id', b.id),
         jsonb_build_object('id', b.id, 'tenant_id', b.tenant_id, 'status', b.status, 'amount', b.amount::text, 'note', b.note, 'updated_at', b.updated_at),
         jsonb_build_object('id', b.id, 'tenant_id', b.tenant_id, 'status', b.status, 'amount', (b.amount + 0.01)::text, 'note', b.note, 'updated_at', b.updated_at),
         ARRAY['amount', 'updated_at'], NULL, clock_timestamp()
    FROM public.${TABLES.plain} b`;

function run(file: string, argv: string[], env: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(file, argv, { env, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${file} failed: ${stderr || err.message}`));
      else resolve(stdout);
    });
  });
}

async function pgbenchTps(url: string, script: string): Promise<number> {
  const out = await run(
    'pgbench',
    ['-n', '-M', 'prepared', '-c', String(CLIENTS), '-j', String(Math.min(CLIENTS, 2)), '-T', String(SECONDS), '-D', `rows=${ROWS}`, '-f', script, url],
    { ...process.env, PGOPTIONS: '-c synchronous_commit=off' },
  );
  const match = /tps = ([\d.]+) \(without initial connection time\)/.exec(out);
  if (!match) throw new Error(`cannot read the TPS from pgbench's output:\n${out}`);
  return Number(match[1]);
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};
const fmt = (n: number, digits = 1) => n.toFixed(digits);
const loadLine = () => loadavg().map((l) => l.toFixed(1)).join(' ');

async function main(): Promise<void> {
  const db = await createTestDatabase('outbox_bench');
  const source = new PostgresSource({ url: db.url, schema: 'outbox', logger: silentLogger });
  const client = new pg.Client({ connectionString: db.url });
  try {
    await source.migrate();
    await db.pool.query(TABLE_DDL(TABLES.plain) + TABLE_DDL(TABLES.tracked));
    await source.track({ table: { schema: 'public', table: TABLES.tracked } });
    for (const name of Object.values(TABLES)) await db.pool.query(`VACUUM ANALYZE public.${name}`);
    const version = (await db.pool.query('SHOW server_version')).rows[0].server_version;
    process.stdout.write(`PostgreSQL ${version}; ${ROWS} rows per table; tracked table: statement-level capture triggers\n`);
    process.stdout.write(`${cpus().length} CPUs; load average at start ${loadLine()} (other work on the machine skews every figure)\n\n`);

    // 1. single-row updates, alternating tables
    const dir = mkdtempSync(join(tmpdir(), 'outbox-bench-'));
    const scripts = Object.fromEntries(
      (Object.keys(TABLES) as Kind[]).map((kind) => {
        const path = join(dir, `${kind}.sql`);
        writeFileSync(path, `\\set id random(1, :rows)\nUPDATE public.${TABLES[kind]} SET amount = amount + 0.01, updated_at = now() WHERE id = :id;\n`);
        return [kind, path];
      }),
    ) as Record<Kind, string>;
    const tps: Record<Kind, number[]> = { plain: [], tracked: [] };
    process.stdout.write(`1. single-row UPDATE, pgbench ${CLIENTS} clients, ${SECONDS} s per run, synchronous_commit=off\n`);
    for (let round = 0; round < ROUNDS; round++) {
      const order: Kind[] = round % 2 === 0 ? ['plain', 'tracked'] : ['tracked', 'plain'];
      for (const kind of order) {
        const value = await pgbenchTps(db.url, scripts[kind]);
        tps[kind].push(value);
        process.stdout.write(`   round ${round + 1} ${kind.padEnd(8)} ${fmt(value, 0).padStart(7)} tps\n`);
      }
    }
    const plainTps = median(tps.plain);
    const trackedTps = median(tps.tracked);
    const ratio = trackedTps / plainTps;

    // 2. bulk update of every row, alternating tables, each vacuumed first
    await client.connect();
    await client.query('SET synchronous_commit = off');
    const ms: Record<Kind, number[]> = { plain: [], tracked: [] };
    process.stdout.write(`\n2. bulk UPDATE of ${ROWS} rows in one statement, ${BULK_RUNS} runs per table\n`);
    for (let i = 0; i < BULK_RUNS; i++) {
      const order: Kind[] = i % 2 === 0 ? ['plain', 'tracked'] : ['tracked', 'plain'];
      for (const kind of order) {
        await client.query('TRUNCATE outbox.events');
        await client.query(`VACUUM public.${TABLES[kind]}`);
        const start = process.hrtime.bigint();
        await client.query(`UPDATE public.${TABLES[kind]} SET amount = amount + 0.01, updated_at = now()`);
        const elapsed = Number(process.hrtime.bigint() - start) / 1e6;
        ms[kind].push(elapsed);
        process.stdout.write(`   run ${i + 1} ${kind.padEnd(8)} ${fmt(elapsed, 0).padStart(6)} ms\n`);
      }
    }
    const events = (await client.query('SELECT count(*)::int AS n FROM outbox.events')).rows[0].n;
    if (events !== ROWS) throw new Error(`the last tracked bulk update should have captured ${ROWS} events, found ${events}`);

    // reference: the same event rows written by a plain INSERT … SELECT, no trigger: what the outbox
    // row itself costs, which no trigger design that writes such a row can go below
    const refMs: number[] = [];
    for (let i = 0; i < BULK_RUNS; i++) {
      await client.query('TRUNCATE outbox.events');
      const start = process.hrtime.bigint();
      await client.query(REFERENCE_INSERT);
      refMs.push(Number(process.hrtime.bigint() - start) / 1e6);
    }
    const rowMs = median(refMs);
    process.stdout.write(`   reference: INSERT … SELECT of the same ${ROWS} event rows, no trigger: median ${fmt(rowMs, 0)} ms\n`);
    const plainMs = median(ms.plain);
    const trackedMs = median(ms.tracked);
    const usPerRow = ((trackedMs - plainMs) * 1000) / ROWS;

    process.stdout.write(
      [
        '',
        `Results (load average at the end ${loadLine()})`,
        `  single-row UPDATE TPS  untracked ${fmt(plainTps, 0)}  tracked ${fmt(trackedTps, 0)}  ratio ${fmt(ratio, 3)}  (goal ≥ 0.90: ${ratio >= 0.9 ? 'met' : 'MISSED'})`,
        `  bulk UPDATE (median)   untracked ${fmt(plainMs, 0)} ms  tracked ${fmt(trackedMs, 0)} ms  added ${fmt(usPerRow, 2)} µs/row  (goal ≤ 10: ${usPerRow <= 10 ? 'met' : 'MISSED'})`,
        `                         of which writing the event rows alone (reference): ${fmt((rowMs * 1000) / ROWS, 2)} µs/row`,
        '',
      ].join('\n'),
    );
  } finally {
    await client.end().catch(() => undefined);
    await source.close();
    if (args.keep) process.stdout.write(`database kept: ${db.name}\n`);
    else await db.drop();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`trigger-cost: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
