import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMigratedSource, type CapturedEvent } from '../helpers/source.js';

/**
 * Value fidelity: what a writer stores is what the images hold, whatever the writer's session
 * settings. The encoding checked here is the one docs/encoding.md documents.
 */
type Ctx = Awaited<ReturnType<typeof createMigratedSource>>;
let ctx: Ctx;

const BIG_NUMERIC = '123456789012345678901234567890.123456789012345678901';
const BEYOND_2_53 = '9007199254740993'; // 2^53 + 1: a JS number would round it
const UNICODE = 'emoji 😀👩‍👩‍👧, CJK 漢字かな한국어, combining e\u0301 n\u0303, RTL עברית, nul-free \u2028';

beforeAll(async () => {
  ctx = await createMigratedSource();
  await ctx.db.pool.query(`
    CREATE TYPE public.mood AS ENUM ('sad', 'ok', 'happy');
    CREATE TABLE public.vals (
      id        bigint PRIMARY KEY,
      ts        timestamptz,
      ts_local  timestamp,
      d         date,
      num       numeric,
      big       bigint,
      small     smallint,
      i         integer,
      f8        double precision,
      flag      boolean,
      bin       bytea,
      u         uuid,
      doc       jsonb,
      ints      int[],
      texts     text[],
      nums      numeric[],
      bigs      bigint[],
      m         public.mood,
      t         text,
      iv        interval,
      j         json,
      x         xml,
      p         point
    )`);
  await ctx.source.track({ table: { schema: 'public', table: 'vals' } });
});

afterAll(async () => ctx?.close());

async function lastEvent(): Promise<CapturedEvent> {
  const events = await ctx.events();
  return events.at(-1)!;
}

