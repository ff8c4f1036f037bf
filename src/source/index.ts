import type { Config } from '../config/index.js';
import type { Logger } from '../logger.js';
import type { SourceAdapter, SourceDialect } from './types.js';

export type { SourceAdapter, SourceDialect } from './types.js';

export interface SourceAdapterOptions {
  dialect: SourceDialect;
  /** postgres://… for PostgreSQL; mssql://… (or an ADO-style connection string) for SQL Server. */
  url: string;
  /** The outbox schema (unquoted). */
  schema: string;
  poolSize?: number;
  /** PostgreSQL: source.eventTriggers (install | skip); a SQL Server source's DDL trigger is part of its migrations. */
  eventTriggers?: 'install' | 'skip';
  logger: Logger;
}

/**
 * The one place that picks a dialect: opens the adapter of a source. Each adapter is loaded only
 * when used, so a PostgreSQL deployment never loads the SQL Server driver (and the reverse).
 * Constructing an adapter connects to nothing; its first command does.
 */
export async function openSourceAdapter(options: SourceAdapterOptions): Promise<SourceAdapter> {
  const { dialect, ...rest } = options;
  if (dialect === 'sqlserver') {
    const { SqlServerSource } = await import('./sqlserver/adapter.js');
    const { eventTriggers: _unused, ...sqlServer } = rest;
    return new SqlServerSource(sqlServer);
  }
  const { PostgresSource } = await import('./postgres/adapter.js');
  return new PostgresSource(rest);
}

/** Opens the source named by the config (source.dialect, url, schema, poolSize, eventTriggers). */
export function openSource(config: Config, logger: Logger): Promise<SourceAdapter> {
  const { dialect, url, schema, poolSize, eventTriggers } = config.source;
  return openSourceAdapter({ dialect, url, schema, poolSize, eventTriggers, logger });
}
