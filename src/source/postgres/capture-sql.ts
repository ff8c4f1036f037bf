import { createHash } from 'node:crypto';
import { quoteCatalogIdent, quoteLiteral } from '../../sql/identifiers.js';
import type { ColumnInfo } from './catalog.js';

/**
 * The value encoding of capture, as SQL over a table's rows. Catalog names are quoted by doubling
 * embedded quotes; names typed by a user were validated before they got here.
 *
 * Value encoding in images (documented in docs/encoding.md): JSON, with int8, numeric and money as
 * strings (no float rounding), arrays of those as arrays of strings, timestamptz in UTC with offset,
 * timestamp and date as ISO text, bytea as "\x…" hex, uuid and enums as text, json/jsonb nested.
 */
export interface CaptureSpec {
  outboxSchema: string;
  tableSchema: string;
  tableName: string;
  keyColumns: string[];
  captured: ColumnInfo[];
  attributes: string[];
}


/** Stable, collision-safe function name for a tracked table (PostgreSQL names are ≤ 63 bytes). */
export function captureFunctionName(tableSchema: string, tableName: string): string {
  const hash = createHash('sha256').update(`${tableSchema}.${tableName}`).digest('hex').slice(0, 8);
  return `capture_${hash}_${tableName}`.slice(0, 63);
}

const AS_TEXT = new Set(['int8', 'numeric']);
const AS_TEXT_ARRAY = new Set(['_int8', '_numeric', '_money']);

function valueExpr(alias: string, col: ColumnInfo): string {
  const ref = `${alias}.${quoteCatalogIdent(col.name)}`;
  if (AS_TEXT.has(col.typeName)) return `${ref}::text`;
  if (col.typeName === 'money') return `${ref}::numeric::text`;
  if (AS_TEXT_ARRAY.has(col.typeName)) return `${ref}::text[]`;
  return ref;
}

/** A jsonb image of cols of row alias (the capture encoding; backfill and verify reuse it). jsonb_build_object takes at most 100 arguments: build in chunks and concatenate. */
export function jsonObject(alias: string, cols: ColumnInfo[], asText = false): string {
  if (cols.length === 0) return `'{}'::jsonb`;
  const chunks: string[] = [];
  for (let i = 0; i < cols.length; i += 50) {
    const pairs = cols
      .slice(i, i + 50)
      .map((c) => `${quoteLiteral(c.name)}, ${asText ? `${alias}.${quoteCatalogIdent(c.name)}::text` : valueExpr(alias, c)}`);
    chunks.push(`jsonb_build_object(${pairs.join(', ')})`);
  }
  return chunks.length === 1 ? chunks[0]! : `(${chunks.join(' || ')})`;
}

/** Types whose "=" holds only for identical values: a cheap comparison that loses nothing. */
const EQUALS_IS_IDENTITY = new Set(['int2', 'int4', 'int8', 'oid', 'bool', 'uuid', 'date', 'time', 'timestamp', 'timestamptz', 'bytea', 'money']);
const TEXT_TYPES = new Set(['text', 'varchar', 'name']);

/**
 * Whether a column's value changed. "=" is not enough for every type: numeric 1.5 = 1.50, citext
 * 'A' = 'a', a case-insensitive collation, float -0 = 0, and json, xml or point have no "=" at all.
 * Those compare binary images (record *=, as REFRESH MATERIALIZED VIEW CONCURRENTLY does), so an
 * update that changes what a target would store is never skipped.
 */
function distinct(col: ColumnInfo): string {
  const name = quoteCatalogIdent(col.name);
  if (EQUALS_IS_IDENTITY.has(col.typeName) || col.typeKind === 'e') return `o.${name} IS DISTINCT FROM n.${name}`;
  if (TEXT_TYPES.has(col.typeName)) return `o.${name} COLLATE "C" IS DISTINCT FROM n.${name} COLLATE "C"`;
  return `NOT (ROW(o.${name})::record *= ROW(n.${name})::record)`;
}

/**
 * Attribute values of an update: the new value as text, or [old, new] when it changed. The relay
 * publishes such an update as two messages, one with the old values and one with the new ones, so a
 * target filtered on the attribute receives the update that moves a row out of (or into) its share.
 */
function updateAttributes(attrs: ColumnInfo[]): string {
  const pairs = attrs.map((c) => {
    const name = quoteCatalogIdent(c.name);
    return `${quoteLiteral(c.name)}, CASE WHEN o.${name}::text IS DISTINCT FROM n.${name}::text THEN jsonb_build_array(o.${name}::text, n.${name}::text) ELSE to_jsonb(n.${name}::text) END`;
  });
  return `jsonb_build_object(${pairs.join(', ')})`;
}

/**
 * SQL expressions that turn a table's whole-row images (the json the capture functions write) into the event
 * encoding: the same expressions backfill uses over the table itself, so a decoded event and a
 * snapshot of the same row are byte-identical (docs/encoding.md). Over the record aliases o and n.
 */
export function decodeExpressions(spec: { keyColumns: string[]; captured: ColumnInfo[]; attributes: string[] }): Record<string, string> {
  const byName = new Map(spec.captured.map((c) => [c.name, c]));
  const keys = spec.keyColumns.map((k) => byName.get(k)!);
  const attrs = spec.attributes.map((a) => byName.get(a)!);
  const nonKey = spec.captured.filter((c) => !spec.keyColumns.includes(c.name));
  return {
    key_new: jsonObject('n', keys),
    key_old: jsonObject('o', keys),
    image_new: jsonObject('n', spec.captured),
    image_old: jsonObject('o', spec.captured),
    attrs_new: attrs.length ? jsonObject('n', attrs, true) : 'NULL::jsonb',
    attrs_old: attrs.length ? jsonObject('o', attrs, true) : 'NULL::jsonb',
    attrs_update: attrs.length ? updateAttributes(attrs) : 'NULL::jsonb',
    key_differs: keys.map((k) => `o.${quoteCatalogIdent(k.name)} IS DISTINCT FROM n.${quoteCatalogIdent(k.name)}`).join(' OR '),
    changed: nonKey.length
      ? `array_remove(ARRAY[${nonKey.map((c) => `CASE WHEN ${distinct(c)} THEN ${quoteLiteral(c.name)} END`).join(', ')}]::text[], NULL)`
      : `'{}'::text[]`,
    columns: spec.captured.map((c) => `${quoteCatalogIdent(c.name)} ${c.formatted}`).join(', '),
  };
}

/** The session setting that throttles NOTIFY (one wake-up per 100 ms per session). */
export function wakeSetting(outboxSchema: string): string {
  return `outbox_relay.wake_${outboxSchema.toLowerCase()}`;
}

/** The LISTEN/NOTIFY channel capture signals on. */
export function notifyChannel(outboxSchema: string): string {
  return `outbox_${outboxSchema}`;
}
