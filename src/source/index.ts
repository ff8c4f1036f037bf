import type { Config } from '../config/index.js';
import { OutboxError } from '../errors.js';
import type { Logger } from '../logger.js';
import { PostgresSource } from './postgres/adapter.js';
import type { SourceAdapter } from './types.js';

export type { SourceAdapter } from './types.js';

/** Opens the source named by the config, with the dialect's adapter. */
export async function openSource(config: Config, logger: Logger): Promise<SourceAdapter> {
  if (config.source.dialect === 'postgres') {
    return new PostgresSource({ url: config.source.url, schema: config.source.schema, poolSize: config.source.poolSize, logger });
  }
  throw new OutboxError(
    'NOT_SUPPORTED',
    'source.dialect "sqlserver" is not available in this version of outbox-relay yet. Use a PostgreSQL source.',
    { context: { dialect: config.source.dialect } },
  );
}
