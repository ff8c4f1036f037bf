import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/logger.js';
import type { OutboxEvent } from '../../src/wire/envelope.js';
import type { PostgresLeaderSession } from '../../src/source/postgres/relay-session.js';
import { PostgresOutboxStore } from '../../src/source/postgres/relay-store.js';
import { createMigratedSource, drainSession } from '../helpers/source.js';

/**
 * Without the DDL event triggers (source.eventTriggers: skip) nothing is recorded at DDL time: a
 * change only the catalog shows reaches the relay through the tracked_state digest of its read
 * (sql/postgres/000010_relay_tracked_state.sql). One leader session reads every page here, so its
 * table state is kept between pages; each catalog change below must show in the next page.
 */
let env: Awaited<ReturnType<typeof createMigratedSource>>;
let store: PostgresOutboxStore;
let session: PostgresLeaderSession;

beforeAll(async () => {
  env = await createMigratedSource();
  expect(await env.source.migrate({ eventTriggers: 'skip' })).toMatchObject({ eventTriggers: 'dropped' });
  store = await PostgresOutboxStore.open({ url: env.db.url, schema: 'outbox', logger: silentLogger });
  session = await store.claimLeadership('table-state-catalog-test');
});

afterAll(async () => {
  await store?.close();
  await env?.close();
});

/** Reads and advances pages until one is empty; the events in order. */
const drain = (limit?: number) => drainSession(session, limit);

const sql = (text: string) => env.db.pool.query(text);
const shown = (events: OutboxEvent[]) => events.map((e) => (e.op === 'schema' ? ['schema', e.tableName, e.schemaChange!.changes] : [e.op, e.tableSchema, e.tableName, e.after]));

