import pg from 'pg';
import type { Logger } from '../logger.js';

export interface PgPoolOptions {
  url: string;
  max?: number;
  applicationName?: string;
  /** Session settings sent at connect (`-c name=value …`). */
  options?: string;
  logger: Logger;
}

/**
 * A node-postgres pool with an error listener (an idle client's network error must not crash the
 * process) and a connect timeout: every pg pool of the product is made here.
 */
export function createPgPool(options: PgPoolOptions): pg.Pool {
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
