import type { Logger } from '../../logger.js';
import { quoteIdent, type TableName } from '../../sql/identifiers.js';
import type { SourceAdapter, TrackSpec } from '../types.js';
import { diagnose } from './doctor.js';
import { migratePostgres, readMigrationState } from './migrate.js';
import { createPool, type Pool } from './pool.js';
import { readStatus } from './status.js';
import { listTrackedTables, trackTable, untrackTable } from './track.js';
import { requireInstalled } from './require-installed.js';

export interface PostgresSourceOptions {
  url: string;
  schema: string;
  poolSize?: number;
  logger: Logger;
}

export class PostgresSource implements SourceAdapter {
  readonly dialect = 'postgres' as const;
  readonly schema: string;
  readonly pool: Pool;
  private readonly logger: Logger;

  constructor(options: PostgresSourceOptions) {
    quoteIdent(options.schema, 'Outbox schema');
    this.schema = options.schema;
    this.logger = options.logger;
    this.pool = createPool({ url: options.url, max: options.poolSize ?? 5, logger: options.logger, applicationName: 'outbox-relay' });
  }

  migrate() {
    return migratePostgres(this.pool, this.schema, this.logger);
  }

  migrationState() {
    return readMigrationState(this.pool, this.schema);
  }

  async track(spec: TrackSpec) {
    await requireInstalled(this.pool, this.schema);
    return trackTable(this.pool, this.schema, spec);
  }

  async untrack(table: TableName) {
    await requireInstalled(this.pool, this.schema);
    return untrackTable(this.pool, this.schema, table);
  }

  async listTracked() {
    await requireInstalled(this.pool, this.schema);
    return listTrackedTables(this.pool, this.schema);
  }

  status() {
    return readStatus(this.pool, this.schema);
  }

  doctor() {
    return diagnose(this.pool, this.schema);
  }

  async close() {
    await this.pool.end();
  }
}
