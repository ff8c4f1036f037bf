/**
 * Relay throughput: a pre-filled outbox of N changes (default 200,000) published to the SNS
 * emulator, which runs as a separate process so it does not share our event loop.
 *
 *   baseline  the plainest loop (bench/lib/publish-baseline.ts): SELECT … ORDER BY seq LIMIT
 *             <readBatchSize>, JSON envelopes, PublishBatch in chunks of 10 with
 *             <publishConcurrency> calls in flight, repeat.
 *   relay     the product: leader lock, fenced snapshot-window reading, the SNS publisher (limits,
 *             attributes, breaker, per-entry checks, metrics), cursor advance after each page.
 *
 * Prints events/s for both and the ratio relay/baseline (goal ≥ 0.9).
 *
 *   npx tsx bench/relay-throughput.ts [--events 200000] [--concurrency 8] [--batch 1000] [--segments 8]
 *
 * The two take turns in segments (baseline, relay, baseline, …; the relay is stopped and started
 * again at each turn, which it pays for), so load changes on a shared machine affect both alike.
 * Needs PostgreSQL and Redis (TEST_PG_URL, TEST_REDIS_URL as for the tests).
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { CreateTopicCommand, PublishBatchCommand } from '@aws-sdk/client-sns';
import { createSnsClient } from '../src/aws/clients.js';
import { parseConfig, type Config } from '../src/config/index.js';
import type { OutboxEvent } from '../src/wire/envelope.js';
import { silentLogger } from '../src/logger.js';
import { createMetrics } from '../src/observability/metrics.js';
import { startRelay } from '../src/relay/start.js';
import { REDIS_URL } from '../test/helpers/env.js';
import { createMigratedSource } from '../test/helpers/source.js';
import { startEmulatorProcess } from './lib/emulator-process.js';
import { machineLoad, ratioLine } from './lib/machine.js';
import { plainEntry, runPublishBaseline } from './lib/publish-baseline.js';

const { values: args } = parseArgs({
  options: {
    events: { type: 'string', default: '200000' },
    concurrency: { type: 'string', default: '8' },
    batch: { type: 'string', default: '1000' },
    segments: { type: 'string', default: '8' },
  },
});
const TOTAL = Number(args.events);
const CONCURRENCY = Number(args.concurrency);
const READ_BATCH = Number(args.batch);
const SEGMENTS = Number(args.segments);
const SOURCE_NAME = 'bench';

process.env.AWS_ACCESS_KEY_ID ??= 'test';
process.env.AWS_SECRET_ACCESS_KEY ??= 'test';
process.removeAllListeners('warning'); // the SDK's Node 22 notice

/** CPU of this process per event: the cost of our own code, steadier than wall time on a busy machine. */
function cpuPerEvent(us: number, n: number): string {
  return `${(us / n).toFixed(0)} µs CPU/event in this process`;
}

interface Segment {
  count: number;
  ms: number;
  cpuUs: number;
}

function rate(n: number, ms: number): string {
  return `${n} events in ${(ms / 1000).toFixed(1)} s = ${Math.round((n * 1000) / ms)} events/s`;
}

/**
 * The product: start a relay (lock, epoch, cursor), let it publish until `target` more events are
 * done, stop it gracefully. Counts what it published while stopping too (the page in flight).
 */
async function runRelay(config: Config, target: number): Promise<Segment> {
  const cpu = process.cpuUsage();
  const started = performance.now();
  const proc = await startRelay({ config, logger: silentLogger, metrics: createMetrics(), instanceId: 'bench', timings: { statsIntervalMs: 60_000, reclaimIntervalMs: 3_600_000 } });
  let count = 0;
  try {
    await new Promise<void>((resolve, reject) => {
      proc.relay.on('batch-published', ({ count: c }) => {
        count += c;
        if (count >= target) resolve();
      });
      proc.relay.on('publish-failed', ({ error }) => reject(new Error(`relay publish failed: ${error}`)));
      proc.relay.on('error', reject);
    });
  } finally {
    await proc.close();
  }
  const used = process.cpuUsage(cpu);
  return { count, ms: performance.now() - started, cpuUs: used.user + used.system };
}

