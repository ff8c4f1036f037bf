import type { MessageAttributeValue } from '@aws-sdk/client-sns';
import type { AttributeValue, OutboxEvent, ShareSide } from './envelope.js';
import { MAX_MESSAGE_ATTRIBUTES } from './limits.js';

/** The attributes every message carries, for filter policies. */
export const RESERVED_ATTRIBUTES = ['source', 'table', 'operation', 'changed'] as const;

/** Whether a name is one of the attributes every message carries (an attribute column cannot use it). */
export function isReservedAttribute(name: string): boolean {
  return (RESERVED_ATTRIBUTES as readonly string[]).includes(name);
}

export interface DroppedAttribute {
  name: string;
  reason: 'invalid-name' | 'reserved-name' | 'too-many' | 'empty-value';
}

export interface BuiltAttributes {
  attributes: Record<string, MessageAttributeValue>;
  /** Configured attribute columns that could not be sent, and why (names only, never values). */
  dropped: DroppedAttribute[];
  /** Number attribute columns (publish.numberAttributes) sent as String because the value is not a number SNS takes. */
  asString: string[];
}

/** The attribute columns of one message, as sent: text for String attributes, numbers for Number attributes. */
export type SentColumns = Record<string, string | number>;

/** One message of an event: every event has one; an update that moves a row between shares has two. */
export interface MessageSide {
  /** Which attribute values the message carries; absent for an event that moves nothing. */
  side?: ShareSide;
  built: BuiltAttributes;
  /** The attribute columns sent, in the body's `move` form. */
  columns: SentColumns;
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

/** A decimal SNS takes as a Number attribute (at most 38 significant digits). */
export function isSnsNumber(text: string): boolean {
  return /^-?(\d+(\.\d+)?|\.\d+)([eE][-+]?\d{1,3})?$/.test(text) && text.replace(/[^0-9]/g, '').replace(/^0+/, '').length <= 38 && Number.isFinite(Number(text));
}

/**
 * The attributes every message has: source, table (schema.table), operation, and changed (the
 * changed columns as String.Array, omitted when there is none). The consumer rebuilds the same map
 * for the other side of a move, so both use this one function.
 */
export function baseAttributes(sourceName: string, table: string, op: string, changed: readonly string[] | null | undefined): Record<string, MessageAttributeValue> {
  const attributes: Record<string, MessageAttributeValue> = {
    source: { DataType: 'String', StringValue: sourceName },
    table: { DataType: 'String', StringValue: table },
    operation: { DataType: 'String', StringValue: op },
  };
  if (changed && changed.length > 0) attributes.changed = { DataType: 'String.Array', StringValue: JSON.stringify(changed) };
  return attributes;
}

/** A sent attribute column as a message attribute: numbers as Number, text as String. */
export function columnAttribute(value: string | number): MessageAttributeValue {
  return typeof value === 'number' ? { DataType: 'Number', StringValue: String(value) } : { DataType: 'String', StringValue: value };
}

/**
 * Message attributes of an event for one side: the base attributes, then the event's attribute
 * columns in name order, at most 10 in all. An attribute column whose value the update changed
 * holds [old, new]: the old side takes the old value, any other side the new one. Columns listed
 * in `numberColumns` go as DataType Number (so numeric filter conditions match them on SNS).
 */
export function buildMessageAttributes(sourceName: string, event: OutboxEvent, options: { side?: ShareSide; numberColumns?: ReadonlySet<string> } = {}): BuiltAttributes {
  const attributes = baseAttributes(sourceName, `${event.tableSchema}.${event.tableName}`, event.op, event.changed);
  const dropped: DroppedAttribute[] = [];
  const asString: string[] = [];
  const extra = event.attributes ?? {};
  for (const name of Object.keys(extra).sort()) {
    const value = valueFor(extra[name], options.side);
    if (isReservedAttribute(name)) dropped.push({ name, reason: 'reserved-name' });
    else if (!isValidAttributeName(name)) dropped.push({ name, reason: 'invalid-name' });
    // SNS rejects an empty String value; a NULL column simply has no attribute (filter with "exists": false).
    else if (value === null || value === '') dropped.push({ name, reason: 'empty-value' });
    else if (Object.keys(attributes).length >= MAX_MESSAGE_ATTRIBUTES) dropped.push({ name, reason: 'too-many' });
    else if (options.numberColumns?.has(name)) {
      if (isSnsNumber(value)) attributes[name] = { DataType: 'Number', StringValue: value };
      else {
        asString.push(name);
        attributes[name] = { DataType: 'String', StringValue: value };
      }
    } else attributes[name] = { DataType: 'String', StringValue: value };
  }
  return { attributes, dropped, asString };
}

/**
 * The messages an event is published as. An update whose attribute values changed (a row moving
 * between shares) is two messages with the same seq: the old side carries the old attribute values,
 * so SNS delivers it to the targets whose share the row leaves (they delete it there, unless the new
 * values are in their share too), and the new side the new values, delivered to the share the row
 * enters (an upsert). Plain String (or Number) attributes: every SNS-compatible broker matches them.
 */
export function messageSides(sourceName: string, event: OutboxEvent, numberColumns?: ReadonlySet<string>): MessageSide[] {
  const options = numberColumns ? { numberColumns } : {};
  const current = buildMessageAttributes(sourceName, event, options);
  const moves = Object.values(event.attributes ?? {}).some((v) => Array.isArray(v) && (v[0] ?? null) !== (v[1] ?? null));
  if (!moves) return [{ built: current, columns: sentColumns(current) }];
  const old = buildMessageAttributes(sourceName, event, { ...options, side: 'old' });
  const [oldColumns, newColumns] = [sentColumns(old), sentColumns(current)];
  if (sameColumns(oldColumns, newColumns)) return [{ built: current, columns: newColumns }];
  return [
    { side: 'old', built: old, columns: oldColumns },
    { side: 'new', built: current, columns: newColumns },
  ];
}

function valueFor(value: AttributeValue | [AttributeValue, AttributeValue] | AttributeValue[] | undefined, side: ShareSide | undefined): string | null {
  if (value === undefined) return null;
  if (!Array.isArray(value)) return value;
  return (side === 'old' ? value[0] : value[value.length - 1]) ?? null;
}

/** The attribute columns a built map holds (everything but the base attributes). */
function sentColumns(built: BuiltAttributes): SentColumns {
  const columns: SentColumns = {};
  for (const [name, value] of Object.entries(built.attributes)) {
    if (isReservedAttribute(name)) continue;
    columns[name] = value.DataType === 'Number' ? Number(value.StringValue) : (value.StringValue ?? '');
  }
  return columns;
}

function sameColumns(a: SentColumns, b: SentColumns): boolean {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((k) => b[k] === a[k]);
}
