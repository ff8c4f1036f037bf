import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { notifyChannel } from '../../src/source/postgres/capture-sql.js';
import { createMigratedSource } from '../helpers/source.js';
import { waitFor } from '../helpers/wait.js';

type Ctx = Awaited<ReturnType<typeof createMigratedSource>>;
let ctx: Ctx;

beforeAll(async () => {
  ctx = await createMigratedSource();
  await ctx.db.pool.query(`
    CREATE TABLE public.customers (
      id bigint PRIMARY KEY,
      name text NOT NULL,
      email text,
      secret text,
      tenant_id int NOT NULL DEFAULT 1,
      balance numeric(20, 4)
    )`);
  await ctx.source.track({ table: { schema: 'public', table: 'customers' }, exclude: ['secret'], attributes: ['tenant_id'] });
});

afterAll(async () => ctx?.close());

async function since(seq: string) {
  return (await ctx.events()).filter((e) => BigInt(e.seq) > BigInt(seq));
}

async function lastSeq(): Promise<string> {
  const events = await ctx.events();
  return events.at(-1)?.seq ?? '0';
}

// Capture behaviour both dialects share (images, excluded columns, multi-row statements, key
// changes) runs from the dialect list in source-dialects.int.test.ts; what follows is PostgreSQL's own.
describe('PostgreSQL capture', () => {
  it('gives an update that changes an attribute column both values, so filters on either match', async () => {
    await ctx.db.pool.query(`INSERT INTO customers (id, name, tenant_id) VALUES (3, 'Cy', 1)`);
    const start = await lastSeq();
    await ctx.db.pool.query(`UPDATE customers SET tenant_id = 2 WHERE id = 3`);
    await ctx.db.pool.query(`UPDATE customers SET name = 'Cyd' WHERE id = 3`);
    await ctx.db.pool.query(`DELETE FROM customers WHERE id = 3`);
    const events = await since(start);
    expect(events.map((e) => [e.op, e.attributes])).toEqual([
      ['update', { tenant_id: ['1', '2'] }],
      ['update', { tenant_id: '2' }],
      ['delete', { tenant_id: '2' }],
    ]);
  });

  it('captures TRUNCATE and leaves nothing for a rolled-back transaction', async () => {
    const start = await lastSeq();
    const client = await ctx.db.pool.connect();
    await client.query('BEGIN');
    await client.query(`INSERT INTO customers (id, name) VALUES (99, 'ghost')`);
    await client.query('ROLLBACK');
    client.release();
    await ctx.db.pool.query('TRUNCATE customers');
    const events = await since(start);
    expect(events.map((e) => e.op)).toEqual(['truncate']);
  });
});

describe('PostgreSQL capture: event rows', () => {
  it('numbers events in order, with the writing transaction id and the change time', async () => {
    const start = await lastSeq();
    const client = await ctx.db.pool.connect();
    let xid: string;
    try {
      await client.query('BEGIN');
      await client.query(`INSERT INTO customers (id, name) VALUES (30, 'a'), (31, 'b')`);
      await client.query(`DELETE FROM customers WHERE id IN (30, 31)`);
      xid = (await client.query('SELECT pg_current_xact_id()::text AS xid')).rows[0].xid;
      await client.query('COMMIT');
    } finally {
      client.release();
    }
    const rows = await ctx.db.pool.query(
      `SELECT seq, xid::text, op, extract(epoch FROM now() - changed_at) AS age FROM outbox.events WHERE seq > $1 ORDER BY seq`,
      [start],
    );
    expect((await since(start)).map((r) => [r.op, r.key])).toEqual([
      ['insert', { id: '30' }],
      ['insert', { id: '31' }],
      ['delete', { id: '30' }],
      ['delete', { id: '31' }],
    ]);
    expect(new Set(rows.rows.map((r) => r.xid))).toEqual(new Set([xid]));
    const seqs = rows.rows.map((r) => BigInt(r.seq));
    expect(seqs).toEqual([...seqs].sort((a, b) => (a < b ? -1 : 1)));
    for (const r of rows.rows) expect(Number(r.age)).toBeLessThan(60);
  });

  it('rolls back with the writer: a rolled-back update or delete leaves no row', async () => {
    await ctx.db.pool.query(`INSERT INTO customers (id, name) VALUES (40, 'kept')`);
    const start = await lastSeq();
    const client = await ctx.db.pool.connect();
    try {
      await client.query('BEGIN');
      await client.query(`UPDATE customers SET name = 'changed' WHERE id = 40`);
      await client.query(`DELETE FROM customers WHERE id = 40`);
      await client.query('ROLLBACK');
    } finally {
      client.release();
    }
    expect(await since(start)).toEqual([]);
  });

  it('wakes a listening relay when a change commits', async () => {
    const listener = new pg.Client({ connectionString: ctx.db.url });
    const writer = new pg.Client({ connectionString: ctx.db.url });
    await Promise.all([listener.connect(), writer.connect()]);
    try {
      const wakes: string[] = [];
      listener.on('notification', (n) => wakes.push(n.channel));
      await listener.query(`LISTEN "${notifyChannel('outbox')}"`);
      await writer.query(`INSERT INTO customers (id, name) VALUES (50, 'wake')`);
      await waitFor(() => wakes.length > 0, { timeoutMs: 5_000, what: 'a NOTIFY after the commit' });
      expect(wakes[0]).toBe('outbox_outbox');
    } finally {
      await Promise.all([listener.end(), writer.end()]);
    }
  });
});
