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
    return new SqlServerSource(rest);
  }
  const { PostgresSource } = await import('./postgres/adapter.js');
  return new PostgresSource(rest);
}

/** Opens the source named by the config (source.dialect, url, schema, poolSize). */
export function openSource(config: Config, logger: Logger): Promise<SourceAdapter> {
  return openSourceAdapter({ dialect: config.source.dialect, url: config.source.url, schema: config.source.schema, poolSize: config.source.poolSize, logger });
}
