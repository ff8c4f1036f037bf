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
 *   npx tsx bench/relay-throughput.ts [--events 200000] [--concurrency 8] [--batch 1000]
 * Needs PostgreSQL and Redis (TEST_PG_URL, TEST_REDIS_URL as for the tests).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { CreateTopicCommand, PublishBatchCommand, type MessageAttributeValue, type SNSClient } from '@aws-sdk/client-sns';
import { createSnsClient } from '../src/aws/clients.js';
import { parseConfig, type Config } from '../src/config/index.js';
import { buildEnvelope, type OutboxEvent } from '../src/envelope.js';
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
  },
});
const TOTAL = Number(args.events);
const CONCURRENCY = Number(args.concurrency);
const READ_BATCH = Number(args.batch);
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
  for (const [k, v] of Object.entries(e.attributes ?? {})) attributes[k] = { DataType: 'String', StringValue: v };
  return { Id: String(i), Message: JSON.stringify(buildEnvelope(SOURCE_NAME, e)), MessageAttributes: attributes };
}

async function runBaseline(pool: import('pg').Pool, sns: SNSClient, topicArn: string): Promise<number> {
  let last = '0';
  let published = 0;
  let failed = 0;
  for (;;) {
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
  return published;
}

async function runRelay(config: Config): Promise<{ count: number; ms: number; pagesMs: number; cpuUs: number }> {
  const cpu = process.cpuUsage();
  const started = performance.now();
  const proc = await startRelay({ config, logger: silentLogger, metrics: createMetrics(), instanceId: 'bench', timings: { statsIntervalMs: 60_000, reclaimIntervalMs: 3_600_000 } });
  let pagesMs = 0;
  try {
    const count = await new Promise<number>((resolve, reject) => {
      let n = 0;
      proc.relay.on('batch-published', ({ count: c, durationMs }) => {
        n += c;
        pagesMs += durationMs;
        if (n >= TOTAL) resolve(n);
      });
      proc.relay.on('publish-failed', ({ error }) => reject(new Error(`relay publish failed: ${error}`)));
      proc.relay.on('error', reject);
    });
    const ms = performance.now() - started;
    const used = process.cpuUsage(cpu);
    return { count, ms, pagesMs, cpuUs: used.user + used.system };
  } finally {
    await proc.close();
  }
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
    // Baseline before and after the relay run, so a change in machine load shows and averages out.
    const timedBaseline = async (label: string) => {
      const cpu = process.cpuUsage();
      const t0 = performance.now();
      const n = await runBaseline(ctx.db.pool, sns, TopicArn!);
      const ms = performance.now() - t0;
      const used = process.cpuUsage(cpu);
      console.log(`${label}: ${rate(n, ms)}; ${cpuPerEvent(used.user + used.system, n)}`);
      if (n !== TOTAL) console.log(`WARNING: baseline published ${n} of ${TOTAL}`);
      return (n * 1000) / ms;
    };
    const before = await timedBaseline('baseline (1)');
    const relay = await runRelay(config);
    console.log(`relay       : ${rate(relay.count, relay.ms)}; ${cpuPerEvent(relay.cpuUs, relay.count)} (start included: lock, epoch, topic; ${Math.round((relay.pagesMs / relay.ms) * 100)}% of the time in read-publish-advance)`);
    const after = await timedBaseline('baseline (2)');
    sns.destroy();
    const baseline = (before + after) / 2;
    const relayRate = (relay.count * 1000) / relay.ms;
    console.log(`baseline mean: ${Math.round(baseline)} events/s; relay: ${Math.round(relayRate)} events/s`);
    console.log(`ratio relay/baseline: ${(relayRate / baseline).toFixed(2)} (goal ≥ 0.90)`);
    if (relay.count !== TOTAL) console.log(`WARNING: the relay published ${relay.count} of ${TOTAL}`);
  } finally {
    await ctx.close();
    emulator.child.kill();
  }
}

await main();
