import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CAPTURE_SETTINGS_SQL, loadSnapshotTable, snapshotSql } from '../../src/source/postgres/snapshot-sql.js';
import type { OutboxEvent } from '../../src/wire/envelope.js';
import { silentLogger } from '../../src/logger.js';
import { createPool } from '../../src/source/postgres/pool.js';
import { CaptureDecoder, DECODE_SESSION_OPTIONS } from '../../src/source/postgres/relay-decode.js';
import { fillPlaceholders, listMigrations, type MigrationFile } from '../../src/sql/files.js';
import { createTestDatabase } from '../helpers/db.js';
import { createMigratedSource } from '../helpers/source.js';

/**
 * Capture v2 without the relay: what the generic trigger writes into the outbox, and what the
 * relay's decoder makes of it (docs/capture.md). The relay and DDL under concurrent writers are in
 * capture-ddl.int.test.ts.
 */
type Ctx = Awaited<ReturnType<typeof createMigratedSource>>;
let ctx: Ctx;
const sql = (text: string, params?: unknown[]) => ctx.db.pool.query(text, params);

beforeAll(async () => {
  ctx = await createMigratedSource();
});
afterAll(async () => ctx?.close());

/** Every outbox row of a table as written (images as json text). */
async function rawText(table: string): Promise<string> {
  const res = await sql(`SELECT coalesce(old_row::text, '') || ' ' || coalesce(new_row::text, '') || ' ' || coalesce(after::text, '') AS t FROM outbox.events WHERE table_name = $1 ORDER BY seq`, [table]);
  return res.rows.map((r) => r.t).join('\n');
}

/** The decoder as the relay runs it, announcing schema changes (against the stored shapes). */
async function decodeWithSchemaChanges(): Promise<OutboxEvent[]> {
  const pool = createPool({ url: ctx.db.url, max: 1, logger: silentLogger, options: DECODE_SESSION_OPTIONS });
  try {
    const decoder = new CaptureDecoder(pool, '"outbox"', silentLogger, true);
    const decoded = await decoder.decode(await ctx.rawEvents());
    return decoded.events;
  } finally {
    await pool.end();
  }
}

/** Applies one migration file as `outbox migrate` would, recording it in the ledger (an install of an earlier version). */
async function applyMigrationFile(pool: pg.Pool, m: MigrationFile): Promise<void> {
  await pool.query(fillPlaceholders(m.text, { schema: '"outbox"' }, 'postgres'));
  await pool.query(`INSERT INTO outbox.schema_migrations (version, name, checksum) VALUES ($1, $2, $3)`, [m.version, m.name, m.checksum]);
}

/** The outbox schema and its ledger, then the given files: the database as an earlier version left it. */
async function installMigrations(pool: pg.Pool, files: readonly MigrationFile[]): Promise<void> {
  await pool.query(`CREATE SCHEMA outbox; CREATE TABLE outbox.schema_migrations (version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
  for (const m of files) await applyMigrationFile(pool, m);
}

/**
 * Tracks a table at an install an earlier version left (track() itself wants every migration):
 * today's trackTable, which writes the columns of tracked_tables up to 000014 (`untracking`, cleared by
 * its upsert). An install from before 000014 is lent that column for the call and has it taken away
 * again, so the install stays as its migrations made it.
 */
async function trackBefore(pool: pg.Pool, spec: Parameters<typeof import('../../src/source/postgres/track.js').trackTable>[2]): Promise<void> {
  const { trackTable } = await import('../../src/source/postgres/track.js');
  const has = await pool.query(`SELECT 1 FROM information_schema.columns WHERE table_schema = 'outbox' AND table_name = 'tracked_tables' AND column_name = 'untracking'`);
  if (has.rowCount === 0) await pool.query(`ALTER TABLE outbox.tracked_tables ADD COLUMN untracking boolean NOT NULL DEFAULT false`);
  try {
    await trackTable(pool, 'outbox', spec);
  } finally {
    if (has.rowCount === 0) await pool.query(`ALTER TABLE outbox.tracked_tables DROP COLUMN untracking`);
  }
}

describe('excluded columns', () => {
  it('never reach the outbox, before or after a rename, nor when a new column takes the old name', async () => {
    await sql(`CREATE TABLE public.people (id int PRIMARY KEY, name text, secret text)`);
    await ctx.source.track({ table: { schema: 'public', table: 'people' }, exclude: ['secret'] });
    await sql(`INSERT INTO people VALUES (1, 'ann', 'SECRET-1')`);
    await sql(`ALTER TABLE people RENAME COLUMN secret TO hidden`);
    await sql(`UPDATE people SET hidden = 'SECRET-2', name = 'anne'`);
    await sql(`ALTER TABLE people ADD COLUMN secret text`); // a new column with the excluded one's old name
    await sql(`INSERT INTO people VALUES (2, 'bob', 'SECRET-3', 'visible')`);
    await sql(`UPDATE people SET hidden = 'SECRET-4' WHERE id = 2`);
    await sql(`DELETE FROM people WHERE id = 1`);
    expect(await rawText('people')).not.toContain('SECRET-');
    const events = (await ctx.events()).filter((e) => e.table_name === 'people');
    expect(events.map((e) => [e.op, e.key, e.after])).toEqual([
      ['insert', { id: 1 }, { id: 1, name: 'ann' }],
      ['update', { id: 1 }, { id: 1, name: 'anne' }],
      ['insert', { id: 2 }, { id: 2, name: 'bob', secret: 'visible' }],
      // the update of the (renamed) excluded column only publishes nothing
      ['delete', { id: 1 }, null],
    ]);
    // a re-track keeps the exclusion by column, under its new name
    const again = await ctx.source.track({ table: { schema: 'public', table: 'people' } });
    expect(again.excludedColumns).toEqual(['hidden']);
    await sql(`UPDATE people SET hidden = 'SECRET-5', name = 'b' WHERE id = 2`);
    expect(await rawText('people')).not.toContain('SECRET-');
  });

  it('stay out of a partitioned table whose partitions number their columns differently', async () => {
    await sql(`
      CREATE TABLE public.logs (id int, region text, dropme int, secret text, msg text, PRIMARY KEY (id, region)) PARTITION BY LIST (region);
      ALTER TABLE public.logs DROP COLUMN dropme;
      CREATE TABLE public.logs_eu PARTITION OF public.logs FOR VALUES IN ('eu');
      CREATE TABLE public.logs_us (msg text, secret text, region text NOT NULL, id int NOT NULL);
      ALTER TABLE public.logs ATTACH PARTITION public.logs_us FOR VALUES IN ('us');`);
    await ctx.source.track({ table: { schema: 'public', table: 'logs' }, exclude: ['secret'] });
    await sql(`INSERT INTO logs (id, region, secret, msg) VALUES (1, 'eu', 'SECRET-eu', 'a'), (2, 'us', 'SECRET-us', 'b')`);
    const raw = await sql(`SELECT new_row::text AS t FROM outbox.events WHERE table_name LIKE 'logs%' ORDER BY seq`);
    expect(raw.rows.map((r) => r.t).join()).not.toContain('SECRET-');
    const events = (await ctx.events()).filter((e) => e.table_name.startsWith('logs'));
    expect(events.map((e) => [e.table_name, e.after])).toEqual([
      ['logs', { id: 1, region: 'eu', msg: 'a' }],
      ['logs', { id: 2, region: 'us', msg: 'b' }],
    ]);
  });
});

describe('hostile column names', () => {
  const NAMES = ['new\nline', "quo'te", 'dq"uote', '-- comment', '*/ end /*', 'ünï©ødé ✓ 漢字', 'a; DROP TABLE public.victim; --', '$1', '{{schema}}'];

  it('are captured, decoded and announced as they are, and execute nothing', async () => {
    const cols = NAMES.map((n, i) => `"${n.replace(/"/g, '""')}" int DEFAULT ${i}`).join(', ');
    await sql(`CREATE TABLE public.victim (x int); CREATE TABLE public.odd_names (id int PRIMARY KEY, ${cols})`);
    await ctx.source.track({ table: { schema: 'public', table: 'odd_names' } });
    await sql(`INSERT INTO odd_names (id) VALUES (1)`);
    await sql(`UPDATE odd_names SET "dq""uote" = 42`);
    const hostile = 'added\n*/ --"\'';
    await sql(`ALTER TABLE odd_names ADD COLUMN "${hostile.replace(/"/g, '""')}" text`);
    await sql(`UPDATE odd_names SET "${hostile.replace(/"/g, '""')}" = 'first' WHERE id = 1`);
    await sql(`ALTER TABLE odd_names RENAME TO "odd ""table""\nname"`);
    await sql(`DELETE FROM "odd ""table""\nname"`);
    expect((await sql(`SELECT to_regclass('public.victim') IS NOT NULL AS ok`)).rows[0].ok).toBe(true);

    const events = (await decodeWithSchemaChanges()).filter((e) => e.tableName.startsWith('odd'));
    expect(events.map((e) => [e.op, e.tableName])).toEqual([
      ['insert', 'odd_names'],
      ['update', 'odd_names'],
      ['schema', 'odd_names'],
      ['update', 'odd_names'],
      ['schema', 'odd "table"\nname'],
      ['delete', 'odd "table"\nname'],
    ]);
    expect(events[0]!.after).toEqual(Object.fromEntries([['id', 1], ...NAMES.map((n, i) => [n, i])]));
    expect(events[1]!.changed).toEqual(['dq"uote']);
    expect(events[2]!.schemaChange!.changes).toEqual([{ kind: 'add_column', column: hostile, type: 'text' }]);
    expect(events[3]).toMatchObject({ changed: [hostile], after: { [hostile]: 'first' } });
    expect(events[4]!.schemaChange!.changes).toEqual([{ kind: 'rename_table', from: 'public.odd_names', to: 'public.odd "table"\nname' }]);
  });
});

