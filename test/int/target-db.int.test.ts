import { randomBytes } from 'node:crypto';
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { targetSchema, type TargetConfig } from '../../src/config/index.js';
import type { ChangeData } from '../../src/wire/envelope.js';
import { OutboxError } from '../../src/errors.js';
import { silentLogger } from '../../src/logger.js';
import { buildTransformer, createTargetWriter, decryptValue, type TargetChange, type TargetWriter, type ApplyOutcome } from '../../src/targets/index.js';
import { hashValue } from '../../src/targets/transform/index.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { MYSQL_URL } from '../helpers/env.js';
import { waitFor } from '../helpers/wait.js';

/**
 * One behaviour suite for the database targets, run against PostgreSQL and MariaDB: version guard,
 * tombstones, truncates, savepoint rejections, randomized convergence (alone and with two writers at
 * once), exact value round-trips, protected columns, and `init` checks.
 */
interface Harness {
  kind: 'postgres' | 'mysql';
  url: string;
  exec(sql: string): Promise<void>;
  /** Rows of a table with every column as text (null stays null), ordered by id. */
  rows(table: string, columns: string[]): Promise<Record<string, string | null>[]>;
  drop(): Promise<void>;
  /** A connection of its own, for holding locks. */
  open(): Promise<{ exec(sql: string): Promise<void>; close(): Promise<void> }>;
  /** How many sessions of this database wait for a lock now. */
  waiting(): Promise<number>;
  /** Closes the connections of the sessions waiting for a lock, as a server or the network would; how many. */
  killWaiting(): Promise<number>;
}

async function postgresHarness(): Promise<Harness> {
  const db: TestDatabase = await createTestDatabase('outbox_target');
  await db.pool.query(`SET TIME ZONE 'UTC'`);
  return {
    kind: 'postgres',
    url: db.url,
    exec: async (sql) => void (await db.pool.query(sql)),
    rows: async (table, columns) =>
      (await db.pool.query(`SET TIME ZONE 'UTC'; SELECT ${columns.map((c) => `${c}::text AS ${c}`).join(', ')} FROM ${table} ORDER BY id`) as unknown as { rows: Record<string, string | null>[] }[])[1]!.rows,
    drop: () => db.drop(),
    open: async () => {
      const client = await db.pool.connect();
      return { exec: async (sql) => void (await client.query(sql)), close: async () => client.release() };
    },
    waiting: async () => Number((await db.pool.query<{ n: string }>(`SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`)).rows[0]!.n),
    killWaiting: async () => (await db.pool.query<{ n: number }>(`SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`)).rows[0]!.n,
  };
}

async function mysqlHarness(): Promise<Harness> {
  const database = `outbox_target_${randomBytes(5).toString('hex')}`;
  const admin = await mysql.createConnection({ uri: MYSQL_URL, dateStrings: true, supportBigNumbers: true, bigNumberStrings: true, charset: 'utf8mb4', timezone: 'Z' });
  await admin.query(`SET time_zone = '+00:00'`);
  await admin.query(`CREATE DATABASE \`${database}\` CHARACTER SET utf8mb4`);
  await admin.query(`USE \`${database}\``);
  const url = new URL(MYSQL_URL);
  url.pathname = `/${database}`;
  const state = `st_${database}`;
  return {
    kind: 'mysql',
    url: url.toString(),
    exec: async (sql) => void (await admin.query(sql)),
    rows: async (table, columns) => {
      const [rows] = await admin.query(`SELECT ${columns.map((c) => (c === 'b' ? `LOWER(HEX(b)) AS b` : `CAST(${c} AS CHAR) AS ${c}`)).join(', ')} FROM ${table} ORDER BY id`);
      return rows as Record<string, string | null>[];
    },
    open: async () => {
      const conn = await mysql.createConnection({ uri: url.toString() });
      return { exec: async (sql) => void (await conn.query(sql)), close: () => conn.end() };
    },
    waiting: async () => {
      // A statement of this database (or its state database) still running is one waiting for a lock here.
      const [rows] = await admin.query(`SELECT count(*) AS n FROM information_schema.processlist WHERE command = 'Query' AND id <> CONNECTION_ID() AND info LIKE ?`, [`%${database}%`]);
      return Number((rows as { n: number | string }[])[0]!.n);
    },
    killWaiting: async () => {
      const [rows] = await admin.query(`SELECT id FROM information_schema.processlist WHERE command = 'Query' AND id <> CONNECTION_ID() AND info LIKE ?`, [`%${database}%`]);
      for (const { id } of rows as { id: number }[]) await admin.query(`KILL CONNECTION ${Number(id)}`);
      return (rows as unknown[]).length;
    },
    drop: async () => {
      await admin.query(`DROP DATABASE IF EXISTS \`${database}\``);
      await admin.query(`DROP DATABASE IF EXISTS \`${state}\``);
      await admin.end();
    },
  };
}

/** stateSchema per harness, so MariaDB runs (where it is a database) stay isolated. */
function stateSchemaOf(h: Harness): string {
  return h.kind === 'mysql' ? `st_${new URL(h.url).pathname.slice(1)}` : 'outbox_target';
}

function config(h: Harness, mapping: Record<string, unknown> = {}, tables = ['public.items']): TargetConfig {
  return targetSchema.parse({
    kind: h.kind,
    urlEnv: 'TARGET_URL',
    tables,
    mapping: Object.fromEntries(tables.map((t) => [t, { table: t.split('.')[1], ...(mapping[t] as object | undefined) }])),
    stateSchema: stateSchemaOf(h),
    encryption: { keyEnv: 'KEY', keyId: 'k1' },
    hashSaltEnv: 'SALT',
  });
}

const KEY = randomBytes(32);
const SECRETS = { hashSalt: 'pepper', encryptionKey: KEY };

interface Item {
  id: number;
  name: string;
  qty: number | null;
  note: string | null;
}

function data(op: ChangeData['op'], seq: number, item: Partial<Item> & { id?: number }, table = 'items'): ChangeData {
  const key = op === 'truncate' ? null : { id: String(item.id) };
  const after = op === 'delete' || op === 'truncate' ? null : { id: String(item.id), name: item.name ?? `n${item.id}`, qty: item.qty ?? null, note: item.note ?? null };
  return { schema: 'public', table, op, seq: String(seq), key, before: null, after, changed: null };
}

function toChanges(target: TargetConfig, list: ChangeData[]): TargetChange[] {
  const transform = buildTransformer('t', target, SECRETS);
  return list.map((d) => transform(d, { messageId: `m-${d.seq}`, eventId: `src:${d.seq}`, time: new Date().toISOString() }));
}

const ITEM_COLUMNS = ['id', 'name', 'qty', 'note'];
const ITEMS_DDL = {
  postgres: `CREATE TABLE items (id bigint PRIMARY KEY, name text NOT NULL, qty int CHECK (qty >= 0), note text)`,
  mysql: `CREATE TABLE items (id BIGINT PRIMARY KEY, name VARCHAR(200) NOT NULL, qty INT CHECK (qty >= 0), note TEXT) CHARACTER SET utf8mb4`,
};

