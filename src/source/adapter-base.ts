import { OutboxError } from '../errors.js';
import type { OutboxStore } from './outbox-store.js';
import type { TableName } from '../sql/identifiers.js';
import type { BackfillRequest, BackfillResult, OutboxStoreOptions, ReplaySource, SourceTableReader } from './capabilities.js';
import type { DoctorFinding, MigrateOptions, MigrateResult, MigrationState, SourceAdapter, SourceDialect, SourceStatus, TrackedTable, TrackSpec, UntrackOptions } from './types.js';

/** How each dialect names itself in messages. */
const DIALECT_NAMES: Record<SourceDialect, string> = { postgres: 'PostgreSQL', sqlserver: 'SQL Server' };

/**
 * The shared defaults of every dialect's adapter (the kysely DialectAdapterBase model): a dialect
 * overrides the capabilities it has; one it lacks fails with NOT_SUPPORTED naming the capability and
 * the dialect, before any connection is made.
 */
export abstract class SourceAdapterBase implements SourceAdapter {
  abstract readonly dialect: SourceDialect;
  abstract readonly schema: string;
  abstract migrate(options?: MigrateOptions): Promise<MigrateResult>;
  abstract migrationState(): Promise<MigrationState>;
  abstract track(spec: TrackSpec): Promise<TrackedTable>;
  abstract untrack(table: TableName, options?: UntrackOptions): Promise<boolean>;
  abstract listTracked(): Promise<TrackedTable[]>;
  abstract status(): Promise<SourceStatus>;
  abstract doctor(): Promise<DoctorFinding[]>;
  abstract openOutboxStore(options: OutboxStoreOptions): Promise<OutboxStore>;
  abstract close(): Promise<void>;

  doctorNotes(): Promise<string[]> {
    return Promise.resolve([]);
  }

  backfill(_request: BackfillRequest): Promise<BackfillResult> {
    return Promise.reject(this.notSupported('outbox backfill'));
  }

  openTableReader(_table: TableName): Promise<SourceTableReader> {
    return Promise.reject(this.notSupported('outbox verify'));
  }

  openReplay(_options?: { pageBytes?: number }): Promise<ReplaySource> {
    return Promise.reject(this.notSupported('outbox replay'));
  }

  /** The error for a capability this dialect does not have in this version. */
  protected notSupported(capability: string): OutboxError {
    return new OutboxError('NOT_SUPPORTED', `${capability} is not available for ${DIALECT_NAMES[this.dialect]} sources in this version of outbox-relay (source.dialect is "${this.dialect}").`, {
      context: { dialect: this.dialect, capability },
    });
  }
}
