/**
 * Trigger cost in CPU instructions: what capture adds to one single-row statement, counted by
 * valgrind's callgrind (`Ir`) in a PostgreSQL backend in single-user mode, against the reference
 * triggers of bench/trigger-cost.ts — all in the same run, on identical tables (bench/README.md,
 * "Instruction counts"). Load does not move a count, so this is the figure to compare on a busy
 * machine, where pgbench TPS moves by ±40 % between rounds.
 *
 * How: a private cluster (initdb, in a temporary directory) is built once with the outbox migrated,
 * one table of --rows rows per variant, the reference triggers and the tracked tables, and stopped.
 * For each variant and statement kind the data directory is copied afresh and
 * `postgres --single -c synchronous_commit=off` runs --low and then --high single-row statements under
 * callgrind (each statement its own transaction: parse, plan, execute, commit); (Ir(high) − Ir(low)) /
 * (high − low) is the count per statement, so start-up and first-call compilation cancel out. The
 * backend's wall clock stands still (bench/lib/frozen-clock.c, LD_PRELOAD): under callgrind a
 * statement takes ~50× its native time, so capture's 100 ms wake bucket would otherwise turn every
 * few statements (a NOTIFY, a read of rotation, a set_config each time) instead of once per hundreds,
 * and the count would move with the machine's load. The NOTIFY calls of each run are printed.
 *
 *   untracked, floor, jsonb_row, jsonb_stmt, capture, capture_ex  as in bench/trigger-cost.ts
 *   --decompose adds throwaway variants that each isolate one part of the capture's cost (the outbox
 *   INSERT into the partitioned table, the partition, plain tables with 2/1/0 indexes and with fewer
 *   columns; an empty row trigger and an empty statement trigger with transition tables; the settings
 *   check and the NOTIFY throttle); see DECOMPOSE below.
 *
 *   npx tsx bench/trigger-callgrind.ts [--rows 2000] [--low 100] [--high 300] [--ops update,insert,delete]
 *       [--only capture,jsonb_row] [--previous 000007] [--decompose] [--keep]   (--keep keeps the cluster and the callgrind profiles)
 * Needs valgrind, initdb, pg_ctl and postgres on PATH; run as root it runs the server as `postgres`.
 */
