import type { TargetConfig } from '../config/index.js';
import { OutboxError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { TargetReader, TargetTableSpec } from './types.js';

/** Target kinds verify can read: one reader per database kind, with mirrored names (target-postgres.ts, target-mysql.ts). */
export type VerifiableKind = 'postgres' | 'mysql';

export function assertVerifiable(targetName: string, kind: TargetConfig['kind']): asserts kind is VerifiableKind {
  if (kind !== 'postgres' && kind !== 'mysql') {
    throw new OutboxError('VERIFY_UNSUPPORTED', `outbox verify reads PostgreSQL and MySQL/MariaDB targets; target "${targetName}" is ${kind}.`, { context: { target: targetName } });
  }
}

/** Opens the reader of one target table; a driver is loaded only when its kind is used. */
export async function openTargetReader(kind: VerifiableKind, url: string, spec: TargetTableSpec, logger: Logger): Promise<TargetReader> {
  switch (kind) {
    case 'postgres':
      return (await import('./target-postgres.js')).openPostgresTargetReader(url, spec, logger);
    case 'mysql':
      return (await import('./target-mysql.js')).openMysqlTargetReader(url, spec, logger);
  }
}
