import type { TargetConfig, TargetSecrets } from '../config/index.js';
import type { Logger } from '../logger.js';
import { DynamodbTargetWriter } from './dynamodb/index.js';
import { HttpTargetWriter } from './http/index.js';
import { MysqlTargetWriter } from './mysql/index.js';
import { PostgresTargetWriter } from './postgres/index.js';
import type { TargetWriter } from './types.js';

/**
 * The targets' public surface. One folder per target kind (postgres/, mysql/, dynamodb/, http/) with
 * the same file set — writer.ts, version-store.ts, sql.ts, errors.ts, ddl.ts, verify-reader.ts where
 * they apply, and index.ts, the only file the rest of the code imports from a folder; base/ holds the
 * apply rules the database targets share. See docs/targets.md.
 */
export type { ApplyOutcome, TargetChange, TargetWriter, InitOptions, SchemaChangeRecord, SchemaChangeStatus } from './types.js';
export { hasSchemaAdmin } from './types.js';
export type { ChunkDigest, Divergence, KeyFilter, TargetReader, TargetTableSpec } from './base/verify-reader.js';
export { buildTransformer, decryptValue, type Transformer, type ChangeMeta, type TransformerOptions } from './transform/index.js';
export { signBody, SIGNATURE_HEADER, TIMESTAMP_HEADER, IDEMPOTENCY_HEADER } from './http/index.js';
export { PostgresTargetWriter, MysqlTargetWriter, HttpTargetWriter, DynamodbTargetWriter };
export { buildTargetTransform, loadUserTransforms, withUserTransforms, type UserTransform, type UserTransformInput, type UserTransformRow } from './user-transform.js';

export interface WriterEnvironment {
  /** aws.region, for targets that talk to AWS themselves (dynamodb); the SDK chain when absent. */
  region?: string;
}

/** The writer for a target's kind. Connections open lazily, on the first init() or apply(). */
export function createTargetWriter(name: string, target: TargetConfig, secrets: TargetSecrets, logger: Logger, env: WriterEnvironment = {}): TargetWriter {
  switch (target.kind) {
    case 'postgres':
      return new PostgresTargetWriter({ name, target, url: secrets.url, logger, poolSize: poolSizeFor(target) });
    case 'mysql':
      return new MysqlTargetWriter({ name, target, url: secrets.url, logger, poolSize: poolSizeFor(target) });
    case 'http':
      return new HttpTargetWriter({ name, target, url: secrets.url, secret: secrets.httpSecret, logger });
    case 'dynamodb':
      return new DynamodbTargetWriter({ name, target, endpoint: secrets.url, region: env.region, logger });
  }
}

/** One connection per receive-apply loop of the consumer, plus one for init and housekeeping. */
function poolSizeFor(target: TargetConfig): number {
  return target.queue.concurrency + 1;
}
