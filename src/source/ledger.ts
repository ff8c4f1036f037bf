import { OutboxError } from '../errors.js';
import type { MigrationFile } from '../sql/files.js';
import type { DoctorFinding, MigrationState } from './types.js';

/** A row of a dialect's schema_migrations ledger. */
export interface LedgerRow {
  version: number;
  name: string;
  checksum: string;
}

/** Compares the database's ledger with the migration files this code ships. */
export function compareLedger(applied: LedgerRow[], files: MigrationFile[]): MigrationState {
  const known = new Map(files.map((f) => [f.version, f]));
  return {
    codeVersion: files.at(-1)?.version ?? 0,
    databaseVersion: applied.at(-1)?.version ?? 0,
    pending: files.filter((f) => !applied.some((a) => a.version === f.version)).map((f) => ({ version: f.version, name: f.name })),
    changed: applied.filter((a) => known.has(a.version) && known.get(a.version)!.checksum !== a.checksum).map((a) => ({ version: a.version, name: a.name })),
    unknown: applied.filter((a) => !known.has(a.version)).map((a) => ({ version: a.version, name: a.name })),
  };
}

/** Refuses a database newer than the code, and a released migration whose file changed after it was applied. */
export function checkLedger(applied: LedgerRow[], files: MigrationFile[], schema: string): void {
  const known = new Map(files.map((f) => [f.version, f]));
  const newer = applied.filter((a) => !known.has(a.version));
  if (newer.length > 0) {
    throw new OutboxError(
      'SCHEMA_NEWER_THAN_CODE',
      `The outbox schema "${schema}" has migration ${newer.map((n) => `${n.version} (${n.name})`).join(', ')}, which this version of outbox-relay does not know. Run a newer outbox-relay; do not downgrade a migrated database.`,
      { context: { schema, versions: newer.map((n) => n.version) } },
    );
  }
  for (const row of applied) {
    const file = known.get(row.version)!;
    if (file.checksum !== row.checksum) {
      throw new OutboxError(
        'MIGRATION_CHANGED',
        `Migration ${row.version} (${row.name}) was changed after it was applied to schema "${schema}" (checksum ${file.checksum.slice(0, 12)}… in the code, ${row.checksum.slice(0, 12)}… in the database). Released migrations are never edited: restore the file and add a new numbered migration.`,
        { context: { schema, version: row.version } },
      );
    }
  }
}

/**
 * What `outbox doctor` says about the ledger: not installed, newer than the code, a changed file, a
 * pending migration. `complete` is false when capture cannot be checked further (pending or missing).
 */
export function ledgerFindings(state: MigrationState, schema: string): { findings: DoctorFinding[]; complete: boolean } {
  if (state.databaseVersion === 0) {
    return { findings: [{ severity: 'error', check: 'schema', message: `The outbox schema "${schema}" is not installed. Run: outbox migrate` }], complete: false };
  }
  const findings: DoctorFinding[] = [
    ...state.unknown.map((m): DoctorFinding => ({ severity: 'error', check: 'schema', message: `The database has migration ${m.version} (${m.name}), which this code does not know: the schema is newer than the code. Upgrade outbox-relay.` })),
    ...state.changed.map((m): DoctorFinding => ({ severity: 'error', check: 'ledger', message: `Migration ${m.version} (${m.name}) differs from the one applied (checksum drift). Restore the released file.` })),
    ...state.pending.map((m): DoctorFinding => ({ severity: 'error', check: 'schema', message: `Migration ${m.version} (${m.name}) is not applied. Run: outbox migrate` })),
  ];
  return { findings, complete: state.pending.length === 0 };
}

/** Fails with what to run when the outbox schema is missing, behind, or newer than this code. */
export function assertInstalled(state: MigrationState, schema: string): void {
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