async function main() {
  const emulator = await startEmulatorProcess();
  const ctx = await createMigratedSource();
  try {
    const topicName = `bench-${randomBytes(3).toString('hex')}`;
    const config = parseConfig(
      {
        source: { url: ctx.db.url, name: SOURCE_NAME },
        redis: { urls: [REDIS_URL], keyPrefix: `bench-${randomBytes(4).toString('hex')}` },
        relay: { readBatchSize: READ_BATCH, publishConcurrency: CONCURRENCY, pollIntervalMs: 100 },
        publish: { topics: { default: { name: topicName } } },
        aws: { region: 'us-east-1', endpoint: emulator.endpoint },
      },
      {},
    );

    await ctx.db.pool.query(`CREATE TABLE public.bench_items (id bigint PRIMARY KEY, name text NOT NULL, tenant_id int NOT NULL, amount numeric(12, 2), updated_at timestamptz NOT NULL DEFAULT now())`);
    await ctx.source.track({ table: { schema: 'public', table: 'bench_items' }, attributes: ['tenant_id'] });
    const t = performance.now();
    await ctx.db.pool.query(`INSERT INTO public.bench_items (id, name, tenant_id, amount) SELECT g, 'item ' || g, g % 10, g * 1.5 FROM generate_series(1, $1::int) g`, [TOTAL]);
    await ctx.db.pool.query('VACUUM ANALYZE outbox.events');
    const { rows } = await ctx.db.pool.query<{ n: string }>('SELECT count(*) AS n FROM outbox.events');
    console.log(`outbox filled: ${rows[0]!.n} changes in ${((performance.now() - t) / 1000).toFixed(1)} s (one INSERT … generate_series)`);

    const sns = createSnsClient(config);
    const baseline = { pool: ctx.db.pool, sns, topicArn: '', sourceName: SOURCE_NAME, pageSize: READ_BATCH, concurrency: CONCURRENCY };
    const { TopicArn } = await sns.send(new CreateTopicCommand({ Name: topicName }));
    baseline.topicArn = TopicArn!;
    // Warm-up (SDK, sockets, JIT, emulator) so neither measured run pays for it.
    const warm: OutboxEvent = { seq: '1', xid: '1', tableSchema: 'public', tableName: 'warm', op: 'insert', key: { id: 1 }, before: null, after: { id: 1 }, changed: ['id'], attributes: null, changedAt: new Date() };
    await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
      for (let i = 0; i < 40; i++) await sns.send(new PublishBatchCommand({ TopicArn, PublishBatchRequestEntries: Array.from({ length: 10 }, (_, j) => plainEntry(SOURCE_NAME, warm, j)) }));
    }));

    console.log(`publishing to fauxqs in a separate process, ${CONCURRENCY} PublishBatch calls in flight, pages of ${READ_BATCH}; ${machineLoad()}`);
    // Baseline and relay take turns, segment by segment, so a change in machine load hits both alike.
    const base: Segment = { count: 0, ms: 0, cpuUs: 0 };
    const relay: Segment = { count: 0, ms: 0, cpuUs: 0 };
    let baseLast = '0';
    for (let k = 0; base.count < TOTAL || relay.count < TOTAL; k++) {
      const target = Math.ceil(TOTAL / SEGMENTS);
      const b = base.count < TOTAL ? await runPublishBaseline(baseline, baseLast, Math.min(target, TOTAL - base.count)) : undefined;
      const r = relay.count < TOTAL ? await runRelay(config, Math.min(target, TOTAL - relay.count)) : undefined;
      for (const [sum, seg] of [[base, b], [relay, r]] as const) {
        if (!seg) continue;
        sum.count += seg.count;
        sum.ms += seg.ms;
        sum.cpuUs += seg.cpuUs;
      }
      if (b) baseLast = b.last;
      const show = (seg: Segment | undefined) => (seg ? `${String(Math.round((seg.count * 1000) / seg.ms)).padStart(6)} ev/s` : '     -');
      console.log(`  segment ${k + 1}: baseline ${show(b)}, relay ${show(r)}`);
    }
    sns.destroy();
    console.log(`baseline: ${rate(base.count, base.ms)}; ${cpuPerEvent(base.cpuUs, base.count)}`);
    console.log(`relay   : ${rate(relay.count, relay.ms)}; ${cpuPerEvent(relay.cpuUs, relay.count)} (each segment includes a relay start: lock, epoch, topic)`);
    console.log(`ratio relay/baseline: ${ratioLine(relay.count / relay.ms, base.count / base.ms, { atLeast: 0.9 })}; ${machineLoad()}`);
    if (base.count !== TOTAL || relay.count < TOTAL) console.log(`WARNING: expected ${TOTAL} events from each (baseline ${base.count}, relay ${relay.count})`);
  } finally {
    await ctx.close();
    emulator.stop();
  }
}

await main();
