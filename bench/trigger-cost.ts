/**
 * Trigger cost: what capture adds to the writers of a tracked table, against reference triggers, all
 * measured in the same run on identical tables with the same rows (bench/README.md):
 *
 *   plain       no trigger (untracked)
 *   floor       plpgsql row trigger writing one int into a bigserial table: the least a trigger costs
 *   jsonb_row   plpgsql row trigger writing to_jsonb(OLD), to_jsonb(NEW) into a bigserial table
 *   jsonb_stmt  statement trigger writing to_jsonb of the transition rows (old joined to new by key)
 *   capture     outbox-relay capture (sql/postgres/000005_capture_statement.sql), no excluded column
 *   capture_ex  the same with one excluded column (looked up in the catalog once per statement)
 *
 *   1. TPS of single-row UPDATE, INSERT and DELETE (+ re-INSERT of the row, so the table keeps its
 *      size) with pgbench, several clients, synchronous_commit=off per session (PGOPTIONS); the tables
 *      take turns round by round to spread drift. Goal: capture ≥ 1.0× jsonb_row on UPDATE.
 *   2. µs added per row by a bulk UPDATE of every row (median of several runs, each table vacuumed
 *      and every outbox emptied first). Goal: capture ≤ 1.0× jsonb_stmt.
 *   3. Bytes written per event: the size of each variant's outbox (heap and indexes) per row.
 *
 *   npx tsx bench/trigger-cost.ts [--seconds 8] [--rounds 3] [--clients 4] [--rows 100000] [--bulk-runs 3] [--keep]
 * or npm run bench:trigger. Needs PostgreSQL (TEST_PG_URL, as for the tests) and pgbench on PATH.
 * Run it on a machine doing nothing else (other load skews every figure): npx tsx bench/trigger-cost.ts
 */
import { referenceTriggersSql } from './lib/reference-triggers.js';
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
    seconds: { type: 'string', default: '8' },
    rounds: { type: 'string', default: '3' },
    clients: { type: 'string', default: '4' },
    rows: { type: 'string', default: '100000' },
    'bulk-runs': { type: 'string', default: '3' },
    keep: { type: 'boolean', default: false },
  },
});
const SECONDS = Number(args.seconds);
const ROUNDS = Number(args.rounds);
const CLIENTS = Number(args.clients);
const ROWS = Number(args.rows);
const BULK_RUNS = Number(args['bulk-runs']);

const KINDS = ['plain', 'floor', 'jsonb_row', 'jsonb_stmt', 'capture', 'capture_ex'] as const;
type Kind = (typeof KINDS)[number];
const TABLES = Object.fromEntries(KINDS.map((k) => [k, `bench_${k}`])) as Record<Kind, string>;

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

/** The reference triggers and their outbox tables, in the shapes the issue names (bench/lib/reference-triggers.ts). */
const REFERENCES = referenceTriggersSql({ floor: 'bench_floor', jsonbRow: 'bench_jsonb_row', jsonbStmt: 'bench_jsonb_stmt' }) + `
  CREATE SEQUENCE public.bench_ids START 10000000;`;

/** Each variant's outbox: what it writes, for emptying and sizing. */
const LOGS: Record<Kind, string | null> = {
  plain: null,
  floor: 'public.ref_floor_log',
  jsonb_row: 'public.ref_row_log',
  jsonb_stmt: 'public.ref_stmt_log',
  capture: 'outbox.events',
  capture_ex: 'outbox.events',
};

async function emptyOutboxes(db: pg.Pool | pg.Client): Promise<void> {
  await db.query('TRUNCATE outbox.events, public.ref_floor_log, public.ref_row_log, public.ref_stmt_log');
}