import { referenceTriggersSql } from './lib/reference-triggers.js';
import { spawn } from 'node:child_process';
import { chmodSync, cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { silentLogger } from '../src/logger.js';
import { PostgresSource } from '../src/source/postgres/adapter.js';
import { fillPlaceholders, listMigrations } from '../src/sql/files.js';

const { values: args } = parseArgs({
  options: {
    rows: { type: 'string', default: '2000' },
    low: { type: 'string', default: '100' },
    high: { type: 'string', default: '300' },
    ops: { type: 'string', default: 'update,insert,delete' },
    only: { type: 'string' },
    previous: { type: 'string' },
    decompose: { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
  },
});
const ROWS = Number(args.rows);
const LOW = Number(args.low);
const HIGH = Number(args.high);
const OPS = args.ops.split(',') as Op[];
type Op = 'update' | 'insert' | 'delete';

const asRoot = process.getuid?.() === 0;
const loadLine = () => loadavg().map((l) => l.toFixed(1)).join(' ');

/** A typical business row, as in bench/trigger-cost.ts. */
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

/** The reference triggers of bench/trigger-cost.ts (bench/lib/reference-triggers.ts), on this script's tables. */
const REFERENCES = referenceTriggersSql({ floor: 't_floor', jsonbRow: 't_jsonb_row', jsonbStmt: 't_jsonb_stmt' });

/** Outbox-like tables for the decomposition: the v2 columns of outbox.events, and a narrow set. */
const WIDE_COLS = `part smallint NOT NULL, seq bigint NOT NULL, xid xid8 NOT NULL DEFAULT pg_current_xact_id(),
  table_schema text NOT NULL, table_name text NOT NULL, op text NOT NULL, key jsonb, before jsonb, after jsonb,
  changed text[], attributes jsonb, changed_at timestamptz NOT NULL, relid oid, old_row json, new_row json`;
const NARROW_COLS = `seq bigint NOT NULL, xid xid8 NOT NULL DEFAULT pg_current_xact_id(), relid oid NOT NULL,
  op text NOT NULL, old_row json, new_row json, changed_at timestamptz NOT NULL`;
const WIDE_INSERT = (target: string) => `INSERT INTO ${target} (part, seq, relid, table_schema, table_name, op, old_row, new_row, changed_at)
    VALUES (0, nextval('outbox.event_seq'), TG_RELID, TG_TABLE_SCHEMA, TG_TABLE_NAME, lower(TG_OP), to_json(OLD), to_json(NEW), clock_timestamp());`;
const NARROW_INSERT = (target: string) => `INSERT INTO ${target} (seq, relid, op, old_row, new_row, changed_at)
    VALUES (nextval('outbox.event_seq'), TG_RELID, lower(TG_OP), to_json(OLD), to_json(NEW), clock_timestamp());`;
/** The settings check and the wake state of capture_statement() (000007), the partition used. */
const SETTINGS_AND_WAKE = `
    v_floats := current_setting('extra_float_digits');
    v_ivs := current_setting('IntervalStyle');
    IF v_floats <= '0' OR v_ivs = 'sql_standard' THEN
      PERFORM set_config('extra_float_digits', '1', true), set_config('IntervalStyle', 'iso_8601', true);
    ELSE
      v_floats := NULL;
    END IF;
    IF starts_with(v_state, v_bucket || ':') THEN
      v_part := substr(v_state, length(v_bucket) + 2)::smallint;
    ELSE
      v_part := (SELECT r.current_part FROM outbox.rotation r);
      PERFORM pg_notify('outbox_outbox', ''), set_config('outbox_relay.wake_bench', v_bucket || ':' || v_part, false);
    END IF;`;
const SETTINGS_ONLY = `
    v_floats := current_setting('extra_float_digits');
    v_ivs := current_setting('IntervalStyle');
    IF v_floats <= '0' OR v_ivs = 'sql_standard' THEN
      PERFORM set_config('extra_float_digits', '1', true), set_config('IntervalStyle', 'iso_8601', true);
    ELSE
      v_floats := NULL;
    END IF;`;
const WAKE_ONLY = SETTINGS_AND_WAKE.slice(SETTINGS_AND_WAKE.indexOf('    IF starts_with'));
const WAKE_DECLARE = `DECLARE
    v_now timestamptz := clock_timestamp(); v_floats text; v_ivs text; v_part smallint;
    v_bucket text := (date_part('epoch', v_now) * 10)::bigint::text;
    v_state text := current_setting('outbox_relay.wake_bench', true);`;

interface Variant {
  name: string;
  what: string;
  /** DDL run after the variant's table t_<name> exists. */
  setup?: string;
}

const rowTrigger = (name: string, body: string, declare = '') => `
  CREATE FUNCTION public.f_${name}() RETURNS trigger LANGUAGE plpgsql AS $f$ ${declare} BEGIN ${body} RETURN NULL; END $f$;
  CREATE TRIGGER t AFTER INSERT OR UPDATE OR DELETE ON public.t_${name} FOR EACH ROW EXECUTE FUNCTION public.f_${name}();`;
const stmtTrigger = (name: string, body: { insert: string; update: string; delete: string }) => `
  CREATE FUNCTION public.f_${name}() RETURNS trigger LANGUAGE plpgsql AS $f$ BEGIN
    IF TG_OP = 'UPDATE' THEN ${body.update} ELSIF TG_OP = 'INSERT' THEN ${body.insert} ELSE ${body.delete} END IF; RETURN NULL; END $f$;
  CREATE TRIGGER ti AFTER INSERT ON public.t_${name} REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.f_${name}();
  CREATE TRIGGER tu AFTER UPDATE ON public.t_${name} REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.f_${name}();
  CREATE TRIGGER td AFTER DELETE ON public.t_${name} REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION public.f_${name}();`;
const stmtSelect = (target: string, cols: string, vals: (op: string) => string) => ({
  update: `INSERT INTO ${target} (${cols}, old_row, new_row) SELECT ${vals('update')}, to_json(o.*), to_json(n.*) FROM old_rows o, new_rows n;`,
  insert: `INSERT INTO ${target} (${cols}, new_row) SELECT ${vals('insert')}, to_json(n.*) FROM new_rows n;`,
  delete: `INSERT INTO ${target} (${cols}, old_row) SELECT ${vals('delete')}, to_json(o.*) FROM old_rows o;`,
});
const WIDE_STMT_COLS = 'part, seq, relid, table_schema, table_name, op, changed_at';
const wideStmtVals = (op: string) => `0, nextval('outbox.event_seq'), TG_RELID, TG_TABLE_SCHEMA, TG_TABLE_NAME, '${op}', clock_timestamp()`;
const NARROW_STMT_COLS = 'seq, relid, op, changed_at';
const narrowStmtVals = (op: string) => `nextval('outbox.event_seq'), TG_RELID, '${op}', clock_timestamp()`;

const MAIN: Variant[] = [
  { name: 'untracked', what: 'no trigger' },
  { name: 'floor', what: 'row trigger writing one int into a bigserial table' },
  { name: 'jsonb_row', what: 'row trigger writing to_jsonb(OLD), to_jsonb(NEW) into a bigserial table' },
  { name: 'jsonb_stmt', what: 'statement trigger writing to_jsonb of the transition rows' },
  { name: 'capture', what: 'outbox-relay capture, no excluded column' },
  { name: 'capture_ex', what: 'outbox-relay capture, one excluded column' },
];

/**
 * The capture function as an earlier migration shipped it, on its own tables (one without and one with
 * the excluded column `note`), so a change of the function is measured against its predecessor in the
 * same run (the installed capture is the latest).
 */
const previousCapture = (version: string): Variant[] => {
  const file = listMigrations('postgres')
    .filter((m) => m.version <= Number(version) && /CREATE OR REPLACE FUNCTION \{\{schema\}\}\.capture_statement\(\)/.test(m.text))
    .at(-1);
  if (!file || String(file.version).padStart(6, '0') !== version) throw new Error(`no migration ${version} that defines capture_statement()`);
  const fn = `capture_statement_${version}`;
  const text = fillPlaceholders(file.text, { schema: '"outbox"' }, 'postgres')
    .replace(/^[\s\S]*?(CREATE OR REPLACE FUNCTION "outbox"\.capture_statement\(\)[\s\S]*?\$capture\$;)[\s\S]*$/, '$1')
    .replace('"outbox".capture_statement()', `"outbox".${fn}()`);
  const shipped = `${file.version.toString().padStart(6, '0')}_${file.name}.sql`;
  const triggers = (t: string, args: string) => `
      CREATE TRIGGER ti AFTER INSERT ON ${t} REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION "outbox".${fn}(${args});
      CREATE TRIGGER tu AFTER UPDATE ON ${t} REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION "outbox".${fn}(${args});
      CREATE TRIGGER td AFTER DELETE ON ${t} REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION "outbox".${fn}(${args});`;
  const args = `'outbox_outbox', 'outbox_relay.wake_outbox'`;
  return [
    { name: `capture_${version}`, what: `capture_statement() as ${shipped} shipped it`, setup: text + triggers(`public.t_capture_${version}`, args) },
    {
      name: `capture_ex_${version}`,
      what: `the same with the excluded column note`,
      // the excluded column by attribute number, as outbox track passes it
      setup: `DO $do$ BEGIN EXECUTE pg_catalog.format(%L, (SELECT '{' || a.attnum || '}' FROM pg_attribute a
                WHERE a.attrelid = 'public.t_capture_ex_${version}'::regclass AND a.attname = 'note')); END $do$;`.replace(
        '%L',
        `$tr$${triggers(`public.t_capture_ex_${version}`, `${args}, %1$L`)}$tr$`,
      ),
    },
  ];
};

/** Each isolates one part of what capture costs (constants where capture computes a value). */
const DECOMPOSE: Variant[] = [
  { name: 'row_empty', what: 'row trigger, empty body', setup: rowTrigger('row_empty', '') },
  {
    name: 'stmt_empty',
    what: 'statement trigger with transition tables, empty body',
    setup: stmtTrigger('stmt_empty', { insert: 'NULL;', update: 'NULL;', delete: 'NULL;' }),
  },
  { name: 'row_events', what: 'row trigger, INSERT … VALUES into the partitioned outbox.events', setup: rowTrigger('row_events', WIDE_INSERT('outbox.events')) },
  { name: 'row_events_0', what: 'the same straight into the partition outbox.events_0', setup: rowTrigger('row_events_0', WIDE_INSERT('outbox.events_0')) },
  {
    name: 'row_wide_2ix',
    what: 'the same into a plain table with the same columns, indexes on xid and seq',
    setup: `CREATE TABLE public.wide_2ix (${WIDE_COLS}); CREATE INDEX ON public.wide_2ix (xid); CREATE INDEX ON public.wide_2ix (seq);` + rowTrigger('row_wide_2ix', WIDE_INSERT('public.wide_2ix')),
  },
  {
    name: 'row_wide_1ix',
    what: 'the same, one index (seq)',
    setup: `CREATE TABLE public.wide_1ix (${WIDE_COLS}); CREATE INDEX ON public.wide_1ix (seq);` + rowTrigger('row_wide_1ix', WIDE_INSERT('public.wide_1ix')),
  },
  {
    name: 'row_wide_0ix',
    what: 'the same, no index',
    setup: `CREATE TABLE public.wide_0ix (${WIDE_COLS});` + rowTrigger('row_wide_0ix', WIDE_INSERT('public.wide_0ix')),
  },
  {
    name: 'row_narrow_2ix',
    what: 'row trigger into a plain table of 7 columns (no table names, relid only), indexes on xid and seq',
    setup: `CREATE TABLE public.narrow_2ix (${NARROW_COLS}); CREATE INDEX ON public.narrow_2ix (xid); CREATE INDEX ON public.narrow_2ix (seq);` + rowTrigger('row_narrow_2ix', NARROW_INSERT('public.narrow_2ix')),
  },
  {
    name: 'row_narrow_1ix',
    what: 'the same, one index (seq)',
    setup: `CREATE TABLE public.narrow_1ix (${NARROW_COLS}); CREATE INDEX ON public.narrow_1ix (seq);` + rowTrigger('row_narrow_1ix', NARROW_INSERT('public.narrow_1ix')),
  },
  {
    name: 'row_narrow_0ix',
    what: 'the same, no index',
    setup: `CREATE TABLE public.narrow_0ix (${NARROW_COLS});` + rowTrigger('row_narrow_0ix', NARROW_INSERT('public.narrow_0ix')),
  },
  {
    name: 'row_narrow_1ix_wake',
    what: 'row_narrow_1ix with the settings check and the NOTIFY throttle / wake state',
    setup: `CREATE TABLE public.narrow_1ixw (${NARROW_COLS}); CREATE INDEX ON public.narrow_1ixw (seq);` +
      rowTrigger('row_narrow_1ix_wake', SETTINGS_AND_WAKE + NARROW_INSERT('public.narrow_1ixw'), WAKE_DECLARE),
  },
  {
    name: 'row_narrow_1ix_set',
    what: 'row_narrow_1ix with the settings check only (two current_setting reads)',
    setup: `CREATE TABLE public.narrow_1ixs (${NARROW_COLS}); CREATE INDEX ON public.narrow_1ixs (seq);` +
      rowTrigger('row_narrow_1ix_set', SETTINGS_ONLY + NARROW_INSERT('public.narrow_1ixs'), WAKE_DECLARE),
  },
  {
    name: 'row_narrow_1ix_clock',
    what: 'row_narrow_1ix with the 100 ms bucket and the wake setting read only (no settings check)',
    setup: `CREATE TABLE public.narrow_1ixc (${NARROW_COLS}); CREATE INDEX ON public.narrow_1ixc (seq);` +
      rowTrigger('row_narrow_1ix_clock', WAKE_ONLY + NARROW_INSERT('public.narrow_1ixc'), WAKE_DECLARE),
  },
  {
    name: 'stmt_events',
    what: 'statement trigger, INSERT … SELECT of the transition rows into outbox.events',
    setup: stmtTrigger('stmt_events', stmtSelect('outbox.events', WIDE_STMT_COLS, wideStmtVals)),
  },
  {
    name: 'stmt_wide_2ix',
    what: 'the same into a plain table with the same columns and indexes',
    setup: `CREATE TABLE public.swide_2ix (${WIDE_COLS}); CREATE INDEX ON public.swide_2ix (xid); CREATE INDEX ON public.swide_2ix (seq);` +
      stmtTrigger('stmt_wide_2ix', stmtSelect('public.swide_2ix', WIDE_STMT_COLS, wideStmtVals)),
  },
  {
    name: 'stmt_narrow_1ix',
    what: 'the same into the 7-column plain table, one index (seq)',
    setup: `CREATE TABLE public.snarrow_1ix (${NARROW_COLS}); CREATE INDEX ON public.snarrow_1ix (seq);` +
      stmtTrigger('stmt_narrow_1ix', stmtSelect('public.snarrow_1ix', NARROW_STMT_COLS, narrowStmtVals)),
  },
  {
    name: 'stmt_narrow_0ix',
    what: 'the same, no index',
    setup: `CREATE TABLE public.snarrow_0ix (${NARROW_COLS});` + stmtTrigger('stmt_narrow_0ix', stmtSelect('public.snarrow_0ix', NARROW_STMT_COLS, narrowStmtVals)),
  },
];

const STATEMENTS: Record<Op, (table: string, i: number) => string> = {
  update: (t, i) => `UPDATE public.${t} SET amount = amount + 0.01, updated_at = now() WHERE id = ${(i % ROWS) + 1}`,
  insert: (t, i) => `INSERT INTO public.${t} (id, tenant_id, status, amount, note) VALUES (${10_000_000 + i}, 7, 'open', 1.5, 'new row')`,
  delete: (t, i) => `DELETE FROM public.${t} WHERE id = ${(i % ROWS) + 1}`,
};

function run(file: string, argv: string[], opts: { input?: string; user?: boolean; env?: NodeJS.ProcessEnv } = {}): Promise<string> {
  const [cmd, cmdArgs] = opts.user && asRoot ? ['runuser', ['-u', 'postgres', '--', file, ...argv]] : [file, argv];
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, cmdArgs as string[], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...opts.env } });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`${file} exited ${code}: ${err.slice(-2000)}`))));
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.input ?? '');
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

