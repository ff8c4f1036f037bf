import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { PACKAGE_ROOT } from '../sql/files.js';
import { isDateTime } from './date-time.js';
import type { WireOperation } from './operations.js';

/**
 * The wire format: a CloudEvents 1.0 JSON envelope around one row change, described by a versioned
 * JSON Schema so consumers in any language can read it. Every event is the v1 envelope
 * (schema/change-event.v1.json) byte for byte, except the two messages of a share move, which carry
 * `data.move` and the v2 type; schema/change-event.v2.json describes both.
 */
export const EVENT_TYPE = 'dev.outbox-relay.change.v1';
/**
 * The v2 type: the two messages of an update that moved a row between shares (they carry data.move),
 * and schema changes (op `schema`, data.schemaChange; docs/schema-changes.md).
 */
export const MOVE_EVENT_TYPE = 'dev.outbox-relay.change.v2';
export const SCHEMA_EVENT_TYPE = MOVE_EVENT_TYPE;
export const SCHEMA_FILE = 'schema/change-event.v2.json';

export type RowImage = Record<string, unknown>;

export interface ChangeData {
  schema: string;
  table: string;
  op: WireOperation;
  /** Decimal string; for one key a later change always has a larger seq. */
  seq: string;
  xid?: string;
  key: RowImage | null;
  before?: RowImage | null;
  after?: RowImage | null;
  changed?: string[] | null;
  /** Only on the two messages of a share move (type v2). */
  move?: ShareMove;
  /** Only on op `schema` (type v2). */
  schemaChange?: SchemaChange;
}

/** A captured column as a schema change describes it; excluded columns never appear. */
export interface ColumnShape {
  name: string;
  /** As the source catalog spells it, with length/precision/scale: `numeric(10,2)`, `nvarchar(40)`. */
  type: string;
  nullable: boolean;
}

export type SchemaChangeKind = 'add_column' | 'drop_column' | 'rename_column' | 'alter_type' | 'rename_table' | 'drop_table';

export interface SchemaChangeItem {
  kind: SchemaChangeKind;
  /** The column; its new name for rename_column. */
  column?: string;
  /** rename_column / rename_table: the old name; alter_type: the old type. */
  from?: string;
  /** rename_table: the new `schema.table`; alter_type: the new type. */
  to?: string;
  /** add_column: the column's type. */
  type?: string;
  /**
   * add_column: the value the rows that existed before the change hold at the source although none
   * of them was written (`ADD COLUMN … DEFAULT …` with a non-volatile default), encoded as the
   * column's value in a row image. Absent when no added value is known (docs/schema-changes.md).
   */
  existing?: unknown;
}

/**
 * What a schema-change event carries. Ordering contract: for its table, every row event with a smaller
 * seq was written with `before`, every one with the same or a larger seq with `after`; so a consumer
 * applies a schema change before any row event of that table whose seq is >= its seq.
 */
export interface SchemaChange {
  dialect: 'postgres' | 'sqlserver';
  /** Null when the earlier shape is unknown. */
  before: ColumnShape[] | null;
  /** Null when the table was dropped. */
  after: ColumnShape[] | null;
  /** Key columns after the change; empty when the table no longer has one. */
  key: string[];
  changes: SchemaChangeItem[];
}

/** Which attribute values a message of a share move carries. */
export type ShareSide = 'old' | 'new';

/**
 * An update that changed attribute values is published twice with the same seq: the old side with
 * the old attribute values (it reaches the share the row leaves), the new side with the new ones
 * (the share it enters). `old` and `new` are the attribute columns each side was published with —
 * strings for String attributes, numbers for Number attributes — so a consumer can tell whether the
 * row stays in its own share (docs/targets.md, "Shares").
 */
export interface ShareMove {
  side: ShareSide;
  old: Record<string, string | number>;
  new: Record<string, string | number>;
}

export interface ChangeEnvelope {
  specversion: '1.0';
  id: string;
  source: string;
  type: typeof EVENT_TYPE | typeof MOVE_EVENT_TYPE;
  subject: string;
  time: string;
  datacontenttype: 'application/json';
  dataschema?: string;
  sequence: string;
  data?: ChangeData;
  claimcheck?: string;
}

export type AttributeValue = string | null;

/** A captured outbox row, as the relay reads it. */
export interface OutboxEvent {
  seq: string;
  xid: string;
  tableSchema: string;
  tableName: string;
  op: WireOperation;
  key: RowImage | null;
  before: RowImage | null;
  after: RowImage | null;
  changed: string[] | null;
  /**
   * Attribute column values (text; null for NULL) for SNS message attributes. An update that changed
   * a value carries [old, new]: the publisher then sends two messages, one per side (a share move).
   */
  attributes: Record<string, AttributeValue | AttributeValue[]> | null;
  changedAt: Date;
  /** Op `schema` only: the change of the table's shape (docs/schema-changes.md). */
  schemaChange?: SchemaChange;
  /**
   * The delete of the old key when an update changed the key: it shares its seq with the insert of
   * the new key, so its id is `<source>:<seq>:old`.
   */
  keyChange?: 'delete';
}