async function main(): Promise<void> {
  const db = await createTestDatabase('outbox_bench');
  const source = new PostgresSource({ url: db.url, schema: 'outbox', logger: silentLogger });
  const client = new pg.Client({ connectionString: db.url });
  try {
    await source.migrate();
    await db.pool.query(KINDS.map((k) => TABLE_DDL(TABLES[k])).join('\n') + REFERENCES);
    await source.track({ table: { schema: 'public', table: TABLES.capture } });
    await source.track({ table: { schema: 'public', table: TABLES.capture_ex }, exclude: ['note'] });
    for (const kind of KINDS) await db.pool.query(`VACUUM ANALYZE public.${TABLES[kind]}`);
    const version = (await db.pool.query('SHOW server_version')).rows[0].server_version;
    process.stdout.write(`PostgreSQL ${version}; ${ROWS} rows per table; ${CLIENTS} clients; ${cpus().length} CPUs; load average at start ${loadLine()}\n\n`);

    // 1. single-row statements, pgbench, the variants taking turns
    const dir = mkdtempSync(join(tmpdir(), 'outbox-bench-'));
    const WORKLOADS = {
      update: (t: string) => `\\set id random(1, :rows)\nUPDATE public.${t} SET amount = amount + 0.01, updated_at = now() WHERE id = :id;\n`,
      insert: (t: string) => `INSERT INTO public.${t} (id, tenant_id, status, amount, note) VALUES (nextval('public.bench_ids'), 7, 'open', 1.5, 'new row');\n`,
      delete: (t: string) => `\\set id random(1, :rows)\nBEGIN;\nDELETE FROM public.${t} WHERE id = :id;\nINSERT INTO public.${t} (id, tenant_id, status, amount, note) VALUES (:id, 7, 'open', 1.5, 'back') ON CONFLICT (id) DO NOTHING;\nCOMMIT;\n`,
    } as const;
    const tps: Record<keyof typeof WORKLOADS, Record<Kind, number[]>> = {
      update: emptyRecord(),
      insert: emptyRecord(),
      delete: emptyRecord(),
    };
    for (const workload of Object.keys(WORKLOADS) as (keyof typeof WORKLOADS)[]) {
      process.stdout.write(`1. single-row ${workload.toUpperCase()}${workload === 'delete' ? ' (+ re-INSERT)' : ''}, pgbench ${SECONDS} s per run, synchronous_commit=off\n`);
      for (let round = 0; round < ROUNDS; round++) {
        const order = KINDS.map((_, i) => KINDS[(i + round) % KINDS.length]!);
        for (const kind of order) {
          await emptyOutboxes(db.pool);
          const script = join(dir, `${workload}-${kind}.sql`);
          writeFileSync(script, WORKLOADS[workload](TABLES[kind]));
          const value = await pgbenchTps(db.url, script);
          tps[workload][kind].push(value);
          process.stdout.write(`   round ${round + 1} ${kind.padEnd(10)} ${fmt(value, 0).padStart(7)} tps   (load ${loadLine()})\n`);
        }
      }
    }

    // 2. bulk update of every row, the variants taking turns, each vacuumed first
    await client.connect();
    await client.query('SET synchronous_commit = off');
    const ms = emptyRecord();
    const bytes: Partial<Record<Kind, number>> = {};
    process.stdout.write(`\n2. bulk UPDATE of every row in one statement, ${BULK_RUNS} runs per table\n`);
    for (let i = 0; i < BULK_RUNS; i++) {
      const order = KINDS.map((_, k) => KINDS[(k + i) % KINDS.length]!);
      for (const kind of order) {
        await emptyOutboxes(client);
        await client.query(`VACUUM public.${TABLES[kind]}`);
        const rows = (await client.query(`SELECT count(*)::int AS n FROM public.${TABLES[kind]}`)).rows[0].n as number;
        const start = process.hrtime.bigint();
        await client.query(`UPDATE public.${TABLES[kind]} SET amount = amount + 0.01, updated_at = now()`);
        const elapsed = Number(process.hrtime.bigint() - start) / 1e6;
        ms[kind].push((elapsed * 1000) / rows);
        const log = LOGS[kind];
        if (log) {
          // 3. bytes per event: heap and indexes of what this variant wrote for the bulk update
          const size = await client.query(`SELECT (SELECT sum(pg_total_relation_size(c.oid)) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = $1::regclass) AS parts, pg_total_relation_size($1::regclass) AS own, (SELECT count(*) FROM ${log}) AS n`, [log]);
          const r = size.rows[0];
          bytes[kind] = Number(r.parts ?? r.own) / Number(r.n);
        }
        process.stdout.write(`   run ${i + 1} ${kind.padEnd(10)} ${fmt(elapsed, 0).padStart(6)} ms   (load ${loadLine()})\n`);
      }
    }

    const t = (w: keyof typeof WORKLOADS, k: Kind) => median(tps[w][k]);
    const added = (k: Kind) => median(ms[k]) - median(ms.plain);
    const lines = ['', `Results (medians; load average at the end ${loadLine()})`, '', '  TPS            ' + KINDS.map((k) => k.padStart(11)).join('')];
    for (const w of Object.keys(WORKLOADS) as (keyof typeof WORKLOADS)[]) lines.push(`  ${w.padEnd(14)} ${KINDS.map((k) => fmt(t(w, k), 0).padStart(11)).join('')}`);
    lines.push('', '  capture / reference   untracked      floor  jsonb_row');
    for (const w of Object.keys(WORKLOADS) as (keyof typeof WORKLOADS)[]) {
      lines.push(`  ${w.padEnd(20)} ${['plain', 'floor', 'jsonb_row'].map((k) => fmt(t(w, 'capture') / t(w, k as Kind), 3).padStart(10)).join(' ')}   (with an excluded column: ${fmt(t(w, 'capture_ex') / t(w, 'jsonb_row'), 3)}× jsonb_row)`);
    }
    lines.push('', '  bulk UPDATE µs/row added: ' + KINDS.filter((k) => k !== 'plain').map((k) => `${k} ${fmt(added(k), 2)}`).join(', '));
    lines.push(`  bytes per event: ${KINDS.filter((k) => bytes[k] !== undefined).map((k) => `${k} ${fmt(bytes[k]!, 0)}`).join(', ')}`);
    const single = t('update', 'capture') / t('update', 'jsonb_row');
    const bulk = added('capture') / added('jsonb_stmt');
    lines.push('', `  goal single-row UPDATE ≥ 1.0× jsonb_row: ${fmt(single, 3)}× (${single >= 1 ? 'met' : 'MISSED'})`);
    lines.push(`  goal bulk UPDATE added ≤ 1.0× jsonb_stmt: ${fmt(bulk, 3)}× (${bulk <= 1 ? 'met' : 'MISSED'})`, '');
    process.stdout.write(lines.join('\n'));
  } finally {
    await client.end().catch(() => undefined);
    await source.close();
    if (args.keep) process.stdout.write(`database kept: ${db.name}\n`);
    else await db.drop();
  }
}

function emptyRecord(): Record<Kind, number[]> {
  return Object.fromEntries(KINDS.map((k) => [k, []])) as unknown as Record<Kind, number[]>;
}

main().catch((err: unknown) => {
  process.stderr.write(`trigger-cost: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
