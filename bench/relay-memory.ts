/**
 * Relay memory: heap and RSS of a relay process while it drains a large backlog, and its rate
 * against the bare PublishBatch loop (bench/lib/publish-baseline.ts) in the same run.
 *
 * The outbox is pre-filled with `--changes` captured inserts (one INSERT … generate_series through
 * the capture trigger) before the relay starts. The emulator runs in its own process (no
 * subscription). One relay process (the CLI, as deployed) drains the whole backlog; the baseline
 * publishes `--baseline` of the same changes in `--segments` turns, one before the relay starts and
 * one each time the relay has drained another 1/segments of the backlog, with the relay paused
 * (SIGSTOP, its clock stopped) meanwhile, so a change of machine load hits both alike. Every `--sample-ms` its /metrics are read: RSS, V8 heap used
 * and total, external memory (Buffers), events advanced. Printed: a row per tenth of the drain,
 * the peak RSS and heap, the RSS trend over the second half (flat or growing), both rates and their
 * ratio, and the machine load.
 *
 *   npx tsx bench/relay-memory.ts [--changes 200000] [--baseline 40000] [--segments 8] [--batch 1000] [--concurrency 8] [--sample-ms 1000]
 *                                 [--relay-node-args='--heap-prof --heap-prof-dir /tmp/prof'] [--page-overlap true|false]
 *
 * The relay runs as installed, `node bin/outbox.js` on dist/ (rebuilt first when a file under src/
 * is newer), without tsx, whose loader alone costs ≈ 30 MiB RSS.
 *
 * Goals: peak RSS ≤ 150 MiB and flat at 1M changes; relay ≥ 0.9× the baseline. Needs
 * PostgreSQL and Redis as for the tests (TEST_PG_URL, TEST_REDIS_URL).
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { CreateTopicCommand, SNSClient } from '@aws-sdk/client-sns';
import { REDIS_URL } from '../test/helpers/env.js';
import { freePort, relayConfigDoc, spawnRelay, writeConfigFile } from '../test/helpers/relay.js';
import { createMigratedSource } from '../test/helpers/source.js';
import { startEmulatorProcess } from './lib/emulator-process.js';
import { machineLoad, ratioLine, runBench } from './lib/machine.js';
import { runPublishBaseline } from './lib/publish-baseline.js';
import { withoutSdkLogging } from '../src/aws/clients.js';

const { values: args } = parseArgs({
  options: {
    changes: { type: 'string', default: '200000' },
    baseline: { type: 'string', default: '40000' },
    segments: { type: 'string', default: '8' },
    batch: { type: 'string', default: '1000' },
    concurrency: { type: 'string', default: '8' },
    'sample-ms': { type: 'string', default: '1000' },
    'relay-node-args': { type: 'string', default: '' },
    'sdk-thread': { type: 'string', default: 'false' },
    'note-bytes': { type: 'string', default: '32' },
    'page-bytes': { type: 'string', default: '' },
    'page-overlap': { type: 'string', default: 'true' },
  },
});
const CHANGES = Number(args.changes);
const BASELINE = Math.min(CHANGES, Number(args.baseline));
const BATCH = Number(args.batch);
const SEGMENTS = Number(args.segments);
const CONCURRENCY = Number(args.concurrency);
/** aws.sdkThread of the relay: its SNS client on its main thread (the default) or on a worker thread (--sdk-thread true). */
const SDK_THREAD = args['sdk-thread'] === 'true';
/** relay.pageOverlap: the next page published while a page's last calls are in flight (the default), or one page at a time. */
const PAGE_OVERLAP = args['page-overlap'] === 'true';
const SAMPLE_MS = Number(args['sample-ms']);
/** Bytes of each row's text column (a multiple of 32: md5 repeated): wide rows show whether the relay bounds pages by bytes. */
const NOTE_REPEAT = Math.max(1, Math.round(Number(args['note-bytes']) / 32));
/** relay.readBatchBytes of the relay (unset: the default). */
const PAGE_BYTES = args['page-bytes'] === '' ? undefined : Number(args['page-bytes']);
/** Node options of the relay process (e.g. `--heap-prof`, `--max-old-space-size=…`), then the CLI as installed. */
const RELAY_NODE_ARGS = [...args['relay-node-args'].split(' ').filter(Boolean), 'bin/outbox.js'];
const SOURCE_NAME = 'relay-test';
const MiB = 1024 * 1024;

process.env.AWS_ACCESS_KEY_ID ??= 'test';
process.env.AWS_SECRET_ACCESS_KEY ??= 'test';
process.removeAllListeners('warning'); // the SDK's Node 22 notice

interface Sample {
  seconds: number;
  advanced: number;
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
}

