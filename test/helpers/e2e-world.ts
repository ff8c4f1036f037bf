import { randomBytes } from 'node:crypto';
import type { RelayProcess } from '../../src/relay/start.js';
import { createTestDatabase, type TestDatabase } from './db.js';
import { REDIS_URL } from './env.js';
import { startRestartableEmulator, type RestartableEmulator } from './fauxqs.js';
import { createMysqlDatabase, useEmulatorCredentials, type RunningTarget } from './pipeline.js';
import { createMigratedSource } from './source.js';

type Source = Awaited<ReturnType<typeof createMigratedSource>>;
type Maria = Awaited<ReturnType<typeof createMysqlDatabase>>;

/**
 * What an end-to-end test runs on: a migrated PostgreSQL source, a PostgreSQL target database, a
 * MariaDB database and the SNS/SQS emulator, each the test's own, with the tables it starts from.
 */
export interface E2eWorld {
  source: Source;
  pgTarget: TestDatabase;
  maria: Maria;
  /** Its HTTP server can be restarted (every connection dropped), its queues and messages kept. */
  emulator: RestartableEmulator;
  /** A MariaDB database for a target's version store (`stateSchema`), dropped by close(). */
  mariaState: string;
  /** The targets' URLs for pipelineConfig's env: PG_URL (pgTarget) and MARIA_URL (maria). */
  env: { PG_URL: string; MARIA_URL: string };
  /**
   * A config document with the sections every end-to-end test shares — the source, Redis under a
   * key prefix of its own, a relay with a short lock, a topic of its own, the emulator, no logs —
   * and the given targets; `relay` settings are laid over the shared ones.
   */
  configDoc(targets: Record<string, unknown>, relay?: Record<string, unknown>): Record<string, unknown>;
  /** Stops the relay and the targets given, then drops every database and stops the emulator. */
  close(parts: { relay?: RelayProcess | undefined; targets: Iterable<RunningTarget> }): Promise<void>;
}

export async function openE2eWorld(name: string, ddl: { source: string; pgTarget: string; maria: string }): Promise<E2eWorld> {
  useEmulatorCredentials();
  const [source, pgTarget, maria, emulator] = await Promise.all([
    createMigratedSource(),
    createTestDatabase(`outbox_${name.replace(/\W/g, '_')}`),
    createMysqlDatabase(),
    startRestartableEmulator(),
  ]);
  await source.db.pool.query(ddl.source);
  await pgTarget.pool.query(ddl.pgTarget);
  await maria.conn.query(ddl.maria);
  const mariaState = `${maria.name}_state`;
  const suffix = randomBytes(4).toString('hex');
  return {
    source,
    pgTarget,
    maria,
    emulator,
    mariaState,
    env: { PG_URL: pgTarget.url, MARIA_URL: maria.url },
    configDoc: (targets, relay = {}) => ({
      source: { url: source.db.url, schema: 'outbox', name },
      redis: { urls: [REDIS_URL], keyPrefix: `${name}-${suffix}`, commandTimeoutMs: 200 },
      relay: { lockTtlMs: 2_000, pollIntervalMs: 100, readBatchSize: 200, publishConcurrency: 4, ...relay },
      publish: { topics: { default: { name: `${name}-${suffix}` } } },
      aws: { region: 'us-east-1', endpoint: emulator.endpoint },
      targets,
      log: { level: 'silent' },
    }),
    async close(parts) {
      await parts.relay?.close();
      await Promise.all([...parts.targets].map((t) => t.stop()));
      await maria.conn.query(`DROP DATABASE IF EXISTS \`${mariaState}\``).catch(() => undefined);
      await Promise.all([source.close(), pgTarget.drop(), maria.drop(), emulator.stop()]);
    },
  };
}
