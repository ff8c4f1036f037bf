import type { Config } from '../config/index.js';
import type { Logger } from '../logger.js';
import type { SourceAdapter } from './types.js';

export type { SourceAdapter } from './types.js';

/**
 * Opens the source named by the config, with the dialect's adapter. Each adapter is loaded only
 * when used, so a PostgreSQL deployment never loads the SQL Server driver (and the reverse).
 */
export async function openSource(config: Config, logger: Logger): Promise<SourceAdapter> {
  const options = { url: config.source.url, schema: config.source.schema, poolSize: config.source.poolSize, logger };
  if (config.source.dialect === 'sqlserver') {
    const { SqlServerSource } = await import('./sqlserver/adapter.js');
    return new SqlServerSource(options);
  }
  const { PostgresSource } = await import('./postgres/adapter.js');
  return new PostgresSource(options);
}
