import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isOutboxError } from '../../src/errors.js';
import { createMigratedSource } from '../helpers/source.js';

type Ctx = Awaited<ReturnType<typeof createMigratedSource>>;
let ctx: Ctx;

beforeAll(async () => {
  ctx = await createMigratedSource();
});
afterAll(async () => ctx?.close());

const sql = (text: string, params?: unknown[]) => ctx.db.pool.query(text, params);

async function triggersOf(table: string): Promise<string[]> {
  const res = await sql(`SELECT tgname FROM pg_trigger WHERE tgrelid = to_regclass($1) AND NOT tgisinternal ORDER BY tgname`, [table]);
  return res.rows.map((r) => r.tgname);
}

async function captureFunctions(): Promise<string[]> {
  const res = await sql(`SELECT proname FROM pg_proc WHERE pronamespace = 'outbox'::regnamespace AND proname LIKE 'capture\\_%' ORDER BY 1`);
  return res.rows.map((r) => r.proname);
}

async function eventsOf(table: string) {
  return (await ctx.events()).filter((e) => e.table_name === table);
}

async function errorOf(promise: Promise<unknown>): Promise<Error & { code?: string }> {
  try {
    await promise;
  } catch (err) {
    return err as Error & { code?: string };
  }
  throw new Error('expected a rejection');
}

const ALL_TRIGGERS = ['outbox_capture_delete', 'outbox_capture_insert', 'outbox_capture_truncate', 'outbox_capture_update'];

