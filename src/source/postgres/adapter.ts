import type { Logger } from '../../logger.js';
import { quoteIdent, type TableName } from '../../sql/identifiers.js';
import { SourceAdapterBase } from '../adapter-base.js';
import type { BackfillRequest, OutboxStoreOptions } from '../capabilities.js';
import type { MigrateOptions, TrackSpec, UntrackOptions } from '../types.js';
import { backfillTable } from './backfill.js';
import { diagnose, doctorNotes } from './doctor.js';
import type { EventTriggerSetting } from './event-triggers.js';
import { migratePostgres, readMigrationState } from './migrate.js';
import { createPool, type Pool } from './pool.js';
import { PostgresOutboxStore } from './relay-store.js';
import { PostgresReplayStore } from './replay-store.js';
import { requireInstalled } from './require-installed.js';
import { readStatus } from './status.js';
import { openTableReader } from './table-reader.js';
import { listTrackedTables, trackTable, untrackTable } from './track.js';

export interface PostgresSourceOptions {
  url: string;
  schema: string;
  poolSize?: number;
  logger: Logger;
  /** source.eventTriggers (docs/capture.md, "Event triggers"). Default: install. */
  eventTriggers?: EventTriggerSetting;
}

export class PostgresSource extends SourceAdapterBase {
  readonly dialect = 'postgres' as const;
  readonly schema: string;
  readonly pool: Pool;
  private readonly url: string;
  private readonly logger: Logger;
  private readonly eventTriggers: EventTriggerSetting;

  constructor(options: PostgresSourceOptions) {
    super();
    quoteIdent(options.schema, 'Outbox schema');
    this.schema = options.schema;
    this.url = options.url;
    this.logger = options.logger;
    this.eventTriggers = options.eventTriggers ?? 'install';
    this.pool = createPool({ url: options.url, max: options.poolSize ?? 5, logger: options.logger, applicationName: 'outbox-relay' });
  }

  migrate(options: MigrateOptions = {}) {
    return migratePostgres(this.pool, this.schema, this.logger, options.eventTriggers ?? this.eventTriggers);
  }

  migrationState() {
    return readMigrationState(this.pool, this.schema);
  }

  async track(spec: TrackSpec) {
    await requireInstalled(this.pool, this.schema);
    return trackTable(this.pool, this.schema, spec);
  }

  async untrack(table: TableName, options: UntrackOptions = {}) {
    await requireInstalled(this.pool, this.schema);
    return untrackTable(this.pool, this.schema, table, options);
  }

  async listTracked() {
    await requireInstalled(this.pool, this.schema);
    return listTrackedTables(this.pool, this.schema);
  }

  status() {
    return readStatus(this.pool, this.schema);
  }

  doctor() {
    return diagnose(this.pool, this.schema, this.eventTriggers);
  }

  override doctorNotes() {
    return doctorNotes(this.pool, this.schema, this.eventTriggers);
  }

  override backfill(request: BackfillRequest) {
    return backfillTable({ ...request, pool: this.pool, schema: this.schema });
  }

  override async openTableReader(table: TableName) {
    await requireInstalled(this.pool, this.schema);
    return openTableReader(this.pool, this.schema, table);
  }

  override openReplay(options: { pageBytes?: number } = {}) {
    return PostgresReplayStore.open({ url: this.url, schema: this.schema, logger: this.logger, ...options });
  }

  openOutboxStore(options: OutboxStoreOptions) {
    return PostgresOutboxStore.open({ url: this.url, schema: this.schema, poolSize: options.poolSize, logger: options.logger, sourceName: options.sourceName, ...(options.pageBytes === undefined ? {} : { pageBytes: options.pageBytes }) });
  }

  async close() {
    await this.pool.end();
  }
}
