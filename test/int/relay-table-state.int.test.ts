import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/logger.js';
import type { OutboxEvent } from '../../src/wire/envelope.js';
import type { PostgresLeaderSession } from '../../src/source/postgres/relay-session.js';
import { PostgresOutboxStore } from '../../src/source/postgres/relay-store.js';
import { logCapture } from '../helpers/pipeline.js';
import { createMigratedSource, drainSession } from '../helpers/source.js';
import { waitFor } from '../helpers/wait.js';

/**
 * The relay keeps the tracked tables' state between pages (relay-decode.ts) while the digest read
 * with each page is unchanged. One leader session reads every page here, so whatever changes
 * between two of its pages — a type change only the catalog shows, an added column, a rename, a
 * re-track after a quarantine, a table tracked or untracked — must show in the next page.
 */
let env: Awaited<ReturnType<typeof createMigratedSource>>;
let store: PostgresOutboxStore;
let session: PostgresLeaderSession;

beforeAll(async () => {
  env = await createMigratedSource();
  store = await PostgresOutboxStore.open({ url: env.db.url, schema: 'outbox', logger: silentLogger });
  session = await store.claimLeadership('table-state-test');
});

afterAll(async () => {
  await store?.close();
  await env?.close();
});

/** Reads and advances pages until one is empty; the events in order. */
const drain = (limit?: number) => drainSession(session, limit);

const sql = (text: string) => env.db.pool.query(text);

describe('table state kept between pages', () => {
  it('sees every change between two pages of one session', async () => {
    await sql('CREATE TABLE public.t (id int PRIMARY KEY, v int NOT NULL, note text)');
    await env.source.track({ table: { schema: 'public', table: 't' } });
    await sql(`INSERT INTO t VALUES (1, 10, 'a')`);
    expect((await drain()).map((e) => [e.op, e.after])).toEqual([['insert', { id: 1, v: 10, note: 'a' }]]);

    // A type change keeps the column names: only the catalog shows it.
    await sql('ALTER TABLE t ALTER COLUMN v TYPE text');
    await sql(`INSERT INTO t VALUES (2, '11', 'b')`);
    const unadvanced = await session.readPage(1000);
    expect(unadvanced.events.map((e) => e.op)).toEqual(['schema', 'insert']);
    // Not advanced: the next read notices the change again.
    const typeChange = await drain();
    expect(typeChange.map((e) => e.op)).toEqual(['schema', 'insert']);
    expect(typeChange[0]!.schemaChange!.changes).toEqual([{ kind: 'alter_type', column: 'v', from: 'integer', to: 'text' }]);
    expect(typeChange[1]!.after).toEqual({ id: 2, v: '11', note: 'b' });
    await sql(`INSERT INTO t VALUES (3, '12', 'c')`);
    expect((await drain()).map((e) => [e.op, e.after])).toEqual([['insert', { id: 3, v: '12', note: 'c' }]]);

    // An added column is read with its own type, not as text.
    await sql('ALTER TABLE t ADD COLUMN flag boolean');
    await sql(`INSERT INTO t VALUES (4, '13', 'd', true)`);
    const added = await drain();
    expect(added.map((e) => e.op)).toEqual(['schema', 'insert']);
    expect(added[0]!.schemaChange!.changes).toEqual([{ kind: 'add_column', column: 'flag', type: 'boolean' }]);
    expect(added[1]!.after).toEqual({ id: 4, v: '13', note: 'd', flag: true });

    await sql('ALTER TABLE t RENAME TO t2');
    await sql(`INSERT INTO t2 VALUES (5, '14', 'e', false)`);
    const renamed = await drain();
    expect(renamed.map((e) => [e.op, e.tableName])).toEqual([['schema', 't2'], ['insert', 't2']]);
    expect(renamed[0]!.schemaChange!.changes).toEqual([{ kind: 'rename_table', from: 'public.t', to: 'public.t2' }]);
  });

  it('holds the events of a key column renamed away, and a re-track between pages resumes', async () => {
    await sql('CREATE TABLE public.k (id int PRIMARY KEY, v text)');
    await env.source.track({ table: { schema: 'public', table: 'k' } });
    await sql(`INSERT INTO k VALUES (1, 'a')`);
    expect((await drain()).map((e) => e.key)).toEqual([{ id: 1 }]);

    // Tests migrate as a superuser, so the DDL event triggers would refuse this rename; replica mode
    // lets it through, as on a database without them (docs/capture.md, "Event triggers").
    await sql('BEGIN; SET LOCAL session_replication_role = replica; ALTER TABLE k RENAME COLUMN id TO key_id; COMMIT');
    await sql(`INSERT INTO k VALUES (2, 'b')`);
    // The rename is announced; the row, without its key column, is held.
    const renamed = await drain();
    expect(renamed.map((e) => [e.op, e.schemaChange?.changes])).toEqual([['schema', [{ kind: 'rename_column', column: 'key_id', from: 'id' }]]]);
    const held = await env.db.pool.query<{ reason: string }>(`SELECT reason FROM outbox.quarantine WHERE table_name = 'k'`);
    expect(held.rows.map((r) => r.reason)).toEqual([expect.stringContaining('Table public.k no longer has its key column "id"')]);

    await env.source.track({ table: { schema: 'public', table: 'k' }, key: ['key_id'] });
    await sql(`INSERT INTO k VALUES (3, 'c')`);
    const resumed = (await drain()).filter((e) => e.op !== 'schema');
    expect(resumed.map((e) => [e.op, e.key, e.after])).toEqual([['insert', { key_id: 3 }, { key_id: 3, v: 'c' }]]);
  });

  it('decodes a table tracked between pages, and holds what is left of a table untracked with --force between two pages of one window', async () => {
    await sql('CREATE TABLE public.u (id int PRIMARY KEY, n numeric NOT NULL)');
    await env.source.track({ table: { schema: 'public', table: 'u' } });
    await sql('INSERT INTO u SELECT g, g * 1.5 FROM generate_series(1, 3) g');
    const first = await session.readPage(1);
    expect(first.events.map((e) => [e.tableName, e.after])).toEqual([['u', { id: 1, n: '1.5' }]]);
    expect(await session.advance(first, 1)).toBe(true);

    await env.source.untrack({ schema: 'public', table: 'u' }, { force: true });
    expect(await drain()).toEqual([]);
    const held = await env.db.pool.query<{ seq: string; reason: string }>(`SELECT seq::text, reason FROM outbox.quarantine WHERE table_name = 'u' ORDER BY seq`);
    expect(held.rows).toHaveLength(2);
    for (const r of held.rows) expect(r.reason).toContain('is no longer tracked');
  });
});

