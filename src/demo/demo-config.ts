import { parseConfig, type AmbientSettings, type Config } from '../config/index.js';
import type { DemoNames } from './names.js';
import { demoTables } from './names.js';

/** The environment variable the demo config names for its target URL (given to parseConfig, not read from the process). */
const TARGET_URL_ENV = 'OUTBOX_DEMO_TARGET_URL';

/**
 * The demo's config, built in code (no file needed): the source and its own outbox schema, Redis
 * and AWS from the user's settings, a short relay poll and lock so the demo is quick to start and
 * stop, one topic and one PostgreSQL target that receives both tables.
 */
export function demoConfig(options: { sourceUrl: string; targetUrl: string; names: DemoNames; ambient: AmbientSettings; aws: { region?: string; endpoint?: string } }): Config {
  const { names } = options;
  const tables = demoTables(names);
  const doc = {
    source: { url: options.sourceUrl, schema: names.outboxSchema, name: names.sourceName, poolSize: 4 },
    ...(options.ambient.redis ? { redis: { ...options.ambient.redis, keyPrefix: names.redisPrefix } } : { redis: { keyPrefix: names.redisPrefix } }),
    relay: { lockTtlMs: 5_000, pollIntervalMs: 200, readBatchSize: 500 },
    publish: { topics: { default: { name: names.topic } } },
    aws: options.aws,
    targets: {
      [names.target]: {
        kind: 'postgres',
        urlEnv: TARGET_URL_ENV,
        tables: [tables.customers, tables.orders],
        stateSchema: names.stateSchema,
        queue: { name: names.queue, waitTimeSec: 1, visibilityTimeoutSec: 10, maxReceiveCount: 5, batchSize: 10 },
        mapping: {
          [tables.customers]: { table: `${names.targetSchema}.customers` },
          [tables.orders]: { table: `${names.targetSchema}.orders` },
        },
      },
    },
    log: { level: options.ambient.logLevel ?? 'error' },
  };
  return parseConfig(doc, { [TARGET_URL_ENV]: options.targetUrl }, 'outbox demo');
}
