import type { MessageAttributeValue } from '@aws-sdk/client-sns';
import type { OutboxEvent } from '../../envelope.js';
import { MAX_MESSAGE_ATTRIBUTES } from './limits.js';

/** The attributes every message carries, for filter policies. */
export const RESERVED_ATTRIBUTES = ['source', 'table', 'operation', 'changed'] as const;

export interface DroppedAttribute {
  name: string;
  reason: 'invalid-name' | 'reserved-name' | 'too-many' | 'empty-value';
}

export interface BuiltAttributes {
  attributes: Record<string, MessageAttributeValue>;
  /** Configured attribute columns that could not be sent, and why (names only, never values). */
  dropped: DroppedAttribute[];
}

/**
 * SNS attribute names: letters, digits, _ - and ., at most 256 characters, not starting or ending
 * with a period, no two periods in a row, and no AWS. / Amazon. prefix (any case).
 */
export function isValidAttributeName(name: string): boolean {
  return (
    /^[A-Za-z0-9_.-]{1,256}$/.test(name) &&
    !name.startsWith('.') &&
    !name.endsWith('.') &&
    !name.includes('..') &&
    !/^(aws|amazon)\./i.test(name)
  );
}

/**
 * Message attributes of an event: source, table (schema.table), operation, changed (String.Array,
 * omitted when there is none), then the event's attribute columns in name order, at most 10 in all.
 */
export function buildMessageAttributes(sourceName: string, event: OutboxEvent): BuiltAttributes {
  const attributes: Record<string, MessageAttributeValue> = {
    source: { DataType: 'String', StringValue: sourceName },
    table: { DataType: 'String', StringValue: `${event.tableSchema}.${event.tableName}` },
    operation: { DataType: 'String', StringValue: event.op },
  };
  if (event.changed && event.changed.length > 0) {
    attributes.changed = { DataType: 'String.Array', StringValue: JSON.stringify(event.changed) };
  }
  const dropped: DroppedAttribute[] = [];
  const extra = event.attributes ?? {};
  for (const name of Object.keys(extra).sort()) {
    const value = extra[name];
    if ((RESERVED_ATTRIBUTES as readonly string[]).includes(name)) dropped.push({ name, reason: 'reserved-name' });
    else if (!isValidAttributeName(name)) dropped.push({ name, reason: 'invalid-name' });
    // SNS rejects an empty String value; a NULL column simply has no attribute (filter with "exists": false).
    else if (isEmpty(value)) dropped.push({ name, reason: 'empty-value' });
    else if (Object.keys(attributes).length >= MAX_MESSAGE_ATTRIBUTES) dropped.push({ name, reason: 'too-many' });
    else if (Array.isArray(value)) attributes[name] = { DataType: 'String.Array', StringValue: JSON.stringify(value.filter((v) => v !== null && v !== '')) };
    else attributes[name] = { DataType: 'String', StringValue: String(value) };
  }
  return { attributes, dropped };
}

/** No value to send: null, '', or an [old, new] pair whose values are both null or ''. */
function isEmpty(value: string | (string | null)[] | null | undefined): boolean {
  if (Array.isArray(value)) return value.every((v) => v === null || v === '');
  return value === null || value === undefined || value === '';
}
