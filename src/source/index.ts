import type { Config } from '../config/index.js';
import type { Logger } from '../logger.js';
import { PostgresSource } from './postgres/adapter.js';
import { SqlServerSource } from './sqlserver/adapter.js';
import type { SourceAdapter } from './types.js';

export type { SourceAdapter } from './types.js';

/** Opens the source named by the config, with the dialect's adapter. */
export async function openSource(config: Config, logger: Logger): Promise<SourceAdapter> {
  const options = { url: config.source.url, schema: config.source.schema, poolSize: config.source.poolSize, logger };
  if (config.source.dialect === 'sqlserver') return new SqlServerSource(options);
  return new PostgresSource(options);
}
