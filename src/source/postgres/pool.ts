import pg from 'pg';
import type { Logger } from '../../logger.js';

/** int8 as string (never a rounded number); numeric as string; timestamps as given by the server. */
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => v);

export type Pool = pg.Pool;
export type PoolClient = pg.PoolClient;

export interface PoolOptions {
  url: string;
  max?: number;
  applicationName?: string;
  /** Session settings sent at connect (`-c name=value …`). */
  options?: string;
  logger: Logger;
}

/** A pool with an error listener (an idle client's network error must not crash the process). */
export function createPool(options: PoolOptions): pg.Pool {
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.max ?? 5,
    application_name: options.applicationName ?? 'outbox-relay',
    connectionTimeoutMillis: 10_000,
    ...(options.options ? { options: options.options } : {}),
  });
  pool.on('error', (err) => options.logger.warn({ err: err.message }, 'idle PostgreSQL connection failed; it will be replaced'));
  return pool;
}