describe('catalog changes between two pages, with the event triggers skipped', () => {
  it('a partition created with CREATE TABLE … PARTITION OF, and one attached, publish under the tracked root from their first row', async () => {
    await sql('CREATE TABLE public.pt (id int NOT NULL, at date NOT NULL, n numeric, PRIMARY KEY (id, at)) PARTITION BY RANGE (at)');
    await sql(`CREATE TABLE public.pt_2025 PARTITION OF pt FOR VALUES FROM ('2025-01-01') TO ('2026-01-01')`);
    await env.source.track({ table: { schema: 'public', table: 'pt' } });
    await sql(`INSERT INTO pt VALUES (1, '2025-06-01', 1.5)`);
    expect(shown(await drain())).toEqual([['insert', 'public', 'pt', { id: 1, at: '2025-06-01', n: '1.5' }]]);

    await sql(`CREATE TABLE public.pt_2026 PARTITION OF pt FOR VALUES FROM ('2026-01-01') TO ('2027-01-01')`);
    await sql(`INSERT INTO pt VALUES (2, '2026-06-01', 2.5), (3, '2025-07-01', 3.5)`);
    expect(shown(await drain())).toEqual([
      ['insert', 'public', 'pt', { id: 2, at: '2026-06-01', n: '2.5' }],
      ['insert', 'public', 'pt', { id: 3, at: '2025-07-01', n: '3.5' }],
    ]);

    // Columns in another order than the root's: the rows are read by name, with the root's types.
    await sql('CREATE TABLE public.pt_2027 (n numeric, at date NOT NULL, id int NOT NULL)');
    await sql(`ALTER TABLE pt ATTACH PARTITION pt_2027 FOR VALUES FROM ('2027-01-01') TO ('2028-01-01')`);
    await sql(`INSERT INTO pt VALUES (4, '2027-06-01', 4.5)`);
    expect(shown(await drain())).toEqual([['insert', 'public', 'pt', { id: 4, at: '2027-06-01', n: '4.5' }]]);
  });

  it('ALTER TYPE … RENAME and ALTER DOMAIN … RENAME / SET SCHEMA of a column type are announced at the next row; ADD VALUE needs nothing', async () => {
    await sql(`CREATE TYPE public.mood AS ENUM ('ok', 'sad')`);
    await sql('CREATE DOMAIN public.posint AS int CHECK (VALUE > 0)');
    await sql('CREATE TABLE public.feel (id int PRIMARY KEY, m mood NOT NULL, p posint)');
    await env.source.track({ table: { schema: 'public', table: 'feel' } });
    await sql(`INSERT INTO feel VALUES (1, 'ok', 1)`);
    expect(shown(await drain())).toEqual([['insert', 'public', 'feel', { id: 1, m: 'ok', p: 1 }]]);

    // A new enum value changes nothing the relay keeps: the row decodes as it is.
    await sql(`ALTER TYPE mood ADD VALUE 'glad'`);
    await sql(`INSERT INTO feel VALUES (2, 'glad', 2)`);
    expect(shown(await drain())).toEqual([['insert', 'public', 'feel', { id: 2, m: 'glad', p: 2 }]]);

    await sql('ALTER TYPE mood RENAME TO feeling');
    await sql(`INSERT INTO feel VALUES (3, 'sad', 3)`);
    expect(shown(await drain())).toEqual([
      ['schema', 'feel', [{ kind: 'alter_type', column: 'm', from: 'public.mood', to: 'public.feeling' }]],
      ['insert', 'public', 'feel', { id: 3, m: 'sad', p: 3 }],
    ]);

    await sql('ALTER DOMAIN posint RENAME TO positive');
    await sql(`INSERT INTO feel VALUES (4, 'ok', 4)`);
    expect(shown(await drain())).toEqual([
      ['schema', 'feel', [{ kind: 'alter_type', column: 'p', from: 'public.posint', to: 'public.positive' }]],
      ['insert', 'public', 'feel', { id: 4, m: 'ok', p: 4 }],
    ]);

    await sql('CREATE SCHEMA kinds');
    await sql('ALTER DOMAIN positive SET SCHEMA kinds');
    await sql(`INSERT INTO feel VALUES (5, 'ok', 5)`);
    expect(shown(await drain())).toEqual([
      ['schema', 'feel', [{ kind: 'alter_type', column: 'p', from: 'public.positive', to: 'kinds.positive' }]],
      ['insert', 'public', 'feel', { id: 5, m: 'ok', p: 5 }],
    ]);
  });

  it('ALTER COLUMN … TYPE and SET SCHEMA of a tracked table are noticed at the next page', async () => {
    await sql('CREATE TABLE public.w (id int PRIMARY KEY, v int NOT NULL)');
    await env.source.track({ table: { schema: 'public', table: 'w' } });
    await sql('INSERT INTO w VALUES (1, 10)');
    expect(shown(await drain())).toEqual([['insert', 'public', 'w', { id: 1, v: 10 }]]);

    // bigint values are strings in the event encoding (docs/encoding.md).
    await sql('ALTER TABLE w ALTER COLUMN v TYPE bigint');
    await sql('INSERT INTO w VALUES (2, 20)');
    expect(shown(await drain())).toEqual([
      ['schema', 'w', [{ kind: 'alter_type', column: 'v', from: 'integer', to: 'bigint' }]],
      ['insert', 'public', 'w', { id: 2, v: '20' }],
    ]);

    await sql('CREATE SCHEMA moved');
    await sql('ALTER TABLE w SET SCHEMA moved');
    await sql('INSERT INTO moved.w VALUES (3, 30)');
    expect(shown(await drain())).toEqual([
      ['schema', 'w', [{ kind: 'rename_table', from: 'public.w', to: 'moved.w' }]],
      ['insert', 'moved', 'w', { id: 3, v: '30' }],
    ]);
  });
});

describe('a column added with a default, with the event triggers skipped', () => {
  it('the schema change noticed at the first row of the new shape carries the value the rows that existed before got', async () => {
    await sql('CREATE TABLE public.dflt (id int PRIMARY KEY, v text)');
    await env.source.track({ table: { schema: 'public', table: 'dflt' } });
    await sql(`INSERT INTO dflt VALUES (1, 'a'), (2, 'b')`);
    await drain();
    await sql(`ALTER TABLE dflt ADD COLUMN status text NOT NULL DEFAULT 'new', ADD COLUMN amount numeric(10,2) DEFAULT 1.5`);
    await sql(`UPDATE dflt SET v = 'c' WHERE id = 1`);
    const events = await drain();
    expect(events.map((e) => e.op)).toEqual(['schema', 'update']);
    expect(events[0]!.schemaChange!.changes).toEqual([
      { kind: 'add_column', column: 'status', type: 'text', existing: 'new' },
      { kind: 'add_column', column: 'amount', type: 'numeric(10,2)', existing: '1.50' },
    ]);
    expect(events[1]!.after).toMatchObject({ status: 'new', amount: '1.50' });
  });
});
