import type pg from 'pg';
import { OutboxError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import { fillPlaceholders, listMigrations, type MigrationFile } from '../../sql/files.js';
import { quoteIdent } from '../../sql/identifiers.js';
import type { MigrationState, MigrateResult } from '../types.js';
import { withTransaction } from './pool.js';

/**
 * Applies sql/postgres/NNNNNN_name.sql in one transaction under one advisory lock. Refuses a released
 * file whose checksum changed, and a database whose ledger knows versions this code does not.
 */
export async function migratePostgres(pool: pg.Pool, schema: string, logger: Logger): Promise<MigrateResult> {
  const q = quoteIdent(schema, 'Outbox schema');
  const files = listMigrations('postgres');
  return withTransaction(pool, async (client) => {
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`outbox-relay:migrate:${schema}`]);
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${q}`);
    await client.query(
      `CREATE TABLE IF NOT EXISTS ${q}.schema_migrations (
         version    integer     PRIMARY KEY,
         name       text        NOT NULL,
         checksum   text        NOT NULL,
         applied_at timestamptz NOT NULL DEFAULT now())`,
    );
    const applied = await readLedger(client, q);
    checkLedger(applied, files, schema);
    const pending = files.filter((f) => !applied.some((a) => a.version === f.version));
    for (const file of pending) {
      await client.query(fillPlaceholders(file.text, { schema: q }));
      await client.query(`INSERT INTO ${q}.schema_migrations (version, name, checksum) VALUES ($1, $2, $3)`, [file.version, file.name, file.checksum]);
      logger.info({ version: file.version, name: file.name }, 'migration applied');
    }
    return { applied: pending.map((f) => ({ version: f.version, name: f.name })), current: files.at(-1)?.version ?? 0 };
  });
}

/** What the database's ledger says, compared with the files this code ships. */
export async function readMigrationState(pool: pg.Pool, schema: string): Promise<MigrationState> {
  const q = quoteIdent(schema, 'Outbox schema');
  const files = listMigrations('postgres');
  const exists = await pool.query('SELECT to_regclass($1) IS NOT NULL AS present', [`${q}.schema_migrations`]);
  const applied = exists.rows[0].present ? await readLedger(pool, q) : [];
  const known = new Map(files.map((f) => [f.version, f]));
  return {
    codeVersion: files.at(-1)?.version ?? 0,
    databaseVersion: applied.at(-1)?.version ?? 0,
    pending: files.filter((f) => !applied.some((a) => a.version === f.version)).map((f) => ({ version: f.version, name: f.name })),
    changed: applied.filter((a) => known.has(a.version) && known.get(a.version)!.checksum !== a.checksum).map((a) => ({ version: a.version, name: a.name })),
    unknown: applied.filter((a) => !known.has(a.version)).map((a) => ({ version: a.version, name: a.name })),
  };
}

interface LedgerRow {
  version: number;
  name: string;
  checksum: string;
}

async function readLedger(client: pg.ClientBase | pg.Pool, q: string): Promise<LedgerRow[]> {
  const res = await client.query<LedgerRow>(`SELECT version, name, checksum FROM ${q}.schema_migrations ORDER BY version`);
  return res.rows;
}

function checkLedger(applied: LedgerRow[], files: MigrationFile[], schema: string): void {
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