function asRow(item: Item): Record<string, string | null> {
  return { id: String(item.id), name: item.name, qty: item.qty === null ? null : String(item.qty), note: item.note };
}

/** Small seeded PRNG so a failing history can be replayed from its seed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A source history: many updates per key, deletes, re-inserts and a few truncates, with increasing seq. */
function history(random: () => number, keys: number, length: number): { changes: ChangeData[]; final: Item[] } {
  const state = new Map<number, Item>();
  const changes: ChangeData[] = [];
  let seq = 1000;
  for (let i = 0; i < length; i++) {
    seq += 1 + Math.floor(random() * 3);
    if (i > length / 4 && random() < 0.006) {
      state.clear();
      changes.push(data('truncate', seq, {}));
      continue;
    }
    const id = 1 + Math.floor(random() * keys);
    const item: Item = { id, name: `name-${id}-${i}`, qty: random() < 0.2 ? null : Math.floor(random() * 1000), note: random() < 0.5 ? null : `note ${i} ✓` };
    if (!state.has(id)) {
      state.set(id, item);
      changes.push(data(random() < 0.1 ? 'snapshot' : 'insert', seq, item));
    } else if (random() < 0.2) {
      state.delete(id);
      changes.push(data('delete', seq, { id }));
    } else {
      state.set(id, item);
      changes.push(data('update', seq, item));
    }
  }
  return { changes, final: [...state.values()].sort((a, b) => a.id - b.id) };
}

/** Duplicates about a third of the changes, shuffles, and cuts into batches of 1-10. */
function deliveries<T>(random: () => number, changes: T[]): T[][] {
  const copies = changes.flatMap((c) => (random() < 0.3 ? [c, c] : random() < 0.05 ? [c, c, c] : [c]));
  for (let i = copies.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [copies[i], copies[j]] = [copies[j]!, copies[i]!];
  }
  const batches: T[][] = [];
  for (let i = 0; i < copies.length; ) {
    const size = 1 + Math.floor(random() * 10);
    batches.push(copies.slice(i, i + size));
    i += size;
  }
  return batches;
}

/** Applies like a consumer does: a retryable failure means the same batch comes back later. */
async function applyWithRetry(writer: TargetWriter, batch: TargetChange[]): Promise<{ outcomes: ApplyOutcome[]; retries: number }> {
  for (let retries = 0; ; retries++) {
    try {
      return { outcomes: await writer.apply(batch), retries };
    } catch (err) {
      if (!(err instanceof OutboxError && err.retryable) || retries > 20) throw err;
    }
  }
}

const DIALECTS = [
  { name: 'PostgreSQL', make: postgresHarness },
  { name: 'MariaDB', make: mysqlHarness },
] as const;

