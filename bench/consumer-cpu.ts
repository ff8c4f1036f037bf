/**
 * The consumer's own CPU per message, against the bare receive + delete loop, in one process: what
 * processBatch (decode, schema check, transform, the writer call, outcomes, metrics) and its
 * acknowledgement cost the main thread on top of receiving and deleting the same messages.
 *
 *   npx tsx bench/consumer-cpu.ts                        # PostgreSQL target, 24 pairs of 500-message segments
 *   BENCH_TARGET=mysql npx tsx bench/consumer-cpu.ts     # MariaDB/MySQL (TEST_MYSQL_URL)
 *   BENCH_PAIRS=40 BENCH_CHUNK=1000 BENCH_LOOPS=1 npx tsx bench/consumer-cpu.ts
 *   BENCH_CPU_PROFILE=/path/consumer npx tsx bench/consumer-cpu.ts   # a CPU profile of every segment (<path>.<segment>.<pair>.cpuprofile)
 *
 * fauxqs runs in its own process. The queue is filled (4 pairs at a time, outside the measurement),
 * then drained in short segments that take turns, a pair at a time (bare, consumer; then consumer,
 * bare): (a) the bare loop (bench/lib/receive-delete-baseline.ts, serial: BENCH_LOOPS receive
 * loops, 4 like a consumer's queue.concurrency, each receiving a batch of 10 and deleting it),
 * (b) the same loops with the consumer's processing in place of the bare delete:
 * Consumer.processBatch of the received batch (the consumer's own code, the writer call into the
 * real target included; concurrent batches share writer calls as in a running consumer), then the
 * acknowledgement processBatch returns (the same deleteMessages call). Same client, queue, receive
 * parameters and messages; so (b) − (a) is the consumer's own work.
 *
 * Figures are CPU, not rates: the main thread's time on a CPU (/proc schedstat, nanoseconds) and the
 * process's user + system time (process.cpuUsage: V8's GC helper threads and libuv's pool too), per
 * message deleted, each pair's two segments subtracted and the medians over pairs printed. The rate
 * a CPU-bound consumer reaches against the bare loop is at most bare ÷ (bare + own), printed as the
 * implied rate ratio (goal ≥ 0.8). CPU time moves less with the machine's load than a rate does, and
 * short segments taking turns cancel most of the drift of a run (on 2 busy cores a segment's CPU
 * still moves ±30 %: caches, frequency, what runs beside it); the target server's CPU is not in it.
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import type { Message } from '@aws-sdk/client-sqs';
import { createSnsClient, createSqsClient } from '../src/aws/clients.js';
import { queueDepth } from '../src/aws/resources.js';
import { quietAwsSdkNodeWarning } from '../src/config/node-version.js';
import { openConsumer } from '../src/consumer/index.js';
import { silentLogger } from '../src/logger.js';
import { applySubscription, planSubscription } from '../src/subscriptions/subscribe.js';
import { buildTransformer, createTargetWriter } from '../src/targets/index.js';
import { outboxEvent, publishEvents } from '../test/helpers/consumer-fixtures.js';
import { benchConsumerConfig, openBenchTarget } from './lib/bench-target.js';
import { startEmulatorProcess } from './lib/emulator-process.js';
import { machineLoad, runBench } from './lib/machine.js';
import { threadSchedule } from './lib/process-cpu.js';
import { drainReceiveDelete, spread } from './lib/receive-delete-baseline.js';

quietAwsSdkNodeWarning();
const CHUNK = Number(process.env.BENCH_CHUNK ?? 500);
const PAIRS = Number(process.env.BENCH_PAIRS ?? 24);
/** Pairs drained from one fill of the queue. */
const PAIRS_PER_FILL = 4;
const LOOPS = Number(process.env.BENCH_LOOPS ?? 4);
const BATCH = 10;
const KIND = process.env.BENCH_TARGET ?? 'postgres';
if (KIND !== 'postgres' && KIND !== 'mysql') throw new Error(`BENCH_TARGET is "${KIND}": use postgres or mysql`);
const KIND_NAME = KIND === 'postgres' ? 'PostgreSQL' : 'MariaDB';
const PROFILE = process.env.BENCH_CPU_PROFILE;


type Segment = 'bare' | 'consumer';
const SEGMENT_NAMES: Record<Segment, string> = { bare: 'bare receive+delete', consumer: 'receive+processBatch+acknowledge' };