/** Builds the template cluster: outbox migrated, one table per variant, triggers, tracked tables. */
async function buildTemplate(dir: string, variants: Variant[]): Promise<void> {
  const data = join(dir, 'template');
  await run('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8', '--locale=C'], { user: true });
  const port = await freePort();
  await run('pg_ctl', ['-D', data, '-w', '-l', join(dir, 'template.log'), '-o', `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`, 'start'], { user: true });
  try {
    const admin = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres' });
    await admin.connect();
    await admin.query('CREATE DATABASE bench');
    await admin.end();
    const url = `postgres://postgres@127.0.0.1:${port}/bench`;
    const source = new PostgresSource({ url, schema: 'outbox', logger: silentLogger });
    const db = new pg.Client({ connectionString: url });
    await db.connect();
    try {
      await source.migrate();
      await db.query(variants.map((v) => TABLE_DDL(`t_${v.name}`)).join('\n'));
      const names = new Set(variants.map((v) => v.name));
      if (names.has('floor') && names.has('jsonb_row') && names.has('jsonb_stmt')) await db.query(REFERENCES);
      else throw new Error('--only must keep floor, jsonb_row and jsonb_stmt (the references)');
      for (const v of variants) if (v.setup) await db.query(v.setup);
      if (names.has('capture')) await source.track({ table: { schema: 'public', table: 't_capture' } });
      if (names.has('capture_ex')) await source.track({ table: { schema: 'public', table: 't_capture_ex' }, exclude: ['note'] });
      await db.query('VACUUM ANALYZE');
      await db.query('CHECKPOINT');
    } finally {
      await db.end();
      await source.close();
    }
  } finally {
    await run('pg_ctl', ['-D', data, '-w', '-m', 'fast', 'stop'], { user: true });
  }
}