describe.each(DIALECTS)('$name target', ({ make }) => {
  let h: Harness;
  const writers: TargetWriter[] = [];
  const writer = (target: TargetConfig) => {
    const w = createTargetWriter('t', target, { url: h.url }, silentLogger);
    writers.push(w);
    return w;
  };
  const items = () => h.rows('items', ITEM_COLUMNS);
  /** A fresh items table and an empty version store (each test starts its seqs over). */
  const reset = async () => {
    await h.exec(h.kind === 'postgres' ? `DROP SCHEMA IF EXISTS ${stateSchemaOf(h)} CASCADE` : `DROP DATABASE IF EXISTS \`${stateSchemaOf(h)}\``);
    await h.exec('DROP TABLE IF EXISTS items');
    await h.exec(ITEMS_DDL[h.kind]);
  };

  beforeAll(async () => {
    h = await make();
  });
  afterAll(async () => {
    for (const w of writers) await w.close();
    await h?.drop();
  });

  it('ignores duplicates and older changes, applies newer ones', async () => {
    await reset();
    const w = writer(config(h));
    const [ins, upd, older] = toChanges(config(h), [data('insert', 10, { id: 1, name: 'a', qty: 1 }), data('update', 20, { id: 1, name: 'b', qty: 2 }), data('update', 15, { id: 1, name: 'old', qty: 9 })]);
    expect(await w.apply([ins!])).toEqual([{ status: 'applied' }]);
    expect(await w.apply([ins!])).toEqual([{ status: 'stale' }]);
    expect(await w.apply([upd!, older!, upd!])).toEqual([{ status: 'applied' }, { status: 'stale' }, { status: 'stale' }]);
    expect(await items()).toEqual([{ id: '1', name: 'b', qty: '2', note: null }]);
  });

  it('keeps a tombstone: a late older update does not bring a deleted row back; a newer insert does', async () => {
    await reset();
    const w = writer(config(h));
    const [ins, del, late, again] = toChanges(config(h), [data('insert', 10, { id: 2, name: 'x' }), data('delete', 30, { id: 2 }), data('update', 20, { id: 2, name: 'late' }), data('insert', 40, { id: 2, name: 'again' })]);
    expect(await w.apply([ins!])).toEqual([{ status: 'applied' }]);
    expect(await w.apply([del!])).toEqual([{ status: 'applied' }]);
    expect(await w.apply([late!])).toEqual([{ status: 'stale' }]);
    expect(await items()).toEqual([]);
    expect(await w.apply([again!, late!])).toEqual([{ status: 'applied' }, { status: 'stale' }]);
    expect(await items()).toEqual([{ id: '2', name: 'again', qty: null, note: null }]);
  });

  it('purges tombstones older than tombstoneRetentionHours (after that, a late older change would resurrect the row)', async () => {
    await reset();
    const target = config(h);
    const c = toChanges(target, [data('insert', 10, { id: 1 }), data('delete', 30, { id: 1 }), data('insert', 11, { id: 2 }), data('delete', 31, { id: 2 }), data('update', 20, { id: 1, name: 'late' }), data('update', 21, { id: 2, name: 'late' })]);
    const first = writer(target);
    for (const change of c.slice(0, 4)) await first.apply([change]);
    const versions = h.kind === 'postgres' ? `${stateSchemaOf(h)}.versions` : `\`${stateSchemaOf(h)}\`.versions`;
    const old = h.kind === 'postgres' ? `now() - interval '200 hours'` : `UTC_TIMESTAMP(6) - INTERVAL 200 HOUR`;
    await h.exec(`UPDATE ${versions} SET updated_at = ${old} WHERE seq = 30`);
    // a writer purges on its first batch (then at most every 10 minutes)
    expect(await writer(target).apply([c[5]!])).toEqual([{ status: 'stale' }]);
    expect(await writer(target).apply([c[4]!])).toEqual([{ status: 'applied' }]);
    expect((await items()).map((r) => r.id)).toEqual(['1']);
  });

  it('a truncate clears the table; older changes arriving later are ignored; a late truncate keeps newer rows', async () => {
    await reset();
    const w = writer(config(h));
    const c = toChanges(config(h), [
      data('insert', 10, { id: 1 }),
      data('insert', 20, { id: 2 }),
      data('truncate', 30, {}),
      data('insert', 25, { id: 3 }),
      data('insert', 35, { id: 4 }),
      data('insert', 50, { id: 5 }),
      data('truncate', 45, {}),
      data('update', 40, { id: 5, name: 'older than the row' }),
    ]);
    expect(await w.apply(c.slice(0, 2))).toEqual([{ status: 'applied' }, { status: 'applied' }]);
    expect(await items()).toHaveLength(2);
    expect(await w.apply([c[2]!])).toEqual([{ status: 'applied' }]);
    expect(await items()).toEqual([]);
    expect(await w.apply([c[3]!, c[4]!, c[2]!])).toEqual([{ status: 'stale' }, { status: 'applied' }, { status: 'stale' }]);
    expect((await items()).map((r) => r.id)).toEqual(['4']);
    expect(await w.apply([c[5]!])).toEqual([{ status: 'applied' }]);
    expect(await w.apply([c[6]!, c[7]!])).toEqual([{ status: 'applied' }, { status: 'stale' }]);
    expect((await items()).map((r) => r.id)).toEqual(['5']);
    expect((await items())[0]!.name).toBe('n5');
  });

  it('onTruncate ignore leaves the rows', async () => {
    await reset();
    const target = config(h, { 'public.items': { onTruncate: 'ignore' } });
    const w = writer(target);
    const c = toChanges(target, [data('insert', 10, { id: 1 }), data('truncate', 20, {}), data('update', 15, { id: 1, name: 'still applies' })]);
    expect(await w.apply(c.slice(0, 2))).toEqual([{ status: 'applied' }, { status: 'applied' }]);
    expect(await items()).toEqual([{ id: '1', name: 'n1', qty: null, note: null }]);
    expect(await w.apply([c[2]!])).toEqual([{ status: 'applied' }]);
    expect(await items()).toEqual([{ id: '1', name: 'still applies', qty: null, note: null }]);
  });

  it('snapshot rows upsert under the same guard', async () => {
    await reset();
    const w = writer(config(h));
    const c = toChanges(config(h), [data('snapshot', 5, { id: 7, name: 'snap' }), data('update', 8, { id: 7, name: 'live' }), data('snapshot', 6, { id: 7, name: 'stale snap' }), data('snapshot', 9, { id: 7, name: 'new snap' })]);
    expect(await w.apply([c[0]!])).toEqual([{ status: 'applied' }]);
    expect(await items()).toEqual([{ id: '7', name: 'snap', qty: null, note: null }]);
    expect(await w.apply([c[1]!, c[2]!])).toEqual([{ status: 'applied' }, { status: 'stale' }]);
    expect(await w.apply([c[3]!])).toEqual([{ status: 'applied' }]);
    expect((await items())[0]!.name).toBe('new snap');
  });

  it('applies the newest change of a key in a batch; older ones in the same batch are stale', async () => {
    await reset();
    const w = writer(config(h));
    const c = toChanges(config(h), [data('insert', 10, { id: 1, name: 'a' }), data('update', 12, { id: 1, name: 'c' }), data('update', 11, { id: 1, name: 'b' }), data('insert', 5, { id: 2 }), data('delete', 6, { id: 2 })]);
    expect(await w.apply(c)).toEqual([{ status: 'stale' }, { status: 'applied' }, { status: 'stale' }, { status: 'stale' }, { status: 'applied' }]);
    expect(await items()).toEqual([{ id: '1', name: 'c', qty: null, note: null }]);
  });

  it('rejects one bad change in a savepoint and commits the rest; the bad one does not advance the version', async () => {
    await reset();
    const w = writer(config(h));
    const c = toChanges(config(h), [data('insert', 10, { id: 1, qty: 1 }), data('insert', 11, { id: 2, qty: -5 }), data('insert', 12, { id: 3, qty: 3 }), data('insert', 9, { id: 2, qty: 2 })]);
    const outcomes = await w.apply(c.slice(0, 3));
    expect(outcomes[0]).toEqual({ status: 'applied' });
    expect(outcomes[1]).toMatchObject({ status: 'rejected' });
    expect((outcomes[1] as { reason: string }).reason).toMatch(/items/);
    expect((outcomes[1] as { reason: string }).reason).not.toMatch(/-5/);
    expect(outcomes[2]).toEqual({ status: 'applied' });
    expect(await w.apply([c[3]!])).toEqual([{ status: 'applied' }]);
    expect((await items()).map((r) => [r.id, r.qty])).toEqual([['1', '1'], ['2', '2'], ['3', '3']]);
  });

  it('applies a batch over two tables together; a row refused in one table is rejected alone, the rest of both commit', async () => {
    await reset();
    await h.exec('DROP TABLE IF EXISTS items2');
    await h.exec(ITEMS_DDL[h.kind].replace('CREATE TABLE items', 'CREATE TABLE items2'));
    const target = config(h, {}, ['public.items', 'public.items2']);
    const w = writer(target);
    const both = () => Promise.all([items(), h.rows('items2', ITEM_COLUMNS)]);
    const c = toChanges(target, [data('insert', 10, { id: 1, name: 'a' }), data('insert', 11, { id: 1, name: 'b' }, 'items2'), data('insert', 12, { id: 2, name: 'c' }, 'items2'), data('delete', 13, { id: 2 }, 'items2')]);
    expect(await w.apply(c)).toEqual([{ status: 'applied' }, { status: 'applied' }, { status: 'stale' }, { status: 'applied' }]);
    expect(await both()).toEqual([[{ id: '1', name: 'a', qty: null, note: null }], [{ id: '1', name: 'b', qty: null, note: null }]]);
    const d = toChanges(target, [data('update', 20, { id: 1, name: 'a2' }), data('update', 21, { id: 1, qty: -1 }, 'items2'), data('insert', 22, { id: 3, name: 'd' }, 'items2')]);
    const outcomes = await w.apply(d);
    expect(outcomes[0]).toEqual({ status: 'applied' });
    expect(outcomes[1]).toMatchObject({ status: 'rejected' });
    expect(outcomes[2]).toEqual({ status: 'applied' });
    expect(await both()).toEqual([[{ id: '1', name: 'a2', qty: null, note: null }], [{ id: '1', name: 'b', qty: null, note: null }, { id: '3', name: 'd', qty: null, note: null }]]);
    await h.exec('DROP TABLE items2');
  });

  it('converges to the source state under duplicated, shuffled, batched delivery', async () => {
    await reset();
    const target = config(h);
    const w = writer(target);
    for (const seed of [1, 2]) {
      await h.exec('DELETE FROM items');
      const random = rng(seed * 7919);
      const { changes, final } = history(random, 12, 300);
      const stateBefore = await items();
      expect(stateBefore).toEqual([]);
      // a new key space per seed: ids are offset so earlier version rows do not interfere
      const offset = seed * 1000;
      const shifted = changes.map((d) => (d.key ? { ...d, key: { id: String(Number(d.key.id) + offset) }, after: d.after ? { ...d.after, id: String(Number(d.after.id) + offset) } : null } : d));
      const shiftedSeq = shifted.map((d) => ({ ...d, seq: String(Number(d.seq) + seed * 1_000_000) }));
      const all = toChanges(target, shiftedSeq);
      for (const batch of deliveries(random, all)) await applyWithRetry(w, batch);
      expect(await items()).toEqual(final.map((i) => asRow({ ...i, id: i.id + offset })));
    }
  });

  it('a delete applied while another consumer\'s insert of the same key commits removes the row (the delete does not read an older snapshot)', async () => {
    await reset();
    await h.exec('DROP TABLE IF EXISTS items2');
    await h.exec(ITEMS_DDL[h.kind].replace('CREATE TABLE items', 'CREATE TABLE items2'));
    const target = config(h, {}, ['public.items', 'public.items2']);
    const [a, b] = [writer(target), writer(target)];
    // Writer a inserts key 7 of items, then waits on a row of items2 that this test holds locked:
    // its transaction, with the new row and its version, stays open.
    const blocker = await h.open();
    try {
      await blocker.exec('BEGIN');
      await blocker.exec(`INSERT INTO items2 (id, name) VALUES (1, 'held')`);
      const [ins, other, del] = toChanges(target, [data('insert', 10, { id: 7, name: 'inserted' }), data('insert', 11, { id: 1, name: 'a' }, 'items2'), data('delete', 20, { id: 7 })]);
      const inserting = a.apply([ins!, other!]);
      await waitFor(async () => (await h.waiting()) >= 1, { what: 'writer a waiting on the held row' });
      // Writer b's delete of key 7 now waits for a's version of that key (where a wrote items first;
      // a writer that takes its tables in another order gets there by another path).
      let deleted = false;
      const deleting = b.apply([del!]).finally(() => (deleted = true));
      await waitFor(async () => deleted || (await h.waiting()) >= 2, { what: 'writer b waiting on writer a, or done' });
      await blocker.exec('ROLLBACK');
      await inserting;
      expect(await deleting).toEqual([{ status: 'applied' }]);
      expect(await items()).toEqual([]);
    } finally {
      await blocker.close();
      await h.exec('DROP TABLE IF EXISTS items2');
    }
  });

  it('two writers applying the same history at once converge', async () => {
    await reset();
    const target = config(h);
    const [a, b] = [writer(target), writer(target)];
    const random = rng(424242);
    const { changes, final } = history(random, 8, 240);
    const shifted = changes.map((d) => ({ ...d, seq: String(Number(d.seq) + 9_000_000) }));
    const all = toChanges(target, shifted);
    const run = async (w: TargetWriter, batches: TargetChange[][]) => {
      let retries = 0;
      for (const batch of batches) retries += (await applyWithRetry(w, batch)).retries;
      return retries;
    };
    await Promise.all([run(a, deliveries(random, all)), run(b, deliveries(random, all))]);
    expect(await items()).toEqual(final.map(asRow));
  });

  it('one writer with two calls under way at once (queue.applyConcurrency 2) converges', async () => {
    await reset();
    const target = config(h);
    const w = writer(target);
    const random = rng(515151);
    const { changes, final } = history(random, 8, 240);
    const all = toChanges(target, changes.map((d) => ({ ...d, seq: String(Number(d.seq) + 8_000_000) })));
    const run = async (batches: TargetChange[][]) => {
      for (const batch of batches) await applyWithRetry(w, batch);
    };
    await Promise.all([run(deliveries(random, all)), run(deliveries(random, all))]);
    expect(await items()).toEqual(final.map(asRow));
  });

  it.each(['newer', 'older'] as const)('two calls of one writer touching the same keys at once end at the newest version, the %s one committing first', async (firstName) => {
    await reset();
    await h.exec('DROP TABLE IF EXISTS items2');
    await h.exec(ITEMS_DDL[h.kind].replace('CREATE TABLE items', 'CREATE TABLE items2'));
    const target = config(h, {}, ['public.items', 'public.items2']);
    const w = writer(target);
    // Key 7 has a version before both calls; key 8 is new to both.
    expect(await w.apply(toChanges(target, [data('insert', 5, { id: 7, name: 'before' })]))).toEqual([{ status: 'applied' }]);
    const seq = { older: 10, newer: 20 };
    const secondName = firstName === 'newer' ? 'older' : 'newer';
    const call = (name: 'older' | 'newer', held: boolean) =>
      toChanges(target, [data('update', seq[name], { id: 7, name }), data('insert', seq[name] + 1, { id: 8, name }), ...(held ? [data('insert', seq[name] + 2, { id: 1, name }, 'items2')] : [])]);
    // The first call locks keys 7 and 8, then waits on a row of items2 this test holds, so it commits
    // only when the test lets it; the second call, started meanwhile, waits on the first's keys.
    const blocker = await h.open();
    try {
      await blocker.exec('BEGIN');
      await blocker.exec(`INSERT INTO items2 (id, name) VALUES (1, 'held')`);
      const first = w.apply(call(firstName, true));
      await waitFor(async () => (await h.waiting()) >= 1, { what: 'the first call waiting on the held row' });
      const second = w.apply(call(secondName, false));
      await waitFor(async () => (await h.waiting()) >= 2, { what: 'the second call waiting on the first one\'s keys' });
      await blocker.exec('ROLLBACK');
      expect(await first).toEqual([{ status: 'applied' }, { status: 'applied' }, { status: 'applied' }]);
      const expected = secondName === 'newer' ? 'applied' : 'stale';
      expect(await second).toEqual([{ status: expected }, { status: expected }]);
      expect((await items()).map((r) => [r.id, r.name])).toEqual([['7', 'newer'], ['8', 'newer']]);
      // Each key's version is the newest seq: an older change still comes back stale.
      expect(await w.apply(toChanges(target, [data('update', 15, { id: 7, name: 'late' }), data('update', 16, { id: 8, name: 'late' })]))).toEqual([{ status: 'stale' }, { status: 'stale' }]);
    } finally {
      await blocker.close();
      await h.exec('DROP TABLE IF EXISTS items2');
    }
  });

  it('a deadlock between the batch and another transaction runs the batch again: the newer change lands, once', async () => {
    await reset();
    await h.exec('DROP TABLE IF EXISTS scratch');
    await h.exec('CREATE TABLE scratch (id int PRIMARY KEY)');
    // PostgreSQL ends the transaction whose deadlock check (deadlock_timeout after it began to
    // wait) finds the cycle. The batch waits first; its check must come after the other
    // transaction has closed the cycle and before that one's own check: 3 s for the batch's
    // sessions, a minute for the other's, so a slow machine cannot make the other one the victim.
    const url = h.kind === 'postgres' ? `${h.url}${h.url.includes('?') ? '&' : '?'}options=${encodeURIComponent('-c deadlock_timeout=3s')}` : h.url;
    const w = createTargetWriter('t', config(h), { url }, silentLogger);
    writers.push(w);
    expect(await w.apply(toChanges(config(h), [data('insert', 10, { id: 1, name: 'before' })]))).toEqual([{ status: 'applied' }]);
    const retriesBefore = w.stats?.retries ?? 0;
    const versions = h.kind === 'postgres' ? `${stateSchemaOf(h)}.versions` : `\`${stateSchemaOf(h)}\`.versions`;
    const other = await h.open();
    try {
      // The other transaction writes many rows first (so MariaDB, which rolls back the lighter of the
      // two, picks the batch), then locks the row the batch will write …
      await other.exec('BEGIN');
      if (h.kind === 'postgres') await other.exec(`SET LOCAL deadlock_timeout = '60s'`);
      await other.exec(h.kind === 'postgres' ? 'INSERT INTO scratch SELECT generate_series(1, 500)' : 'INSERT INTO scratch WITH RECURSIVE n (i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 500) SELECT i FROM n');
      await other.exec('SELECT * FROM items WHERE id = 1 FOR UPDATE');
      // … the batch locks key 1's version and waits for that row …
      const applying = w.apply(toChanges(config(h), [data('update', 20, { id: 1, name: 'after' })])).catch((err: unknown) => err);
      await waitFor(async () => (await h.waiting()) >= 1, { what: 'the batch waiting on the row held by the other transaction' });
      // … and the other transaction now asks for the version row the batch holds: a deadlock. The
      // server ends the batch's transaction (PostgreSQL: the one that waited first; MariaDB: the
      // lighter), which releases the version row; the other transaction gets it and commits.
      await other.exec(`SELECT * FROM ${versions} FOR UPDATE`);
      await other.exec('COMMIT');
      expect(await applying).toEqual([{ status: 'applied' }]);
      // Once, or twice when the retry took the version row before the other transaction did and
      // deadlocked with it again (the server's wake-up order); the third try is the last.
      const retries = (w.stats?.retries ?? 0) - retriesBefore;
      expect(retries).toBeGreaterThanOrEqual(1);
      expect(retries).toBeLessThanOrEqual(2);
      expect((await items()).map((r) => [r.id, r.name])).toEqual([['1', 'after']]);
      expect(await w.apply(toChanges(config(h), [data('update', 20, { id: 1, name: 'again' })]))).toEqual([{ status: 'stale' }]);
    } finally {
      // A failed statement leaves the transaction open: end it before the connection goes back to the pool.
      await other.exec('ROLLBACK').catch(() => undefined);
      await other.close();
      await h.exec('DROP TABLE IF EXISTS scratch');
    }
  });

  it('a connection lost under a batch runs the batch again at once on a new one: the change lands, once', async () => {
    await reset();
    const w = writer(config(h));
    expect(await w.apply(toChanges(config(h), [data('insert', 10, { id: 1, name: 'before' })]))).toEqual([{ status: 'applied' }]);
    const retriesBefore = w.stats?.retries ?? 0;
    const other = await h.open();
    try {
      // The batch waits for a row the other session holds; meanwhile its connection is closed.
      await other.exec('BEGIN');
      await other.exec('SELECT * FROM items WHERE id = 1 FOR UPDATE');
      const applying = w.apply(toChanges(config(h), [data('update', 20, { id: 1, name: 'after' })])).catch((err: unknown) => err);
      await waitFor(async () => (await h.waiting()) >= 1, { what: 'the batch waiting on the row held by the other session' });
      expect(await h.killWaiting()).toBe(1);
      // The writer's second try waits on a new connection for the same row, then lands.
      await waitFor(async () => (w.stats?.retries ?? 0) > retriesBefore && (await h.waiting()) >= 1, { what: 'the batch to wait again on a new connection' });
      await other.exec('COMMIT');
      expect(await applying).toEqual([{ status: 'applied' }]);
      expect((w.stats?.retries ?? 0) - retriesBefore).toBe(1);
      expect((await items()).map((r) => [r.id, r.name])).toEqual([['1', 'after']]);
      expect(await w.apply(toChanges(config(h), [data('update', 20, { id: 1, name: 'again' })]))).toEqual([{ status: 'stale' }]);
    } finally {
      await other.exec('ROLLBACK').catch(() => undefined);
      await other.close();
    }
  });

  it('lands values exactly: 30-digit numeric, bigint above 2^53, timestamps, bytes, uuid, json, unicode', async () => {
    const pgDdl = `CREATE TABLE vals (id int PRIMARY KEY, n numeric(40,10), big bigint, ts timestamptz, ts_local timestamp, d date, b bytea, u uuid, j jsonb, t text)`;
    const myDdl = `CREATE TABLE vals (id INT PRIMARY KEY, n DECIMAL(40,10), big BIGINT, ts DATETIME(6), ts_local DATETIME(6), d DATE, b VARBINARY(64), u CHAR(36), j JSON, t TEXT) CHARACTER SET utf8mb4`;
    await h.exec('DROP TABLE IF EXISTS vals');
    await h.exec(h.kind === 'postgres' ? pgDdl : myDdl);
    const target = config(h, {}, ['public.vals']);
    const w = writer(target);
    const after = {
      id: 1,
      n: '12345678901234567890.1234567890',
      big: '9007199254740993',
      ts: '2024-03-05T12:11:12.123456+02:00',
      ts_local: '2024-03-05T23:59:59.999999',
      d: '2024-02-29',
      b: '\\x00ff10ab',
      u: '6f1c1a2e-9a4b-4c3d-8e2f-1a2b3c4d5e6f',
      j: { a: [1, 2, { b: 'ü' }], n: 1.5, s: 'x"y' },
      t: 'héllo 🌍 中文 \'"\\',
    };
    const [c] = toChanges(target, [{ schema: 'public', table: 'vals', op: 'insert', seq: '100', key: { id: 1 }, before: null, after, changed: null }]);
    expect(await w.apply([c!])).toEqual([{ status: 'applied' }]);
    const [row] = await h.rows('vals', ['id', 'n', 'big', 'ts', 'ts_local', 'd', 'b', 'u', 'j', 't']);
    expect(row!.n).toBe('12345678901234567890.1234567890');
    expect(row!.big).toBe('9007199254740993');
    expect(row!.ts).toBe(h.kind === 'postgres' ? '2024-03-05 10:11:12.123456+00' : '2024-03-05 10:11:12.123456');
    expect(row!.ts_local).toBe('2024-03-05 23:59:59.999999');
    expect(row!.d).toBe('2024-02-29');
    expect(row!.b).toBe(h.kind === 'postgres' ? '\\x00ff10ab' : '00ff10ab');
    expect(row!.u).toBe('6f1c1a2e-9a4b-4c3d-8e2f-1a2b3c4d5e6f');
    expect(JSON.parse(row!.j!)).toEqual(after.j);
    expect(row!.t).toBe(after.t);
  });

  it('writes masked, hashed and encrypted columns as configured; encrypted ones decrypt with the key', async () => {
    await reset();
    const target = config(h, { 'public.items': { mask: { note: { keepLast: 2 } }, hash: ['name'], encrypt: [] } });
    const enc = config(h, { 'public.items': { encrypt: ['note'], convert: { name: 'uppercase' } } });
    const w = writer(target);
    const [c1] = toChanges(target, [data('insert', 10, { id: 1, name: 'Ann', note: 'secret-42' })]);
    const [c2] = toChanges(enc, [data('insert', 11, { id: 2, name: 'bob', note: 'top secret ✓' })]);
    expect(await w.apply([c1!, c2!])).toEqual([{ status: 'applied' }, { status: 'applied' }]);
    const rows = await items();
    expect(rows[0]).toEqual({ id: '1', name: hashValue('Ann', 'pepper'), qty: null, note: '*******42' });
    expect(rows[1]!.name).toBe('BOB');
    expect(rows[1]!.note).toMatch(/^enc:v1:k1:/);
    expect(decryptValue(rows[1]!.note!, { k1: KEY })).toBe('top secret ✓');
    expect(() => decryptValue(rows[1]!.note!, { k1: randomBytes(32) })).toThrow(/authentication failed/);
  });

  it('init creates the version store and names missing tables, columns and keys', async () => {
    await reset();
    await h.exec('DROP TABLE IF EXISTS nokey');
    await h.exec('CREATE TABLE nokey (id int, name text)');
    const target = config(h, { 'public.items': { rename: { name: 'name', note: 'remark' } } }, ['public.items', 'public.missing', 'public.nokey']);
    const problems = await writer(target).init({ keyColumns: { 'public.items': ['id'], 'public.nokey': ['id'] } });
    expect(problems).toEqual([
      expect.stringMatching(/table items \(mapped from public.items\) has no column "remark"/),
      expect.stringMatching(/table missing \(mapped from public.missing\) does not exist/),
      expect.stringMatching(/table nokey \(mapped from public.nokey\) needs a primary key or unique index on exactly \(id\)/),
    ]);
    expect(await writer(config(h)).init({ keyColumns: { 'public.items': ['id'] } })).toEqual([]);
  });

  it('a deadlock or a lost connection fails the whole batch, retryable, and nothing of it commits', async () => {
    await reset();
    if (h.kind === 'postgres') {
      await h.exec(`CREATE FUNCTION boom() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF NEW.name = 'deadlock' THEN RAISE EXCEPTION 'simulated' USING ERRCODE = '40P01'; END IF;
          IF NEW.name = 'kill' THEN PERFORM pg_terminate_backend(pg_backend_pid()); END IF;
          RETURN NEW;
        END $$`);
      await h.exec(`CREATE TRIGGER boom BEFORE INSERT OR UPDATE ON items FOR EACH ROW EXECUTE FUNCTION boom()`);
    } else {
      await h.exec(`CREATE TRIGGER boom BEFORE INSERT ON items FOR EACH ROW BEGIN IF NEW.name = 'deadlock' THEN SIGNAL SQLSTATE '40001' SET MESSAGE_TEXT = 'simulated'; END IF; END`);
    }
    const w = writer(config(h));
    const c = toChanges(config(h), [data('insert', 10, { id: 1, name: 'ok' }), data('insert', 11, { id: 2, name: 'deadlock' }), data('insert', 12, { id: 3, name: 'kill' })]);
    const err = await w.apply([c[0]!, c[1]!]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OutboxError);
    expect((err as OutboxError).retryable).toBe(true);
    expect(await items()).toEqual([]);
    if (h.kind === 'postgres') {
      const killed = await w.apply([c[0]!, c[2]!]).catch((e: unknown) => e);
      expect((killed as OutboxError).retryable).toBe(true);
      expect(await items()).toEqual([]);
    }
    // the version of key 1 did not advance: the same change applies once the batch comes back
    expect(await w.apply([c[0]!])).toEqual([{ status: 'applied' }]);
    expect((await items()).map((r) => r.id)).toEqual(['1']);
    await h.exec('DROP TRIGGER boom' + (h.kind === 'postgres' ? ' ON items' : ''));
  });

  it('a share move: at an equal seq an upsert wins over a delete, in either order and in one batch', async () => {
    await reset();
    const w = writer(config(h));
    const [ins, moveOut, moveIn] = toChanges(config(h), [data('insert', 10, { id: 1, name: 'a' }), data('delete', 20, { id: 1 }), data('update', 20, { id: 1, name: 'moved' })]);
    await w.apply([ins!]);
    expect(await w.apply([moveOut!])).toEqual([{ status: 'applied' }]);
    expect(await w.apply([moveIn!])).toEqual([{ status: 'applied' }]);
    expect(await w.apply([moveOut!, moveIn!])).toEqual([{ status: 'stale' }, { status: 'stale' }]);
    expect((await items()).map((r) => r.name)).toEqual(['moved']);
    const [ins2, out2, in2] = toChanges(config(h), [data('insert', 10, { id: 2, name: 'a' }), data('delete', 20, { id: 2 }), data('update', 20, { id: 2, name: 'moved' })]);
    await w.apply([ins2!]);
    expect(await w.apply([out2!, in2!])).toEqual([{ status: 'stale' }, { status: 'applied' }]);
    expect((await items()).map((r) => r.name)).toEqual(['moved', 'moved']);
  });

  describe('filtered targets sharing one table', () => {
    const SHARED_DDL = {
      postgres: `CREATE TABLE shared (id bigint PRIMARY KEY, name text NOT NULL, region text)`,
      mysql: `CREATE TABLE shared (id BIGINT PRIMARY KEY, name VARCHAR(200) NOT NULL, region VARCHAR(20)) CHARACTER SET utf8mb4`,
    };
    /** Two targets (tenant a; tenants b and c) writing the same table, the share column tenant renamed to region. */
    const share = (where: string[]) =>
      targetSchema.parse({
        kind: h.kind,
        urlEnv: 'TARGET_URL',
        tables: ['public.accounts'],
        where: { tenant: where },
        mapping: { 'public.accounts': { table: 'shared', rename: { tenant: 'region' } } },
        stateSchema: stateSchemaOf(h),
      });
    const acct = (op: ChangeData['op'], seq: number, id: number, tenant = 'a', name = `n${id}`): ChangeData => ({
      schema: 'public',
      table: 'accounts',
      op,
      seq: String(seq),
      key: op === 'truncate' ? null : { id: String(id) },
      before: null,
      after: op === 'delete' || op === 'truncate' ? null : { id: String(id), name, tenant },
      changed: null,
    });
    const changes = (target: TargetConfig, list: ChangeData[]) => {
      const transform = buildTransformer('x', target, {});
      return list.map((d) => transform(d, { messageId: `m-${d.seq}`, eventId: `src:${d.seq}`, time: new Date().toISOString() }));
    };
    const shared = () => h.rows('shared', ['id', 'name', 'region']);

    it('each truncate deletes its own share only; older changes stay stale for the target that truncated, not for the other', async () => {
      await reset();
      await h.exec('DROP TABLE IF EXISTS shared');
      await h.exec(SHARED_DDL[h.kind]);
      const [a, bc] = [share(['a']), share(['b', 'c'])];
      const [wa, wbc] = [createTargetWriter('eu', a, { url: h.url }, silentLogger), createTargetWriter('us', bc, { url: h.url }, silentLogger)];
      writers.push(wa, wbc);
      await wa.apply(changes(a, [acct('insert', 10, 1, 'a'), acct('insert', 11, 2, 'a')]));
      await wbc.apply(changes(bc, [acct('insert', 12, 3, 'b'), acct('insert', 13, 4, 'c')]));
      expect((await shared()).map((r) => r.region)).toEqual(['a', 'a', 'b', 'c']);

      // The source truncates at 20; target eu applies it first: only its rows go.
      expect(await wa.apply(changes(a, [acct('truncate', 20, 0)]))).toEqual([{ status: 'applied' }]);
      expect((await shared()).map((r) => r.id)).toEqual(['3', '4']);
      // A change older than eu's truncate stays stale for eu; us has not truncated yet, so its own
      // older change still applies, and its truncate then removes exactly its share.
      expect(await wa.apply(changes(a, [acct('update', 15, 1, 'a', 'late')]))).toEqual([{ status: 'stale' }]);
      expect(await wbc.apply(changes(bc, [acct('update', 16, 3, 'b', 'before the truncate')]))).toEqual([{ status: 'applied' }]);
      expect(await wa.apply(changes(a, [acct('insert', 21, 5, 'a')]))).toEqual([{ status: 'applied' }]);
      expect(await wbc.apply(changes(bc, [acct('insert', 22, 6, 'b'), acct('truncate', 20, 0)]))).toEqual([{ status: 'applied' }, { status: 'applied' }]);
      expect(await shared()).toEqual([
        { id: '5', name: 'n5', region: 'a' },
        { id: '6', name: 'n6', region: 'b' },
      ]);
      expect(await wbc.apply(changes(bc, [acct('update', 17, 4, 'c')]))).toEqual([{ status: 'stale' }]);
      // A duplicate of a truncate changes nothing.
      expect(await wa.apply(changes(a, [acct('truncate', 20, 0)]))).toEqual([{ status: 'stale' }]);
      expect((await shared()).map((r) => r.id)).toEqual(['5', '6']);
    });

    it('a row moved from one share to the other stays, whichever side arrives first; a later truncate of its old share leaves it', async () => {
      await reset();
      await h.exec('DROP TABLE IF EXISTS shared');
      await h.exec(SHARED_DDL[h.kind]);
      const [a, bc] = [share(['a']), share(['b', 'c'])];
      const [wa, wbc] = [createTargetWriter('eu', a, { url: h.url }, silentLogger), createTargetWriter('us', bc, { url: h.url }, silentLogger)];
      writers.push(wa, wbc);
      await wa.apply(changes(a, [acct('insert', 10, 1, 'a'), acct('insert', 11, 2, 'a')]));
      // seq 30: 1 moves a → b. eu gets the old side (a delete for it), us the new side (an upsert).
      await wbc.apply(changes(bc, [acct('update', 30, 1, 'b', 'moved')]));
      expect(await wa.apply(changes(a, [acct('delete', 30, 1)]))).toEqual([{ status: 'stale' }]);
      // seq 31: 2 moves a → c, the old side first this time.
      expect(await wa.apply(changes(a, [acct('delete', 31, 2)]))).toEqual([{ status: 'applied' }]);
      expect(await wbc.apply(changes(bc, [acct('update', 31, 2, 'c', 'moved too')]))).toEqual([{ status: 'applied' }]);
      expect(await wa.apply(changes(a, [acct('truncate', 40, 0)]))).toEqual([{ status: 'applied' }]);
      expect(await shared()).toEqual([
        { id: '1', name: 'moved', region: 'b' },
        { id: '2', name: 'moved too', region: 'c' },
      ]);
    });

    it('upgrades a version store from before share truncates in place: the table\'s truncate still makes older changes stale', async () => {
      await reset();
      await h.exec('DROP TABLE IF EXISTS shared');
      await h.exec(SHARED_DDL[h.kind]);
      const st = stateSchemaOf(h);
      if (h.kind === 'postgres') {
        await h.exec(`CREATE SCHEMA ${st}; CREATE TABLE ${st}.versions (target_table text NOT NULL, key_hash bytea NOT NULL, key jsonb NOT NULL, seq numeric NOT NULL, deleted boolean NOT NULL DEFAULT false, updated_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (target_table, key_hash));
          CREATE TABLE ${st}.truncations (target_table text PRIMARY KEY, seq numeric NOT NULL, truncated_at timestamptz);
          INSERT INTO ${st}.truncations VALUES ('public.shared', 50, now())`);
      } else {
        await h.exec(`CREATE DATABASE \`${st}\``);
        await h.exec(`CREATE TABLE \`${st}\`.versions (target_table VARCHAR(130) CHARACTER SET ascii NOT NULL, key_hash BINARY(32) NOT NULL, key_json LONGTEXT NOT NULL, seq DECIMAL(38,0) NOT NULL, deleted BOOLEAN NOT NULL DEFAULT FALSE, updated_at DATETIME(6) NOT NULL, PRIMARY KEY (target_table, key_hash)) ENGINE=InnoDB`);
        await h.exec(`CREATE TABLE \`${st}\`.truncations (target_table VARCHAR(130) CHARACTER SET ascii NOT NULL PRIMARY KEY, seq DECIMAL(38,0) NOT NULL, truncated_at DATETIME(6) NULL) ENGINE=InnoDB`);
        await h.exec(`INSERT INTO \`${st}\`.truncations VALUES ('${new URL(h.url).pathname.slice(1)}.shared', 50, UTC_TIMESTAMP(6))`);
      }
      const a = share(['a']);
      const wa = createTargetWriter('eu', a, { url: h.url }, silentLogger);
      writers.push(wa);
      expect(await wa.apply(changes(a, [acct('insert', 45, 1, 'a'), acct('insert', 55, 2, 'a')]))).toEqual([{ status: 'stale' }, { status: 'applied' }]);
      expect(await wa.apply(changes(a, [acct('truncate', 60, 0)]))).toEqual([{ status: 'applied' }]);
      expect(await shared()).toEqual([]);
    });
  });

  it('throws a retryable error when the database cannot be reached', async () => {
    const url = new URL(h.url);
    url.port = '1';
    const w = createTargetWriter('t', config(h), { url: url.toString() }, silentLogger);
    writers.push(w);
    const [c] = toChanges(config(h), [data('insert', 10, { id: 1 })]);
    const err = await w.apply([c!]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OutboxError);
    expect((err as OutboxError).retryable).toBe(true);
    expect((err as OutboxError).code).toBe('TARGET_UNAVAILABLE');
  });
});

