import pg from 'pg';

/** int8 as string (never a rounded number); numeric as string; timestamps as given by the server. */
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => v);

export type Pool = pg.Pool;
export type PoolClient = pg.PoolClient;

/** The source's pools: the shared pg pool (src/sql/pg-pool.ts), read with the int8 parser above. */
export { createPgPool as createPool, type PgPoolOptions as PoolOptions } from '../../sql/pg-pool.js';