/** Instructions of one single-user backend running `count` statements of one kind on one table. */
async function countInstructions(dir: string, variant: string, op: Op, count: number): Promise<{ ir: number; notifies: number }> {
  const data = join(dir, 'run');
  rmSync(data, { recursive: true, force: true });
  cpSync(join(dir, 'template'), data, { recursive: true });
  if (asRoot) await run('chown', ['-R', 'postgres:postgres', data]);
  chmodSync(data, 0o700);
  const outFile = join(dir, `cg.${variant}.${op}.${count}`);
  const script = Array.from({ length: count }, (_, i) => STATEMENTS[op](`t_${variant}`, i)).join('\n') + '\n';
  await run(
    'valgrind',
    ['--tool=callgrind', `--callgrind-out-file=${outFile}`, 'postgres', '--single', '-D', data, '-c', 'synchronous_commit=off', '-c', 'fsync=off', 'bench'],
    { input: script, user: true, env: { LD_PRELOAD: join(dir, 'frozen-clock.so') } },
  );
  const text = readFileSync(outFile, 'utf8');
  const totals = /^(?:totals|summary):\s+(\d+)/m.exec(text);
  if (!totals) throw new Error(`no totals in ${outFile}`);
  if (!args.keep) rmSync(outFile, { force: true });
  return { ir: Number(totals[1]), notifies: callsTo(text, 'pg_notify') };
}

