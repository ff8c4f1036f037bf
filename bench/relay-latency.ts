/**
 * Relay latency: commit → published (SNS PublishBatch acknowledged and the cursor advanced), at a
 * steady write rate. `--writers` connections each commit one transaction of `--rows-per-tx` rows on
 * a fixed schedule (together `--rate` changes/s), note the commit time of each event seq, and the relay (in this process,
 * real publisher, emulator in-process) reports each batch it published. Goals: p50 ≤ 60 ms,
 * p99 ≤ 250 ms at 1,000 changes/s.
 *
 * Baseline, same run, same process and emulator: the bare emulator publish path at the same rate
 * (bench/lib/bare-path.ts publishAt: messages created at the rate, PublishBatch of what is pending,
 * the relay's 8 calls in flight; at the rate the writers achieved, the relay's message body and attributes, to a topic with a
 * subscribed queue), latency creation → PublishBatch acknowledged. Printed as relay ÷ bare for p50
 * and p99, with the load.
 *
 *   npx tsx bench/relay-latency.ts [--rate 1000] [--seconds 15] [--rows-per-tx 5] [--writers 4] [--warmup 2]
 *
 * Writers run with synchronous_commit=off (the disk's fsync is not the relay's latency); the load
 * average is printed, because on a shared machine it moves the figures more than anything else.
 * Needs PostgreSQL and Redis as for the tests (TEST_PG_URL, TEST_REDIS_URL).
 */
import { randomBytes } from 'node:crypto';
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { silentLogger } from '../src/logger.js';
import { startRelay } from '../src/relay/start.js';
import { startEmulator } from '../test/helpers/fauxqs.js';
import { REDIS_URL } from '../test/helpers/env.js';
import { relayConfig, relayConfigDoc, subscribeQueue } from '../test/helpers/relay.js';
import { createMigratedSource } from '../test/helpers/source.js';
import { CreateTopicCommand, SNSClient } from '@aws-sdk/client-sns';
import { publishAt } from './lib/bare-path.js';
import { machineLoad, ratioLine, runBench } from './lib/machine.js';
import { plainEntry } from './lib/publish-baseline.js';
import { withoutSdkLogging } from '../src/aws/clients.js';

const { values: args } = parseArgs({
  options: {
    rate: { type: 'string', default: '1000' },
    seconds: { type: 'string', default: '15' },
    'rows-per-tx': { type: 'string', default: '5' },
    writers: { type: 'string', default: '4' },
    warmup: { type: 'string', default: '2' },
  },
});
const RATE = Number(args.rate);
const SECONDS = Number(args.seconds);
const ROWS_PER_TX = Number(args['rows-per-tx']);
const WARMUP = Number(args.warmup);
const WRITERS = Number(args.writers);

