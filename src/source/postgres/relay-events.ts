import type { ChangeOperation } from '../../wire/operations.js';
import { schemaChangeEvent, type ColumnShape, type OutboxEvent, type SchemaChangeItem } from '../../wire/envelope.js';

/** An outbox row as read from the events table. */
export interface EventRow {
  seq: string;
  xid: string;
  table_schema: string;
  table_name: string;
  /** 'schema': a schema change capture recorded itself (recordedSchemaEvent). */
  op: ChangeOperation | 'schema';
  key: Record<string, unknown> | null;
  before: Record<string, unknown> | null;
  after: Record<string, unknown> | null;
  changed: string[] | null;
  attributes: Record<string, string> | null;
  changed_at: Date;
}

export function toEvent(row: EventRow): OutboxEvent {
  return {
    seq: row.seq,
    xid: row.xid,
    tableSchema: row.table_schema,
    tableName: row.table_name,
    op: row.op,
    key: row.key,
    before: row.before,
    after: row.after,
    changed: row.changed,
    attributes: row.attributes,
    changedAt: row.changed_at,
  };
}

/** The schema changes capture itself records (op 'schema' rows); only the DDL event trigger writes them. */
const RECORDED_KINDS: ReadonlySet<string> = new Set(['drop_table']);

/**
 * The schema event of an op 'schema' outbox row: a tracked table dropped, recorded by the sql_drop
 * event trigger (sql/postgres/000006_ddl_event_triggers.sql) with its seq, so it follows every row
 * of the table. `before` is the shape the relay published last (null when unknown); the name is the
 * one the stream knows the table by.
 */
export function recordedSchemaEvent(row: EventRow, table: { tableSchema: string; tableName: string }, before: ColumnShape[] | null): OutboxEvent {
  const recorded = (row.after as { changes?: { kind?: unknown }[] } | null)?.changes ?? [];
  const changes = recorded.filter((c): c is SchemaChangeItem => typeof c.kind === 'string' && RECORDED_KINDS.has(c.kind)).map((c) => ({ kind: c.kind }));
  return schemaChangeEvent({ seq: row.seq, xid: row.xid, changedAt: row.changed_at }, table, { dialect: 'postgres', before, after: null, key: [], changes });
}
