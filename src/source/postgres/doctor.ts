import type pg from 'pg';
import { runtimeSql } from '../../sql/files.js';
import { quoteIdent, quoteLiteral } from '../../sql/identifiers.js';
import type { DoctorFinding } from '../types.js';
import { readMigrationState } from './migrate.js';
import { ledgerFindings } from '../ledger.js';
import { diffShapes } from './relay-decode.js';
import type { SchemaChangeItem } from '../../wire/envelope.js';
import { capturedShape, readShapes, type ShapeColumn, type TableShape } from './table-shape.js';
import { ROW_FUNCTION, STATEMENT_FUNCTION } from './track.js';
import { eventTriggerReport, readEventTriggers, type EventTriggerSetting } from './event-triggers.js';

/** The capture triggers each kind of tracked table has (sql/postgres/runtime/capture_triggers*.sql). */
const TRIGGERS: Record<string, string[]> = {
  [STATEMENT_FUNCTION]: ['outbox_capture_insert', 'outbox_capture_update', 'outbox_capture_delete', 'outbox_capture_truncate'],
  [ROW_FUNCTION]: ['outbox_capture_row', 'outbox_capture_truncate'],
};

interface DoctorRow {
  table_schema: string;
  table_name: string;
  relid: string | null;
  table_exists: boolean;
  enabled_triggers: string[];
  excluded_attnums: number[];
  key_columns: string[];
  attribute_columns: string[];
  function_name: string;
  shape: ShapeColumn[] | null;
  schema_problem: string | null;
  dropped_seq: string | null;
  function_exists: boolean;
  untracking: boolean;
}

/**
 * Checks that capture is intact. Any 'error' finding makes `outbox doctor` exit non-zero. A table
 * whose columns changed is a warning (drift): capture v2 keeps capturing it and the relay publishes
 * the schema change with the table's next row; a key or attribute column gone is an error.
 */
export async function diagnose(pool: pg.Pool, schema: string, eventTriggerSetting: EventTriggerSetting = 'install'): Promise<DoctorFinding[]> {
  const { findings, complete } = ledgerFindings(await readMigrationState(pool, schema), schema);
  if (!complete) return findings;

  const q = quoteIdent(schema, 'Outbox schema');
  const rows = (await pool.query<DoctorRow>(runtimeSql('postgres', 'doctor_triggers', { schema: q, schema_literal: quoteLiteral(schema) }))).rows;
  const shapes = await readShapes(pool, rows.map((r) => r.relid).filter((r): r is string => r !== null));
  const ddl = eventTriggerReport(await readEventTriggers(pool, schema), schema, eventTriggerSetting);
  if (ddl.warning) findings.push(ddl.warning);
  for (const row of rows) {
    const name = `${row.table_schema}.${row.table_name}`;
    if (!row.table_exists && row.dropped_seq !== null) {
      // The DDL event trigger recorded the drop: the relay publishes it and then untracks the table.
      findings.push({
        severity: 'warning',
        check: 'table',
        message: `Tracked table ${name} was dropped (drop_table recorded at seq ${row.dropped_seq}); the relay publishes the drop and then removes the table from tracked_tables. Nothing to do unless no relay runs (then: outbox untrack ${name}).`,
      });
      continue;
    }
    if (!row.table_exists) {
      findings.push({ severity: 'error', check: 'table', message: `Tracked table ${name} no longer exists. Run: outbox untrack ${name}` });
      continue;
    }
    if (row.untracking && row.enabled_triggers.length === 0) {
      // `outbox untrack` stopped its capture and waits for the relay to publish what it captured.
      findings.push({
        severity: 'warning',
        check: 'table',
        message: `Table ${name} is being untracked: its capture is stopped and the relay still has changes of it to publish. Once \`outbox status\` shows no backlog for it, run: outbox untrack ${name} (or outbox track ${name} to capture it again).`,
      });
      continue;
    }
    const expected = TRIGGERS[row.function_name];
    const missing = (expected ?? []).filter((t) => !row.enabled_triggers.includes(t));
    if (missing.length > 0 || !expected) {
      findings.push({ severity: 'error', check: 'trigger', message: `Table ${name}: capture trigger ${missing.length ? missing.join(', ') : 'of an earlier version'} is missing or disabled; changes are not captured. Run: outbox track ${name}` });
    }
    if (!row.function_exists) findings.push({ severity: 'error', check: 'trigger', message: `Table ${name}: the capture functions ${schema}.capture_statement() / capture_row() / capture_truncate() are missing. Run: outbox migrate` });
    const now = row.relid ? shapes.get(row.relid) : undefined;
    if (!now) continue;
    const current = `${now.tableSchema}.${now.tableName}`;
    const names = now.columns.map((c) => c.name);
    const lost = [...row.key_columns.map((c) => ['key', c]), ...row.attribute_columns.map((c) => ['attribute', c])].filter(([, c]) => !names.includes(c!));
    if (lost.length > 0) {
      findings.push({
        severity: 'error',
        check: 'columns',
        message: `Table ${current} no longer has its ${lost.map(([k, c]) => `${k} column ${JSON.stringify(c)}`).join(', ')} (dropped or renamed): the relay holds its events in the quarantine. Run: outbox track ${current} --key … --attributes … naming the new columns, then re-publish the quarantined events`,
      });
    } else if (row.schema_problem) {
      findings.push({ severity: 'error', check: 'columns', message: `Table ${current}: ${row.schema_problem}` });
    }
    const drift = tableDrift(row, now);
    if (drift.length > 0) {
      findings.push({
        severity: 'warning',
        check: 'drift',
        message: `Table ${name} changed since the relay last published its shape (${drift.map(describeChange).join(', ')}). Capture goes on; the relay publishes the schema change before the table's next row event.`,
      });
    }
  }
  return findings;
}