describe('a column added with a default', () => {
  it('carries the value the rows that existed before got, in the event encoding; a volatile default is warned about with what to run', async () => {
    const logs = logCapture();
    const watched = await PostgresOutboxStore.open({ url: env.db.url, schema: 'outbox', logger: logs.logger });
    try {
      await sql('CREATE TABLE public.d (id int PRIMARY KEY, v text, secret text)');
      await env.source.track({ table: { schema: 'public', table: 'd' }, exclude: ['secret'] });
      await sql(`INSERT INTO d SELECT g, 'v', 's' FROM generate_series(1, 3) g`);
      await drain();
      await session.release();
      const leader = await watched.claimLeadership('defaults-test');
      await sql(
        `ALTER TABLE d ADD COLUMN status text NOT NULL DEFAULT 'new', ADD COLUMN plain int, ADD COLUMN amount numeric(10,2) DEFAULT 1.5, ADD COLUMN big int8 DEFAULT 9007199254740993,
                      ADD COLUMN at timestamptz DEFAULT '2024-01-01 10:00+02', ADD COLUMN doc jsonb DEFAULT '{"a": [1, 2]}', ADD COLUMN "we""ird" text DEFAULT 'it''s'`,
      );
      await sql(`UPDATE d SET v = 'w' WHERE id = 1`);
      const events = await drainSession(leader);
      expect(events.map((e) => e.op)).toEqual(['schema', 'update']);
      const added = events[0]!.schemaChange!.changes.filter((c) => c.kind === 'add_column');
      expect(Object.fromEntries(added.map((c) => [c.column, c.existing]))).toEqual({ status: 'new', plain: undefined, amount: '1.50', big: '9007199254740993', at: '2024-01-01T08:00:00+00:00', doc: { a: [1, 2] }, 'we"ird': "it's" });
      // Encoded as the same column's value in a row image.
      const after = events[1]!.after!;
      for (const c of added) if (c.existing !== undefined) expect(after[c.column!]).toEqual(c.existing);
      expect(logs.lines.filter((l) => l.includes('with a default'))).toHaveLength(0);
      // A volatile default gives each row its own value: nothing to carry, a warning with what to run.
      await sql(`ALTER TABLE d ADD COLUMN stamped timestamptz DEFAULT clock_timestamp()`);
      await sql(`UPDATE d SET v = 'x' WHERE id = 2`);
      const later = await drainSession(leader);
      expect(later[0]!.schemaChange!.changes).toEqual([{ kind: 'add_column', column: 'stamped', type: 'timestamp with time zone' }]);
      const warnings = logs.lines.map((l) => JSON.parse(l) as { msg: string; columns?: string[] }).filter((l) => l.msg.includes('was added to public.d with a default'));
      expect(warnings).toHaveLength(1);
      expect(warnings[0]!.columns).toEqual(['stamped']);
      expect(warnings[0]!.msg).toContain('outbox verify <target> --table public.d --repair');
      // A later schema change that adds nothing with a default says nothing.
      await sql(`ALTER TABLE d ADD COLUMN more int`);
      await sql(`UPDATE d SET more = 1 WHERE id = 2`);
      await drainSession(leader);
      expect(logs.lines.filter((l) => l.includes('with a default'))).toHaveLength(1);
      await leader.release();
    } finally {
      await watched.close();
      session = await store.claimLeadership('table-state-test');
    }
  });
});

