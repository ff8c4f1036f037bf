import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMigratedSource } from '../helpers/source.js';

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

describe('PostgreSQL capture', () => {
  it('captures insert, update and delete with images and changed columns', async () => {
    const start = await lastSeq();
    await ctx.db.pool.query(`INSERT INTO customers (id, name, email, secret, balance) VALUES (1, 'Ann', 'ann@example.com', 's3cr3t', 12.3400)`);
    await ctx.db.pool.query(`UPDATE customers SET email = 'ann@new.example' WHERE id = 1`);
    await ctx.db.pool.query(`DELETE FROM customers WHERE id = 1`);
    const events = await since(start);
    expect(events.map((e) => e.op)).toEqual(['insert', 'update', 'delete']);
    const [ins, upd, del] = events;
    expect(ins!.key).toEqual({ id: '1' });
    expect(ins!.after).toEqual({ id: '1', name: 'Ann', email: 'ann@example.com', tenant_id: 1, balance: '12.3400' });
    expect(ins!.before).toBeNull();
    expect(ins!.attributes).toEqual({ tenant_id: '1' });
    expect(upd!.before).toMatchObject({ email: 'ann@example.com' });
    expect(upd!.after).toMatchObject({ email: 'ann@new.example' });
    expect(upd!.changed).toEqual(['email']);
    expect(del!.before).toMatchObject({ id: '1', name: 'Ann' });
    expect(del!.after).toBeNull();
    for (const e of events) {
      expect(JSON.stringify(e)).not.toContain('s3cr3t');
      expect(JSON.stringify(e)).not.toContain('secret');
    }
  });

  it('writes nothing when only excluded columns change', async () => {
    await ctx.db.pool.query(`INSERT INTO customers (id, name, secret) VALUES (2, 'Bob', 'a')`);
    const start = await lastSeq();
    await ctx.db.pool.query(`UPDATE customers SET secret = 'b' WHERE id = 2`);
    expect(await since(start)).toEqual([]);
  });

  it('captures every row of a multi-row statement, and a key change as delete + insert', async () => {
    const start = await lastSeq();
    await ctx.db.pool.query(`INSERT INTO customers (id, name) SELECT g, 'n' || g FROM generate_series(10, 14) g`);
    await ctx.db.pool.query(`UPDATE customers SET name = name || '!' WHERE id BETWEEN 10 AND 14`);
    await ctx.db.pool.query(`UPDATE customers SET id = 20 WHERE id = 10`);
    const events = await since(start);
    expect(events.filter((e) => e.op === 'insert' && Number(e.key!.id) < 20)).toHaveLength(5);
    expect(events.filter((e) => e.op === 'update')).toHaveLength(5);
    const moved = events.slice(-2);
    expect(moved.map((e) => [e.op, e.key])).toEqual(expect.arrayContaining([['delete', { id: '10' }], ['insert', { id: '20' }]]));
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