/** A schema-change event of a table at a place in the stream: it carries no key, images or attributes. */
export function schemaChangeEvent(at: Pick<OutboxEvent, 'seq' | 'xid' | 'changedAt'>, table: Pick<OutboxEvent, 'tableSchema' | 'tableName'>, schemaChange: SchemaChange): OutboxEvent {
  return { seq: at.seq, xid: at.xid, tableSchema: table.tableSchema, tableName: table.tableName, op: 'schema', key: null, before: null, after: null, changed: null, attributes: null, changedAt: at.changedAt, schemaChange };
}

/** JSON with object keys sorted, so the same key always gives the same subject. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj);
  // A one-column key (the common case) needs no sort and no list.
  if (keys.length === 1) return `{${JSON.stringify(keys[0])}:${canonicalJson(obj[keys[0]!])}}`;
  return `{${keys.sort().map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(',')}}`;
}

/**
 * `<source>:<seq>`; the old side of a share move is `<source>:<seq>:old` and a schema change
 * `<source>:<seq>:schema` (it may share its seq with the first row event of the new shape), so every
 * message has its own id.
 */
export function eventId(sourceName: string, seq: string, side?: ShareSide | 'schema'): string {
  return side === 'old' || side === 'schema' ? `${sourceName}:${seq}:${side}` : `${sourceName}:${seq}`;
}

/** The source name in an envelope's `source` (outbox-relay:<name>). */
export function sourceNameOf(envelope: Pick<ChangeEnvelope, 'source'>): string {
  return envelope.source.replace(/^outbox-relay:/, '');
}

export function subjectOf(schema: string, table: string, key: RowImage | null): string {
  return `${schema}.${table}/${key === null ? '*' : canonicalJson(key)}`;
}

export function buildEnvelope(sourceName: string, event: OutboxEvent, move?: ShareMove): ChangeEnvelope {
  if (event.op === 'schema') return buildSchemaEnvelope(sourceName, event);
  return {
    specversion: '1.0',
    id: eventId(sourceName, event.seq, move?.side ?? (event.keyChange === 'delete' ? 'old' : undefined)),
    source: `outbox-relay:${sourceName}`,
    type: move ? MOVE_EVENT_TYPE : EVENT_TYPE,
    subject: subjectOf(event.tableSchema, event.tableName, event.key),
    time: event.changedAt.toISOString(),
    datacontenttype: 'application/json',
    sequence: event.seq,
    data: {
      schema: event.tableSchema,
      table: event.tableName,
      op: event.op,
      seq: event.seq,
      xid: event.xid,
      key: event.key,
      before: event.before,
      after: event.after,
      changed: event.changed,
      ...(move ? { move } : {}),
    },
  };
}

/** A schema change (v2): id `<source>:<seq>:schema`, subject `<schema>.<table>/*`, data.key null. */
function buildSchemaEnvelope(sourceName: string, event: OutboxEvent): ChangeEnvelope {
  return {
    specversion: '1.0',
    id: eventId(sourceName, event.seq, 'schema'),
    source: `outbox-relay:${sourceName}`,
    type: SCHEMA_EVENT_TYPE,
    subject: subjectOf(event.tableSchema, event.tableName, null),
    time: event.changedAt.toISOString(),
    datacontenttype: 'application/json',
    sequence: event.seq,
    data: {
      schema: event.tableSchema,
      table: event.tableName,
      op: 'schema',
      seq: event.seq,
      xid: event.xid,
      key: null,
      ...(event.schemaChange ? { schemaChange: event.schemaChange } : {}),
    },
  };
}

let validator: ((value: unknown) => boolean) & { errors?: unknown } | undefined;

/** Validates a parsed message body against the versioned JSON Schema; returns the problems, or []. */
export function validateEnvelope(value: unknown): string[] {
  if (!validator) {
    const ajv = new Ajv2020({ allErrors: true, strict: false });
    // ajv-formats' full date-time check, with the relay's own UTC instants decided first (src/wire/date-time.ts).
    ajv.addFormat('date-time', { type: 'string', validate: isDateTime });
    validator = ajv.compile(JSON.parse(readFileSync(join(PACKAGE_ROOT, SCHEMA_FILE), 'utf8')));
  }
  if (validator(value)) return [];
  const errors = (validator.errors ?? []) as { instancePath: string; message?: string }[];
  return errors.map((e) => `${e.instancePath || '(envelope)'} ${e.message ?? 'is invalid'}`);
}
