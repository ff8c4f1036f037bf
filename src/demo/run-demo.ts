import type pg from 'pg';
import { runBackfill } from '../backfill/index.js';
import type { AmbientSettings, Config } from '../config/index.js';
import { openConsumer } from '../consumer/index.js';
import { applySubscription, planSubscription, summarizeFilterPolicy } from '../subscriptions/index.js';
import { describeError, OutboxError } from '../errors.js';
import type { Logger } from '../logger.js';
import { createMetrics } from '../observability/metrics.js';
import { startRelay, type RelayProcess } from '../relay/start.js';
import { openSourceAdapter } from '../source/index.js';
import { sleep } from '../sleep.js';
import { createPgPool } from '../sql/pg-pool.js';
import { formatTableName, parseTableName } from '../sql/identifiers.js';
import { buildTransformer, createTargetWriter } from '../targets/index.js';
import { runVerify, type VerifyReport } from '../verify/index.js';
import { ApplyStats } from './apply-stats.js';
import { openDemoAws } from './aws.js';
import { demoConfig } from './demo-config.js';
import { cleanUp, type Opened } from './cleanup.js';
import { demoNames, demoTables, type DemoNames } from './names.js';
import type { SyncProgress } from './progress.js';
import { createSourceTables, createTargetTables, fingerprint, sameFingerprint, SEED } from './tables.js';
import { describeUrl, prepareTargetDatabase } from './target-database.js';
import { runWorkload, type WorkloadResult } from './workload.js';

/**
 * `outbox demo`: the whole product on the user's machine, from one command. Each step is a product
 * function (migrate, track, subscribe, target init, relay, consume, backfill, verify) on objects
 * named for this run only; everything is removed at the end unless `keep`.
 */
export interface DemoOptions {
  sourceUrl: string;
  targetUrl?: string;
  changes: number;
  ratePerSec: number;
  keep: boolean;
  /** Use real AWS (SDK default chain) instead of the in-process emulator. */
  useAws: boolean;
  ambient: AmbientSettings;
  logger: Logger;
  signal?: AbortSignal;
  /** How long the target may take to catch up after the last change (default 60 s). */
  catchUpTimeoutMs?: number;
  step(line: string): void;
  progress(): SyncProgress;
}

export interface DemoSummary {
  names: DemoNames;
  sourceUrl: string;
  targetUrl: string;
  targetDescription: string;
  workload: WorkloadResult;
  backfilledRows: number;
  /** Events the target should see: backfill snapshots and live changes. */
  expected: number;
  delivered: number;
  duplicates: number;
  superseded: number;
  deadLettered: number;
  lagP50Ms: number | null;
  lagP99Ms: number | null;
  caughtUp: boolean;
  elapsedMs: number;
  verify: VerifyReport;
  kept: boolean;
}

const LEADER_TIMEOUT_MS = 15_000;

