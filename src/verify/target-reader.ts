import type { TargetConfig } from '../config/index.js';
import { OutboxError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { TargetReader, TargetTableSpec } from './types.js';

/** Target kinds verify can read: one reader per database kind, with mirrored names (target-postgres.ts, target-mysql.ts). */
export type VerifiableKind = 'postgres' | 'mysql' | 'dynamodb';

export function assertVerifiable(targetName: string, kind: TargetConfig['kind']): asserts kind is VerifiableKind {
  if (kind !== 'postgres' && kind !== 'mysql' && kind !== 'dynamodb') {
    throw new OutboxError('VERIFY_UNSUPPORTED', `outbox verify reads PostgreSQL, MySQL/MariaDB and DynamoDB targets; target "${targetName}" is ${kind}.`, { context: { target: targetName } });
  }
}

/** What a reader needs besides the URL: the target's settings (DynamoDB value types), the source table, the AWS region. */
export interface ReaderContext {
  target: TargetConfig;
  sourceTable: string;
  region?: string;
}

/** Opens the reader of one target table; a driver is loaded only when its kind is used. */
export async function openTargetReader(kind: VerifiableKind, url: string, spec: TargetTableSpec, logger: Logger, context?: ReaderContext): Promise<TargetReader> {
  switch (kind) {
    case 'postgres':
      return (await import('./target-postgres.js')).openPostgresTargetReader(url, spec, logger);
    case 'mysql':
      return (await import('./target-mysql.js')).openMysqlTargetReader(url, spec, logger);
    case 'dynamodb': {
      if (!context) throw new Error('a DynamoDB reader needs the target settings');
      return (await import('./target-dynamodb.js')).openDynamodbTargetReader(spec, { ...(url ? { endpoint: url } : {}), ...(context.region ? { region: context.region } : {}), target: context.target, sourceTable: context.sourceTable }, logger);
    }
  }
}