/** One scrape of the relay's /metrics (prom-client's process and Node.js metrics). */
async function sample(port: number, seconds: number): Promise<Sample> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const value = (name: string) =>
    text
      .split('\n')
      .filter((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`))
      .reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
  return {
    seconds,
    advanced: value('outbox_relay_events_advanced_total'),
    rss: value('outbox_process_resident_memory_bytes') / MiB,
    heapUsed: value('outbox_nodejs_heap_size_used_bytes') / MiB,
    heapTotal: value('outbox_nodejs_heap_size_total_bytes') / MiB,
    external: value('outbox_nodejs_external_memory_bytes') / MiB,
  };
}

/** Least-squares slope of RSS over time, MiB per minute. */
function slope(samples: Sample[]): number {
  const n = samples.length;
  if (n < 2) return 0;
  const mx = samples.reduce((s, p) => s + p.seconds, 0) / n;
  const my = samples.reduce((s, p) => s + p.rss, 0) / n;
  const num = samples.reduce((s, p) => s + (p.seconds - mx) * (p.rss - my), 0);
  const den = samples.reduce((s, p) => s + (p.seconds - mx) ** 2, 0);
  return den === 0 ? 0 : (num / den) * 60;
}

/** The relay runs as installed (bin/outbox.js on dist/), not through tsx: build dist/ when a source file is newer. */
function buildIfStale(): void {
  const newest = (dir: string): number =>
    readdirSync(dir, { withFileTypes: true }).reduce((m, d) => Math.max(m, d.isDirectory() ? newest(join(dir, d.name)) : statSync(join(dir, d.name)).mtimeMs), 0);
  if (existsSync('dist/cli/main.js') && statSync('dist/cli/main.js').mtimeMs >= newest('src')) return;
  console.log('building dist/ (npm run build) …');
  execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
}

async function main(): Promise<void> {
  buildIfStale();
  const emulator = await startEmulatorProcess();
  const env = await createMigratedSource();
  let child: ReturnType<typeof spawnRelay> | undefined;
  try {
    await env.db.pool.query('CREATE TABLE public.items (id bigint PRIMARY KEY, v int NOT NULL, note text NOT NULL)');
    await env.source.track({ table: { schema: 'public', table: 'items' } });
    const fillStart = performance.now();
    const chunk = Math.max(1_000, Math.floor(50_000 / NOTE_REPEAT));
    for (let from = 1; from <= CHANGES; from += chunk) {
      const to = Math.min(CHANGES, from + chunk - 1);
      await env.db.pool.query(`INSERT INTO public.items (id, v, note) SELECT g, g % 100, repeat(md5(g::text), $3::int) FROM generate_series($1::bigint, $2::bigint) g`, [from, to, NOTE_REPEAT]);
    }
    await env.db.pool.query('VACUUM ANALYZE outbox.events');
    console.log(`pre-filled ${CHANGES} changes in ${((performance.now() - fillStart) / 1000).toFixed(1)} s; ${machineLoad()}`);

    const topic = `memory-${randomBytes(4).toString('hex')}`;
    const sns = withoutSdkLogging(new SNSClient({ region: 'us-east-1', endpoint: emulator.endpoint }));
    const { TopicArn } = await sns.send(new CreateTopicCommand({ Name: topic }));
    const baselineOptions = { pool: env.db.pool, sns, topicArn: TopicArn!, sourceName: SOURCE_NAME, pageSize: BATCH, concurrency: CONCURRENCY };
    await runPublishBaseline(baselineOptions, '0', Math.min(2_000, BASELINE)); // warm-up: SDK, sockets, JIT
    const loadBefore = machineLoad();
    const base = { count: 0, ms: 0 };
    let baseLast = '0';
    const runBaseline = async () => {
      const b = await runPublishBaseline(baselineOptions, baseLast, Math.min(Math.ceil(BASELINE / SEGMENTS), BASELINE - base.count));
      base.count += b.count;
      base.ms += b.ms;
      baseLast = b.last;
    };
    await runBaseline();

    const port = await freePort();
    // A long lock TTL: the relay is paused for a few seconds at a time while the baseline runs.
    const doc = relayConfigDoc({ sourceUrl: env.db.url, redisUrl: REDIS_URL, endpoint: emulator.endpoint, topic, relay: { lockTtlMs: 60_000, readBatchSize: BATCH, publishConcurrency: CONCURRENCY, pageOverlap: PAGE_OVERLAP, ...(PAGE_BYTES === undefined ? {} : { readBatchBytes: PAGE_BYTES }) } });
    const file = writeConfigFile({ ...doc, aws: { ...(doc.aws as object), sdkThread: SDK_THREAD } });
    child = spawnRelay(file, 'memory', { args: ['--metrics-port', String(port)], nodeArgs: RELAY_NODE_ARGS });
    await child.waitForLog((l) => l.msg === 'leading', 60_000);
    // The relay's clock runs only while it is not paused.
    let runningMs = 0;
    let resumedAt = performance.now();
    const clock = () => (runningMs + performance.now() - resumedAt) / 1000;
    let nextPause = CHANGES / SEGMENTS;
    const samples: Sample[] = [];
    for (;;) {
      const s = await sample(port, clock()).catch(() => undefined);
      if (s) samples.push(s);
      if (s && s.advanced >= CHANGES) break;
      if (child.proc.exitCode !== null) throw new Error('the relay exited');
      if (s && s.advanced >= nextPause && base.count < BASELINE) {
        // Baseline and relay take turns, so a change of machine load hits both alike.
        runningMs += performance.now() - resumedAt;
        child.proc.kill('SIGSTOP');
        await runBaseline();
        child.proc.kill('SIGCONT');
        resumedAt = performance.now();
        nextPause += CHANGES / SEGMENTS;
      }
      await new Promise((r) => setTimeout(r, SAMPLE_MS));
    }
    const drainSeconds = samples.at(-1)!.seconds;
    const loadDuring = machineLoad();
    child.proc.kill('SIGTERM');
    await child.exited;
    while (base.count < BASELINE) await runBaseline();
    sns.destroy();

    const baseRate = (base.count * 1000) / base.ms;
    const relayRate = CHANGES / drainSeconds;
    const peak = (key: keyof Sample) => Math.max(...samples.map((s) => s[key]));
    const secondHalf = samples.filter((s) => s.seconds >= drainSeconds / 2);
    const rssSlope = slope(secondHalf);

    console.log(`relay memory: one relay process draining ${CHANGES} changes of ${NOTE_REPEAT * 32}-byte rows (pages of ${BATCH} rows${PAGE_BYTES === undefined ? '' : ` or ${PAGE_BYTES} bytes`}, ${CONCURRENCY} PublishBatch calls in flight), the SNS client on ${SDK_THREAD ? "a worker thread" : "the relay's main thread"} (aws.sdkThread: ${SDK_THREAD}), relay.pageOverlap: ${PAGE_OVERLAP}, emulator in its own process`);
    console.log(`  ${loadBefore} before, ${loadDuring} at the end of the drain, ${machineLoad()} after`);
    console.log('  t (s)   advanced   RSS MiB   heap used / total MiB   external MiB');
    const shown = new Set<Sample>();
    for (let k = 0; k <= 10; k++) {
      const s = samples.find((p) => p.advanced >= (CHANGES * k) / 10) ?? samples.at(-1)!;
      if (shown.has(s)) continue;
      shown.add(s);
      console.log(`  ${s.seconds.toFixed(0).padStart(5)}   ${String(s.advanced).padStart(8)}   ${s.rss.toFixed(0).padStart(7)}   ${s.heapUsed.toFixed(0).padStart(9)} / ${s.heapTotal.toFixed(0).padEnd(9)}   ${s.external.toFixed(0).padStart(10)}`);
    }
    console.log(`  peak RSS ${peak('rss').toFixed(0)} MiB (goal ≤ 150: ${peak('rss') <= 150 ? 'met' : 'MISSED'}), peak heap used ${peak('heapUsed').toFixed(0)} MiB, heap total ${peak('heapTotal').toFixed(0)} MiB, external ${peak('external').toFixed(0)} MiB`);
    console.log(`  RSS over the second half: ${Math.min(...secondHalf.map((s) => s.rss)).toFixed(0)}–${Math.max(...secondHalf.map((s) => s.rss)).toFixed(0)} MiB, trend ${rssSlope >= 0 ? '+' : ''}${rssSlope.toFixed(1)} MiB/min`);
    console.log(`  baseline (bare PublishBatch loop, this process, ${SEGMENTS} turns with the relay paused): ${base.count} changes at ${baseRate.toFixed(0)}/s`);
    console.log(`  relay: ${CHANGES} changes in ${drainSeconds.toFixed(1)} s of running = ${relayRate.toFixed(0)}/s`);
    console.log(`  ratio relay / baseline: ${ratioLine(relayRate, baseRate, { atLeast: 0.9 })}; peak RSS / 150 MiB: ${ratioLine(peak('rss'), 150, { atMost: 1 })}`);
  } finally {
    if (child && child.proc.exitCode === null) {
      child.proc.kill('SIGTERM');
      await child.exited;
    }
    emulator.stop();
    await env.close();
  }
}

runBench(main);
