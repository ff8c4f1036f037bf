import { hash } from 'node:crypto';
import { canonicalJson, type RowImage } from '../../wire/envelope.js';
import type { TableMapping, TargetConfig } from '../../config/index.js';
import { buildFilterPolicy, isRowFiltered } from '../../share/filter-policy.js';
import type { ApplyOutcome, TargetChange } from '../types.js';

/**
 * What the database writers share: how a batch is ordered, how keys are identified in the version
 * store, and what a truncate does. The version guard itself is in each dialect's store module.
 */
export interface BatchEntry {
  index: number;
  change: TargetChange;
  /** Target table as the version store names it ("schema.table"). */
  table: string;
  /** sha256 of the key's canonical JSON; empty for a truncate. */
  keyHash: Buffer;
  seq: bigint;
}

const NO_KEY = Buffer.alloc(0);

/** sha256 of the key's canonical JSON (one-shot: no Hash object per key). */
export function keyHashOf(key: RowImage | null): Buffer {
  return key === null ? NO_KEY : hash('sha256', canonicalJson(key), 'buffer');
}

/**
 * Entries in the order they are applied: by table, then key hash, then newest first. Every writer
 * locks version rows in this same order, so consumers of one target running side by side do not
 * deadlock each other. Newest first means older changes of a key in the same batch are simply stale
 * (one write per key). "Newest" is the version guard's order: a larger seq, and at an equal seq
 * (the two sides of a share move) an upsert before a delete. The final state does not depend on the
 * order (the version guard decides).
 */
export function orderEntries(changes: TargetChange[], resolveTable: (table: string) => string): BatchEntry[] {
  // A batch names few tables: each is resolved once.
  const tables = new Map<string, string>();
  const tableOf = (name: string) => {
    let table = tables.get(name);
    if (table === undefined) tables.set(name, (table = resolveTable(name)));
    return table;
  };
  const entries = changes.map((change, index) => ({ index, change, table: tableOf(change.table), keyHash: keyHashOf(change.key), seq: BigInt(change.seq) }));
  const rank = (e: BatchEntry) => (e.change.op === 'delete' ? 1 : 0);
  return entries.sort((a, b) => (a.table < b.table ? -1 : a.table > b.table ? 1 : Buffer.compare(a.keyHash, b.keyHash) || (a.seq > b.seq ? -1 : a.seq < b.seq ? 1 : rank(a) - rank(b))));
}

/**
 * Whom a writer's version store works for: the target (owner of the versions it applies) and
 * whether the target holds a share of its tables (a row-filtered policy: a truncate then deletes
 * its share only) or whole tables.
 */
export function storeScope(name: string, target: TargetConfig): { owner: string; share: boolean } {
  return { owner: name, share: isRowFiltered(target.filterPolicy ?? buildFilterPolicy(target)) };
}

/** Tables of the batch in lock order, each with whether it must be locked for a truncate. */
export function tablesToLock(entries: BatchEntry[], clears: (entry: BatchEntry) => boolean): { table: string; exclusive: boolean }[] {
  const tables = new Map<string, boolean>();
  for (const e of entries) tables.set(e.table, (tables.get(e.table) ?? false) || clears(e));
  return [...tables].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([table, exclusive]) => ({ table, exclusive }));
}

/** The onTruncate setting of the mapping for a change's source table (default clear). */
export function truncateClears(target: TargetConfig, change: TargetChange): boolean {
  const mapping: TableMapping | undefined = target.mapping[change.sourceTable];
  return change.op === 'truncate' && (mapping?.onTruncate ?? 'clear') === 'clear';
}

/** What the change-by-change rule needs from a database writer, inside its open transaction. */
export interface ChangeByChange {
  /** Locks a table's truncation record (exclusively when the batch truncates it); returns its truncate seq. */
  lockTable(table: string, exclusive: boolean): Promise<bigint>;
  /** Applies one change in its own savepoint, version-guarded. */
  applyOne(entry: BatchEntry): Promise<ApplyOutcome>;
}

/**
 * The change-by-change rule both database writers follow inside their transaction: lock the batch's
 * tables in order, skip what an (earlier or same-batch) truncate made stale, let a truncate with
 * onTruncate "ignore" pass as applied, and apply the rest one by one.
 */
export async function applyChangeByChange(target: TargetConfig, entries: BatchEntry[], count: number, db: ChangeByChange): Promise<ApplyOutcome[]> {
  const outcomes: ApplyOutcome[] = new Array(count);
  const truncatedAt = new Map<string, bigint>();
  for (const { table, exclusive } of tablesToLock(entries, (e) => truncateClears(target, e.change))) {
    truncatedAt.set(table, await db.lockTable(table, exclusive));
  }
  for (const entry of entries) {
    if (entry.change.op === 'truncate' && !truncateClears(target, entry.change)) {
      outcomes[entry.index] = { status: 'applied' };
      continue;
    }
    if (entry.seq <= truncatedAt.get(entry.table)!) {
      outcomes[entry.index] = { status: 'stale' };
      continue;
    }
    outcomes[entry.index] = await db.applyOne(entry);
    if (entry.change.op === 'truncate' && outcomes[entry.index]!.status === 'applied') truncatedAt.set(entry.table, entry.seq);
  }
  return outcomes;
}

export function checkSeq(changes: TargetChange[]): void {
  for (const c of changes) if (!/^\d+$/.test(c.seq)) throw new TypeError(`change ${c.messageId} has an invalid seq`);
}

/** A batch entry the set-based path can take: no truncate, a key, and a row unless it is a delete. */
export function fitsSetBased(entry: BatchEntry): boolean {
  const { change } = entry;
  return change.op !== 'truncate' && change.key !== null && (change.op === 'delete' || change.row !== null);
}

export interface TablePlan {
  table: string;
  /** The newest change of each key, in lock order. */
  entries: BatchEntry[];
  /** Older changes of a key that has a newer one in the batch. */
  stale: BatchEntry[];
  /** The column set of the upserts (undefined: deletes only). */
  columns: string[] | undefined;
}

/**
 * The batch per table for a writer's set-based path, or undefined when a table's upserts name different
 * column sets or its keys different key columns (then the batch goes change by change).
 */
export function planByTable(entries: BatchEntry[]): TablePlan[] | undefined {
  const plan: TablePlan[] = [];
  /** The key columns of the table's first entry: every other key of the table must name the same. */
  let keyColumns: string[] = [];
  for (const entry of entries) {
    let t = plan.at(-1);
    if (!t || t.table !== entry.table) {
      plan.push((t = { table: entry.table, entries: [], stale: [], columns: undefined }));
      keyColumns = Object.keys(entry.change.key!);
    }
    const previous = t.entries.at(-1);
    if (previous && previous.keyHash.equals(entry.keyHash)) {
      t.stale.push(entry);
      continue;
    }
    if (previous && !sameColumns(keyColumns, Object.keys(entry.change.key!))) return undefined;
    if (entry.change.op !== 'delete') {
      const columns = Object.keys(entry.change.row!);
      if (t.columns === undefined) t.columns = columns;
      else if (!sameColumns(t.columns, columns)) return undefined;
    }
    t.entries.push(entry);
  }
  return plan;
}

/** The same column names, in any order (rows are typed by name); images of one table usually list them in one order. */
function sameColumns(a: string[], b: string[]): boolean {
  if (a.length !== b.length) return false;
  let i = 0;
  while (i < a.length && a[i] === b[i]) i++;
  return i === a.length || a.every((c) => b.includes(c));
}
