import type pg from 'pg';
import { OutboxError } from '../errors.js';
import type { SourceAdapter } from '../source/types.js';
import { PostgresSource } from '../source/postgres/adapter.js';

export { runBackfill, DEFAULT_BATCH_SIZE, type BackfillOptions, type BackfillProgress, type BackfillResult } from './run-backfill.js';

/** Backfill and repair write through the source's own pool; PostgreSQL is the dialect that has them so far. */
export function postgresPoolOf(source: SourceAdapter, what: string): pg.Pool {
  if (source instanceof PostgresSource) return source.pool;
  throw new OutboxError('NOT_SUPPORTED', `${what} is available for PostgreSQL sources only in this version of outbox-relay (source.dialect is "${source.dialect}").`, {
    context: { dialect: source.dialect },
  });
}
