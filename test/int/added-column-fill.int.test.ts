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

describe('a column a PostgreSQL target adds with a value for the rows it has', () => {
  it('gives them the value as the ADD COLUMN\'s default, without writing a row, and keeps no default', async () => {
    await db.pool.query(`CREATE TABLE wide (id int PRIMARY KEY, v text); INSERT INTO wide SELECT g, 'v' || g FROM generate_series(1, 50) g`);
    const config = parseConfig({ source: { url: 'postgres://unused@127.0.0.1/unused' }, targets: { t: { kind: 'postgres', urlEnv: 'T_URL', tables: ['public.wide'], stateSchema: 'fill_fast_state', schemaChanges: 'apply', mapping: { 'public.wide': { table: 'wide' } } } } }, { T_URL: db.url });
    const target = config.targets.t!;
    const writer = createTargetWriter('t', target, config.targetSecrets('t'), silentLogger);
    try {
      expect(await writer.init()).toEqual([]);
      const transform = buildTransformer('t', target, config.targetSecrets('t'));
      const before = (await db.pool.query(`SELECT id, xmin::text AS xmin FROM wide ORDER BY id`)).rows;
      const file = (await db.pool.query(`SELECT pg_relation_filenode('wide')::text AS f`)).rows[0].f;
      const changes: SchemaChangeItem[] = [
        { kind: 'add_column', column: 'note', type: 'text', existing: `it's a "quote" \\ and more` },
        { kind: 'add_column', column: 'tags', type: 'text[]', existing: ['a', 'b c'] },
        { kind: 'add_column', column: 'meta', type: 'jsonb', existing: { x: 1, y: [true, null] } },
        { kind: 'add_column', column: 'at', type: 'timestamp with time zone', existing: '2024-01-02T03:04:05.678901Z' },
        { kind: 'add_column', column: 'amount', type: 'numeric(10,2)', existing: '12.50' },
      ];
      const data: ChangeData = { schema: 'public', table: 'wide', op: 'schema', seq: '100', key: null, schemaChange: { dialect: 'postgres', before: null, after: null, key: ['id'], changes } };
      expect((await writer.apply([transform(data, meta('100'))]))[0]!.status).toBe('applied');

      const rows = (await db.pool.query(`SELECT id, xmin::text AS xmin, note, tags, meta, extract(epoch FROM at)::text AS at, amount::text AS amount FROM wide ORDER BY id`)).rows;
      expect(rows).toHaveLength(50);
      for (const r of rows) expect(r).toMatchObject({ note: `it's a "quote" \\ and more`, tags: ['a', 'b c'], meta: { x: 1, y: [true, null] }, at: '1704164645.678901', amount: '12.50' });
      // No row written and no rewrite: the same row versions in the same file.
      expect(rows.map((r) => ({ id: r.id, xmin: r.xmin }))).toEqual(before);
      expect((await db.pool.query(`SELECT pg_relation_filenode('wide')::text AS f`)).rows[0].f).toBe(file);
      // The target's columns end plain: no default, nullable.
      const defaults = (await db.pool.query(`SELECT column_name FROM information_schema.columns WHERE table_name = 'wide' AND column_default IS NOT NULL`)).rows;
      expect(defaults).toEqual([]);
      // A row written later without the columns' values keeps them empty (the default is gone).
      await db.pool.query(`INSERT INTO wide (id, v) VALUES (999, 'by hand')`);
      expect((await db.pool.query(`SELECT note, tags FROM wide WHERE id = 999`)).rows).toEqual([{ note: null, tags: null }]);
    } finally {
      await writer.close();
    }
  });
});