describe('statement-level capture (plain tables)', () => {
  it('pairs every old row with its new row in a bulk UPDATE, in the order rows changed, also when the transition tables spill to disk', async () => {
    await sql(`CREATE TABLE public.bulk (id int PRIMARY KEY, v int, secret text)`);
    await ctx.source.track({ table: { schema: 'public', table: 'bulk' }, exclude: ['secret'] });
    await sql(`INSERT INTO bulk SELECT g, g, 'SECRET' FROM generate_series(1, 5000) g`);
    const client = await ctx.db.pool.connect();
    try {
      await client.query(`SET work_mem = '64kB'`); // the transition tables and the pairing spill to disk
      // every other row, with a key change; a sequential scan changes them in key order
      await client.query(`UPDATE bulk SET id = id + 10000, v = -v WHERE id % 2 = 0`);
    } finally {
      client.release();
    }
    const res = await sql(`SELECT seq, (old_row->>'id')::int AS old_id, (new_row->>'id')::int AS new_id, (old_row->>'v')::int AS old_v, (new_row->>'v')::int AS new_v, old_row::text || new_row::text AS t
                             FROM outbox.events WHERE table_name = 'bulk' AND op = 'update' ORDER BY seq`);
    expect(res.rows).toHaveLength(2500);
    expect(res.rows.filter((r) => r.new_id !== r.old_id + 10000 || r.new_v !== -r.old_v)).toEqual([]);
    expect(res.rows.map((r) => r.old_id)).toEqual(Array.from({ length: 2500 }, (_, k) => 2 * (k + 1))); // seq follows the change order
    expect(res.rows.some((r) => r.t.includes('SECRET'))).toBe(false);
    const physical = await sql(`SELECT count(*)::int AS n FROM outbox.events WHERE table_name = 'bulk' AND op = 'insert'`);
    expect(physical.rows[0].n).toBe(5000); // one row per inserted row, from one statement
  });

  it('writes single-row, empty and multi-row UPDATEs alike, whichever comes first in a session (sql/postgres/000007_capture_single_row.sql)', async () => {
    await sql(`CREATE TABLE public.mixed (id int PRIMARY KEY, v int, secret text)`);
    await ctx.source.track({ table: { schema: 'public', table: 'mixed' }, exclude: ['secret'] });
    await sql(`INSERT INTO mixed SELECT g, g, 'SECRET' FROM generate_series(1, 4) g`);
    const client = await ctx.db.pool.connect();
    try {
      // one session: the function's cached plans of both UPDATE paths are used in turn
      await client.query(`UPDATE mixed SET v = 10, secret = 'SECRET-A' WHERE id = 1`); // one row
      await client.query(`UPDATE mixed SET v = 0 WHERE id > 100`); // no row
      await client.query(`UPDATE mixed SET v = v + 100 WHERE id IN (2, 3)`); // two rows
      await client.query(`UPDATE mixed SET id = 40 WHERE id = 4`); // one row, key change
      await client.query(`INSERT INTO mixed VALUES (1, 0, 'SECRET-B') ON CONFLICT (id) DO UPDATE SET v = 11`); // one row via ON CONFLICT
      await client.query(`UPDATE mixed SET v = -v`); // every row
    } finally {
      client.release();
    }
    const res = await sql(`SELECT (old_row->>'id')::int AS oi, (old_row->>'v')::int AS ov, (new_row->>'id')::int AS ni, (new_row->>'v')::int AS nv
                             FROM outbox.events WHERE table_name = 'mixed' AND op = 'update' ORDER BY seq`);
    const rest = res.rows.slice(5).sort((a, b) => a.oi - b.oi);
    expect([...res.rows.slice(0, 5), ...rest].map((r) => [r.oi, r.ov, r.ni, r.nv])).toEqual([
      [1, 1, 1, 10],
      [2, 2, 2, 102],
      [3, 3, 3, 103],
      [4, 4, 40, 4],
      [1, 10, 1, 11],
      [1, 11, 1, -11],
      [2, 102, 2, -102],
      [3, 103, 3, -103],
      [40, 4, 40, -4],
    ]);
    expect(await rawText('mixed')).not.toContain('SECRET');
  });

  it('captures tables whose columns share a name with the function\'s variables or aliases', async () => {
    const names = ['o', 'n', 'a', 'b', 'p', 'i', 'img', 'v_part', 'v_excl', 'v_now', 'tg_relid', 'tg_op', 'tg_table_name'];
    await sql(`CREATE TABLE public.clash (id int PRIMARY KEY, ${names.map((c) => `${c} int`).join(', ')}, hidden text)`);
    await ctx.source.track({ table: { schema: 'public', table: 'clash' }, exclude: ['hidden'] });
    await sql(`INSERT INTO clash VALUES (1, ${names.map((_, i) => i).join(', ')}, 'SECRET')`);
    await sql(`UPDATE clash SET o = 100, tg_relid = 7`);
    await sql(`DELETE FROM clash`);
    const events = (await ctx.events()).filter((e) => e.table_name === 'clash');
    expect(events.map((e) => e.op)).toEqual(['insert', 'update', 'delete']);
    expect(events[0]!.after).toEqual(Object.fromEntries([['id', 1], ...names.map((c, i) => [c, i])]));
    expect(events[1]!.changed).toEqual(['o', 'tg_relid']);
    expect(await rawText('clash')).not.toContain('SECRET');
  });

  it('keeps the row trigger on a partitioned table, so a statement naming a partition is captured', async () => {
    await sql(`CREATE TABLE public.parted (id int, region text, v int, PRIMARY KEY (id, region)) PARTITION BY LIST (region);
               CREATE TABLE public.parted_eu PARTITION OF public.parted FOR VALUES IN ('eu')`);
    await ctx.source.track({ table: { schema: 'public', table: 'parted' } });
    await sql(`CREATE TABLE public.parted_us PARTITION OF public.parted FOR VALUES IN ('us')`); // after track
    await sql(`INSERT INTO parted_eu VALUES (1, 'eu', 1)`);
    await sql(`INSERT INTO parted_us VALUES (2, 'us', 2)`);
    await sql(`UPDATE parted SET v = v + 10`);
    const events = (await ctx.events()).filter((e) => e.table_name === 'parted');
    expect(events.map((e) => [e.op, e.key])).toEqual([
      ['insert', { id: 1, region: 'eu' }],
      ['insert', { id: 2, region: 'us' }],
      ['update', { id: 1, region: 'eu' }],
      ['update', { id: 2, region: 'us' }],
    ]);
  });
});

