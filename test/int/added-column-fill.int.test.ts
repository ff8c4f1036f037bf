import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/index.js';
import { silentLogger } from '../../src/logger.js';
import { buildTransformer, createTargetWriter, type TargetWriter } from '../../src/targets/index.js';
import type { ChangeData, SchemaChangeItem } from '../../src/wire/envelope.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { createMysqlDatabase } from '../helpers/pipeline.js';

/**
 * The fill of an added column at the PostgreSQL and MariaDB targets (docs/schema-changes.md,
 * "Columns added with a default"), straight through the writers: the rows the target had get the
 * value; a row written after the schema change keeps its own value, even when it was written before
 * the schema change was recorded (the column already there: a retry after a crash between MariaDB's
 * DDL, which commits by itself, and its record); a row written before the change that arrives after
 * it gets the value; a duplicate changes nothing; a value the target refuses leaves the column empty.
 */
let db: TestDatabase;
let maria: Awaited<ReturnType<typeof createMysqlDatabase>>;
const mariaState = `outbox_state_${randomBytes(4).toString('hex')}`;

beforeAll(async () => {
  db = await createTestDatabase('outbox_fill');
  maria = await createMysqlDatabase();
  await db.pool.query(`CREATE TABLE items (id int PRIMARY KEY, v text)`);
  await maria.conn.query(`CREATE TABLE items (id INT PRIMARY KEY, v LONGTEXT) CHARACTER SET utf8mb4`);
});

afterAll(async () => {
  await db?.drop();
  await maria?.conn.query(`DROP DATABASE IF EXISTS \`${mariaState}\``);
  await maria?.drop();
});

const meta = (seq: string) => ({ messageId: `m-${seq}`, eventId: `src:${seq}`, time: '2024-01-01T00:00:00Z' });
const row = (op: 'insert' | 'update', seq: number, after: Record<string, unknown>): ChangeData => ({ schema: 'public', table: 'items', op, seq: String(seq), key: { id: after.id }, after, changed: Object.keys(after) });
const schema = (seq: number, changes: SchemaChangeItem[]): ChangeData => ({ schema: 'public', table: 'items', op: 'schema', seq: String(seq), key: null, schemaChange: { dialect: 'postgres', before: null, after: null, key: ['id'], changes } });

describe.each([
  { kind: 'postgres' as const, url: () => db.url, state: 'fill_state', read: async () => (await db.pool.query(`SELECT id, v, status, n::text AS n FROM items ORDER BY id`)).rows, addByHand: () => db.pool.query(`ALTER TABLE items ADD COLUMN status text, ADD COLUMN n numeric(10,2)`) },
  {
    kind: 'mysql' as const,
    url: () => maria.url,
    state: mariaState,
    read: async () => ((await maria.conn.query(`SELECT id, v, status, CAST(n AS CHAR) AS n FROM items ORDER BY id`))[0] as Record<string, unknown>[]),
    addByHand: () => maria.conn.query(`ALTER TABLE items ADD COLUMN status LONGTEXT NULL, ADD COLUMN n DECIMAL(10,2) NULL`),
  },
])('a column added with a value for the rows that existed before, at a $kind target', ({ kind, url, state, read, addByHand }) => {
  let writer: TargetWriter;
  let transform: ReturnType<typeof buildTransformer>;

  beforeAll(async () => {
    const config = parseConfig({ source: { url: 'postgres://unused@127.0.0.1/unused' }, targets: { t: { kind, urlEnv: 'T_URL', tables: ['public.items'], stateSchema: state, schemaChanges: 'apply', mapping: { 'public.items': { table: 'items' } } } } }, { T_URL: url() });
    const target = config.targets.t!;
    writer = createTargetWriter('t', target, config.targetSecrets('t'), silentLogger);
    expect(await writer.init()).toEqual([]);
    transform = buildTransformer('t', target, config.targetSecrets('t'));
  });
  afterAll(async () => {
    await writer?.close();
  });
  // A wait is tried again once, as the consumer would: the writer read the table's columns again.
  const apply = async (data: ChangeData) => {
    const once = async () => (await writer.apply([transform(data, meta(data.seq))]))[0]!.status;
    const status = await once();
    return status === 'wait' ? once() : status;
  };

  it('fills the rows the target had, never a row written after the change, and rows written before it that arrive later', async () => {
    for (const id of [1, 2, 3]) expect(await apply(row('insert', id, { id, v: `v${id}` }))).toBe('applied');
    // The columns are there before the schema change is recorded (MariaDB's DDL committed, then a
    // crash); a change written after the schema change is applied meanwhile, with its own values.
    await addByHand();
    expect(await apply(row('update', 20, { id: 2, v: 'after', status: null, n: '2.00' }))).toBe('applied');
    expect(await apply(schema(10, [{ kind: 'add_column', column: 'status', type: 'text', existing: 'new' }, { kind: 'add_column', column: 'n', type: 'numeric(10,2)', existing: '1.50' }]))).toBe('applied');
    // Written before the ALTER at the source, delivered after the schema change.
    expect(await apply(row('insert', 5, { id: 4, v: 'late' }))).toBe('applied');
    const expected = [
      { id: 1, v: 'v1', status: 'new', n: '1.50' },
      { id: 2, v: 'after', status: null, n: '2.00' },
      { id: 3, v: 'v3', status: 'new', n: '1.50' },
      { id: 4, v: 'late', status: 'new', n: '1.50' },
    ];
    expect(await read()).toEqual(expected);
    // A duplicate of the schema change changes nothing.
    expect(await apply(schema(10, [{ kind: 'add_column', column: 'status', type: 'text', existing: 'new' }, { kind: 'add_column', column: 'n', type: 'numeric(10,2)', existing: '1.50' }]))).toBe('stale');
    expect(await read()).toEqual(expected);
  });

  it('adds a column whose value the target refuses empty, and later rows do not get the value either', async () => {
    expect(await apply(schema(30, [{ kind: 'add_column', column: 'k', type: 'integer', existing: 'not a number' }]))).toBe('applied');
    expect(await apply(row('insert', 25, { id: 5, v: 'late again', status: 'x', n: '3.00' }))).toBe('applied');
    const k = kind === 'postgres' ? (await db.pool.query(`SELECT count(*)::int AS n FROM items WHERE k IS NOT NULL`)).rows[0].n : Number(((await maria.conn.query(`SELECT COUNT(*) AS n FROM items WHERE k IS NOT NULL`))[0] as { n: unknown }[])[0]!.n);
    expect(k).toBe(0);
    expect((await read()).find((r) => r.id === 5)).toMatchObject({ v: 'late again', status: 'x' });
  });
});