/** How many times the profiled backend called a C function (callgrind's `cfn=` / `calls=` lines). */
function callsTo(profile: string, fn: string): number {
  const names = new Map<string, string>();
  let callee = '';
  let calls = 0;
  for (const line of profile.split('\n')) {
    const named = /^c?fn=\((\d+)\)(?: (.*))?$/.exec(line);
    if (named) {
      if (named[2] !== undefined) names.set(named[1]!, named[2]);
      if (line.startsWith('cfn=')) callee = names.get(named[1]!) ?? '';
      continue;
    }
    const c = /^calls=(\d+) /.exec(line);
    if (c && callee === fn) calls += Number(c[1]);
  }
  return calls;
}

async function main(): Promise<void> {
  const all = [...MAIN, ...(args.previous ? args.previous.split(',').flatMap(previousCapture) : []), ...(args.decompose ? DECOMPOSE : [])];
  const only = args.only ? new Set(args.only.split(',')) : null;
  const variants = only ? all.filter((v) => only.has(v.name) || ['untracked', 'floor', 'jsonb_row', 'jsonb_stmt'].includes(v.name)) : all;
  const dir = mkdtempSync(join(tmpdir(), 'outbox-callgrind-'));
  if (asRoot) await run('chown', ['postgres:postgres', dir]);
  const version = (await run('postgres', ['--version'])).trim();
  process.stdout.write(`${version}; ${ROWS} rows per table; (Ir(${HIGH}) − Ir(${LOW})) / ${HIGH - LOW} per statement; load average at start ${loadLine()}\n`);
  try {
    // The wall clock of the measured backend stands still (bench/lib/frozen-clock.c), so the wake
    // path runs once per run, as it would once per 100 ms of a native session.
    await run('gcc', ['-shared', '-fPIC', '-O2', '-o', join(dir, 'frozen-clock.so'), join(import.meta.dirname, 'lib', 'frozen-clock.c'), '-ldl']);
    await buildTemplate(dir, variants);
    const ir: Record<string, Partial<Record<Op, number>>> = {};
    for (const op of OPS) {
      for (const v of variants) {
        const low = await countInstructions(dir, v.name, op, LOW);
        const high = await countInstructions(dir, v.name, op, HIGH);
        (ir[v.name] ??= {})[op] = (high.ir - low.ir) / (HIGH - LOW);
        const wakes = high.notifies ? `, ${high.notifies} NOTIFY calls in ${HIGH} statements` : '';
        process.stdout.write(`  ${op.padEnd(6)} ${v.name.padEnd(20)} ${fmtK(ir[v.name]![op]!).padStart(8)} instructions per statement${wakes}   (load ${loadLine()})\n`);
      }
    }
    const lines = ['', `Results, instructions per single-row statement (k = 1,000); load average at the end ${loadLine()}`, ''];
    for (const op of OPS) {
      const base = ir.untracked![op]!;
      const ref = ir.jsonb_row![op]!;
      lines.push(`  ${op.toUpperCase()}`, `  ${'variant'.padEnd(20)} ${'total'.padStart(8)} ${'added'.padStart(8)} ${'÷ jsonb_row'.padStart(12)} ${'÷ floor'.padStart(8)}  what`);
      for (const v of variants) {
        const x = ir[v.name]![op]!;
        lines.push(`  ${v.name.padEnd(20)} ${fmtK(x).padStart(8)} ${(v.name === 'untracked' ? '—' : '+' + fmtK(x - base)).padStart(8)} ${(x / ref).toFixed(3).padStart(12)} ${(x / ir.floor![op]!).toFixed(3).padStart(8)}  ${v.what}`);
      }
      if (ir.capture?.[op] !== undefined) {
        const ratio = ref / ir.capture[op]!;
        lines.push(`  capture's rate if CPU-bound, ÷ jsonb_row's: ${ratio.toFixed(3)}×${op === 'update' ? ` (goal ≥ 1.0: ${ratio >= 1 ? 'met' : 'MISSED'})` : ''}`);
      }
      lines.push('');
    }
    process.stdout.write(lines.join('\n'));
  } finally {
    if (args.keep) process.stdout.write(`kept: ${dir}\n`);
    else rmSync(dir, { recursive: true, force: true });
  }
}

const fmtK = (n: number) => `${(n / 1000).toFixed(1)}k`;

main().catch((err: unknown) => {
  process.stderr.write(`trigger-callgrind: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