export async function runDemo(options: DemoOptions): Promise<DemoSummary> {
  const names = demoNames();
  const tables = demoTables(names);
  const { logger, step } = options;
  const opened: Opened = { createdSchemas: false };
  const started = Date.now();
  try {
    const pool = (opened.pool = createPgPool({ url: options.sourceUrl, max: 3, logger, applicationName: 'outbox-relay demo' }));
    const version = await checkSource(pool, options.sourceUrl);
    step(`Source: PostgreSQL ${version} at ${describeUrl(options.sourceUrl)}`);

    await createSourceTables(pool, names.dataSchema);
    opened.createdSchemas = true;
    step(`Created ${tables.customers} (tenant_id, card_number, …) and ${tables.orders}; seeded ${SEED.customers} customers and ${SEED.orders} orders before tracking`);

    const target = (opened.target = await prepareTargetDatabase({ sourceUrl: options.sourceUrl, targetUrl: options.targetUrl, names, logger }));
    const aws = (opened.aws = await openDemoAws(options.ambient.aws, options.useAws));
    const config = (opened.config = demoConfig({ sourceUrl: options.sourceUrl, targetUrl: target.url, names, ambient: options.ambient, aws: aws.settings }));
    step(`SNS/SQS: ${aws.description}`);

    const source = (opened.source = await openSourceAdapter({ dialect: 'postgres', url: options.sourceUrl, schema: names.outboxSchema, poolSize: 4, logger }));
    const migrated = await source.migrate();
    step(`outbox migrate: schema ${names.outboxSchema}, ${migrated.applied.length} migration(s) applied (version ${migrated.current})`);

    await source.track({ table: parseTableName(tables.customers), exclude: ['card_number'], attributes: ['tenant_id'] });
    await source.track({ table: parseTableName(tables.orders) });
    step(`outbox track: ${tables.customers} (card_number excluded, tenant_id a message attribute), ${tables.orders}`);

    const clients = (opened.clients = aws.clients(config));
    const plan = planSubscription(config, names.target);
    const subscription = await applySubscription(plan, clients.sns, clients.sqs);
    step(`outbox subscribe ${names.target}: topic ${names.topic} → queue ${plan.queues.queue} (DLQ ${plan.queues.dlq}), filter ${summarizeFilterPolicy(plan.filter.policy)}`);
    logger.debug({ subscription: subscription.subscriptionArn }, 'demo subscribed');

    const targetConfig = config.targets[names.target]!;
    const secrets = config.targetSecrets(names.target);
    await createTargetTables(target.pool, names.targetSchema);
    const keyColumns = Object.fromEntries((await source.listTracked()).map((t) => [formatTableName(t.table), t.keyColumns]));
    const writer = (opened.writer = createTargetWriter(names.target, targetConfig, secrets, logger));
    const problems = await writer.init({ keyColumns });
    if (problems.length > 0) throw new OutboxError('TARGET_UNAVAILABLE', `The demo target is not ready: ${problems.join('; ')}`);
    step(`outbox target init ${names.target}: tables and version store in ${target.description}`);

    const relay = (opened.relay = await startRelay({ config, logger, instanceId: `demo-${names.runId}`, sns: clients.sns }));
    let relayError: Error | undefined;
    relay.relay.on('error', (err) => (relayError = err));
    await waitForLeader(relay, config, options.signal);
    const stats = new ApplyStats();
    let deadLettered = 0;
    const consumer = await openConsumer(config, names.target, { sqs: clients.sqs, writer: stats.wrap(writer), transform: buildTransformer(names.target, targetConfig, secrets, { keyColumns }), logger });
    consumer.on('message-dead-lettered', () => (deadLettered += 1));
    opened.consumer = { consumer, done: consumer.start() };
    step(`outbox relay and outbox consume ${names.target} running in this process (relay leads, epoch ${relay.relay.epoch ?? '?'})`);

    let backfilledRows = 0;
    for (const table of [tables.customers, tables.orders]) {
      const result = await runBackfill({ source, table: parseTableName(table), batchSize: 250, logger, signal: options.signal });
      backfilledRows += result.rowsThisRun;
    }
    step(`outbox backfill: ${backfilledRows} existing rows sent as snapshots; once they are in, ${options.changes} changes at about ${options.ratePerSec}/s (inserts, updates, tenant moves, deletes, key changes)…`);

    const progress = options.progress();
    let written = backfilledRows;
    const seen = () => stats.delivered + deadLettered;
    const show = () => progress.update({ written, applied: seen(), lagMs: stats.currentLagMs });
    const ticker = setInterval(show, 200);
    const catchUpMs = options.catchUpTimeoutMs ?? 60_000;
    let workload: WorkloadResult;
    let caughtUp = false;
    try {
      // The live changes start once the snapshots are applied, so their lag is the pipeline's, not the backfill queue's.
      const backfillDeadline = Date.now() + catchUpMs;
      while (seen() < backfilledRows && Date.now() < backfillDeadline && !options.signal?.aborted) {
        if (relayError) throw relayError;
        await sleep(100);
      }
      workload = await runWorkload({ pool, schema: names.dataSchema, changes: options.changes, ratePerSec: options.ratePerSec, signal: options.signal, onProgress: (events) => (written = backfilledRows + events) });
      written = backfilledRows + workload.events;
      const deadline = Date.now() + catchUpMs;
      while (!caughtUp && Date.now() < deadline && !options.signal?.aborted) {
        if (relayError) throw relayError;
        caughtUp = seen() >= written && sameFingerprint(await fingerprint(pool, names.dataSchema), await fingerprint(target.pool, names.targetSchema));
        if (!caughtUp) await sleep(250);
      }
      show();
    } finally {
      clearInterval(ticker);
      progress.stop();
    }
    options.signal?.throwIfAborted();
    const elapsedMs = Date.now() - started;
    step(caughtUp ? `Target caught up: ${stats.delivered} of ${written} changes applied or absorbed` : `Target did not catch up within ${Math.round(catchUpMs / 1000)} s (${stats.delivered} of ${written} changes seen)`);

    const verify = await runVerify({ source, targetName: names.target, target: targetConfig, secrets, sourceName: config.source.name, logger, metrics: createMetrics() });
    step(`outbox verify ${names.target}: ${verify.tables.map((t) => `${t.sourceTable} ${t.sourceRows} rows`).join(', ')} — ${verify.drift ? 'DRIFT' : 'in sync'}`);
    return {
      names,
      sourceUrl: options.sourceUrl,
      targetUrl: target.url,
      targetDescription: target.description,
      workload,
      backfilledRows,
      expected: written,
      delivered: stats.delivered,
      duplicates: stats.duplicates,
      superseded: stats.superseded,
      deadLettered,
      lagP50Ms: stats.percentile(50),
      lagP99Ms: stats.percentile(99),
      caughtUp,
      elapsedMs,
      verify,
      kept: options.keep,
    };
  } finally {
    await cleanUp(opened, names, options.keep, logger);
  }
}

async function checkSource(pool: pg.Pool, url: string): Promise<string> {
  try {
    const res = await pool.query<{ v: string }>(`SELECT current_setting('server_version') AS v`);
    return res.rows[0]!.v;
  } catch (err) {
    throw new OutboxError(
      'SOURCE_UNAVAILABLE',
      `Cannot connect to the source PostgreSQL at ${describeUrl(url)} (${describeError(err)}). Start the local services (bash deploy/services.sh) or pass --source-url postgres://user@host:port/database.`,
      { cause: err, context: { source: describeUrl(url) } },
    );
  }
}

async function waitForLeader(relay: RelayProcess, config: Config, signal: AbortSignal | undefined): Promise<void> {
  const deadline = Date.now() + LEADER_TIMEOUT_MS;
  while (!relay.relay.isLeader) {
    if (Date.now() > deadline || signal?.aborted) {
      throw new OutboxError('LEADERSHIP_LOST', `The relay did not get the leader lock within ${LEADER_TIMEOUT_MS / 1000} s. Is Redis running at ${config.redis.urls.join(', ')}? (set OUTBOX_REDIS_URL)`, {
        context: { redis: config.redis.urls.length },
      });
    }
    await sleep(50);
  }
}
