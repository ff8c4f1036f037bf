import type { ChangeOperation } from '../wire/operations.js';
import type { RowImage, SchemaChangeItem } from '../wire/envelope.js';
import type { ColumnType } from './schema/column-types.js';

/**
 * The contract between a consumer (SQS, breaker, DLQ) and a target writer (a database or an HTTP
 * endpoint). The consumer has already parsed, validated and transformed each change.
 */
export interface TargetChange {
  /** SQS message id, to match outcomes to messages. */
  messageId: string;
  /** Source table, schema.table. */
  sourceTable: string;
  /** Target table after the mapping (table or schema.table). */
  table: string;
  op: ChangeOperation | 'schema';
  /** Decimal string. For one key, a later change has a larger seq: the version guard compares it. */
  seq: string;
  /** Key columns after renames. Null for truncate. */
  key: RowImage | null;
  /** The row after the change, transformed (insert, update, snapshot). Null for delete and truncate. */
  row: RowImage | null;
  /** CloudEvents id, for idempotency keys. */
  eventId: string;
  /** When the change was written in the source. */
  time: string;
  /**
   * DynamoDB only, from a user transform (docs/transforms.md): write the row into the item at this
   * attribute path (one or two names, e.g. ["lines", "3"]) instead of as the whole item, with its own
   * version. Other targets reject such a change.
   */
  part?: string[];
  /** DynamoDB only, from a user transform: update the item's attributes instead of replacing the item (parts are kept). */
  merge?: boolean;
  /** Only on op schema: the schema change in the target's names (after the mapping). */
  schemaChange?: TargetSchemaChange;
}

/**
 * A schema change as it concerns one target: columns named as the target's mapping writes them,
 * columns the mapping does not write left out, and what the target cannot follow by itself (a table
 * renamed or dropped, a rename the mapping would turn into a leak) as a `refuse` item with the reason.
 */
export interface TargetSchemaChange {
  dialect: ColumnType['dialect'];
  items: TargetSchemaItem[];
}

export type TargetSchemaItem =
  /**
   * existing: the value the rows that existed before the change hold at the source, mapped as the
   * mapping writes that column of a row image (a fill of the target's existing rows); unfilled: why
   * the source's value could not be mapped (the rows stay NULL until they change, or a repair).
   */
  | { kind: 'add_column'; column: string; type: ColumnType; nullable: boolean; existing?: unknown; unfilled?: string }
  | { kind: 'drop_column'; column: string }
  | { kind: 'rename_column'; from: string; column: string }
  | { kind: 'alter_type'; column: string; from: ColumnType; to: ColumnType }
  | { kind: 'refuse'; change: SchemaChangeItem; reason: string };

export type ApplyOutcome =
  | { status: 'applied' }
  /** Older than, or the same as, what the target already has: nothing changed. */
  | { status: 'stale' }
  /** The target refused this change for good (an HTTP 4xx, a constraint the row breaks): send to the DLQ. */
  | { status: 'rejected'; reason: string }
  /**
   * Not now: a row written with a shape the target does not have yet (its schema change has not been
   * applied). Nothing changed; the message goes back to the queue and is tried again shortly.
   */
  | { status: 'wait'; reason: string }
  /** A schema change the target stops on (schemaChanges stop, or one apply cannot do): nothing changed, the target halts. */
  | { status: 'halt'; reason: string };

export interface TargetWriter {
  readonly kind: 'postgres' | 'mysql' | 'http' | 'dynamodb';
  /**
   * Creates or checks what the target needs (version store, tables it can create). Returns the problems
   * found, each naming the table or column and what to do; empty when the target is ready.
   */
  init(options?: InitOptions): Promise<string[]>;
  /**
   * Applies the changes — a database in one transaction — and returns one outcome per change, in order.
   * Throws (retryable) when the target is unreachable or the batch could not commit: the consumer then
   * deletes nothing and the messages come back.
   */
  apply(changes: TargetChange[]): Promise<ApplyOutcome[]>;
  /**
   * Running counts a writer keeps of its own work (DynamoDB: calls retried after throttling or a
   * reset connection); the consumer turns their growth into counters after each apply.
   */
  readonly stats?: Readonly<{ retries?: number }>;
  /**
   * Whether batches received while a call is under way may be applied together in the next call (a
   * database: one transaction and its round trips for several batches; see Consumer.applyTogether).
   * Unset for writers that send change by change or in parallel requests: their calls stay one per
   * batch and run concurrently, as many as the consumer's receive loops.
   */
  readonly appliesTogether?: boolean;
  close(): Promise<void>;
}

export interface InitOptions {
  /** Source key columns per source table ("schema.table"), from the source catalog when reachable. */
  keyColumns?: Readonly<Record<string, readonly string[]>>;
  /** Create what is missing where the target can (DynamoDB: tables, on-demand billing, with TTL). */
  create?: boolean;
}

/**
 * What the store knows of a schema change: pending (claimed, not decided), applied, ignored, halted
 * (the target stopped on it) or resumed (an operator applied it by hand: `outbox target resume`).
 */
export type SchemaChangeStatus = 'pending' | 'applied' | 'ignored' | 'halted' | 'resumed';

export interface SchemaChangeRecord {
  targetTable: string;
  sourceTable: string;
  seq: string;
  status: SchemaChangeStatus;
  items: TargetSchemaItem[];
  reason: string | null;
  recordedAt: string;
}

/** What a database writer offers for schema changes (status, doctor, `outbox target resume`). */
export interface SchemaChangeAdmin {
  /** This target's recorded schema changes in the given statuses (e.g. the halts). */
  schemaChanges(statuses: SchemaChangeStatus[]): Promise<SchemaChangeRecord[]>;
  /** Marks the halted schema changes as applied by hand; returns them. */
  resumeSchemaChanges(): Promise<SchemaChangeRecord[]>;
}

export function hasSchemaAdmin(writer: TargetWriter): writer is TargetWriter & SchemaChangeAdmin {
  return typeof (writer as Partial<SchemaChangeAdmin>).schemaChanges === 'function';
}