describe('value round-trip through the images', () => {
  it('keeps the instant of a timestamptz written from another time zone, rendered in UTC', async () => {
    const client = await ctx.db.pool.connect();
    try {
      await client.query(`SET TimeZone = 'America/New_York'`);
      await client.query(`INSERT INTO vals (id, ts, ts_local, d) VALUES (1, '2024-03-10 01:30:00-05', '2024-03-10 01:30:00.123456', '2024-02-29')`);
    } finally {
      await client.query('RESET TimeZone');
      client.release();
    }
    const e = await lastEvent();
    expect(e.after!.ts).toBe('2024-03-10T06:30:00+00:00');
    expect(new Date(e.after!.ts as string).toISOString()).toBe('2024-03-10T06:30:00.000Z');
    // without a zone: exactly the wall-clock value written, no shift
    expect(e.after!.ts_local).toBe('2024-03-10T01:30:00.123456');
    expect(e.after!.d).toBe('2024-02-29');
    // the change time is an instant too: the writer's session zone does not leak into it
    const changedAt = await ctx.db.pool.query(`SELECT to_char(changed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS') AS utc, extract(epoch FROM now() - changed_at) AS age FROM outbox.events ORDER BY seq DESC LIMIT 1`);
    expect(Math.abs(Number(changedAt.rows[0].age))).toBeLessThan(60);
  });

  it('keeps numbers exactly: 30+ digit numeric, bigint beyond 2^53, and their arrays as strings', async () => {
    await ctx.db.pool.query(
      `INSERT INTO vals (id, num, big, small, i, f8, nums, bigs) VALUES (2, $1, $2, -32768, 2147483647, 0.1, ARRAY[$1, '-0.000000000000000000000000000001', 'NaN']::numeric[], ARRAY[$2, '-9223372036854775808']::bigint[])`,
      [BIG_NUMERIC, BEYOND_2_53],
    );
    const e = await lastEvent();
    expect(e.key).toEqual({ id: '2' });
    expect(e.after!.num).toBe(BIG_NUMERIC);
    expect(e.after!.big).toBe(BEYOND_2_53);
    expect(e.after!.small).toBe(-32768);
    expect(e.after!.i).toBe(2147483647);
    expect(e.after!.f8).toBe(0.1);
    expect(e.after!.nums).toEqual([BIG_NUMERIC, '-0.000000000000000000000000000001', 'NaN']);
    expect(e.after!.bigs).toEqual([BEYOND_2_53, '-9223372036854775808']);
    // the outbox row keeps every digit as written (json text); the event holds them as strings
    const raw = await ctx.db.pool.query(`SELECT new_row->>'num' AS num, new_row->>'big' AS big FROM outbox.events ORDER BY seq DESC LIMIT 1`);
    expect(raw.rows[0]).toEqual({ num: BIG_NUMERIC, big: BEYOND_2_53 });
    expect([typeof e.after!.num, typeof e.after!.big]).toEqual(['string', 'string']);
  });

  it('keeps bytea (hex), uuid, jsonb, int[] / text[], enums, booleans and intervals', async () => {
    const client = await ctx.db.pool.connect();
    try {
      // a writer's session settings must not change the encoding
      await client.query(`SET bytea_output = 'escape'; SET IntervalStyle = 'postgres_verbose'`);
      await client.query(
        `INSERT INTO vals (id, bin, u, doc, ints, texts, m, flag, iv) VALUES (3, '\\x00ff10'::bytea, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', $1, '{1,NULL,-3}', $2, 'happy', false, '1 day 02:03:04.5')`,
        ['{"n": 1.5, "s": "x", "deep": {"arr": [1, "two", null], "big": 12345678901234567890}}', ['a', 'b,c', 'quote"d', '', null, UNICODE]],
      );
    } finally {
      await client.query('RESET bytea_output; RESET IntervalStyle');
      client.release();
    }
    const e = await lastEvent();
    expect(e.after!.bin).toBe('\\x00ff10');
    expect(e.after!.u).toBe('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11');
    expect(e.after!.doc).toEqual({ n: 1.5, s: 'x', deep: { arr: [1, 'two', null], big: 12345678901234567000 } });
    const rawDoc = await ctx.db.pool.query(`SELECT (new_row->'doc'->'deep'->>'big') AS big FROM outbox.events ORDER BY seq DESC LIMIT 1`);
    expect(rawDoc.rows[0].big).toBe('12345678901234567890');
    expect(e.after!.ints).toEqual([1, null, -3]);
    expect(e.after!.texts).toEqual(['a', 'b,c', 'quote"d', '', null, UNICODE]);
    expect(e.after!.m).toBe('happy');
    expect(e.after!.flag).toBe(false);
    expect(e.after!.iv).toBe('P1DT2H3M4.5S');
  });

  it('keeps unicode text exactly (emoji, CJK, combining characters)', async () => {
    await ctx.db.pool.query(`INSERT INTO vals (id, t) VALUES (4, $1)`, [UNICODE]);
    const e = await lastEvent();
    expect(e.after!.t).toBe(UNICODE);
    expect((e.after!.t as string).normalize('NFC')).not.toBe(e.after!.t); // not normalised on the way
  });

  it('writes nulls as JSON null, and every column is present', async () => {
    await ctx.db.pool.query(`INSERT INTO vals (id) VALUES (5)`);
    const e = await lastEvent();
    expect(Object.keys(e.after!).sort()).toEqual(['id', 'ts', 'ts_local', 'd', 'num', 'big', 'small', 'i', 'f8', 'flag', 'bin', 'u', 'doc', 'ints', 'texts', 'nums', 'bigs', 'm', 't', 'iv', 'j', 'x', 'p'].sort());
    for (const [col, value] of Object.entries(e.after!)) if (col !== 'id') expect(value, col).toBeNull();
  });

  it('captures updates of json, xml and point columns (types without "=")', async () => {
    await ctx.db.pool.query(`INSERT INTO vals (id, j, x, p) VALUES (6, '{"a": 1}', '<a>1</a>', '(1,2)')`);
    const after = await lastEvent();
    expect(after.after).toMatchObject({ j: { a: 1 }, x: '<a>1</a>', p: '(1,2)' });
    for (const [sql, column] of [
      [`UPDATE vals SET j = '{"a": 2}' WHERE id = 6`, 'j'],
      [`UPDATE vals SET x = '<a>2</a>' WHERE id = 6`, 'x'],
      [`UPDATE vals SET p = '(3,4)' WHERE id = 6`, 'p'],
      [`UPDATE vals SET j = NULL WHERE id = 6`, 'j'],
    ] as const) {
      const before = (await lastEvent()).seq;
      await ctx.db.pool.query(sql);
      const e = await lastEvent();
      expect(BigInt(e.seq) > BigInt(before), sql).toBe(true);
      expect(e.op).toBe('update');
      expect(e.changed).toEqual([column]);
    }
    const before = (await lastEvent()).seq;
    await ctx.db.pool.query(`UPDATE vals SET x = '<a>2</a>', p = '(3,4)' WHERE id = 6`);
    expect((await lastEvent()).seq, 'an update that changes nothing writes nothing').toBe(before);
  });

  it('reports exactly the changed columns of an update, nulls included', async () => {
    await ctx.db.pool.query(`INSERT INTO vals (id, num, t, texts) VALUES (7, 1.5, 'a', '{x}')`);
    await ctx.db.pool.query(`UPDATE vals SET num = 1.50, t = NULL, texts = '{x,y}', big = big WHERE id = 7`);
    const e = await lastEvent();
    expect(e.op).toBe('update');
    expect(e.changed).toEqual(['num', 'texts', 't']); // in column order; 1.5 → 1.50 is a change of the image
    expect(e.before).toMatchObject({ num: '1.5', t: 'a', texts: ['x'] });
    expect(e.after).toMatchObject({ num: '1.50', t: null, texts: ['x', 'y'] });
  });
});

