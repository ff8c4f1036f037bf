import type { OutboxEvent, RowImage } from '../wire/envelope.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { TableName } from '../sql/identifiers.js';

/*
 * What the commands above the source need from a dialect besides migrate/track/status: backfill,
 * verify's source reader and repair, replay, and the relay's outbox store. Each dialect's adapter
 * provides them from its own folder (src/source/<dialect>/); one a dialect lacks fails through the
 * base adapter (adapter-base.ts) with an error naming the capability and the dialect.
 */

/** Rows per backfill batch when none is given. */
export const DEFAULT_BATCH_SIZE = 1000;

/** One `outbox backfill` of a tracked table (docs/backfill.md). */
export interface BackfillRequest {
  table: TableName;
  /** Rows per batch for new batches (a resumed run keeps its size unless this is given). */
  batchSize?: number;
  /** Start a new run even when the last one completed (or abandon an unfinished one). */
  restart?: boolean;
  /** Attempts per batch within this process for transient errors (deadlock, serialization, lock timeout). */
  maxAttempts?: number;
  logger: Logger;
  metrics?: Metrics;
  /** Stops between batches; the run stays IN_PROGRESS and the next run resumes it. */
  signal?: AbortSignal;
  onProgress?: (progress: BackfillProgress) => void;
}

export interface BackfillProgress {
  table: string;
  runId: string;
  batchNo: number;
  batchRows: number;
  rowsDone: number;
  rowsEstimate: number | null;
  batchesDone: number;
}

export interface BackfillResult {
  status: 'completed' | 'already-completed' | 'stopped';
  table: string;
  runId: string;
  /** Rows and batches of the whole run, including batches done by earlier processes. */
  rows: number;
  batches: number;
  /** Rows and batches written by this process. */
  rowsThisRun: number;
  batchesThisRun: number;
  /** Whether this process resumed an unfinished run, and from which batch. */
  resumedAtBatch: number | null;
  /** Batches that failed (or were interrupted) and were done again. */
  retriedBatches: number;
  elapsedMs: number;
  finishedAt: Date | null;
}

/** One source row as a snapshot event of it would carry it. */
export interface SourceImage {
  key: RowImage;
  after: RowImage;
  /** Attribute column texts, as the capture writes them for the message attributes. */
  attributes: Record<string, string | null> | null;
}

export interface RepairKey {
  /** Source key image (source column names). */
  key: RowImage;
  /** The target holds the key but its share of the source does not (an extra row). */
  evict: boolean;
  /** Attribute texts of the target row (source column names), to route an evicting event to the target. */
  attributes: Record<string, string> | null;
}

export interface RepairResult {
  snapshots: number;
  deletes: number;
}

/**
 * Verify's view of one tracked source table: its rows in key order, as snapshot images (the capture
 * session settings applied), and repair, which re-emits keys into the outbox.
 */
export interface SourceTableReader {
  readonly table: TableName;
  /** Key columns, in key order. */
  readonly keyColumns: string[];
  /** Attribute columns (the ones projected into message attributes). */
  readonly attributeColumns: string[];
  /** The planner's row estimate (for progress). */
  estimateRows(): Promise<number>;
  /** Up to limit rows with a key after the given key image (from the first row when null), in key order. */
  readChunk(after: RowImage | null, limit: number): Promise<SourceImage[]>;
  /** The rows that exist now of these key images. */
  readKeys(keys: RowImage[]): Promise<SourceImage[]>;
  /** Re-emits the current source state of these keys into the outbox (see the dialect's repair.ts). */
  repair(keys: RepairKey[], logger: Logger): Promise<RepairResult>;
  /** Ends the read; discard when a read failed midway (the session is not reused). */
  close(discard?: boolean): Promise<void>;
}

/** Which retained, published events `outbox replay` re-sends. Every condition left out matches all. */
export interface ReplayFilter {
  /** Changes made at or after this instant (the events' changed_at). */
  since?: Date;
  /** Events with seq at or above this (decimal string). */
  fromSeq?: string;
  /** Only these tables. */
  tables?: TableName[];
}

export interface ReplayCount {
  events: number;
  firstSeq: string | null;
  lastSeq: string | null;
}

/**
 * What replay reads from the outbox. It only reads: no leader lock, no epoch, the relay's cursor is
 * never written. The bound is the relay's cursor when the store was opened, so a replay re-sends a
 * fixed set — events the relay had published by then — however far the relay moves meanwhile.
 */
export interface ReplaySource {
  count(filter: ReplayFilter): Promise<ReplayCount>;
  /**
   * The next page of matching events with seq > afterSeq, in seq order, and the seq of the last
   * outbox row the page read (null when none is left). A page may read rows and hold no event (rows
   * that publish nothing: updates of excluded columns only, recorded schema changes): read on from
   * `through` until it is null.
   */
  readPage(filter: ReplayFilter, afterSeq: string, limit: number): Promise<{ events: OutboxEvent[]; through: string | null }>;
  /** The relay's quarantine (an oversized event with no claim-check bucket): idempotent per event. */
  quarantine(event: OutboxEvent, envelope: string, reason: string): Promise<void>;
  close(): Promise<void>;
}

/** How the relay opens its outbox store (its own connections, apart from the adapter's). */
export interface OutboxStoreOptions {
  /** source.name: the CloudEvents source of the events the store reads. */
  sourceName: string;
  poolSize?: number;
  logger: Logger;
  /** relay.readBatchBytes: a page ends at the row that takes its images past this many bytes (one row at least). */
  pageBytes?: number;
}