describe('untracking a table whose changes are not all published', () => {
  it('stops its capture at once, keeps its row until the relay has published what was captured, then removes it', async () => {
    await sql('CREATE TABLE public.w (id int PRIMARY KEY, v text)');
    await env.source.track({ table: { schema: 'public', table: 'w' } });
    await sql(`INSERT INTO w SELECT g, 'v' || g FROM generate_series(1, 3) g`);
    const first = await session.readPage(1);
    expect(await session.advance(first, 1)).toBe(true);

    // No relay publishes meanwhile: untrack stops the capture and says to come back.
    const err = await env.source.untrack({ schema: 'public', table: 'w' }, { waitMs: 300 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'TABLE_HAS_BACKLOG', message: expect.stringContaining('run `outbox untrack public.w` again') });
    expect((err as Error).message).toContain('its last 2 captured changes');
    await sql(`UPDATE w SET v = 'not captured'`);
    expect((await env.db.pool.query(`SELECT count(*)::int AS n FROM pg_trigger WHERE tgrelid = 'public.w'::regclass AND tgname LIKE 'outbox_capture_%'`)).rows[0].n).toBe(0);
    expect(await env.source.doctor()).toEqual([expect.objectContaining({ severity: 'warning', check: 'table', message: expect.stringContaining('Table public.w is being untracked') })]);

    // The relay publishes the two changes captured before it, decoded as usual, none quarantined.
    const rest = await drain();
    expect(rest.map((e) => [e.op, e.after])).toEqual([['insert', { id: 2, v: 'v2' }], ['insert', { id: 3, v: 'v3' }]]);
    expect((await env.db.pool.query(`SELECT count(*)::int AS n FROM outbox.quarantine WHERE table_name = 'w'`)).rows[0].n).toBe(0);

    // Run again, it finishes at once; a later write of the table is not captured.
    expect(await env.source.untrack({ schema: 'public', table: 'w' }, { waitMs: 300 })).toBe(true);
    expect((await env.source.listTracked()).map((t) => t.table.table)).not.toContain('w');
    expect(await env.source.doctor()).toEqual([]);
    await sql(`INSERT INTO w VALUES (4, 'after')`);
    expect(await drain()).toEqual([]);
  });

  it('waits for the relay when one runs, so every change captured before it reaches the stream', async () => {
    await sql('CREATE TABLE public.x (id int PRIMARY KEY, v text)');
    await env.source.track({ table: { schema: 'public', table: 'x' } });
    await sql(`INSERT INTO x SELECT g, 'v' || g FROM generate_series(1, 5) g`);
    const published: OutboxEvent[] = [];
    const untracked = env.source.untrack({ schema: 'public', table: 'x' }, { pollMs: 50 });
    // A relay at work while untrack waits.
    for (let i = 0; i < 100 && published.length < 5; i++) published.push(...(await drain()));
    expect(await untracked).toBe(true);
    expect(published.map((e) => (e.key as { id: number }).id)).toEqual([1, 2, 3, 4, 5]);
    expect((await env.db.pool.query(`SELECT count(*)::int AS n FROM outbox.quarantine WHERE table_name = 'x'`)).rows[0].n).toBe(0);
  });

  it('a re-track while it waits keeps the table tracked', async () => {
    await sql('CREATE TABLE public.y (id int PRIMARY KEY)');
    await env.source.track({ table: { schema: 'public', table: 'y' } });
    await sql(`INSERT INTO y VALUES (1)`);
    await expect(env.source.untrack({ schema: 'public', table: 'y' }, { waitMs: 100 })).rejects.toMatchObject({ code: 'TABLE_HAS_BACKLOG' });
    await env.source.track({ table: { schema: 'public', table: 'y' } });
    await sql(`INSERT INTO y VALUES (2)`);
    expect(await env.source.doctor()).toEqual([]);
    expect((await env.db.pool.query(`SELECT untracking FROM outbox.tracked_tables WHERE table_name = 'y'`)).rows).toEqual([{ untracking: false }]);
    expect((await drain()).map((e) => e.key)).toEqual([{ id: 1 }, { id: 2 }]);
  });

  it('a re-track during the wait ends it at once with TABLE_RETRACKED, not with "capture is stopped"', async () => {
    await sql('CREATE TABLE public.yy (id int PRIMARY KEY)');
    const yy = { schema: 'public', table: 'yy' };
    await env.source.track({ table: yy });
    await sql(`INSERT INTO yy VALUES (1)`);
    const untracking = env.source.untrack(yy, { waitMs: 60_000, pollMs: 20 }).catch((e: unknown) => e);
    // No relay runs; untrack has marked the row and waits.
    await waitFor(async () => (await env.db.pool.query(`SELECT untracking FROM outbox.tracked_tables WHERE table_name = 'yy'`)).rows[0]?.untracking === true);
    await env.source.track({ table: yy });
    const err = await untracking;
    expect(err).toMatchObject({ code: 'TABLE_RETRACKED', message: expect.stringContaining('public.yy was tracked again') });
    expect((err as Error).message).not.toContain('stopped');
    await sql(`INSERT INTO yy VALUES (2)`);
    expect(await env.source.doctor()).toEqual([]);
    expect((await drain()).map((e) => e.key)).toEqual([{ id: 1 }, { id: 2 }]);
  });
});