runBench(async () => {
  const emulator = await startEmulatorProcess();
  const bench = await openBenchTarget(KIND);
  const config = benchConsumerConfig(KIND, bench, emulator.endpoint, { batchSize: BATCH, concurrency: LOOPS });
  const queue = config.targets.bench!.queue;
  const target = config.targets.bench!;
  const sns = createSnsClient(config);
  const sqs = createSqsClient(config);
  const writer = createTargetWriter('bench', target, config.targetSecrets('bench'), silentLogger);
  try {
    const problems = await writer.init({ keyColumns: { 'public.customers': ['id'] }, create: true });
    if (problems.length > 0) throw new Error(problems.join('; '));
    /** Writer calls and the changes in them (batches per call: concurrent batches share a call). */
    const calls = { calls: 0, changes: 0 };
    const apply = writer.apply.bind(writer);
    writer.apply = (changes) => {
      calls.calls += 1;
      calls.changes += changes.length;
      return apply(changes);
    };
    const sub = await applySubscription(planSubscription(config, 'bench'), sns, sqs);
    const consumer = await openConsumer(config, 'bench', { sqs, writer, transform: buildTransformer('bench', target, config.targetSecrets('bench')), logger: silentLogger });
    let consumerDeleted = 0;
    consumer.on('batch-applied', (e) => (consumerDeleted += e.deleted));
    consumer.on('apply-failed', ({ error }) => console.error(`apply failed: ${error.message}`));
    // The consumer is not started: its receive loops are the bench's (the same as the bare loop's); processBatch is private.
    const processBatch = (consumer as unknown as { processBatch(m: Message[], e: { stop(): void }): Promise<() => Promise<void>> }).processBatch.bind(consumer);
    const noExtender = { stop() {} };
    /** Messages handed to the consumer; every one must come back deleted (its batch-applied events), checked at the end. */
    let handled = 0;
    const handle = async (messages: Message[]) => {
      const acknowledge = await processBatch(messages, noExtender);
      await acknowledge();
      handled += messages.length;
      return messages.length;
    };
    const shape = { queueUrl: sub.queueUrl, loops: LOOPS, batchSize: BATCH, waitTimeSec: queue.waitTimeSec, visibilityTimeoutSec: queue.visibilityTimeoutSec };

    let nextId = 1;
    /**
     * Publishes `count` new customers (the relay's envelope and attributes) and waits until they are
     * in the queue with what earlier segments left (a segment can take a few batches past its size).
     */
    const fill = async (count: number) => {
      const before = (await queueDepth(sqs, sub.queueUrl)).visible;
      const events = Array.from({ length: count }, () => {
        const id = nextId++;
        return outboxEvent({ id, row: { id, name: `customer ${id}`, email: `c${id}@example.com`, tenant: String(id % 7), score: '12.50', updated_at: new Date().toISOString() }, attributes: { tenant: String(id % 7) } });
      });
      const lanes = 16;
      const per = Math.ceil(events.length / lanes / 10) * 10;
      await Promise.all(Array.from({ length: lanes }, (_, i) => publishEvents(sns, sub.topicArn, events.slice(i * per, (i + 1) * per))));
      while ((await queueDepth(sqs, sub.queueUrl)).visible < before + count) await new Promise((r) => setTimeout(r, 50));
    };
    /** What a fill must hold for `pairs` pairs: their segments, and the batches each segment may take past its size. */
    const fillFor = (pairs: number) => 2 * pairs * (CHUNK + LOOPS * BATCH);

    const profiler = PROFILE ? new Session() : undefined;
    if (profiler) {
      profiler.connect();
      await profiler.post('Profiler.enable');
    }
    /** µs per message deleted of one segment: the main thread on a CPU, the process (all threads). */
    const drain = async (segment: Segment, pair: number) => {
      if (profiler) await profiler.post('Profiler.start');
      const counted = { deleted: 0 };
      const main = threadSchedule(process.pid).run;
      const proc = process.cpuUsage();
      const seconds = await drainReceiveDelete(sqs, shape, CHUNK, segment === 'consumer' ? { handle, counted } : { counted });
      const used = process.cpuUsage(proc);
      const mainUs = ((threadSchedule(process.pid).run - main) * 1e6) / counted.deleted;
      if (profiler && PROFILE) writeFileSync(`${PROFILE}.${segment}.${pair}.cpuprofile`, JSON.stringify((await profiler.post('Profiler.stop')).profile));
      return { main: mainUs, process: (used.user + used.system) / counted.deleted, rate: counted.deleted / seconds };
    };

    // Warm-up (not counted): JIT, connections, the writer's named statements, the target's first inserts.
    await fill(fillFor(2));
    for (let i = 0; i < 2; i++) {
      await drain('bare', 0);
      await drain('consumer', 0);
    }
    const loadAtStart = machineLoad();
    const figures: Record<Segment, { main: number; process: number; rate: number }[]> = { bare: [], consumer: [] };
    const loads: string[] = [];
    const callsBefore = { ...calls };
    for (let p = 1; p <= PAIRS; p++) {
      if ((p - 1) % PAIRS_PER_FILL === 0) await fill(fillFor(Math.min(PAIRS_PER_FILL, PAIRS - p + 1)));
      const order: Segment[] = p % 2 === 1 ? ['bare', 'consumer'] : ['consumer', 'bare'];
      for (const segment of order) figures[segment].push(await drain(segment, p));
      const b = figures.bare.at(-1)!;
      const c = figures.consumer.at(-1)!;
      loads.push(machineLoad().split(' ')[2]!);
      console.log(`  pair ${p} (${order.join(', ')}): main thread µs per message bare ${b.main.toFixed(1)}, consumer ${c.main.toFixed(1)}, own ${(c.main - b.main).toFixed(1)}; process ${b.process.toFixed(1)} / ${c.process.toFixed(1)}; rates ${b.rate.toFixed(0)} / ${c.rate.toFixed(0)} msg/s; load ${loads.at(-1)}`);
    }
    const rows = await bench.count();
    const range = (values: number[], digits = 1) => {
      const s = spread(values);
      return `median ${s.median.toFixed(digits)} (${s.min.toFixed(digits)}–${s.max.toFixed(digits)})`;
    };
    const pairs = (k: 'main' | 'process') => figures.bare.map((b, i) => ({ bare: b[k], own: figures.consumer[i]![k] - b[k] }));
    console.log(`consumer CPU: ${PAIRS} pairs of ${CHUNK}-message segments, ${LOOPS} receive loops, batch ${BATCH}, fauxqs in its own process, ${KIND_NAME} target`);
    console.log(`  ${loadAtStart} at the start, ${machineLoad()} at the end`);
    for (const [k, what] of [
      ['main', 'main thread on a CPU (schedstat)'],
      ['process', 'process user + system (all threads)'],
    ] as const) {
      const p = pairs(k);
      console.log(`  ${what}, µs per message:`);
      console.log(`    ${SEGMENT_NAMES.bare.padEnd(34)} ${range(figures.bare.map((f) => f[k]))}`);
      console.log(`    ${SEGMENT_NAMES.consumer.padEnd(34)} ${range(figures.consumer.map((f) => f[k]))}`);
      console.log(`    the consumer's own (per pair)      ${range(p.map((x) => x.own))}`);
      console.log(`    own ÷ bare (per pair)              ${range(p.map((x) => x.own / x.bare), 2)}`);
      console.log(`    implied rate ratio bare ÷ (bare + own), per pair: ${range(p.map((x) => x.bare / (x.bare + x.own)), 2)} (goal ≥ 0.8)`);
    }
    console.log(`  rates (wall clock, moves with the load): bare ${range(figures.bare.map((f) => f.rate), 0)} msg/s, consumer ${range(figures.consumer.map((f) => f.rate), 0)} msg/s`);
    const measuredCalls = calls.calls - callsBefore.calls;
    console.log(`  writer calls: ${((calls.changes - callsBefore.changes) / Math.max(1, measuredCalls) / BATCH).toFixed(2)} batches per call; load during the pairs ${loads.join(', ')}`);
    if (rows !== handled || consumerDeleted !== handled) {
      console.error(`the consumer was handed ${handled} messages, deleted ${consumerDeleted}; the target holds ${rows} rows`);
      process.exitCode = 1;
    }
  } finally {
    await writer.close();
    sns.destroy();
    sqs.destroy();
    await bench.drop();
    emulator.stop();
  }
});
