import mssql from 'mssql';
import type { Logger } from '../../logger.js';
import { fillPlaceholders, listMigrations } from '../../sql/files.js';
import { quoteIdentMssql } from '../../sql/identifiers.js';
import type { MigrationState, MigrateResult } from '../types.js';
import { checkLedger, compareLedger, type LedgerRow } from '../ledger.js';
import { splitBatches } from './batches.js';
import { acquireAppLock, withTransaction, type Pool, type Queryable } from './pool.js';

/**
 * Applies sql/sqlserver/NNNNNN_name.sql in one transaction under one sp_getapplock, each file split
 * into batches on its GO lines. Refuses a released file whose checksum changed, and a database whose
 * ledger knows versions this code does not — the same rules and codes as the PostgreSQL migrator.
 */
export async function migrateSqlServer(pool: Pool, schema: string, logger: Logger): Promise<MigrateResult> {
  const q = quoteIdentMssql(schema, 'Outbox schema');
  const files = listMigrations('sqlserver');
  return withTransaction(pool, async (tx) => {
    await acquireAppLock(tx, `outbox-relay:migrate:${schema}`, 120_000);
    // CREATE SCHEMA must be alone in its batch: EXEC runs it as one.
    await tx.request().input('schema', mssql.NVarChar(128), schema).query(`IF SCHEMA_ID(@schema) IS NULL EXEC(N'CREATE SCHEMA ${q}')`);
    await tx.request().batch(
      `IF OBJECT_ID(N'${q}.schema_migrations', N'U') IS NULL
         CREATE TABLE ${q}.schema_migrations (
           version    int               NOT NULL CONSTRAINT PK_schema_migrations PRIMARY KEY,
           name       nvarchar(200)     NOT NULL,
           checksum   char(64)          NOT NULL,
           applied_at datetimeoffset(3) NOT NULL CONSTRAINT DF_schema_migrations_applied_at DEFAULT (SYSDATETIMEOFFSET()))`,
    );
    const applied = await readLedger(tx, q);
    checkLedger(applied, files, schema);
    const pending = files.filter((f) => !applied.some((a) => a.version === f.version));
    for (const file of pending) {
      for (const batch of splitBatches(fillPlaceholders(file.text, { schema: q }, 'sqlserver'))) {
        try {
          await tx.request().batch(batch.text);
        } catch (err) {
          logger.error({ version: file.version, name: file.name, line: batch.line, err: (err as Error).message }, 'migration failed; nothing was applied');
          throw err;
        }
      }
      await tx
        .request()
        .input('version', mssql.Int, file.version)
        .input('name', mssql.NVarChar(200), file.name)
        .input('checksum', mssql.Char(64), file.checksum)
        .query(`INSERT INTO ${q}.schema_migrations (version, name, checksum) VALUES (@version, @name, @checksum)`);
      logger.info({ version: file.version, name: file.name }, 'migration applied');
    }
    return { applied: pending.map((f) => ({ version: f.version, name: f.name })), current: files.at(-1)?.version ?? 0 };
  });
}

/** What the database's ledger says, compared with the files this code ships. */
export async function readMigrationState(pool: Pool, schema: string): Promise<MigrationState> {
  const q = quoteIdentMssql(schema, 'Outbox schema');
  const files = listMigrations('sqlserver');
  const exists = await pool.request().query<{ present: boolean }>(`SELECT CAST(CASE WHEN OBJECT_ID(N'${q}.schema_migrations', N'U') IS NULL THEN 0 ELSE 1 END AS bit) AS present`);
  const applied = exists.recordset[0]?.present ? await readLedger(pool, q) : [];
  return compareLedger(applied, files);
}

async function readLedger(db: Queryable, q: string): Promise<LedgerRow[]> {
  const res = await db.request().query<LedgerRow>(`SELECT version, name, RTRIM(checksum) AS checksum FROM ${q}.schema_migrations ORDER BY version`);
  return [...res.recordset];
}