describe('outbox track / untrack', () => {
  it('tracking twice is harmless: two triggers, one event per change', async () => {
    await sql('CREATE TABLE public.twice (id int PRIMARY KEY, v text)');
    const table = { schema: 'public', table: 'twice' };
    await ctx.source.track({ table });
    await ctx.source.track({ table });
    expect(await triggersOf('public.twice')).toEqual(ALL_TRIGGERS);
    await sql(`INSERT INTO twice VALUES (1, 'a')`);
    await sql(`UPDATE twice SET v = 'b'`);
    expect((await eventsOf('twice')).map((e) => e.op)).toEqual(['insert', 'update']);
    expect((await ctx.source.listTracked()).filter((t) => t.table.table === 'twice')).toHaveLength(1);
  });

  it('untrack removes the triggers (the generic capture functions stay), and nothing more is captured', async () => {
    await sql('CREATE TABLE public.gone (id int PRIMARY KEY)');
    const table = { schema: 'public', table: 'gone' };
    await ctx.source.track({ table });
    expect(await captureFunctions()).toEqual(['capture_row', 'capture_statement', 'capture_truncate']);
    expect(await ctx.source.untrack(table)).toBe(true);
    expect(await triggersOf('public.gone')).toEqual([]);
    expect(await captureFunctions()).toEqual(['capture_row', 'capture_statement', 'capture_truncate']);
    await sql('INSERT INTO gone VALUES (1)');
    expect(await eventsOf('gone')).toEqual([]);
    expect(await ctx.source.untrack(table)).toBe(false); // a second untrack says it was not tracked
  });

  it('ADD COLUMN is captured from the first change, no re-track needed; the excluded column stays out; doctor reports the drift', async () => {
    await sql('CREATE TABLE public.grows (id int PRIMARY KEY, a text, secret text)');
    const spec = { table: { schema: 'public', table: 'grows' }, exclude: ['secret'] };
    await ctx.source.track(spec);
    expect(await ctx.source.doctor()).toEqual([]);
    await sql('ALTER TABLE grows ADD COLUMN b int');
    const findings = await ctx.source.doctor();
    expect(findings).toEqual([expect.objectContaining({ severity: 'warning', check: 'drift', message: expect.stringContaining('public.grows changed since the relay last published its shape (+b integer)') })]);
    await sql(`INSERT INTO grows VALUES (1, 'x', 's', 7)`);
    expect((await eventsOf('grows')).at(-1)!.after).toEqual({ id: 1, a: 'x', b: 7 });
    const raw = await sql(`SELECT new_row::text AS img FROM outbox.events WHERE table_name = 'grows' ORDER BY seq DESC LIMIT 1`);
    expect(raw.rows[0].img).not.toContain('secret');

    // re-tracking without options keeps the recorded ones: the excluded column stays out
    const retracked = await ctx.source.track({ table: spec.table });
    expect(retracked.excludedColumns).toEqual(['secret']);
    // A re-track keeps the shape the relay published last: the relay still announces the added
    // column (a target would otherwise never learn it), so the drift stays until it does.
    expect(await ctx.source.doctor()).toEqual([expect.objectContaining({ check: 'drift', message: expect.stringContaining('(+b integer)') })]);
    await sql(`UPDATE grows SET b = 8, secret = 't'`);
    const last = (await eventsOf('grows')).at(-1)!;
    expect(last.changed).toEqual(['b']);
    expect(last.after).toEqual({ id: 1, a: 'x', b: 8 });
    // an update of the excluded column only publishes nothing
    const count = (await eventsOf('grows')).length;
    await sql(`UPDATE grows SET secret = 'v'`);
    expect(await eventsOf('grows')).toHaveLength(count);

    // an explicit empty list clears it
    expect((await ctx.source.track({ table: spec.table, exclude: [] })).excludedColumns).toEqual([]);
    await sql(`UPDATE grows SET secret = 'u'`);
    expect((await eventsOf('grows')).at(-1)!.after).toEqual({ id: 1, a: 'x', secret: 'u', b: 8 });
  });

  it('ALTER COLUMN TYPE needs no re-track: the next change has the new type encoding; doctor reports a missing trigger', async () => {
    await sql('CREATE TABLE public.aged (id int PRIMARY KEY, n int)');
    const table = { schema: 'public', table: 'aged' };
    const doctorOf = async (name: string) => (await ctx.source.doctor()).filter((f) => f.message.includes(name));
    await ctx.source.track({ table });
    await sql('ALTER TABLE aged ALTER COLUMN n TYPE bigint'); // int8 is encoded as a string
    expect((await doctorOf('public.aged')).map((f) => [f.check, f.message])).toEqual([['drift', expect.stringContaining('n: integer → bigint')]]);
    await sql(`INSERT INTO aged VALUES (1, 9007199254740993)`);
    expect((await eventsOf('aged')).at(-1)!.after).toEqual({ id: 1, n: '9007199254740993' });
    await ctx.source.track({ table });
    const drift = [expect.objectContaining({ check: 'drift', message: expect.stringContaining('n: integer → bigint') })];
    expect(await doctorOf('public.aged')).toEqual(drift); // kept until the relay publishes the alter_type

    await sql('DROP TRIGGER outbox_capture_update ON aged'); // as a table still on another version's triggers
    expect(await doctorOf('public.aged')).toEqual([expect.objectContaining({ severity: 'error', check: 'trigger', message: expect.stringContaining('Table public.aged: capture trigger outbox_capture_update is missing') }), ...drift]);
    await ctx.source.track({ table });
    expect(await doctorOf('public.aged')).toEqual(drift);
  });

  it('refuses a table without a primary key unless key columns are named', async () => {
    await sql('CREATE TABLE public.nokey (code text NOT NULL, region text NOT NULL, v int)');
    const table = { schema: 'public', table: 'nokey' };
    const err = await errorOf(ctx.source.track({ table }));
    expect(isOutboxError(err, 'TABLE_HAS_NO_KEY')).toBe(true);
    expect(err.message).toContain('public.nokey has no primary key');
    expect(err.message).toContain('--key');
    expect(await triggersOf('public.nokey')).toEqual([]);

    const tracked = await ctx.source.track({ table, key: ['code', 'region'] });
    expect(tracked.keyColumns).toEqual(['code', 'region']);
    await sql(`INSERT INTO nokey VALUES ('a', 'eu', 1), ('a', 'us', 2)`);
    await sql(`UPDATE nokey SET v = v + 10 WHERE region = 'us'`);
    const events = await eventsOf('nokey');
    expect(events.map((e) => [e.op, e.key])).toEqual([
      ['insert', { code: 'a', region: 'eu' }],
      ['insert', { code: 'a', region: 'us' }],
      ['update', { code: 'a', region: 'us' }],
    ]);
  });

  it('captures a partitioned table, including a row that moves between partitions', async () => {
    await sql(`
      CREATE TABLE public.measures (id int, region text, v int, PRIMARY KEY (id, region)) PARTITION BY LIST (region);
      CREATE TABLE public.measures_eu PARTITION OF public.measures FOR VALUES IN ('eu');
      CREATE TABLE public.measures_us PARTITION OF public.measures FOR VALUES IN ('us');`);
    await ctx.source.track({ table: { schema: 'public', table: 'measures' } });
    await sql(`INSERT INTO measures VALUES (1, 'eu', 1), (2, 'us', 2)`);
    await sql(`UPDATE measures SET v = v * 10`);
    await sql(`UPDATE measures SET region = 'us' WHERE id = 1`);
    await sql(`DELETE FROM measures WHERE id = 2`);
    const events = (await eventsOf('measures')).map((e) => [e.op, e.key]);
    expect(events.slice(0, 4)).toEqual([
      ['insert', { id: 1, region: 'eu' }],
      ['insert', { id: 2, region: 'us' }],
      ['update', { id: 1, region: 'eu' }],
      ['update', { id: 2, region: 'us' }],
    ]);
    // a key change (here the partition key) is a delete of the old key and an insert of the new one
    expect(events.slice(4, 6)).toEqual(expect.arrayContaining([['delete', { id: 1, region: 'eu' }], ['insert', { id: 1, region: 'us' }]]));
    expect(events.slice(6)).toEqual([['delete', { id: 2, region: 'us' }]]);
    expect((await ctx.events()).some((e) => e.table_name.startsWith('measures_'))).toBe(false);
  });

  it('captures a table whose real name has mixed case ("Orders")', async () => {
    await sql(`CREATE SCHEMA "Sales"; CREATE TABLE "Sales"."Orders" ("OrderId" int PRIMARY KEY, "Total" numeric, "Note" text)`);
    const tracked = await ctx.source.track({ table: { schema: 'Sales', table: 'Orders' }, exclude: ['Note'], attributes: ['Total'] });
    expect(tracked.capturedColumns).toEqual(['OrderId', 'Total']);
    await sql(`INSERT INTO "Sales"."Orders" VALUES (1, 9.5, 'n')`);
    const [e] = await eventsOf('Orders');
    expect(e).toMatchObject({ table_schema: 'Sales', table_name: 'Orders', key: { OrderId: 1 }, after: { OrderId: 1, Total: '9.5' }, attributes: { Total: '9.5' } });
    expect((await ctx.source.doctor()).filter((f) => f.message.includes('Orders'))).toEqual([]);
    expect(await ctx.source.untrack({ schema: 'Sales', table: 'Orders' }, { force: true })).toBe(true);
    expect(await triggersOf('"Sales"."Orders"')).toEqual([]);
  });

  it('refuses to track a table of the outbox schema itself', async () => {
    const err = await errorOf(ctx.source.track({ table: { schema: 'outbox', table: 'events' } }));
    expect(isOutboxError(err, 'NOT_SUPPORTED')).toBe(true);
    expect(err.message).toContain('outbox.events is in the outbox schema');
    expect(await triggersOf('outbox.events')).toEqual([]);
  });

  it('captures columns whose real names need quoting', async () => {
    await sql(`CREATE TABLE public.odd (id int PRIMARY KEY, "my col" text, "we""ird" int, "Select" text)`);
    await ctx.source.track({ table: { schema: 'public', table: 'odd' }, exclude: ['Select'] });
    await sql(`INSERT INTO odd VALUES (1, 'a', 2, 'hidden')`);
    await sql(`UPDATE odd SET "we""ird" = 3`);
    const [ins, upd] = await eventsOf('odd');
    expect(ins!.after).toEqual({ id: 1, 'my col': 'a', 'we"ird': 2 });
    expect(upd!.changed).toEqual(['we"ird']);
  });

  it('names an unknown table, and unknown columns', async () => {
    const noTable = await errorOf(ctx.source.track({ table: { schema: 'public', table: 'nosuch' } }));
    expect(isOutboxError(noTable, 'TABLE_NOT_FOUND')).toBe(true);
    expect(noTable.message).toContain('public.nosuch does not exist');
    // a case mismatch is a different table: say names are case-sensitive
    const wrongCase = await errorOf(ctx.source.track({ table: { schema: 'public', table: 'Twice' } }));
    expect(wrongCase.message).toMatch(/public\.Twice does not exist.*case-sensitive/);

    for (const spec of [{ exclude: ['nope'] }, { attributes: ['nope'] }, { key: ['nope'] }]) {
      const err = await errorOf(ctx.source.track({ table: { schema: 'public', table: 'twice' }, ...spec }));
      expect(isOutboxError(err, 'COLUMN_NOT_FOUND'), JSON.stringify(spec)).toBe(true);
      expect(err.message).toContain('public.twice has no column "nope"');
      expect(err.message).toContain('Its columns are: id, v');
    }
  });

  it('rejects SQL injection in table and column names, and executes nothing', async () => {
    await sql('CREATE TABLE public.y (id int PRIMARY KEY)');
    const before = await ctx.events();
    const attempts = [
      { table: { schema: 'public', table: 'x"; drop table y; --' } },
      { table: { schema: 'public"; drop table y; --', table: 'twice' } },
      { table: { schema: 'public', table: 'twice' }, exclude: ['a);drop'] },
      { table: { schema: 'public', table: 'twice' }, attributes: ['v", (select 1) as "x'] },
      { table: { schema: 'public', table: 'twice' }, key: ['id); drop table y; --'] },
    ];
    for (const spec of attempts) {
      const err = await errorOf(ctx.source.track(spec));
      expect(isOutboxError(err, 'IDENTIFIER_INVALID'), JSON.stringify(spec)).toBe(true);
    }
    const untrackErr = await errorOf(ctx.source.untrack({ schema: 'public', table: 'y; drop table y' }));
    expect(isOutboxError(untrackErr, 'IDENTIFIER_INVALID')).toBe(true);
    expect((await sql(`SELECT to_regclass('public.y') IS NOT NULL AS present`)).rows[0].present).toBe(true);
    expect(await triggersOf('public.y')).toEqual([]);
    expect(await ctx.events()).toEqual(before);
  });

  it('refuses conflicting lists: an excluded key, a column both excluded and an attribute, too many attributes, a reserved attribute name', async () => {
    await sql('CREATE TABLE public.conf (id int PRIMARY KEY, a int, b int, c int, d int, e int, f int, g int, "table" text)');
    const table = { schema: 'public', table: 'conf' };
    await expect(ctx.source.track({ table, exclude: ['id'] })).rejects.toThrow(/Key column id of public\.conf cannot be excluded/);
    await expect(ctx.source.track({ table, exclude: ['a'], attributes: ['a'] })).rejects.toThrow(/both excluded and an attribute/);
    await expect(ctx.source.track({ table, attributes: ['a', 'b', 'c', 'd', 'e', 'f', 'g'] })).rejects.toThrow(/at most 6 fit/);
    await expect(ctx.source.track({ table, attributes: ['table'] })).rejects.toThrow(/cannot be an attribute column: every event already carries/);
    expect(await triggersOf('public.conf')).toEqual([]);
  });
});