describe('the next page read while one is published', () => {
  it('is taken only when the page before was advanced whole; after a partial advance the rest is read again, nothing skipped or repeated', async () => {
    await sql('CREATE TABLE public.r (id int PRIMARY KEY, v int NOT NULL)');
    await env.source.track({ table: { schema: 'public', table: 'r' } });
    await sql('INSERT INTO r SELECT g, g FROM generate_series(1, 30) g');
    const published: number[] = [];
    const ids = (events: OutboxEvent[]) => events.map((e) => (e.key as { id: number }).id);

    const first = await session.readPage(10);
    expect(ids(first.events)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(await session.advance(first, 4)).toBe(true);
    published.push(...ids(first.events.slice(0, 4)));
    // Rows written while a page is out are read in their turn.
    await sql('INSERT INTO r SELECT g, g FROM generate_series(31, 35) g');

    const again = await session.readPage(10);
    expect(ids(again.events)).toEqual([5, 6, 7, 8, 9, 10, 11, 12, 13, 14]);
    expect(await session.advance(again, again.events.length)).toBe(true);
    published.push(...ids(again.events));

    // Not advanced at all: the same page again.
    const unpublished = await session.readPage(10);
    expect(ids(unpublished.events)).toEqual([15, 16, 17, 18, 19, 20, 21, 22, 23, 24]);
    const same = await session.readPage(10);
    expect(ids(same.events)).toEqual(ids(unpublished.events));
    expect(await session.advance(same, same.events.length)).toBe(true);
    published.push(...ids(same.events));

    for (;;) {
      const page = await session.readPage(10);
      if (page.events.length === 0) break;
      expect(await session.advance(page, page.events.length)).toBe(true);
      published.push(...ids(page.events));
    }
    expect(published).toEqual(Array.from({ length: 35 }, (_, k) => k + 1));
  });
});
