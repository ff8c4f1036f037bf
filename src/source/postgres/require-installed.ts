import type pg from 'pg';
import { assertInstalled } from '../ledger.js';
import { readMigrationState } from './migrate.js';

/** Fails with what to run when the outbox schema is missing, behind, or newer than this code. */
export async function requireInstalled(pool: pg.Pool, schema: string): Promise<void> {
  assertInstalled(await readMigrationState(pool, schema), schema);
}
