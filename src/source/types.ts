import type { OutboxStore } from './outbox-store.js';
import type { TableName } from '../sql/identifiers.js';
import type { BackfillRequest, BackfillResult, OutboxStoreOptions, ReplaySource, SourceTableReader } from './capabilities.js';

export type SourceDialect = 'postgres' | 'sqlserver';

/**
 * The port every source dialect implements. PostgreSQL specifics stay in source/postgres, SQL Server
 * specifics in source/sqlserver (the same file names in both); the rest of the code speaks only this
 * interface and opens an adapter through openSource (index.ts). A capability a dialect does not have
 * yet fails with NOT_SUPPORTED, naming the capability and the dialect (adapter-base.ts).
 */
export interface SourceAdapter {
  readonly dialect: SourceDialect;
  readonly schema: string;
  migrate(options?: MigrateOptions): Promise<MigrateResult>;
  migrationState(): Promise<MigrationState>;
  track(spec: TrackSpec): Promise<TrackedTable>;
  /**
   * Stops capturing a table. PostgreSQL then waits for the relay to publish what was captured of it
   * before it forgets the table (TABLE_HAS_BACKLOG when the wait ends first; run it again).
   */
  untrack(table: TableName, options?: UntrackOptions): Promise<boolean>;
  listTracked(): Promise<TrackedTable[]>;
  status(): Promise<SourceStatus>;
  doctor(): Promise<DoctorFinding[]>;
  /** What `outbox doctor` prints as INFO: how capture is set up, when neither state is a problem (e.g. the optional DDL event triggers). */
  doctorNotes(): Promise<string[]>;
  /** Initial full sync of a tracked table into the outbox, resumable (docs/backfill.md). */
  backfill(request: BackfillRequest): Promise<BackfillResult>;
  /** Verify's reader of a tracked table, with repair (docs/operations.md). */
  openTableReader(table: TableName): Promise<SourceTableReader>;
  /** Reads retained, published events for `outbox replay`. */
  /** pageBytes: relay.readBatchBytes — a page ends at the row that takes its images past it. */
  openReplay(options?: { pageBytes?: number }): Promise<ReplaySource>;
  /** The relay's side of the outbox: fenced reading, quarantine, stats (outbox-store.ts). */
  openOutboxStore(options: OutboxStoreOptions): Promise<OutboxStore>;
  close(): Promise<void>;
}

export interface MigrationRef {
  version: number;
  name: string;
}

export interface MigrateOptions {
  /** PostgreSQL: overrides source.eventTriggers for this run (`outbox migrate --no-event-triggers` is skip). */
  eventTriggers?: 'install' | 'skip';
}

export interface MigrateResult {
  applied: MigrationRef[];
  current: number;
  /**
   * PostgreSQL: whether the optional DDL event triggers were installed now, were already, or the
   * role may not create them; under source.eventTriggers: skip, whether there were none, they were
   * dropped, or the role may not drop them.
   */
  eventTriggers?: 'installed' | 'present' | 'not-permitted' | 'skipped' | 'dropped' | 'drop-not-permitted';
}

export interface MigrationState {
  codeVersion: number;
  databaseVersion: number;
  pending: MigrationRef[];
  /** Applied migrations whose file changed since. */
  changed: MigrationRef[];
  /** Applied migrations this code does not ship (the database is newer). */
  unknown: MigrationRef[];
}

/**
 * What `outbox track` installs. On a re-track, a list left undefined keeps the value the table was
 * tracked with (an empty list clears it), so re-running after a column change never starts
 * capturing an excluded column.
 */
export interface TrackSpec {
  table: TableName;
  exclude?: string[];
  attributes?: string[];
  /** Key columns for a table without a primary key. */
  key?: string[];
}

export type TableMode = 'incremental' | 'backfilling';

export interface UntrackOptions {
  /** Finish at once, even when captured changes of the table are not published yet (they are quarantined). */
  force?: boolean;
  /** How long to wait for the relay to publish them (PostgreSQL; default 30 s). */
  waitMs?: number;
  /** How often to look while waiting (default 200 ms). */
  pollMs?: number;
}

export interface TrackedTable {
  table: TableName;
  keyColumns: string[];
  excludedColumns: string[];
  attributeColumns: string[];
  capturedColumns: string[];
  mode: TableMode;
  trackedAt: Date;
}

export interface SourceStatus {
  schema: string;
  migration: MigrationState;
  /** drift: how the table differs from the shape the relay last published (PostgreSQL), e.g. "+note text". */
  tables: (TrackedTable & { backlog: number; backfill?: BackfillStatus | null; drift?: string[] })[];
  /** Events not yet published. */
  backlog: number;
  oldestUnpublishedAgeSeconds: number | null;
  oldestOpenTransactionAgeSeconds: number | null;
  leader: { id: string | null; epoch: string; since: Date | null };
}

/** The latest backfill run of a table (`outbox backfill`). */
export interface BackfillStatus {
  runId: string;
  status: 'IN_PROGRESS' | 'FAILED' | 'COMPLETED';
  rowsDone: number;
  rowsEstimate: number | null;
  batchesDone: number;
  startedAt: Date;
  updatedAt: Date;
  finishedAt: Date | null;
  remarks: string | null;
  /** Whether a backfill process is working on it now (false for a run whose process died). */
  running: boolean;
}

export interface DoctorFinding {
  severity: 'error' | 'warning';
  check: string;
  message: string;
}