/**
 * The MariaDB writer's set-based path sends its statements in few round trips (START TRANSACTION
 * with the truncation record and version-row locks, then the writes with the COMMIT): what that
 * changes must still hold.
 */
describe('MariaDB target: statements sent together', () => {
  let h: Harness;
  const writers: TargetWriter[] = [];
  const writer = (target: TargetConfig) => {
    const w = createTargetWriter('t', target, { url: h.url }, silentLogger);
    writers.push(w);
    return w;
  };
  const items = () => h.rows('items', ITEM_COLUMNS);
  const reset = async () => {
    await h.exec(`DROP DATABASE IF EXISTS \`${stateSchemaOf(h)}\``);
    await h.exec('DROP TABLE IF EXISTS items');
    await h.exec(ITEMS_DDL.mysql);
  };
  /** The queries (round trips) and statements mysql2 sends while `work` runs, counted at its query entry point. */
  const counted = async <T>(work: () => Promise<T>): Promise<{ result: T; queries: number; statements: string[] }> => {
    const mysqlCore = (await import('mysql2')) as unknown as { Connection?: { prototype: object }; default?: { Connection: { prototype: object } } };
    const core = (mysqlCore.Connection ?? mysqlCore.default!.Connection).prototype as { query: (...args: unknown[]) => unknown };
    const query = core.query;
    let queries = 0;
    const statements: string[] = [];
    core.query = function (this: unknown, ...args: unknown[]) {
      queries += 1;
      const sql = typeof args[0] === 'string' ? args[0] : (args[0] as { sql: string }).sql;
      statements.push(...sql.split(';\n').map((s) => s.trim().split(/\s+/).slice(0, 2).join(' ')));
      return query.apply(this, args);
    };
    try {
      return { result: await work(), queries, statements };
    } finally {
      core.query = query;
    }
  };

  beforeAll(async () => {
    h = await mysqlHarness();
  });
  afterAll(async () => {
    for (const w of writers) await w.close();
    await h?.drop();
  });

  it('a batch of one table is one transaction in two round trips: the locks with START TRANSACTION, the writes with COMMIT', async () => {
    await reset();
    const w = writer(config(h));
    const [first, ...batch] = toChanges(config(h), [data('insert', 5, { id: 9 }), data('insert', 10, { id: 1, name: 'a' }), data('update', 11, { id: 9, name: 'b' }), data('delete', 12, { id: 2 })]);
    expect(await w.apply([first!])).toEqual([{ status: 'applied' }]);
    const { result, queries, statements } = await counted(() => w.apply(batch));
    expect(result).toEqual([{ status: 'applied' }, { status: 'applied' }, { status: 'applied' }]);
    expect(queries).toBe(2);
    expect(statements).toEqual(['START TRANSACTION', 'SELECT CAST(seq', 'SELECT key_hash,', 'INSERT INTO', 'INSERT INTO', 'INSERT INTO', 'DELETE FROM', 'COMMIT']);
    expect(await items()).toEqual([
      { id: '1', name: 'a', qty: null, note: null },
      { id: '9', name: 'b', qty: null, note: null },
    ]);
  });

  it('values with quotes, backslashes, semicolons and question marks land as they are', async () => {
    await reset();
    const w = writer(config(h));
    const hostile = [`it's`, `\\'; DROP TABLE items; -- `, `a;\nCOMMIT;\nb`, `?`, `\\`, `"\`\\0`];
    const c = toChanges(config(h), hostile.map((note, i) => data('insert', 10 + i, { id: i + 1, name: `n${i};`, note })));
    expect(await w.apply(c)).toEqual(hostile.map(() => ({ status: 'applied' })));
    expect((await items()).map((r) => r.note)).toEqual(hostile);
  });

  it('a refused row stops its round trip before the COMMIT: nothing of the set-based try stays, the batch goes change by change', async () => {
    await reset();
    const w = writer(config(h));
    expect(await w.apply(toChanges(config(h), [data('insert', 1, { id: 100 })]))).toEqual([{ status: 'applied' }]);
    const c = toChanges(config(h), [data('insert', 10, { id: 1, qty: 1 }), data('insert', 11, { id: 2, qty: -5 }), data('insert', 12, { id: 3, qty: 3 })]);
    const { result, statements } = await counted(() => w.apply(c));
    expect(result.map((o) => o.status)).toEqual(['applied', 'rejected', 'applied']);
    // The second round trip (version rows, row upsert, COMMIT) failed at the upsert; then ROLLBACK and the savepoints.
    expect(statements.slice(0, 7)).toEqual(['START TRANSACTION', 'SELECT CAST(seq', 'SELECT key_hash,', 'INSERT INTO', 'INSERT INTO', 'COMMIT', 'ROLLBACK']);
    expect(statements).toContain('SAVEPOINT change_sp');
    expect((await items()).map((r) => [r.id, r.qty])).toEqual([['1', '1'], ['100', null], ['3', '3']]);
    // Key 2's version did not advance: an older valid change of it still applies.
    expect(await w.apply(toChanges(config(h), [data('insert', 9, { id: 2, qty: 2 })]))).toEqual([{ status: 'applied' }]);
  });

  it('a truncate committed while the batch waits for the truncation record fences the batch\'s older changes', async () => {
    await reset();
    const w = writer(config(h));
    expect(await w.apply(toChanges(config(h), [data('insert', 5, { id: 1 })]))).toEqual([{ status: 'applied' }]);
    const table = `${new URL(h.url).pathname.slice(1)}.items`;
    const other = await h.open();
    try {
      // Another consumer's truncate at seq 100 holds the truncation record (as lockTable(…, true) does) …
      await other.exec('START TRANSACTION');
      await other.exec(`SELECT seq FROM \`${stateSchemaOf(h)}\`.truncations WHERE target_table = '${table}' FOR UPDATE`);
      const applying = w.apply(toChanges(config(h), [data('update', 20, { id: 1, name: 'late' }), data('insert', 21, { id: 2 })]));
      await waitFor(async () => (await h.waiting()) >= 1, { what: 'the batch waiting for the truncation record' });
      // … and commits its truncate while the batch waits in its first round trip.
      await other.exec(`DELETE FROM items`);
      await other.exec(`UPDATE \`${stateSchemaOf(h)}\`.truncations SET seq = 100 WHERE target_table = '${table}'`);
      await other.exec('COMMIT');
      expect(await applying).toEqual([{ status: 'stale' }, { status: 'stale' }]);
      expect(await items()).toEqual([]);
    } finally {
      await other.close();
    }
  });
});