describe('decoding equals the SQL encoding', () => {
  it('is byte-identical to a backfill snapshot of the same row, whatever the writer session set', async () => {
    await sql(`
      CREATE TYPE public.mood2 AS ENUM ('sad', 'happy');
      CREATE TYPE public.pair AS (at timestamptz, n numeric, b bigint);
      CREATE DOMAIN public.posint AS int CHECK (VALUE > 0);
      CREATE TABLE public.enc (
        id int PRIMARY KEY, i2 smallint, i8 bigint, num numeric, num2 numeric(12,2), f4 real, f8 double precision,
        flag boolean, t text, vc varchar(10), ch char(4), bin bytea, u uuid, d date, ts timestamp, tstz timestamptz,
        tm time, tmz timetz, iv interval, j json, jb jsonb, ints int[], nums numeric[], bigs bigint[], tstzs timestamptz[],
        m public.mood2, p point, ip inet, r int4range, bits bit(3), x xml, c public.pair, dom public.posint, mny money)`);
    await ctx.source.track({ table: { schema: 'public', table: 'enc' } });
    const sessions = [
      [],
      [`SET TimeZone = 'Asia/Kathmandu'`, `SET DateStyle = 'SQL, DMY'`, `SET IntervalStyle = 'sql_standard'`, `SET bytea_output = 'escape'`, `SET extra_float_digits = 0`],
      [`SET TimeZone = 'America/St_Johns'`, `SET DateStyle = 'German'`, `SET IntervalStyle = 'postgres_verbose'`, `SET extra_float_digits = -15`],
      [`SET TimeZone = '-13:30'`, `SET IntervalStyle = 'postgres'`, `SET extra_float_digits = 3`],
    ];
    const values = `$1, -32768, 9007199254740993, '123456789012345678901234567890.123456789012345678901', 1.50, 0.1, 1e-300, true,
      E'tab\\tnl\\n"q" \\u00e9', 'short', 'ab', '\\x00ff10'::bytea, 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11', '0044-03-15 BC',
      '2024-03-10 01:30:00.123456', '2024-03-10 01:30:00.5-05', '13:14:15.5', '13:14:15+02', '-1 year -2 mons +3 days -04:05:06.5',
      '{"b": 1, "a": [1.0, 1e2, 12345678901234567890], "a": 2}', '{"z": 1, "y": 1.50}', '{1,NULL,-3}', '{1.50,NaN}',
      '{9007199254740993}', '{"2024-01-01 00:00:00+05"}', 'happy', '(1.5,2)', '10.0.0.1/8', '[1,5)', B'101', '<a>1</a>',
      ROW('2024-06-01 12:00:00+02', 1.50, 9007199254740993)::public.pair, 7, 12.34`;
    for (const [k, settings] of sessions.entries()) {
      const client = await ctx.db.pool.connect();
      try {
        for (const s of settings) await client.query(s);
        await client.query(`INSERT INTO enc VALUES (${values})`, [k + 1]);
        await client.query(`UPDATE enc SET f8 = 'Infinity', f4 = 'NaN', iv = '1 day 02:03:04.5', tstz = 'infinity' WHERE id = $1`, [k + 1]);
      } finally {
        await client.query('RESET ALL');
        client.release();
      }
    }
    // Snapshot the same rows the way backfill does, with the capture settings.
    const client = await ctx.db.pool.connect();
    try {
      await client.query('BEGIN');
      await client.query(CAPTURE_SETTINGS_SQL);
      const t = await loadSnapshotTable(client, 'outbox', { schema: 'public', table: 'enc' });
      await client.query(snapshotSql('outbox', t, 'true'));
      await client.query('COMMIT');
    } finally {
      client.release();
    }
    const events = (await ctx.events()).filter((e) => e.table_name === 'enc');
    const snapshots = (await sql(`SELECT key, after FROM outbox.events WHERE table_name = 'enc' AND op = 'snapshot' ORDER BY seq`)).rows;
    expect(snapshots).toHaveLength(sessions.length);
    for (const snap of snapshots) {
      const live = events.filter((e) => e.op === 'update' && JSON.stringify(e.key) === JSON.stringify(snap.key));
      expect(live).toHaveLength(1);
      expect(JSON.stringify(live[0]!.after)).toBe(JSON.stringify(snap.after));
    }
    // and the inserts, from four different sessions, decode to one and the same image
    const inserts = events.filter((e) => e.op === 'insert').map((e) => JSON.stringify({ ...e.after, id: 0 }));
    expect(new Set(inserts).size).toBe(1);
    const first = events.find((e) => e.op === 'insert')!.after!;
    expect(first).toMatchObject({ i8: '9007199254740993', f8: 1e-300, tstz: '2024-03-10T06:30:00.5+00:00', bin: '\\x00ff10', iv: 'P-1Y-2M3DT-4H-5M-6.5S', mny: '12.34' });
  });
});

