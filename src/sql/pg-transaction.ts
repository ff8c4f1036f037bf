import pg from 'pg';

export interface TransactionOptions<T> {
  /** BEGIN's isolation level; default: the server's (read committed unless configured). */
  isolation?: 'read committed' | 'repeatable read' | 'serializable';
  /**
   * Whether the body's result is committed; false rolls the transaction back and still returns the
   * result (a body that decided there is nothing to do). Default: always commit.
   */
  commitWhen?: (result: T) => boolean;
}

/**
 * The one transaction of the PostgreSQL code: BEGIN, the body, COMMIT; ROLLBACK when the body throws
 * (the error is rethrown; a failing ROLLBACK does not hide it). Given a pool, it checks out a client
 * for the transaction and releases it after; given a client, it runs on that client (the caller
 * holds it, e.g. a session with settings or a lock of its own).
 */
export async function withTransaction<T>(db: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>, options?: TransactionOptions<T>): Promise<T>;
export async function withTransaction<T, C extends pg.ClientBase>(db: C, fn: (client: C) => Promise<T>, options?: TransactionOptions<T>): Promise<T>;
export async function withTransaction<T>(db: pg.Pool | pg.ClientBase, fn: (client: pg.PoolClient) => Promise<T>, options: TransactionOptions<T> = {}): Promise<T> {
  // On a client the caller holds, the body gets that client (the second signature): not a PoolClient.
  if (!(db instanceof pg.Pool)) return runTransaction(db as pg.PoolClient, fn, options);
  const client = await db.connect();
  try {
    return await runTransaction(client, fn, options);
  } finally {
    client.release();
  }
}

async function runTransaction<T, C extends pg.ClientBase>(client: C, fn: (client: C) => Promise<T>, options: TransactionOptions<T>): Promise<T> {
  await client.query(options.isolation ? `BEGIN ISOLATION LEVEL ${ISOLATION[options.isolation]}` : 'BEGIN');
  try {
    const result = await fn(client);
    await client.query(options.commitWhen && !options.commitWhen(result) ? 'ROLLBACK' : 'COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

const ISOLATION = { 'read committed': 'READ COMMITTED', 'repeatable read': 'REPEATABLE READ', serializable: 'SERIALIZABLE' } as const;
