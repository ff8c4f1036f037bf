import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { PACKAGE_ROOT } from './sql/files.js';
import type { ChangeOperation } from './source/types.js';

/**
 * The wire format: a CloudEvents 1.0 JSON envelope around one row change, described by
 * schema/change-event.v1.json so consumers in any language can read it.
 */
export const EVENT_TYPE = 'dev.outbox-relay.change.v1';
export const SCHEMA_FILE = 'schema/change-event.v1.json';

export type RowImage = Record<string, unknown>;

export interface ChangeData {
  schema: string;
  table: string;
  op: ChangeOperation;
  /** Decimal string; for one key a later change always has a larger seq. */
  seq: string;
  xid?: string;
  key: RowImage | null;
  before?: RowImage | null;
  after?: RowImage | null;
  changed?: string[] | null;
}

export interface ChangeEnvelope {
  specversion: '1.0';
  id: string;
  source: string;
  type: typeof EVENT_TYPE;
  subject: string;
  time: string;
  datacontenttype: 'application/json';
  dataschema?: string;
  sequence: string;
  data?: ChangeData;
  claimcheck?: string;
}

/** A captured outbox row, as the relay reads it. */
export interface OutboxEvent {
  seq: string;
  xid: string;
  tableSchema: string;
  tableName: string;
  op: ChangeOperation;
  key: RowImage | null;
  before: RowImage | null;
  after: RowImage | null;
  changed: string[] | null;
  /**
   * Attribute column values (text) for SNS message attributes. An update that changed the value
   * carries [old, new] (published as String.Array), so filters on either value match it.
   */
  attributes: Record<string, string | (string | null)[]> | null;
  changedAt: Date;
}

/** JSON with object keys sorted, so the same key always gives the same subject. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const obj = value as Record<string, unknown>;
  return `{${Object.keys(obj).sort().map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(',')}}`;
}

export function eventId(sourceName: string, seq: string): string {
  return `${sourceName}:${seq}`;
}

export function subjectOf(schema: string, table: string, key: RowImage | null): string {
  return `${schema}.${table}/${key === null ? '*' : canonicalJson(key)}`;
}

export function buildEnvelope(sourceName: string, event: OutboxEvent): ChangeEnvelope {
  return {
    specversion: '1.0',
    id: eventId(sourceName, event.seq),
    source: `outbox-relay:${sourceName}`,
    type: EVENT_TYPE,
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
    },
  };
}

let validator: ((value: unknown) => boolean) & { errors?: unknown } | undefined;

/** Validates a parsed message body against the versioned JSON Schema; returns the problems, or []. */
export function validateEnvelope(value: unknown): string[] {
  if (!validator) {
    const ajv = new Ajv2020({ allErrors: true, strict: false });
    addFormats.default(ajv, ['date-time']);
    validator = ajv.compile(JSON.parse(readFileSync(join(PACKAGE_ROOT, SCHEMA_FILE), 'utf8')));
  }
  if (validator(value)) return [];
  const errors = (validator.errors ?? []) as { instancePath: string; message?: string }[];
  return errors.map((e) => `${e.instancePath || '(envelope)'} ${e.message ?? 'is invalid'}`);
}