describe('a column a MariaDB target adds with a value for the rows it has', () => {
  it('gives them the value as the ADD COLUMN\'s default, updating no row, and keeps no default', async () => {
    await maria.conn.query(`CREATE TABLE wide (id INT PRIMARY KEY, v LONGTEXT) CHARACTER SET utf8mb4`);
    await maria.conn.query(`INSERT INTO wide SELECT seq, CONCAT('v', seq) FROM seq_1_to_50`);
    // Every UPDATE of a row counts itself: the instant ADD COLUMN writes none.
    await maria.conn.query(`CREATE TABLE wide_updates (n INT NOT NULL)`);
    await maria.conn.query(`INSERT INTO wide_updates VALUES (0)`);
    await maria.conn.query(`CREATE TRIGGER wide_counted AFTER UPDATE ON wide FOR EACH ROW UPDATE wide_updates SET n = n + 1`);
    const fastState = `outbox_fast_${randomBytes(4).toString('hex')}`;
    const config = parseConfig({ source: { url: 'postgres://unused@127.0.0.1/unused' }, targets: { t: { kind: 'mysql', urlEnv: 'T_URL', tables: ['public.wide'], stateSchema: fastState, schemaChanges: 'apply', mapping: { 'public.wide': { table: 'wide' } } } } }, { T_URL: maria.url });
    const target = config.targets.t!;
    const writer = createTargetWriter('t', target, config.targetSecrets('t'), silentLogger);
    try {
      expect(await writer.init()).toEqual([]);
      const transform = buildTransformer('t', target, config.targetSecrets('t'));
      const changes: SchemaChangeItem[] = [
        { kind: 'add_column', column: 'note', type: 'text', existing: `it's a "quote" \\ and more` },
        { kind: 'add_column', column: 'meta', type: 'jsonb', existing: { x: 1, y: [true, null] } },
        { kind: 'add_column', column: 'at', type: 'timestamp with time zone', existing: '2024-01-02T03:04:05.678901+02:00' },
        { kind: 'add_column', column: 'amount', type: 'numeric(10,2)', existing: '12.50' },
        // MariaDB refuses this value as an INT DEFAULT; the UPDATE fill refuses it too: the column stays empty.
        { kind: 'add_column', column: 'k', type: 'integer', existing: 'not a number' },
      ];
      const data: ChangeData = { schema: 'public', table: 'wide', op: 'schema', seq: '100', key: null, schemaChange: { dialect: 'postgres', before: null, after: null, key: ['id'], changes } };
      expect((await writer.apply([transform(data, meta('100'))]))[0]!.status).toBe('applied');
      const [rows] = (await maria.conn.query(`SELECT id, note, meta, CAST(at AS CHAR) AS at, CAST(amount AS CHAR) AS amount, k FROM wide ORDER BY id`)) as [Record<string, unknown>[], unknown];
      expect(rows).toHaveLength(50);
      for (const r of rows) expect({ ...r, meta: typeof r.meta === 'string' ? JSON.parse(r.meta) : r.meta }).toMatchObject({ note: `it's a "quote" \\ and more`, meta: { x: 1, y: [true, null] }, at: '2024-01-02 01:04:05.678901', amount: '12.50', k: null });
      const [[counted]] = (await maria.conn.query(`SELECT n FROM wide_updates`)) as [{ n: number }[], unknown];
      expect(counted!.n).toBe(0);
      const [defaults] = (await maria.conn.query(`SELECT COLUMN_NAME AS c, COLUMN_DEFAULT AS d FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'wide' AND COLUMN_DEFAULT IS NOT NULL AND COLUMN_DEFAULT <> 'NULL'`)) as [unknown[], unknown];
      expect(defaults).toEqual([]);
      await maria.conn.query(`INSERT INTO wide (id, v) VALUES (999, 'by hand')`);
      const [[later]] = (await maria.conn.query(`SELECT note, amount FROM wide WHERE id = 999`)) as [Record<string, unknown>[], unknown];
      expect(later).toEqual({ note: null, amount: null });
    } finally {
      await writer.close();
      await maria.conn.query(`DROP DATABASE IF EXISTS \`${fastState}\``);
    }
  });
});
