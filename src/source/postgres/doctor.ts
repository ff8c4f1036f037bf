import type pg from 'pg';
import { runtimeSql } from '../../sql/files.js';
import { quoteIdent } from '../../sql/identifiers.js';
import type { DoctorFinding } from '../types.js';
import { quoteLiteral } from './capture-sql.js';
import { readMigrationState } from './migrate.js';

const TRIGGERS = ['outbox_capture_delete', 'outbox_capture_insert', 'outbox_capture_truncate', 'outbox_capture_update'];

/** Checks that capture is intact. Any 'error' finding makes `outbox doctor` exit non-zero. */
export async function diagnose(pool: pg.Pool, schema: string): Promise<DoctorFinding[]> {
  const findings: DoctorFinding[] = [];
  const state = await readMigrationState(pool, schema);
  if (state.databaseVersion === 0) {
    return [{ severity: 'error', check: 'schema', message: `The outbox schema "${schema}" is not installed. Run: outbox migrate` }];
  }
  for (const m of state.unknown) findings.push({ severity: 'error', check: 'schema', message: `The database has migration ${m.version} (${m.name}), which this code does not know: the schema is newer than the code. Upgrade outbox-relay.` });
  for (const m of state.changed) findings.push({ severity: 'error', check: 'ledger', message: `Migration ${m.version} (${m.name}) differs from the one applied (checksum drift). Restore the released file.` });
  for (const m of state.pending) findings.push({ severity: 'error', check: 'schema', message: `Migration ${m.version} (${m.name}) is not applied. Run: outbox migrate` });
  if (state.pending.length > 0) return findings;

  const q = quoteIdent(schema, 'Outbox schema');
  const rows = await pool.query(runtimeSql('postgres', 'doctor_triggers', { schema: q, schema_literal: quoteLiteral(schema) }));
  for (const row of rows.rows) {
    const name = `${row.table_schema}.${row.table_name}`;
    if (!row.table_exists) {
      findings.push({ severity: 'error', check: 'table', message: `Tracked table ${name} no longer exists. Run: outbox untrack ${name}` });
      continue;
    }
    const missing = TRIGGERS.filter((t) => !row.enabled_triggers.includes(t));
    if (missing.length > 0) findings.push({ severity: 'error', check: 'trigger', message: `Table ${name}: capture trigger ${missing.join(', ')} is missing or disabled; changes are not captured. Run: outbox track ${name}` });
    if (!row.function_exists) findings.push({ severity: 'error', check: 'trigger', message: `Table ${name}: its capture function is missing. Run: outbox track ${name}` });
    const expected = row.columns.filter((c: string) => !row.excluded_columns.includes(c));
    const added = expected.filter((c: string) => !row.captured_columns.includes(c));
    const dropped = row.captured_columns.filter((c: string) => !expected.includes(c));
    if (added.length > 0 || dropped.length > 0) {
      findings.push({
        severity: 'error',
        check: 'columns',
        message: `Table ${name} changed since it was tracked (${[...added.map((c: string) => `+${c}`), ...dropped.map((c: string) => `-${c}`)].join(', ')}). Re-run: outbox track ${name} (with the same --exclude/--attributes)`,
      });
    }
  }
  return findings;
}