/** What doctor prints as INFO: whether the DDL event triggers are installed (both states are fine). */
export async function doctorNotes(pool: pg.Pool, schema: string, eventTriggerSetting: EventTriggerSetting = 'install'): Promise<string[]> {
  const state = await readMigrationState(pool, schema);
  if (state.databaseVersion === 0) return [];
  return [eventTriggerReport(await readEventTriggers(pool, schema), schema, eventTriggerSetting).note];
}

/** How a tracked table differs from the shape the relay last published. */
export function tableDrift(row: { table_schema: string; table_name: string; shape: ShapeColumn[] | null; excluded_attnums: number[] }, now: TableShape): SchemaChangeItem[] {
  const drift = row.shape ? diffShapes(row.shape, capturedShape(now.columns, row.excluded_attnums)) : [];
  const current = `${now.tableSchema}.${now.tableName}`;
  if (current !== `${row.table_schema}.${row.table_name}`) drift.push({ kind: 'rename_table', from: `${row.table_schema}.${row.table_name}`, to: current });
  return drift;
}

/** Drift per tracked table ("schema.table" → descriptions), for `outbox status`. */
export async function readDrift(pool: pg.Pool, q: string): Promise<Map<string, string[]>> {
  const rows = (await pool.query<{ table_schema: string; table_name: string; relid: string | null; shape: ShapeColumn[] | null; excluded_attnums: number[] }>(
    `SELECT table_schema, table_name, relid::int8::text AS relid, shape, excluded_attnums FROM ${q}.tracked_tables WHERE relid IS NOT NULL`,
  )).rows;
  const shapes = await readShapes(pool, rows.map((r) => r.relid!));
  const drift = new Map<string, string[]>();
  for (const row of rows) {
    const now = shapes.get(row.relid!);
    if (now) drift.set(`${row.table_schema}.${row.table_name}`, tableDrift(row, now).map(describeChange));
  }
  return drift;
}

export function describeChange(c: { kind: string; column?: string; from?: string; to?: string; type?: string }): string {
  switch (c.kind) {
    case 'add_column':
      return `+${c.column} ${c.type}`;
    case 'drop_column':
      return `-${c.column}`;
    case 'rename_column':
      return `${c.from} → ${c.column}`;
    case 'alter_type':
      return `${c.column}: ${c.from} → ${c.to}`;
    default:
      return `renamed to ${c.to}`;
  }
}
