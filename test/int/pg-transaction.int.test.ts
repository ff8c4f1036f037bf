import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withTransaction } from '../../src/sql/pg-transaction.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase('outbox_tx');
  await db.pool.query('CREATE TABLE t (id int PRIMARY KEY)');
});
afterAll(async () => db?.drop());

const ids = async (): Promise<number[]> => (await db.pool.query<{ id: number }>('SELECT id FROM t ORDER BY id')).rows.map((r) => r.id);

describe('withTransaction', () => {
  it('commits what the body wrote and returns its result', async () => {
    const result = await withTransaction(db.pool, async (client) => {
      await client.query('INSERT INTO t VALUES (1)');
      return 'done';
    });
    expect(result).toBe('done');
    expect(await ids()).toEqual([1]);
    expect(db.pool.idleCount).toBe(db.pool.totalCount);
  });

  it('rolls back and rethrows when the body throws, and releases the client', async () => {
    await expect(
      withTransaction(db.pool, async (client) => {
        await client.query('INSERT INTO t VALUES (2)');
        throw new Error('body failed');
      }),
    ).rejects.toThrow('body failed');
    expect(await ids()).toEqual([1]);
    expect(db.pool.idleCount).toBe(db.pool.totalCount);
  });

  it('rolls back a result commitWhen refuses, and still returns it', async () => {
    const result = await withTransaction(
      db.pool,
      async (client) => {
        await client.query('INSERT INTO t VALUES (3)');
        return { done: false };
      },
      { commitWhen: (r) => r.done },
    );
    expect(result).toEqual({ done: false });
    expect(await ids()).toEqual([1]);
  });

  it('runs on a client the caller holds, with the isolation level asked for', async () => {
    const client = await db.pool.connect();
    try {
      const level = await withTransaction(
        client,
        async (c) => {
          await c.query('INSERT INTO t VALUES (4)');
          return (await c.query<{ level: string }>('SELECT current_setting($1) AS level', ['transaction_isolation'])).rows[0]!.level;
        },
        { isolation: 'repeatable read' },
      );
      expect(level).toBe('repeatable read');
      expect((await client.query<{ open: boolean }>("SELECT now() <> statement_timestamp() AS open")).rows[0]!.open).toBe(false);
    } finally {
      client.release();
    }
    expect(await ids()).toEqual([1, 4]);
  });
});
