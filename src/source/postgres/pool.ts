import pg from 'pg';

/** int8 as string (never a rounded number); numeric as string; timestamps as given by the server. */
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => v);

export type Pool = pg.Pool;
export type PoolClient = pg.PoolClient;

/** The source's pools: the shared pg pool (src/sql/pg-pool.ts), read with the int8 parser above. */
export { createPgPool as createPool, type PgPoolOptions as PoolOptions } from '../../sql/pg-pool.js';

/** Runs fn in one transaction on one checked-out client. */
export async function withTransaction<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}
