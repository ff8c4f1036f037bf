import type { TargetConfig } from '../config/index.js';
import { OutboxError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { TargetReader, TargetTableSpec } from '../targets/index.js';

/** Target kinds verify can read: each has a reader in its folder (src/targets/<kind>/verify-reader.ts), reached through the folder's index.ts. */
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
      return (await import('../targets/postgres/index.js')).openVerifyReader(url, spec, logger);
    case 'mysql':
      return (await import('../targets/mysql/index.js')).openVerifyReader(url, spec, logger);
    case 'dynamodb': {
      if (!context) throw new Error('a DynamoDB reader needs the target settings');
      return (await import('../targets/dynamodb/index.js')).openVerifyReader(spec, { ...(url ? { endpoint: url } : {}), ...(context.region ? { region: context.region } : {}), target: context.target, sourceTable: context.sourceTable }, logger);
    }
  }
}
