import { OutboxError } from '../errors.js';
import { isReservedAttribute, RESERVED_ATTRIBUTES } from '../wire/attributes.js';
import { MAX_MESSAGE_ATTRIBUTES } from '../wire/limits.js';

/** SNS allows 10 message attributes; source, table, operation and changed columns take four. */
export const MAX_ATTRIBUTE_COLUMNS = MAX_MESSAGE_ATTRIBUTES - RESERVED_ATTRIBUTES.length;

export interface CaptureColumnsInput {
  /** schema.table, for messages. */
  name: string;
  /** The table's columns, in catalog order. */
  columns: string[];
  primaryKey: string[];
  exclude: string[];
  attributes: string[];
  /** Key columns named by the user (for a table without a primary key); [] for none. */
  keyOverride: string[];
}

/**
 * The checks every dialect's `track` makes before it installs capture: every named column exists,
 * the table has a key (its primary key, or the user's), a key or attribute column is not excluded, and
 * the attribute columns fit in SNS's 10 message attributes. Returns the key columns.
 */
export function resolveCaptureColumns(input: CaptureColumnsInput): string[] {
  const { name, exclude, attributes, keyOverride } = input;
  const known = new Set(input.columns);
  const unknown = [...exclude, ...attributes, ...keyOverride].filter((c) => !known.has(c));
  if (unknown.length > 0) {
    throw new OutboxError(
      'COLUMN_NOT_FOUND',
      `Table ${name} has no column ${[...new Set(unknown)].map((c) => `"${c}"`).join(', ')}. Its columns are: ${[...known].join(', ')}.`,
      { context: { table: name, columns: unknown } },
    );
  }
  const keyColumns = keyOverride.length > 0 ? keyOverride : input.primaryKey;
  if (keyColumns.length === 0) {
    throw new OutboxError(
      'TABLE_HAS_NO_KEY',
      `Table ${name} has no primary key, so changes of one row cannot be told apart. Add a primary key, or name key columns whose values are unique and never null: outbox track ${name} --key col1,col2.`,
      { context: { table: name } },
    );
  }
  const keyExcluded = keyColumns.filter((k) => exclude.includes(k));
  if (keyExcluded.length > 0) {
    throw new OutboxError('CONFIG_INVALID', `Key column ${keyExcluded.join(', ')} of ${name} cannot be excluded: targets need the key to apply a change.`, {
      context: { table: name },
    });
  }
  const attrExcluded = attributes.filter((a) => exclude.includes(a));
  if (attrExcluded.length > 0) {
    throw new OutboxError('CONFIG_INVALID', `Column ${attrExcluded.join(', ')} of ${name} is both excluded and an attribute; an excluded column never leaves the database. Drop it from one list.`, {
      context: { table: name },
    });
  }
  const reserved = attributes.filter((a) => isReservedAttribute(a.toLowerCase()));
  if (reserved.length > 0) {
    throw new OutboxError(
      'CONFIG_INVALID',
      `Column ${reserved.join(', ')} of ${name} cannot be an attribute column: every event already carries the message attributes ${RESERVED_ATTRIBUTES.join(', ')}. Filter on those (table, operation…) instead.`,
      { context: { table: name } },
    );
  }
  if (attributes.length > MAX_ATTRIBUTE_COLUMNS) {
    throw new OutboxError(
      'CONFIG_INVALID',
      `${name} names ${attributes.length} attribute columns; at most ${MAX_ATTRIBUTE_COLUMNS} fit, because SNS delivers 10 message attributes and source, table, operation and changed columns take four.`,
      { context: { table: name } },
    );
  }
  return keyColumns;
}
