import type { ChangeOperation } from '../../wire/operations.js';
import type { OutboxEvent } from '../../wire/envelope.js';

/** An outbox row as read from the events table. */
export interface EventRow {
  seq: string;
  xid: string;
  table_schema: string;
  table_name: string;
  op: ChangeOperation;
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
