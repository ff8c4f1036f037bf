import { assertInstalled } from '../ledger.js';
import { readMigrationState } from './migrate.js';
import type { Pool } from './pool.js';

/** Fails with what to run when the outbox schema is missing, behind, or newer than this code. */
export async function requireInstalled(pool: Pool, schema: string): Promise<void> {
  assertInstalled(await readMigrationState(pool, schema), schema);
}
