import { OutboxError } from '../../errors.js';
import { readMigrationState } from './migrate.js';
import type { Pool } from './pool.js';

/** Fails with what to run when the outbox schema is missing, behind, or newer than this code. */
export async function requireInstalled(pool: Pool, schema: string): Promise<void> {
  const state = await readMigrationState(pool, schema);
  if (state.unknown.length > 0) {
    throw new OutboxError('SCHEMA_NEWER_THAN_CODE', `The outbox schema "${schema}" is newer than this outbox-relay (database version ${state.databaseVersion}, code ${state.codeVersion}). Upgrade outbox-relay.`, {
      context: { schema },
    });
  }
  if (state.databaseVersion === 0 || state.pending.length > 0) {
    throw new OutboxError('SCHEMA_NOT_INSTALLED', `The outbox schema "${schema}" is ${state.databaseVersion === 0 ? 'not installed' : 'not up to date'} in the source database. Run: outbox migrate`, {
      context: { schema, pending: state.pending.map((p) => p.version) },
    });
  }
}