describe('attributes', () => {
  it('renders attribute values as text in UTC and ISO style, whatever the writer session says', async () => {
    await ctx.db.pool.query(`CREATE TABLE public.attr_vals (id int PRIMARY KEY, day date, at timestamptz, amount numeric, region text)`);
    await ctx.source.track({ table: { schema: 'public', table: 'attr_vals' }, attributes: ['day', 'at', 'amount', 'region'] });
    const client = await ctx.db.pool.connect();
    try {
      await client.query(`SET TimeZone = 'America/New_York'; SET DateStyle = 'SQL, DMY'`);
      await client.query(`INSERT INTO attr_vals VALUES (1, '2024-03-10', '2024-03-10 01:30:00-05', 1.50, NULL)`);
    } finally {
      await client.query('RESET TimeZone; RESET DateStyle');
      client.release();
    }
    const e = await lastEvent();
    expect(e.attributes).toEqual({ day: '2024-03-10', at: '2024-03-10 06:30:00+00', amount: '1.50', region: null });
    expect(e.after).toMatchObject({ day: '2024-03-10', at: '2024-03-10T06:30:00+00:00' });
  });
});

describe('updates that "=" would call equal', () => {
  it('captures a case-only change of citext and of a case-insensitive collation', async () => {
    await ctx.db.pool.query(`
      CREATE EXTENSION IF NOT EXISTS citext;
      CREATE COLLATION IF NOT EXISTS public.ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
      CREATE TABLE public.ci_vals (id int PRIMARY KEY, email citext, name text COLLATE public.ci);
      INSERT INTO public.ci_vals VALUES (1, 'Ann@Example.com', 'Ann');`);
    await ctx.source.track({ table: { schema: 'public', table: 'ci_vals' } });
    for (const [sql, column] of [
      [`UPDATE ci_vals SET email = 'ann@example.com'`, 'email'],
      [`UPDATE ci_vals SET name = 'ANN'`, 'name'],
    ] as const) {
      await ctx.db.pool.query(sql);
      const e = await lastEvent();
      expect(e.table_name, sql).toBe('ci_vals');
      expect(e.changed, sql).toEqual([column]);
    }
    const e = await lastEvent();
    expect(e.after).toEqual({ id: 1, email: 'ann@example.com', name: 'ANN' });
  });
});

describe('wide tables', () => {
  it('captures a table with more than 50 columns (jsonb_build_object is built in chunks)', async () => {
    const cols = Array.from({ length: 120 }, (_, i) => `c${i} int`).join(', ');
    await ctx.db.pool.query(`CREATE TABLE public.wide (id int PRIMARY KEY, ${cols})`);
    await ctx.source.track({ table: { schema: 'public', table: 'wide' } });
    const values = Array.from({ length: 120 }, (_, i) => i * 10);
    await ctx.db.pool.query(`INSERT INTO wide VALUES (1, ${values.join(', ')})`);
    await ctx.db.pool.query(`UPDATE wide SET c119 = -1, c0 = -2 WHERE id = 1`);
    const [ins, upd] = (await ctx.events()).filter((e) => e.table_name === 'wide');
    expect(Object.keys(ins!.after!)).toHaveLength(121);
    expect(ins!.after!.c119).toBe(1190);
    expect(ins!.changed).toHaveLength(121);
    expect(upd!.changed).toEqual(['c0', 'c119']);
    expect(upd!.after!.c119).toBe(-1);
    expect(upd!.before!.c119).toBe(1190);
  });
});
