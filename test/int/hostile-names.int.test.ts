/**
 * Catalog names are data, never code: a PostgreSQL table whose key, columns, excluded column and
 * attribute column have names holding newlines, quotes, comment markers, brackets and unicode is
 * tracked and captured like any other, and nothing in those names runs. (SQL Server: the same names
 * go through the T-SQL parse gate, test/unit/sqlserver-parse-gate.unit.test.ts.)
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { quoteCatalogIdent, quoteLiteral } from '../../src/sql/identifiers.js';
import { createMigratedSource } from '../helpers/source.js';

type Ctx = Awaited<ReturnType<typeof createMigratedSource>>;
let ctx: Ctx;

const marker = `pwned_${randomBytes(4).toString('hex')}`;
/** If a name ever left its quotes, this would create a table. */
const injection = `x\nCREATE TABLE public.${marker} (i int); --`;
const KEY = 'k]ey "id" -- */';
const COLUMNS = [injection, "it's", 'dq"uote', 'dash -- dash', 'end */ c /* open', 'br]acket [x]', '{{schema}}', 'ünïcödé 名前 🚀', 'line\nbreak\r\ttab'];
const SECRET = "se'cret\n-- pin";
const TENANT = 'ten"ant\nid';

beforeAll(async () => {
  ctx = await createMigratedSource();
  const cols = [
    `${quoteCatalogIdent(KEY)} bigint PRIMARY KEY`,
    ...COLUMNS.map((c) => `${quoteCatalogIdent(c)} text`),
    `${quoteCatalogIdent(SECRET)} text`,
    `${quoteCatalogIdent(TENANT)} int NOT NULL DEFAULT 1`,
  ];
  await ctx.db.pool.query(`CREATE TABLE public.hostile (${cols.join(', ')})`);
});

afterAll(async () => ctx?.close());

async function markerExists(): Promise<boolean> {
  const res = await ctx.db.pool.query<{ exists: boolean }>(`SELECT to_regclass($1) IS NOT NULL AS exists`, [`public.${marker}`]);
  return res.rows[0]!.exists;
}

describe('hostile catalog names (PostgreSQL)', () => {
  it('a table whose names hold newlines, quotes and comment markers is tracked, and nothing in the names runs', async () => {
    // Excluded and attribute columns are named on the command line, so they must be plain
    // identifiers there; the catalog names reach the SQL through the key, the images and the lists.
    const tracked = await ctx.source.track({ table: { schema: 'public', table: 'hostile' } });
    expect(tracked.keyColumns).toEqual([KEY]);
    expect(tracked.capturedColumns).toEqual([KEY, ...COLUMNS, SECRET, TENANT]);
    expect(await markerExists()).toBe(false);
  });

  it('captures insert, update and delete with every name as written', async () => {
    const start = (await ctx.events()).at(-1)?.seq ?? '0';
    const names = [KEY, ...COLUMNS];
    await ctx.db.pool.query(
      `INSERT INTO public.hostile (${names.map(quoteCatalogIdent).join(', ')}) VALUES (1, ${COLUMNS.map((c) => quoteLiteral(`value of ${c}`)).join(', ')})`,
    );
    await ctx.db.pool.query(`UPDATE public.hostile SET ${quoteCatalogIdent(COLUMNS[1]!)} = 'changed' WHERE ${quoteCatalogIdent(KEY)} = 1`);
    await ctx.db.pool.query(`DELETE FROM public.hostile WHERE ${quoteCatalogIdent(KEY)} = 1`);
    const events = (await ctx.events()).filter((e) => BigInt(e.seq) > BigInt(start));
    expect(events.map((e) => e.op)).toEqual(['insert', 'update', 'delete']);
    const [ins, upd, del] = events;
    expect(ins!.key).toEqual({ [KEY]: '1' });
    expect(ins!.after).toEqual({
      [KEY]: '1',
      ...Object.fromEntries(COLUMNS.map((c) => [c, `value of ${c}`])),
      [SECRET]: null,
      [TENANT]: 1,
    });
    expect(upd!.changed).toEqual([COLUMNS[1]]);
    expect(upd!.after![COLUMNS[1]!]).toBe('changed');
    expect(del!.before![COLUMNS[0]!]).toBe(`value of ${COLUMNS[0]}`);
    expect(await markerExists()).toBe(false);
  });
});
