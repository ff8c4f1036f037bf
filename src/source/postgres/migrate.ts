import type pg from 'pg';
import type { Logger } from '../../logger.js';
import { fillPlaceholders, listMigrations } from '../../sql/files.js';
import { quoteIdent } from '../../sql/identifiers.js';
import type { MigrationState, MigrateResult } from '../types.js';
import { checkLedger, compareLedger, type LedgerRow } from '../ledger.js';
import { withTransaction } from '../../sql/pg-transaction.js';
import { dropEventTriggers, installEventTriggers, type EventTriggerSetting } from './event-triggers.js';

/**
 * Applies sql/postgres/NNNNNN_name.sql in one transaction under one advisory lock. Refuses a released
 * file whose checksum changed, and a database whose ledger knows versions this code does not.
 */
export async function migratePostgres(pool: pg.Pool, schema: string, logger: Logger, eventTriggerSetting: EventTriggerSetting = 'install'): Promise<MigrateResult> {
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
      await client.query(fillPlaceholders(file.text, { schema: q }, 'postgres'));
      await client.query(`INSERT INTO ${q}.schema_migrations (version, name, checksum) VALUES ($1, $2, $3)`, [file.version, file.name, file.checksum]);
      logger.info({ version: file.version, name: file.name }, 'migration applied');
    }
    // Every run, not only the one that applies 000006: a superuser's later `outbox migrate` installs
    // them, and one under source.eventTriggers: skip drops installed ones.
    const eventTriggers = eventTriggerSetting === 'skip' ? await dropEventTriggers(client, schema, logger) : await installEventTriggers(client, schema, logger);
    return { applied: pending.map((f) => ({ version: f.version, name: f.name })), current: files.at(-1)?.version ?? 0, eventTriggers };
  });
}

/** What the database's ledger says, compared with the files this code ships. */
export async function readMigrationState(pool: pg.Pool, schema: string): Promise<MigrationState> {
  const q = quoteIdent(schema, 'Outbox schema');
  const files = listMigrations('postgres');
  const exists = await pool.query('SELECT to_regclass($1) IS NOT NULL AS present', [`${q}.schema_migrations`]);
  const applied = exists.rows[0].present ? await readLedger(pool, q) : [];
  return compareLedger(applied, files);
}

async function readLedger(client: pg.ClientBase | pg.Pool, q: string): Promise<LedgerRow[]> {
  const res = await client.query<LedgerRow>(`SELECT version, name, checksum FROM ${q}.schema_migrations ORDER BY version`);
  return res.rows;
}
