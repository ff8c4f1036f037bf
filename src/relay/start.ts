import { hostname } from 'node:os';
import type { SnsSender } from '../aws/clients.js';
import type { Config } from '../config/index.js';
import { componentLogger, type Logger } from '../logger.js';
import { createMetrics, type Metrics } from '../observability/metrics.js';
import { startObservabilityServer } from '../observability/server.js';
import { openSource } from '../source/index.js';
import { LeaderElector } from './leader.js';
import { createPublisher } from './publisher/index.js';
import { createRelayMetrics } from './relay-metrics.js';
import { DEFAULT_RELAY_TIMINGS, Relay, type RelaySettings } from './relay.js';
import type { OutboxStore } from '../source/outbox-store.js';

export interface StartRelayOptions {
  config: Config;
  logger: Logger;
  /** Names this instance in logs, relay_state.leader_id and the lock (default host:pid). */
  instanceId?: string;
  /** Serve /metrics, /healthz and /readyz on this port (0: any free port); none when undefined. */
  metricsPort?: number;
  /** The address that server listens on (default metrics.host). */
  metricsHost?: string;
  metrics?: Metrics;
  /** Timings that are not settings (tests shorten them). */
  timings?: Partial<Pick<RelaySettings, 'reclaimIntervalMs' | 'heartbeatMs' | 'statsIntervalMs' | 'retentionMs'>>;
  /** An SNS client for the publisher (tests that record calls); default from the config. */
  sns?: SnsSender;
}

export interface RelayProcess {
  relay: Relay;
  instanceId: string;
  metrics: Metrics;
  /** The port of the observability server, when one runs. */
  port: number | undefined;
  /** Graceful: drains the batch in flight, releases the lock, closes every connection. */
  close(): Promise<void>;
}

/** The Redis key of the leader lock: one per source and outbox schema. */
export function leaderLockKey(config: Config): string {
  return `${config.redis.keyPrefix}:relay-leader:${config.source.name}:${config.source.schema}`;
}

/** The source dialect's outbox store, on connections of its own; the adapter that made it is closed at once. */
async function openStore(config: Config, logger: Logger): Promise<OutboxStore> {
  const source = await openSource(config, logger);
  try {
    return await source.openOutboxStore({ sourceName: config.source.name, poolSize: Math.min(config.source.poolSize, 4), logger, pageBytes: config.relay.readBatchBytes });
  } finally {
    await source.close();
  }
}

/** Builds and starts a relay instance from the config: store, leader election, publisher, loop, metrics. */
export async function startRelay(options: StartRelayOptions): Promise<RelayProcess> {
  const { config } = options;
  const instanceId = options.instanceId ?? `${hostname()}:${process.pid}`;
  const logger = componentLogger(options.logger, { component: 'relay', instanceId });
  const metrics = options.metrics ?? createMetrics({ defaultMetrics: true, labels: { source: config.source.name } });
  const store = await openStore(config, logger);
  const closers: (() => Promise<void>)[] = [() => store.close()];
  try {
    const elector = new LeaderElector({
      redisUrls: config.redis.urls,
      lockKey: leaderLockKey(config),
      instanceId,
      ttlMs: config.relay.lockTtlMs,
      renewAtFraction: config.relay.renewAtFraction,
      commandTimeoutMs: config.redis.commandTimeoutMs,
      acquireIntervalMs: Math.min(config.relay.pollIntervalMs, Math.floor(config.relay.lockTtlMs / 4)),
      logger,
    });
    closers.unshift(() => elector.close());
    const publisher = createPublisher({
      config,
      logger,
      metrics,
      ...(options.sns ? { sns: options.sns } : {}),
      quarantine: (event, envelope, reason) => store.quarantine(event, envelope, reason),
    });
    closers.unshift(() => publisher.close());
    // A standby resolves its topics (and opens its connections) now, so a takeover publishes at once.
    publisher.start().catch((err: Error) => logger.warn({ err: err.message }, 'could not resolve the SNS topics yet; the publisher retries on first use'));
    const relay = new Relay({
      instanceId,
      store,
      publisher,
      elector,
      logger,
      metrics: createRelayMetrics(metrics),
      settings: {
        readBatchSize: config.relay.readBatchSize,
        pollIntervalMs: config.relay.pollIntervalMs,
        pageOverlap: config.relay.pageOverlap,
        retentionMs: config.relay.retentionMinutes * 60_000,
        ...DEFAULT_RELAY_TIMINGS,
        ...options.timings,
      },
    });
    closers.unshift(() => relay.stop());
    const health = { live: () => relay.live(), ready: () => relay.ready() };
    const server = options.metricsPort === undefined ? undefined : await startObservabilityServer(options.metricsPort, metrics, health, options.metricsHost ?? config.metrics.host);
    if (server) closers.push(() => server.close());
    await relay.start();
    logger.info({ lockTtlMs: config.relay.lockTtlMs, redisNodes: config.redis.urls.length, metricsHost: server?.host, metricsPort: server?.port }, 'relay started');
    let closing: Promise<void> | undefined;
    return {
      relay,
      instanceId,
      metrics,
      port: server?.port,
      close: () => (closing ??= runClosers(closers)),
    };
  } catch (err) {
    await runClosers(closers);
    throw err;
  }
}

async function runClosers(closers: (() => Promise<void>)[]): Promise<void> {
  for (const close of closers) await close().catch(() => undefined);
}
