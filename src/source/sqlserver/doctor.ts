import { runtimeSql } from '../../sql/files.js';
import { quoteIdentMssql } from '../../sql/identifiers.js';
import type { DoctorFinding } from '../types.js';
import mssql from 'mssql';
import { ddlTriggerName, quoteLiteral } from './capture-sql.js';
import { readMigrationState } from './migrate.js';
import { ledgerFindings } from '../ledger.js';
import type { Pool } from './pool.js';

interface TriggerRow {
  table_schema: string;
  table_name: string;
  trigger_name: string;
  guard_table: string | null;
  captured_columns: string;
  excluded_columns: string;
  table_exists: boolean;
  trigger_exists: boolean;
  trigger_disabled: boolean;
  trigger_events: number;
  guard_exists: boolean;
  /** Absent in rows built by older tests; false for a table tracked before migration 000003. */
  shape_recorded?: boolean;
  columns: string | null;
}

/** Checks that capture is intact. Any 'error' finding makes `outbox doctor` exit non-zero. */
export async function diagnose(pool: Pool, schema: string): Promise<DoctorFinding[]> {
  const { findings, complete } = ledgerFindings(await readMigrationState(pool, schema), schema);
  if (!complete) return findings;

  const q = quoteIdentMssql(schema, 'Outbox schema');
  const rows = await pool.request().query<TriggerRow>(runtimeSql('sqlserver', 'doctor_triggers', { schema: q, schema_literal: quoteLiteral(schema) }));
  for (const row of rows.recordset) findings.push(...checkTable(row));
  if (rows.recordset.length > 0) {
    const ddl = await pool
      .request()
      .input('name', mssql.NVarChar(128), ddlTriggerName(schema))
      .query<{ is_disabled: boolean }>(`SELECT is_disabled FROM sys.triggers WHERE parent_class = 0 AND name = @name`);
    const finding = checkDdlTrigger(schema, ddl.recordset[0]);
    if (finding) findings.push(finding);
  }
  return findings;
}

export function checkTable(row: TriggerRow): DoctorFinding[] {
  const name = `${row.table_schema}.${row.table_name}`;
  if (!row.table_exists) return [{ severity: 'error', check: 'table', message: `Tracked table ${name} no longer exists. Run: outbox untrack ${name}` }];
  const findings: DoctorFinding[] = [];
  if (!row.trigger_exists || row.trigger_disabled || row.trigger_events < 3) {
    const what = !row.trigger_exists ? 'is missing' : row.trigger_disabled ? 'is disabled' : 'no longer fires on all of INSERT, UPDATE and DELETE';
    findings.push({ severity: 'error', check: 'trigger', message: `Table ${name}: capture trigger ${row.trigger_name} ${what}; changes are not captured. Run: outbox track ${name}` });
  }
  if (!row.guard_exists) {
    findings.push({
      severity: 'warning',
      check: 'truncate',
      message: row.guard_table
        ? `Table ${name}: its TRUNCATE guard ${row.guard_table} is missing or disabled. SQL Server fires no trigger on TRUNCATE TABLE, so a truncate would not reach any target. Run: outbox track ${name}`
        : `Table ${name}: TRUNCATE TABLE is not blocked (its key columns are not those of a unique index), and SQL Server fires no trigger on TRUNCATE. Use DELETE on this table, or reconcile after a truncate with outbox backfill / outbox verify --repair (docs/sqlserver.md).`,
    });
  }
  if (row.shape_recorded === false) {
    findings.push({
      severity: 'warning',
      check: 'schema-changes',
      message: `Table ${name} was tracked by an older outbox-relay: the DDL trigger cannot rebuild its capture after ALTER TABLE or sp_rename. Run: outbox track ${name}`,
    });
  }
  const columns = row.columns ? (JSON.parse(row.columns) as { name: string }[]).map((c) => c.name) : [];
  const captured = JSON.parse(row.captured_columns) as string[];
  const excluded = JSON.parse(row.excluded_columns) as string[];
  const expected = columns.filter((c) => !excluded.includes(c));
  const added = expected.filter((c) => !captured.includes(c));
  const dropped = captured.filter((c) => !expected.includes(c));
  if (added.length > 0 || dropped.length > 0) {
    findings.push({
      severity: 'error',
      check: 'columns',
      message: `Table ${name} changed since it was tracked (${[...added.map((c) => `+${c}`), ...dropped.map((c) => `-${c}`)].join(', ')}). Re-run: outbox track ${name} (with the same --exclude/--attributes)`,
    });
  }
  return findings;
}

/** Without the database DDL trigger, ALTER TABLE / sp_rename of a tracked table breaks capture until `outbox track`. */
export function checkDdlTrigger(schema: string, row: { is_disabled: boolean } | undefined): DoctorFinding | null {
  if (row && !row.is_disabled) return null;
  return {
    severity: 'warning',
    check: 'schema-changes',
    message: `The database DDL trigger ${ddlTriggerName(schema)} is ${row ? 'disabled' : 'missing'}: after ALTER TABLE or sp_rename on a tracked table, writes to it can fail or miss a new column until outbox track is re-run. Grant the tracking login ALTER ANY DATABASE DDL TRIGGER and run outbox track again (docs/sqlserver.md, "Schema changes").`,
  };
}

export type { TriggerRow };
