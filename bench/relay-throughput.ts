/**
 * Relay throughput: a pre-filled outbox of N changes (default 200,000) published to the SNS
 * emulator, which runs as a separate process so it does not share our event loop.
 *
 *   baseline  the plainest loop: SELECT … ORDER BY seq LIMIT <readBatchSize>, JSON envelopes,
 *             PublishBatch in chunks of 10 with <publishConcurrency> calls in flight, repeat.
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
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { CreateTopicCommand, PublishBatchCommand, type MessageAttributeValue, type SNSClient } from '@aws-sdk/client-sns';
import { createSnsClient } from '../src/aws/clients.js';
import { parseConfig, type Config } from '../src/config/index.js';
import { buildEnvelope, type OutboxEvent } from '../src/wire/envelope.js';
import { silentLogger } from '../src/logger.js';
import { createMetrics } from '../src/observability/metrics.js';
import { startRelay } from '../src/relay/start.js';
import { REDIS_URL } from '../test/helpers/env.js';
import { createMigratedSource } from '../test/helpers/source.js';

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

/** fauxqs in its own process (its CLI always logs every request, so a one-line script instead). */
async function startEmulatorProcess(): Promise<{ endpoint: string; child: ChildProcess }> {
  const script = "import { startFauxqs } from 'fauxqs'; const s = await startFauxqs({ port: 0, host: '127.0.0.1', logger: false }); console.log(s.port);";
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', resolve);
    child.once('exit', (code) => reject(new Error(`emulator exited with ${code}`)));
  });
  return { endpoint: `http://127.0.0.1:${Number(line)}`, child };
}

/** CPU of this process per event: the cost of our own code, steadier than wall time on a busy machine. */
function cpuPerEvent(us: number, n: number): string {
  return `${(us / n).toFixed(0)} µs CPU/event in this process`;
}

function rate(n: number, ms: number): string {
  return `${n} events in ${(ms / 1000).toFixed(1)} s = ${Math.round((n * 1000) / ms)} events/s`;
}

/** The baseline's messages: the same envelope and attributes, built inline. */
function plainEntry(e: OutboxEvent, i: number) {
  const attributes: Record<string, MessageAttributeValue> = {
    source: { DataType: 'String', StringValue: SOURCE_NAME },
    table: { DataType: 'String', StringValue: `${e.tableSchema}.${e.tableName}` },
    operation: { DataType: 'String', StringValue: e.op },
  };
  if (e.changed?.length) attributes.changed = { DataType: 'String.Array', StringValue: JSON.stringify(e.changed) };
  for (const [k, v] of Object.entries(e.attributes ?? {})) {
    if (v !== null && !Array.isArray(v)) attributes[k] = { DataType: 'String', StringValue: v };
  }
  return { Id: String(i), Message: JSON.stringify(buildEnvelope(SOURCE_NAME, e)), MessageAttributes: attributes };
}

interface Segment {
  count: number;
  ms: number;
  cpuUs: number;
}

/** The plainest loop: read a page by seq, PublishBatch it in chunks of 10, CONCURRENCY calls in flight. */
async function runBaseline(pool: import('pg').Pool, sns: SNSClient, topicArn: string, after: string, target: number): Promise<Segment & { last: string }> {
  const cpu = process.cpuUsage();
  const started = performance.now();
  let last = after;
  let published = 0;
  let failed = 0;
  while (published < target) {
    const { rows } = await pool.query(
      // int8 arrives as a decimal string from pg; ORDER BY must name the bigint column, not a text alias.
      `SELECT seq, xid::text AS xid, table_schema, table_name, op, key, before, after, changed, attributes, changed_at
         FROM outbox.events WHERE seq > $1 ORDER BY seq LIMIT $2`,
      [last, READ_BATCH],
    );
    if (rows.length === 0) break;
    last = rows.at(-1).seq;
    const events: OutboxEvent[] = rows.map((r) => ({
      seq: r.seq, xid: r.xid, tableSchema: r.table_schema, tableName: r.table_name, op: r.op,
      key: r.key, before: r.before, after: r.after, changed: r.changed, attributes: r.attributes, changedAt: r.changed_at,
    }));
    const chunks: OutboxEvent[][] = [];
    for (let i = 0; i < events.length; i += 10) chunks.push(events.slice(i, i + 10));
    let next = 0;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < chunks.length) {
          const chunk = chunks[next++]!;
          const reply = await sns.send(new PublishBatchCommand({ TopicArn: topicArn, PublishBatchRequestEntries: chunk.map(plainEntry) }));
          published += reply.Successful?.length ?? 0;
          failed += reply.Failed?.length ?? 0;
        }
      }),
    );
  }
  if (failed > 0) throw new Error(`baseline: ${failed} entries failed`);
  const used = process.cpuUsage(cpu);
  return { count: published, ms: performance.now() - started, cpuUs: used.user + used.system, last };
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
    const { TopicArn } = await sns.send(new CreateTopicCommand({ Name: topicName }));
    // Warm-up (SDK, sockets, JIT, emulator) so neither measured run pays for it.
    const warm: OutboxEvent = { seq: '1', xid: '1', tableSchema: 'public', tableName: 'warm', op: 'insert', key: { id: 1 }, before: null, after: { id: 1 }, changed: ['id'], attributes: null, changedAt: new Date() };
    await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
      for (let i = 0; i < 40; i++) await sns.send(new PublishBatchCommand({ TopicArn, PublishBatchRequestEntries: Array.from({ length: 10 }, (_, j) => plainEntry(warm, j)) }));
    }));

    console.log(`publishing to fauxqs in a separate process, ${CONCURRENCY} PublishBatch calls in flight, pages of ${READ_BATCH}`);
    // Baseline and relay take turns, segment by segment, so a change in machine load hits both alike.
    const base: Segment = { count: 0, ms: 0, cpuUs: 0 };
    const relay: Segment = { count: 0, ms: 0, cpuUs: 0 };
    let baseLast = '0';
    for (let k = 0; base.count < TOTAL || relay.count < TOTAL; k++) {
      const target = Math.ceil(TOTAL / SEGMENTS);
      const b = base.count < TOTAL ? await runBaseline(ctx.db.pool, sns, TopicArn!, baseLast, Math.min(target, TOTAL - base.count)) : undefined;
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
    const ratio = (relay.count / relay.ms) / (base.count / base.ms);
    console.log(`ratio relay/baseline: ${ratio.toFixed(2)} (goal ≥ 0.90)`);
    if (base.count !== TOTAL || relay.count < TOTAL) console.log(`WARNING: expected ${TOTAL} events from each (baseline ${base.count}, relay ${relay.count})`);
  } finally {
    await ctx.close();
    emulator.child.kill();
  }
}

await main();
