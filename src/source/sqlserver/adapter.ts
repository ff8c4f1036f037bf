import type { Logger } from '../../logger.js';
import { quoteIdentMssql, type TableName } from '../../sql/identifiers.js';
import { SourceAdapterBase } from '../adapter-base.js';
import type { OutboxStoreOptions } from '../capabilities.js';
import type { TrackSpec } from '../types.js';
import { diagnose } from './doctor.js';
import { migrateSqlServer, readMigrationState } from './migrate.js';
import { createPool, type Pool } from './pool.js';
import { SqlServerOutboxStore } from './relay-store.js';
import { requireInstalled } from './require-installed.js';
import { readStatus } from './status.js';
import { listTrackedTables, trackTable, untrackTable } from './track.js';

export interface SqlServerSourceOptions {
  /** mssql://user:password@host:1433/database?encrypt=false, or an ADO-style connection string. */
  url: string;
  schema: string;
  poolSize?: number;
  logger: Logger;
}

/**
 * The SQL Server source: the same port as PostgresSource, on triggers, rowversion and sp_getapplock.
 * Backfill, verify and replay are not written for SQL Server yet: the base adapter refuses them with
 * NOT_SUPPORTED (docs/sqlserver.md).
 */
export class SqlServerSource extends SourceAdapterBase {
  readonly dialect = 'sqlserver' as const;
  readonly schema: string;
  private readonly pool: Pool;
  private readonly url: string;
  private readonly logger: Logger;
  private connecting: Promise<Pool> | undefined;

  constructor(options: SqlServerSourceOptions) {
    super();
    quoteIdentMssql(options.schema, 'Outbox schema');
    this.schema = options.schema;
    this.url = options.url;
    this.logger = options.logger;
    this.pool = createPool({ url: options.url, max: options.poolSize ?? 5, logger: options.logger, applicationName: 'outbox-relay' });
  }

  /** The connected pool; connects on first use and retries on the next call after a failure. */
  async db(): Promise<Pool> {
    this.connecting ??= this.pool.connect().catch((err: unknown) => {
      this.connecting = undefined;
      throw err;
    });
    return this.connecting;
  }

  async migrate() {
    return migrateSqlServer(await this.db(), this.schema, this.logger);
  }

  async migrationState() {
    return readMigrationState(await this.db(), this.schema);
  }

  async track(spec: TrackSpec) {
    const pool = await this.db();
    await requireInstalled(pool, this.schema);
    return trackTable(pool, this.schema, spec, this.logger);
  }

  async untrack(table: TableName) {
    const pool = await this.db();
    await requireInstalled(pool, this.schema);
    return untrackTable(pool, this.schema, table);
  }

  async listTracked() {
    const pool = await this.db();
    await requireInstalled(pool, this.schema);
    return listTrackedTables(pool, this.schema);
  }

  async status() {
    return readStatus(await this.db(), this.schema);
  }

  async doctor() {
    return diagnose(await this.db(), this.schema);
  }

  openOutboxStore(options: OutboxStoreOptions) {
    return SqlServerOutboxStore.open({ url: this.url, schema: this.schema, poolSize: options.poolSize, logger: options.logger, ...(options.pageBytes === undefined ? {} : { pageBytes: options.pageBytes }) });
  }

  async close() {
    await this.pool.close();
  }
}