describe('outbox migrate upgrades an existing install', () => {
  it('moves plain tables tracked by capture v2 (row trigger) to the statement triggers; partitioned tables keep the row trigger', async () => {
    const db = await createTestDatabase();
    const writer = new pg.Client({ connectionString: db.url });
    try {
      // An install at migration 4: tables recorded at migration 3, given capture_row by 000004's upgrade.
      await installMigrations(db.pool, []);
      const apply = (m: MigrationFile) => applyMigrationFile(db.pool, m);
      const files = listMigrations('postgres');
      for (const m of files.filter((f) => f.version <= 3)) await apply(m);
      await db.pool.query(`
        CREATE TABLE public.flat (id int PRIMARY KEY, v text, secret text);
        CREATE TABLE public.split (id int, region text, v text, PRIMARY KEY (id, region)) PARTITION BY LIST (region);
        CREATE TABLE public.split_eu PARTITION OF public.split FOR VALUES IN ('eu');
        INSERT INTO outbox.tracked_tables (table_schema, table_name, key_columns, excluded_columns, attribute_columns, captured_columns, function_name)
             VALUES ('public', 'flat', '{id}', '{secret}', '{}', '{id,v}', 'capture_0000_flat'),
                    ('public', 'split', '{id,region}', '{}', '{}', '{id,region,v}', 'capture_0000_split');`);
      await apply(files.find((f) => f.version === 4)!);
      await writer.connect();
      await writer.query(`INSERT INTO public.flat VALUES (1, 'at 4', 'SECRET-1'); INSERT INTO public.split VALUES (1, 'eu', 'at 4')`); // its wake state in 000004's format

      const { PostgresSource } = await import('../../src/source/postgres/adapter.js');
      const source = new PostgresSource({ url: db.url, schema: 'outbox', logger: silentLogger });
      try {
        expect((await source.migrate()).applied.map((m) => m.version)).toContain(5);
        const triggers = async (t: string) =>
          (await db.pool.query(`SELECT tgname FROM pg_trigger WHERE tgrelid = $1::regclass AND NOT tgisinternal AND tgparentid = 0 ORDER BY 1`, [t])).rows.map((r) => r.tgname);
        expect(await triggers('public.flat')).toEqual(['outbox_capture_delete', 'outbox_capture_insert', 'outbox_capture_truncate', 'outbox_capture_update']);
        expect(await triggers('public.split')).toEqual(['outbox_capture_row', 'outbox_capture_truncate']);
        const names = await db.pool.query(`SELECT table_name, function_name FROM outbox.tracked_tables ORDER BY 1`);
        expect(names.rows.map((r) => [r.table_name, r.function_name])).toEqual([['flat', 'capture_statement'], ['split', 'capture_row']]);
        // the same session writes on: a wake state in the old format is refreshed, not an error
        await writer.query(`UPDATE public.flat SET v = 'at 5', secret = 'SECRET-2'; UPDATE public.split SET v = 'at 5'`);
        await writer.query(`DELETE FROM public.flat`);
        const raw = await db.pool.query(`SELECT coalesce(old_row::text, '') || coalesce(new_row::text, '') AS t FROM outbox.events ORDER BY seq`);
        expect(raw.rows.map((r) => r.t).join()).not.toContain('SECRET-');
        expect(await source.doctor()).toEqual([]);
        const { readDecodedOutbox } = await import('../helpers/source.js');
        const events = await readDecodedOutbox(db.pool, 'outbox');
        expect(events.map((e) => [e.tableName, e.op, e.after])).toEqual([
          ['flat', 'insert', { id: 1, v: 'at 4' }],
          ['split', 'insert', { id: 1, region: 'eu', v: 'at 4' }],
          ['flat', 'update', { id: 1, v: 'at 5' }],
          ['split', 'update', { id: 1, region: 'eu', v: 'at 5' }],
          ['flat', 'delete', null],
        ]);
        expect((await source.migrate()).applied).toEqual([]); // twice is harmless
      } finally {
        await source.close();
      }
    } finally {
      await writer.end();
      await db.drop();
    }
  });

  it('gives tables tracked at migration 5 the single-row UPDATE path; a session that wrote before goes on writing', async () => {
    const db = await createTestDatabase();
    const writer = new pg.Client({ connectionString: db.url });
    const { PostgresSource } = await import('../../src/source/postgres/adapter.js');
    const source = new PostgresSource({ url: db.url, schema: 'outbox', logger: silentLogger });
    try {
      await installMigrations(db.pool, listMigrations('postgres').filter((f) => f.version <= 5));
      await db.pool.query(`CREATE TABLE public.acct (id int PRIMARY KEY, v int, secret text); INSERT INTO public.acct VALUES (1, 1, 'SECRET'), (2, 2, 'SECRET')`);
      // Tracked as `outbox track` did at migration 5 (today's track writes columns of later migrations).
      const { captureTriggerArgs } = await import('../../src/source/postgres/track.js');
      const { runtimeSql } = await import('../../src/sql/files.js');
      await db.pool.query(runtimeSql('postgres', 'capture_triggers', { table: '"public"."acct"', schema: '"outbox"', args: captureTriggerArgs('outbox', [3]) }));
      await db.pool.query(`INSERT INTO outbox.tracked_tables (table_schema, table_name, key_columns, excluded_columns, attribute_columns, captured_columns, function_name, relid, excluded_attnums)
                           VALUES ('public', 'acct', '{id}', '{secret}', '{}', '{id,v}', 'capture_statement', 'public.acct'::regclass, '{3}')`);
      await writer.connect();
      await writer.query(`UPDATE public.acct SET v = 10 WHERE id = 1`); // the session compiles 000005's function
      const body = async () => (await db.pool.query(`SELECT pg_get_functiondef('outbox.capture_statement()'::regprocedure) AS d`)).rows[0].d as string;
      expect(await body()).not.toContain('OFFSET 1');

      expect((await source.migrate()).applied.map((m) => m.version)).toContain(7);
      expect(await body()).toContain('FROM old_rows o, new_rows n'); // the single-row path, for every tracked plain table
      const triggers = await db.pool.query(`SELECT tgname, tgfoid::regproc::text AS fn FROM pg_trigger WHERE tgrelid = 'public.acct'::regclass AND NOT tgisinternal ORDER BY 1`);
      expect(triggers.rows.map((r) => [r.tgname, r.fn])).toEqual([
        ['outbox_capture_delete', 'outbox.capture_statement'],
        ['outbox_capture_insert', 'outbox.capture_statement'],
        ['outbox_capture_truncate', 'outbox.capture_truncate'],
        ['outbox_capture_update', 'outbox.capture_statement'],
      ]);
      await writer.query(`UPDATE public.acct SET v = 11, secret = 'SECRET-2' WHERE id = 1`);
      await writer.query(`UPDATE public.acct SET v = v + 100`);
      const res = await db.pool.query(`SELECT (old_row->>'v')::int AS ov, (new_row->>'v')::int AS nv, old_row::text || new_row::text AS t FROM outbox.events WHERE op = 'update' ORDER BY seq`);
      expect(res.rows.map((r) => [r.ov, r.nv]).slice(0, 2)).toEqual([[1, 10], [10, 11]]);
      expect(res.rows.slice(2).map((r) => [r.ov, r.nv]).sort((a, b) => a[0] - b[0])).toEqual([[2, 102], [11, 111]]);
      expect(res.rows.some((r) => r.t.includes('SECRET'))).toBe(false);
      expect(await source.doctor()).toEqual([]);
    } finally {
      await writer.end();
      await source.close();
      await db.drop();
    }
  });

  it('gives tables tracked before migration 9 the one-IF common case (000009); a session that wrote before goes on writing, and the relay reads every event in order', async () => {
    const db = await createTestDatabase();
    const writer = new pg.Client({ connectionString: db.url });
    const { PostgresSource } = await import('../../src/source/postgres/adapter.js');
    const source = new PostgresSource({ url: db.url, schema: 'outbox', logger: silentLogger });
    try {
      // up to 8, the last before 9: 8 changes no capture function (they are 000007's), and today's track writes 8's columns
      await installMigrations(db.pool, listMigrations('postgres').filter((f) => f.version <= 8));
      const done = (await db.pool.query(`SELECT done_snapshot::text AS s FROM outbox.relay_state`)).rows[0].s as string;
      await db.pool.query(`
        CREATE TABLE public.acct (id int PRIMARY KEY, v float8, d interval, secret text);
        CREATE TABLE public.plain (id int PRIMARY KEY, v float8);
        CREATE TABLE public.split (id int, region text, v float8, PRIMARY KEY (id, region)) PARTITION BY LIST (region);
        CREATE TABLE public.split_eu PARTITION OF public.split FOR VALUES IN ('eu');`);
      await trackBefore(db.pool, { table: { schema: 'public', table: 'acct' }, exclude: ['secret'] });
      await trackBefore(db.pool, { table: { schema: 'public', table: 'plain' } });
      await trackBefore(db.pool, { table: { schema: 'public', table: 'split' } });
      await writer.connect();
      // Before the migration: the session compiles 000007's functions and keeps a wake state.
      await writer.query(`INSERT INTO public.acct VALUES (1, 0.1, '1 day', 'SECRET'); INSERT INTO public.plain VALUES (1, 0.1); INSERT INTO public.split VALUES (1, 'eu', 0.1)`);
      await writer.query(`UPDATE public.plain SET v = 0.2`);
      const body = async (fn: string) => (await db.pool.query(`SELECT pg_get_functiondef($1::regprocedure) AS d`, [`outbox.${fn}()`])).rows[0].d as string;
      expect(await body('capture_statement')).not.toContain('pg_catalog.right(');

      expect((await source.migrate()).applied.map((m) => m.version)).toContain(9);
      for (const fn of ['capture_statement', 'capture_row']) expect(await body(fn)).toContain('pg_catalog.right(pg_catalog.current_setting(TG_ARGV[1]), 1)::smallint');
      // After it, the same session: the common case (plain, split), an excluded column (acct), and
      // settings that lose information, which take the full path and are overridden for the call only.
      await writer.query(`UPDATE public.plain SET v = 0.3; UPDATE public.split SET v = 0.3; UPDATE public.acct SET v = 0.3, secret = 'SECRET-2'`);
      await writer.query(`SET extra_float_digits = -3; SET IntervalStyle = sql_standard`);
      await writer.query(`UPDATE public.plain SET v = 1.0000000000000002; UPDATE public.split SET v = 1.0000000000000002; UPDATE public.acct SET v = 1.0000000000000002, d = '-1 day -02:00:00'`);
      expect((await writer.query(`SHOW extra_float_digits`)).rows[0].extra_float_digits).toBe('-3');
      expect((await writer.query(`SHOW IntervalStyle`)).rows[0].IntervalStyle).toBe('sql_standard');
      await writer.query(`RESET extra_float_digits; RESET IntervalStyle`);
      await writer.query(`INSERT INTO public.plain SELECT g, g FROM generate_series(2, 4) g; UPDATE public.plain SET v = -v WHERE id >= 2; DELETE FROM public.plain WHERE id = 3; DELETE FROM public.split`);

      const raw = await db.pool.query(`SELECT coalesce(old_row::text, '') || coalesce(new_row::text, '') AS t FROM outbox.events ORDER BY seq`);
      expect(raw.rows.map((r) => r.t).join()).not.toContain('SECRET');
      const { readDecodedOutbox } = await import('../helpers/source.js');
      const events = await readDecodedOutbox(db.pool, 'outbox');
      const multi = (e: OutboxEvent) => e.tableName === 'plain' && e.op === 'update' && (e.after as { id: number }).id >= 2;
      const first = events.findIndex(multi);
      const sorted = [...events.slice(0, first), ...events.slice(first, first + 3).sort((a, b) => (a.after as { id: number }).id - (b.after as { id: number }).id), ...events.slice(first + 3)];
      expect(sorted.map((e) => [e.tableName, e.op, e.after ?? e.before])).toEqual([
        ['acct', 'insert', { id: 1, v: 0.1, d: 'P1D' }],
        ['plain', 'insert', { id: 1, v: 0.1 }],
        ['split', 'insert', { id: 1, region: 'eu', v: 0.1 }],
        ['plain', 'update', { id: 1, v: 0.2 }],
        ['plain', 'update', { id: 1, v: 0.3 }],
        ['split', 'update', { id: 1, region: 'eu', v: 0.3 }],
        ['acct', 'update', { id: 1, v: 0.3, d: 'P1D' }],
        ['plain', 'update', { id: 1, v: 1.0000000000000002 }],
        ['split', 'update', { id: 1, region: 'eu', v: 1.0000000000000002 }],
        ['acct', 'update', { id: 1, v: 1.0000000000000002, d: 'P-1DT-2H' }],
        ['plain', 'insert', { id: 2, v: 2 }],
        ['plain', 'insert', { id: 3, v: 3 }],
        ['plain', 'insert', { id: 4, v: 4 }],
        ['plain', 'update', { id: 2, v: -2 }],
        ['plain', 'update', { id: 3, v: -3 }],
        ['plain', 'update', { id: 4, v: -4 }],
        ['plain', 'delete', { id: 3, v: -3 }],
        ['split', 'delete', { id: 1, region: 'eu', v: 1.0000000000000002 }],
      ]);
      // The relay's read of one snapshot window from before the migration to now: every event, in seq order.
      const { runtimeSql } = await import('../../src/sql/files.js');
      const now = (await db.pool.query(`SELECT pg_current_snapshot()::text AS s`)).rows[0].s as string;
      const window = await db.pool.query(runtimeSql('postgres', 'relay_read_window', { schema: '"outbox"' }), [done, now, -1, 1000, 4 * 1024 * 1024]);
      const all = await db.pool.query(`SELECT e.seq::text AS s FROM outbox.events e ORDER BY e.seq`);
      expect(window.rows.map((r) => String(r.seq))).toEqual(all.rows.map((r) => r.s));
      expect(all.rows.length).toBeGreaterThanOrEqual(18);
      expect(await source.doctor()).toEqual([]);
    } finally {
      await writer.end();
      await source.close();
      await db.drop();
    }
  });

  it('names excluded columns without a catalog query (000011): a session that wrote before goes on writing; renamed, re-added and partition-numbered excluded columns stay out', async () => {
    const db = await createTestDatabase();
    const writer = new pg.Client({ connectionString: db.url });
    const { PostgresSource } = await import('../../src/source/postgres/adapter.js');
    const source = new PostgresSource({ url: db.url, schema: 'outbox', logger: silentLogger });
    try {
      await installMigrations(db.pool, listMigrations('postgres').filter((f) => f.version < 11));
      await db.pool.query(`
        CREATE TABLE public.acct (id int PRIMARY KEY, secret text, v int, pin text);
        CREATE TABLE public.logs (id int, region text, dropme int, secret text, msg text, PRIMARY KEY (id, region)) PARTITION BY LIST (region);
        ALTER TABLE public.logs DROP COLUMN dropme;
        CREATE TABLE public.logs_eu PARTITION OF public.logs FOR VALUES IN ('eu');
        CREATE TABLE public.logs_us (msg text, secret text, region text NOT NULL, id int NOT NULL);
        ALTER TABLE public.logs ATTACH PARTITION public.logs_us FOR VALUES IN ('us');`);
      await trackBefore(db.pool, { table: { schema: 'public', table: 'acct' }, exclude: ['secret', 'pin'] });
      await trackBefore(db.pool, { table: { schema: 'public', table: 'logs' }, exclude: ['secret'] });
      await writer.connect();
      await writer.query(`INSERT INTO public.acct VALUES (1, 'SECRET-1', 1, 'SECRET-PIN'); INSERT INTO public.logs (id, region, secret, msg) VALUES (1, 'eu', 'SECRET-eu', 'a')`);
      const body = async (fn: string) => (await db.pool.query(`SELECT pg_get_functiondef($1::regprocedure) AS d`, [`outbox.${fn}()`])).rows[0].d as string;
      expect(await body('capture_statement')).toContain('pg_catalog.pg_attribute');

      expect((await source.migrate()).applied.map((m) => m.version)).toContain(11);
      for (const fn of ['capture_statement', 'capture_row']) {
        expect(await body(fn)).toContain('pg_catalog.pg_identify_object_as_address');
        expect(await body(fn)).not.toContain('pg_catalog.pg_attribute');
      }
      // The same session after the migration: both tables, the common case and lossy settings.
      await writer.query(`UPDATE public.acct SET v = 2, secret = 'SECRET-2'; INSERT INTO public.logs (id, region, secret, msg) VALUES (2, 'us', 'SECRET-us', 'b')`);
      await writer.query(`SET extra_float_digits = -3; UPDATE public.acct SET v = 3, pin = 'SECRET-PIN-2'; UPDATE public.logs SET msg = 'c', secret = 'SECRET-3' WHERE id = 1; UPDATE public.logs SET msg = 'c' WHERE id = 2; RESET extra_float_digits`);
      // The excluded column renamed, and a new column under its old name: by attribute number, the
      // renamed one stays out and the new one is captured — in the DDL's own transaction too.
      await writer.query(`BEGIN; ALTER TABLE public.acct RENAME COLUMN secret TO hidden; UPDATE public.acct SET v = 4, hidden = 'SECRET-4'; COMMIT`);
      await writer.query(`ALTER TABLE public.acct ADD COLUMN secret text; INSERT INTO public.acct VALUES (2, 'SECRET-5', 5, 'SECRET-PIN-3', 'visible')`);
      await writer.query(`DELETE FROM public.acct WHERE id = 1; DELETE FROM public.logs WHERE id = 1`);

      const raw = await db.pool.query(`SELECT coalesce(old_row::text, '') || coalesce(new_row::text, '') AS t FROM outbox.events ORDER BY seq`);
      expect(raw.rows.map((r) => r.t).join()).not.toContain('SECRET');
      const rows = await db.pool.query(`SELECT table_name, op, coalesce(new_row, old_row)::jsonb AS img FROM outbox.events WHERE relid IS NOT NULL AND op <> 'schema' ORDER BY seq`);
      // (rows of a partition carry its own name; the relay publishes them under the tracked table's)
      expect(rows.rows.map((r) => [r.table_name, r.op, r.img])).toEqual([
        ['acct', 'insert', { id: 1, v: 1 }],
        ['logs_eu', 'insert', { id: 1, region: 'eu', msg: 'a' }],
        ['acct', 'update', { id: 1, v: 2 }],
        ['logs_us', 'insert', { id: 2, region: 'us', msg: 'b' }],
        ['acct', 'update', { id: 1, v: 3 }],
        ['logs_eu', 'update', { id: 1, region: 'eu', msg: 'c' }],
        ['logs_us', 'update', { id: 2, region: 'us', msg: 'c' }],
        ['acct', 'update', { id: 1, v: 4 }],
        ['acct', 'insert', { id: 2, v: 5, secret: 'visible' }],
        ['acct', 'delete', { id: 1, v: 4, secret: null }],
        ['logs_eu', 'delete', { id: 1, region: 'eu', msg: 'c' }],
      ]);
    } finally {
      await writer.end();
      await source.close();
      await db.drop();
    }
  });
  it('remembers the partitions of tables tracked before migration 12 (000012), and gives an older ddl_command_end trigger CREATE TABLE, disabled as it was; rows of a partition detached or dropped after the upgrade publish under the tracked table', async () => {
    const db = await createTestDatabase();
    const { PostgresSource } = await import('../../src/source/postgres/adapter.js');
    const { eventTriggerNames } = await import('../../src/source/postgres/event-triggers.js');
    const source = new PostgresSource({ url: db.url, schema: 'outbox', logger: silentLogger });
    try {
      await installMigrations(db.pool, listMigrations('postgres').filter((f) => f.version < 12));
      // The event triggers as an install before 12 created them, the ddl_command_end one disabled.
      const names = eventTriggerNames('outbox');
      await db.pool.query(`
        CREATE EVENT TRIGGER "${names.end}" ON ddl_command_end WHEN TAG IN ('ALTER TABLE') EXECUTE FUNCTION outbox.ddl_command_end();
        CREATE EVENT TRIGGER "${names.drop}" ON sql_drop EXECUTE FUNCTION outbox.ddl_sql_drop();
        ALTER EVENT TRIGGER "${names.end}" DISABLE;
        CREATE TABLE public.arch (id int NOT NULL, at date NOT NULL, v text, PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
        CREATE TABLE public.arch_1 PARTITION OF public.arch FOR VALUES FROM ('2025-01-01') TO ('2025-02-01');
        CREATE TABLE public.arch_2 PARTITION OF public.arch FOR VALUES FROM ('2025-02-01') TO ('2025-03-01');`);
      await trackBefore(db.pool, { table: { schema: 'public', table: 'arch' } });
      await db.pool.query(`INSERT INTO public.arch VALUES (1, '2025-01-10', 'a'), (2, '2025-02-10', 'b')`);

      const result = await source.migrate();
      expect(result.applied.map((m) => m.version)).toEqual(listMigrations('postgres').filter((f) => f.version >= 12).map((f) => f.version));
      expect(result.eventTriggers).toBe('installed');
      const end = await db.pool.query(`SELECT evtname, evtenabled, evttags FROM pg_event_trigger WHERE evtevent = 'ddl_command_end'`);
      expect(end.rows).toEqual([{ evtname: names.end, evtenabled: 'D', evttags: ['ALTER TABLE', 'CREATE TABLE'] }]);
      const remembered = await db.pool.query(`SELECT table_name, root_relid::regclass::text AS root FROM outbox.tracked_partitions ORDER BY table_name`);
      expect(remembered.rows).toEqual([
        { table_name: 'arch_1', root: 'arch' },
        { table_name: 'arch_2', root: 'arch' },
      ]);

      await db.pool.query(`UPDATE public.arch SET v = 'c' WHERE id = 1`);
      await db.pool.query('ALTER TABLE public.arch DETACH PARTITION public.arch_1');
      await db.pool.query('DROP TABLE public.arch_2');
      const { readDecodedOutbox } = await import('../helpers/source.js');
      const events = await readDecodedOutbox(db.pool, 'outbox');
      expect(events.map((e) => [e.op, e.tableName, e.after])).toEqual([
        ['insert', 'arch', { id: 1, at: '2025-01-10', v: 'a' }],
        ['insert', 'arch', { id: 2, at: '2025-02-10', v: 'b' }],
        ['update', 'arch', { id: 1, at: '2025-01-10', v: 'c' }],
      ]);
      expect(await source.migrate()).toMatchObject({ applied: [], eventTriggers: 'present' });
    } finally {
      await source.close();
      await db.drop();
    }
  });

  it('notes at the upgrade to migration 13 (000013) the partitions dropped or detached before it, and forgets them once their rows are published and reclaimed; attached ones are kept', async () => {
    const db = await createTestDatabase();
    const { PostgresSource } = await import('../../src/source/postgres/adapter.js');
    const { PostgresOutboxStore } = await import('../../src/source/postgres/relay-store.js');
    const { drainSession } = await import('../helpers/source.js');
    const source = new PostgresSource({ url: db.url, schema: 'outbox', logger: silentLogger });
    let store: Awaited<ReturnType<typeof PostgresOutboxStore.open>> | undefined;
    try {
      await installMigrations(db.pool, listMigrations('postgres').filter((f) => f.version < 13));
      await db.pool.query(`
        CREATE TABLE public.daily (id int NOT NULL, at date NOT NULL, v text, PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
        CREATE TABLE public.daily_1 PARTITION OF public.daily FOR VALUES FROM ('2025-01-01') TO ('2025-01-02');
        CREATE TABLE public.daily_2 PARTITION OF public.daily FOR VALUES FROM ('2025-01-02') TO ('2025-01-03');
        CREATE TABLE public.daily_3 PARTITION OF public.daily FOR VALUES FROM ('2025-01-03') TO ('2025-01-04');`);
      await trackBefore(db.pool, { table: { schema: 'public', table: 'daily' } });
      await db.pool.query(`INSERT INTO public.daily VALUES (1, '2025-01-01', 'a'), (2, '2025-01-02', 'b'), (3, '2025-01-03', 'c')`);
      await db.pool.query('DROP TABLE public.daily_1');
      await db.pool.query('ALTER TABLE public.daily DETACH PARTITION public.daily_2');

      expect((await source.migrate()).applied.map((m) => m.version)).toEqual(listMigrations('postgres').filter((f) => f.version >= 13).map((f) => f.version));
      const remembered = async () => (await db.pool.query(`SELECT table_name AS t, gone_seq IS NOT NULL AS gone FROM outbox.tracked_partitions ORDER BY 1`)).rows;
      expect(await remembered()).toEqual([
        { t: 'daily_1', gone: true },
        { t: 'daily_2', gone: true },
        { t: 'daily_3', gone: false },
      ]);

      store = await PostgresOutboxStore.open({ url: db.url, schema: 'outbox', logger: silentLogger });
      const session = await store.claimLeadership('upgrade-13');
      expect((await drainSession(session)).map((e) => [e.op, e.tableName, e.after])).toEqual([
        ['insert', 'daily', { id: 1, at: '2025-01-01', v: 'a' }],
        ['insert', 'daily', { id: 2, at: '2025-01-02', v: 'b' }],
        ['insert', 'daily', { id: 3, at: '2025-01-03', v: 'c' }],
      ]);
      // Every partition of the outbox rotated once (no retention): the rows are reclaimed.
      for (let done = 0, tries = 0; done < 3 && tries < 10; tries++) {
        const result = await session.reclaim(0);
        if (result.done) done += 1;
        else expect(result.reason).toBe('busy');
      }
      expect(await remembered()).toEqual([{ t: 'daily_3', gone: false }]);
    } finally {
      await store?.close();
      await source.close();
      await db.drop();
    }
  });

  it('moves a table tracked by capture v1 to the generic triggers and keeps its exclusions; v1 rows still publish', async () => {
    const db = await createTestDatabase();
    try {
      // An install at migration 3, with a table tracked the v1 way: a generated function and four statement triggers.
      const v1 = listMigrations('postgres').filter((m) => m.version <= 3);
      await installMigrations(db.pool, v1);
      await db.pool.query(`
        CREATE TABLE public.old (id int PRIMARY KEY, v text, secret text);
        INSERT INTO outbox.tracked_tables (table_schema, table_name, key_columns, excluded_columns, attribute_columns, captured_columns, function_name)
             VALUES ('public', 'old', '{id}', '{secret}', '{}', '{id,v}', 'capture_0000_old');
        CREATE FUNCTION outbox.capture_0000_old() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
          INSERT INTO outbox.events (part, seq, table_schema, table_name, op, key, after, changed, changed_at)
          SELECT 0, nextval('outbox.event_seq'), 'public', 'old', 'insert', jsonb_build_object('id', n.id), jsonb_build_object('id', n.id, 'v', n.v), '{id,v}', now() FROM new_rows n;
          RETURN NULL; END $$;
        CREATE TRIGGER outbox_capture_insert AFTER INSERT ON public.old REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION outbox.capture_0000_old();
        INSERT INTO public.old VALUES (1, 'before the upgrade', 'SECRET-1');`);
      const { PostgresSource } = await import('../../src/source/postgres/adapter.js');
      const source = new PostgresSource({ url: db.url, schema: 'outbox', logger: silentLogger });
      try {
        const result = await source.migrate();
        expect(result.applied.map((m) => m.version)).toContain(4);
        const triggers = await db.pool.query(`SELECT tgname FROM pg_trigger WHERE tgrelid = 'public.old'::regclass AND NOT tgisinternal ORDER BY 1`);
        expect(triggers.rows.map((r) => r.tgname)).toEqual(['outbox_capture_delete', 'outbox_capture_insert', 'outbox_capture_truncate', 'outbox_capture_update']);
        expect((await db.pool.query(`SELECT to_regprocedure('outbox.capture_0000_old()') AS f`)).rows[0].f).toBeNull();
        await db.pool.query(`UPDATE public.old SET v = 'after the upgrade', secret = 'SECRET-2'`);
        await db.pool.query(`ALTER TABLE public.old ADD COLUMN w int`);
        await db.pool.query(`INSERT INTO public.old VALUES (2, 'new', 'SECRET-3', 5)`);
        const raw = await db.pool.query(`SELECT coalesce(new_row::text, after::text) AS t FROM outbox.events ORDER BY seq`);
        expect(raw.rows.map((r) => r.t).join()).not.toContain('SECRET-');
        expect(await source.doctor()).toEqual([expect.objectContaining({ check: 'drift' })]); // w: the relay announces it
        const { readDecodedOutbox } = await import('../helpers/source.js');
        const events = await readDecodedOutbox(db.pool, 'outbox');
        expect(events.map((e) => [e.op, e.key, e.after])).toEqual([
          ['insert', { id: 1 }, { id: 1, v: 'before the upgrade' }],
          ['update', { id: 1 }, { id: 1, v: 'after the upgrade' }],
          ['insert', { id: 2 }, { id: 2, v: 'new', w: 5 }],
        ]);
        expect((await source.migrate()).applied).toEqual([]); // twice is harmless
      } finally {
        await source.close();
      }
    } finally {
      await db.drop();
    }
  });
});
