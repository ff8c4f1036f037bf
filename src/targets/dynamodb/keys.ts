import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { canonicalJson, type RowImage } from '../../wire/envelope.js';
import { ValueMappingError } from './values.js';

/**
 * How a source key becomes a DynamoDB primary key, and the attributes the target keeps beside the
 * row's columns (docs/dynamodb.md):
 *
 *   one key column   → the partition key, named like the column;
 *   two key columns  → partition key (the first, in source key order) and sort key (the second);
 *   three or more    → a partition key `outbox_key` holding the canonical JSON of the key image
 *                      (columns sorted by name), e.g. {"a":1,"b":"x","c":2}; the key columns are
 *                      stored as ordinary attributes too.
 *
 * The table's key schema (DescribeTable) is what the writer follows at run time; `outbox target
 * init` creates it like this.
 */
export const SYSTEM = {
  seq: 'outbox_seq',
  deleted: 'outbox_deleted',
  owner: 'outbox_target',
  parts: 'outbox_parts',
  compositeKey: 'outbox_key',
} as const;

/** Whether an attribute name is one the target writes for itself (a column may not use it). */
export function isSystemAttribute(name: string, ttlAttribute: string): boolean {
  return name === ttlAttribute || Object.values(SYSTEM).includes(name as (typeof SYSTEM)[keyof typeof SYSTEM]);
}

export type ScalarKeyType = 'S' | 'N' | 'B';

export interface KeyAttribute {
  name: string;
  type: ScalarKeyType;
}

export interface KeySchema {
  hash: KeyAttribute;
  range?: KeyAttribute;
}

/** The key schema `outbox target init` creates for source key columns (after renames, in source order). */
export function keySchemaFor(keyColumns: readonly string[], typeOf: (column: string) => ScalarKeyType): KeySchema {
  if (keyColumns.length === 0) throw new Error('a table needs at least one key column');
  if (keyColumns.length > 2) return { hash: { name: SYSTEM.compositeKey, type: 'S' } };
  const [hash, range] = keyColumns as [string, string | undefined];
  return range === undefined ? { hash: { name: hash, type: typeOf(hash) } } : { hash: { name: hash, type: typeOf(hash) }, range: { name: range, type: typeOf(range) } };
}

/** The DynamoDB key of a change's key image under a table's key schema. Throws ValueMappingError naming what does not fit. */
export function itemKey(key: RowImage, schema: KeySchema): Record<string, AttributeValue> {
  const out: Record<string, AttributeValue> = {};
  if (schema.hash.name === SYSTEM.compositeKey && schema.range === undefined) {
    out[SYSTEM.compositeKey] = { S: canonicalJson(key) };
    return out;
  }
  const wanted = schema.range ? [schema.hash, schema.range] : [schema.hash];
  const columns = Object.keys(key);
  if (columns.length !== wanted.length || wanted.some((a) => !(a.name in key))) {
    throw new ValueMappingError(`the key (${columns.join(', ')}) does not match the table's key schema (${wanted.map((a) => a.name).join(', ')}); create the table with the (renamed) source key columns, or ${SYSTEM.compositeKey} for three or more`);
  }
  for (const a of wanted) out[a.name] = keyValue(key[a.name], a);
  return out;
}

function keyValue(value: unknown, attribute: KeyAttribute): AttributeValue {
  const where = `key column "${attribute.name}"`;
  if (value === null || value === undefined) throw new ValueMappingError(`${where} is null`);
  switch (attribute.type) {
    case 'S':
      if (typeof value === 'string' || typeof value === 'number' || typeof value === 'bigint') return { S: String(value) };
      throw new ValueMappingError(`${where} must be text for a string (S) key`);
    case 'N': {
      const text = typeof value === 'number' || typeof value === 'bigint' ? String(value) : typeof value === 'string' ? value : '';
      if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text)) throw new ValueMappingError(`${where} must be a number for a number (N) key`);
      return { N: text };
    }
    case 'B': {
      const hex = typeof value === 'string' ? /^\\x((?:[0-9a-fA-F]{2})*)$/.exec(value) : null;
      if (!hex) throw new ValueMappingError(`${where} must be bytea hex ("\\x…") for a binary (B) key`);
      return { B: Buffer.from(hex[1]!, 'hex') };
    }
  }
}

/** The key attribute names of a schema, hash first. */
export function keyNames(schema: KeySchema): string[] {
  return schema.range ? [schema.hash.name, schema.range.name] : [schema.hash.name];
}
