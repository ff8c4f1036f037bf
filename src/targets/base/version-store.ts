import type { TableSchemaState } from '../schema/decide.js';
import type { SchemaChangeRecord, SchemaChangeStatus, TargetSchemaItem } from '../types.js';

/**
 * What a database target's version store offers the shared apply rules (sql-writer.ts). Each
 * dialect's version-store.ts keeps the same tables with the same meaning, in the target database
 * (schema or database = the target's stateSchema):
 *   versions(target_table, key_hash, key, seq, deleted, updated_at, owner)  one row per key ever applied
 *   truncations(target_table, seq, truncated_at)                            the last whole-table truncate
 *   share_truncations(target_table, target, seq, truncated_at)              the last truncate of a filtered
 *                                                                           target's share of the table
 *   schema_changes(target, target_table, seq, source_table, status, items, reason, recorded_at)
 * A delete keeps its version row as a tombstone (deleted = true); tombstones older than
 * tombstoneRetentionHours are purged. `owner` names the target that applied the key's version: a
 * filtered target's truncate removes the rows it owns (docs/targets.md, "Shares").
 */
export interface VersionStore<C> {
  readonly scope: StoreScope;
  exists(conn: C): Promise<boolean>;
  /** Creates the store if missing; safe when several run at once. */
  create(conn: C): Promise<void>;
  /**
   * Locks the truncation record of a table (exclusively when the batch truncates it) and returns the
   * seq at or below which a change of this target is stale.
   */
  lockTable(conn: C, table: string, exclusive: boolean): Promise<bigint>;
  /** Records a schema change as pending if new and returns its status; a consumer applying the same change waits for the other. */
  claimSchemaChange(conn: C, table: string, seq: string, sourceTable: string): Promise<{ status: SchemaChangeStatus; reason: string | null }>;
  recordSchemaChange(conn: C, table: string, seq: string, status: SchemaChangeStatus, items: TargetSchemaItem[], reason: string | null): Promise<void>;
  /** The decided schema changes of a table in seq order, and the earliest halt not resumed. */
  schemaState(conn: C, table: string): Promise<TableSchemaState>;
  /** This target's schema changes in the given statuses, oldest first (halts for status and doctor). */
  schemaChanges(conn: C, statuses: SchemaChangeStatus[]): Promise<SchemaChangeRecord[]>;
  /** `outbox target resume`: the operator applied the halted changes by hand; returns them. */
  resumeHalts(conn: C): Promise<SchemaChangeRecord[]>;
  purgeTombstones(conn: C, retentionHours: number): Promise<number>;
}

/**
 * Who the store works for: the target's name (recorded as the owner of the versions it applies) and
 * whether the target holds a share of its tables (a row-filtered policy) or whole tables.
 */
export interface StoreScope {
  owner: string;
  share: boolean;
}

/**
 * The version guard's order of two changes of one key: a larger seq wins; at an equal seq an upsert
 * wins over a delete. Equal seqs meet only on the two messages of a share move, where the old side
 * became a delete for a target the row left and the new side is an upsert for one it entered: when
 * both targets write one table, the row must stay.
 */
export function isNewer(stored: { seq: bigint; deleted: boolean }, seq: bigint, deleted: boolean): boolean {
  return stored.seq < seq || (stored.seq === seq && stored.deleted && !deleted);
}
