import { createHmac } from 'node:crypto';
import type { TargetChange, TargetSchemaItem } from '../types.js';

/**
 * What the endpoint receives (docs/targets.md): the body, and the headers that sign it and make it
 * idempotent.
 *   X-Outbox-Signature: sha256=<hex HMAC-SHA256 of the exact body bytes, keyed with the secret>
 *   Idempotency-Key:    <event id>   (the same change always carries the same key)
 *   X-Outbox-Timestamp: <unix seconds when sent>
 */
export const SIGNATURE_HEADER = 'x-outbox-signature';
export const TIMESTAMP_HEADER = 'x-outbox-timestamp';
export const IDEMPOTENCY_HEADER = 'idempotency-key';

export function signBody(body: string, secret: string): string {
  return `sha256=${createHmac('sha256', secret).update(body, 'utf8').digest('hex')}`;
}

/** The JSON the endpoint receives: the change without the SQS message id. */
export function webhookBody(change: TargetChange): string {
  const schemaChange = change.schemaChange ? { schemaChange: { dialect: change.schemaChange.dialect, changes: change.schemaChange.items.map(webhookItem) } } : {};
  return JSON.stringify({ eventId: change.eventId, sourceTable: change.sourceTable, table: change.table, op: change.op, seq: change.seq, time: change.time, key: change.key, row: change.row, ...schemaChange });
}

/**
 * A schema change as the endpoint receives it (op "schema", docs/targets.md): columns in the target's
 * names, types as the source spells them with `as` when the mapping writes other values (text for a
 * hashed column); `existing` the value the rows that existed before hold, mapped like the column of a
 * row image; what a database target could not follow (a renamed table) as the source item.
 */
function webhookItem(item: TargetSchemaItem): Record<string, unknown> {
  switch (item.kind) {
    case 'add_column':
      return { kind: item.kind, column: item.column, type: item.type.type, ...(item.type.output ? { as: item.type.output } : {}), nullable: item.nullable, ...(item.existing !== undefined ? { existing: item.existing } : {}) };
    case 'alter_type':
      return { kind: item.kind, column: item.column, from: item.from.type, to: item.to.type };
    case 'refuse':
      return { ...item.change };
    default:
      return { ...item };
  }
}