Object.assign(process.env, { AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test' });

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

async function main(): Promise<void> {
  const env = await createMigratedSource();
  const emulator = await startEmulator();
  try {
    await env.db.pool.query('CREATE TABLE public.items (id bigint PRIMARY KEY, v int NOT NULL, note text)');
    await env.source.track({ table: { schema: 'public', table: 'items' } });
    const topic = `latency-${randomBytes(4).toString('hex')}`;
    // A subscribed queue, so the emulator does the fan-out work real SNS would.
    const queue = await subscribeQueue(emulator.endpoint, topic);
    const config = relayConfig(relayConfigDoc({ sourceUrl: env.db.url, redisUrl: REDIS_URL, endpoint: emulator.endpoint, topic, relay: { lockTtlMs: 10_000, pollIntervalMs: 500, readBatchSize: 1000, publishConcurrency: 8 } }));
    const relay = await startRelay({ config, logger: silentLogger, instanceId: 'bench-latency' });
    await new Promise<void>((resolve) => relay.relay.once('leader-acquired', () => resolve()));

    const committedAt = new Map<string, number>();
    const latencies: number[] = [];
    let measuring = false;
    relay.relay.on('batch-published', (batch) => {
      const now = performance.now();
      for (const seq of batch.seqs) {
        const t = committedAt.get(seq);
        if (t === undefined) continue;
        committedAt.delete(seq);
        if (measuring) latencies.push(now - t);
      }
    });

    const clients = await Promise.all(Array.from({ length: WRITERS }, () => env.db.pool.connect()));
    // Writers do not wait for the WAL flush: this measures the relay, not the disk.
    for (const c of clients) await c.query('SET synchronous_commit = off');
    const intervalMs = (1000 * ROWS_PER_TX * WRITERS) / RATE;
    let nextId = 1;
    let late = 0;
    const run = (seconds: number) => Promise.all(clients.map((client, w) => write(client, seconds, w)));
    const write = async (client: (typeof clients)[number], seconds: number, w: number) => {
      const start = performance.now();
      let due = start + (w * intervalMs) / WRITERS;
      await new Promise((r) => setTimeout(r, due - start));
      while (performance.now() - start < seconds * 1000) {
        await client.query('BEGIN');
        const first = nextId;
        nextId += ROWS_PER_TX;
        await client.query(`INSERT INTO public.items (id, v, note) SELECT g, 1, 'latency' FROM generate_series($1::bigint, $2::bigint) g`, [first, first + ROWS_PER_TX - 1]);
        const seqs = await client.query<{ seq: string }>('SELECT seq FROM outbox.events WHERE xid = pg_current_xact_id()');
        await client.query('COMMIT');
        const t = performance.now();
        for (const r of seqs.rows) committedAt.set(r.seq, t);
        due += intervalMs;
        const wait = due - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        else late += 1;
      }
    };
    await run(WARMUP);
    measuring = true;
    const started = performance.now();
    await run(SECONDS);
    const elapsed = (performance.now() - started) / 1000;
    const deadline = Date.now() + 10_000;
    while (committedAt.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    measuring = false;
    for (const c of clients) c.release();

    const sorted = [...latencies].sort((a, b) => a - b);
    const achieved = latencies.length / elapsed;
    const p50 = percentile(sorted, 50);
    const p99 = percentile(sorted, 99);
    console.log('relay latency: commit → published (PublishBatch acknowledged, cursor advanced)');
    console.log(`  load average     ${loadavg().map((l) => l.toFixed(1)).join(' ')} on ${cpus().length} CPUs`);
    console.log(`  target rate      ${RATE} changes/s (${WRITERS} writers, ${ROWS_PER_TX} rows per transaction), achieved ${achieved.toFixed(0)} changes/s over ${elapsed.toFixed(1)} s`);
    console.log(`  events measured  ${latencies.length}${committedAt.size ? ` (${committedAt.size} not published within 10 s!)` : ''}; writer behind schedule ${late} time(s)`);
    console.log(`  p50 ${p50.toFixed(1)} ms   p90 ${percentile(sorted, 90).toFixed(1)} ms   p99 ${p99.toFixed(1)} ms   max ${sorted.at(-1)?.toFixed(1)} ms`);
    console.log(`  goals: p50 ≤ 60 ms ${p50 <= 60 ? 'MET' : 'MISSED'}, p99 ≤ 250 ms ${p99 <= 250 ? 'MET' : 'MISSED'}`);
    await relay.close();
    queue.close();

    // The bare publish path at the same rate, against the same emulator, after the relay stopped.
    const bareQueue = await subscribeQueue(emulator.endpoint, `${topic}-bare`);
    const sns = withoutSdkLogging(new SNSClient({ region: 'us-east-1', endpoint: emulator.endpoint }));
    const topicArn = (await sns.send(new CreateTopicCommand({ Name: `${topic}-bare` }))).TopicArn!;
    const sample = { id: 123456, v: 1, note: 'latency' };
    const entry = plainEntry('relay-test', { seq: '123456', xid: '123456', tableSchema: 'public', tableName: 'items', op: 'insert', key: { id: sample.id }, before: null, after: sample, changed: Object.keys(sample), attributes: null, changedAt: new Date() }, 0);
    // At the rate the writers achieved: on a busy machine they fall short of --rate.
    const bareRate = Math.max(1, Math.round(achieved));
    await publishAt(sns, topicArn, entry, 8, { rate: bareRate, seconds: WARMUP });
    const loadBefore = machineLoad();
    const bare = await publishAt(sns, topicArn, entry, 8, { rate: bareRate, seconds: SECONDS });
    const bareSorted = bare.latencies.sort((a, b) => a - b);
    const [b50, b99] = [percentile(bareSorted, 50), percentile(bareSorted, 99)];
    console.log(`baseline: bare emulator publish path at ${bareRate}/s (the rate achieved) (PublishBatch of what is pending, 8 in flight), creation → acknowledged`);
    console.log(`  ${loadBefore} before, ${machineLoad()} after; ${bare.sent} sent over ${Math.max(SECONDS, bare.seconds).toFixed(1)} s`);
    console.log(`  p50 ${b50.toFixed(1)} ms   p90 ${percentile(bareSorted, 90).toFixed(1)} ms   p99 ${b99.toFixed(1)} ms   max ${bareSorted.at(-1)?.toFixed(1)} ms`);
    console.log(`  relay ÷ bare: p50 ${ratioLine(p50, b50)}, p99 ${ratioLine(p99, b99)}`);
    sns.destroy();
    bareQueue.close();
  } finally {
    await emulator.stop();
    await env.close();
  }
}

runBench(main);
