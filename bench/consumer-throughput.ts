/**
 * Consumer throughput into a target, against the bare receive + delete loop on the same queue and
 * messages: the ratio shows what parse + validate + transform + one target transaction per batch +
 * delete cost over moving messages alone.
 *
 *   npx tsx bench/consumer-throughput.ts            # 5,000 messages a segment, 3 rounds, PostgreSQL target
 *   BENCH_TARGET=mysql npx tsx bench/consumer-throughput.ts       # MariaDB/MySQL (TEST_MYSQL_URL)
 *   BENCH_TARGET=dynamodb npx tsx bench/consumer-throughput.ts    # DynamoDB Local (needs java)
 *   BENCH_MESSAGES=20000 BENCH_ROUNDS=5 BENCH_CONSUMERS=2 BENCH_LOOPS=4 npx tsx bench/consumer-throughput.ts
 *   BENCH_CPU_PROFILE=consumer.cpuprofile npx tsx bench/consumer-throughput.ts   # a CPU profile of every measured segment
 *   BENCH_TARGET=mysql BENCH_APPLY_CONCURRENCY=1,2,4 npx tsx bench/consumer-throughput.ts   # one consumer segment per queue.applyConcurrency, same rounds
 *
 * fauxqs runs in its own process, so the consumer's SQS client talks HTTP to it as it would to SQS
 * and the emulator's work is not on the measured event loop. Each round drains a freshly filled
 * queue four times: with the bare receive + delete loop run serially (receive, delete, receive),
 * with the bare loop pipelined the way a consumer's loop is (the next receive under way while a
 * batch is deleted), with the consumer(s) on an SQS client on the main thread (aws.sdkThread: false)
 * and with the consumer(s) on the threaded SQS client (the SDK on a worker thread, the default of
 * `outbox consume`) — the order reversed every other round, so load that changes during the run
 * weighs on all alike. The bare loops run as many receive loops as the consumers together
 * (BENCH_CONSUMERS × queue.concurrency, BENCH_LOOPS), with the same batch size, receive parameters,
 * messages and main-thread SQS client (their SDK stays on their one thread). A warm-up drain by the
 * consumers on each client comes first. Prints each round, the medians and ranges, the load average
 * after every segment, and the CPU of this process's main thread apart from its other threads.
 * BENCH_APPLY_CONCURRENCY (a list) replaces the two consumer segments by one per value of
 * queue.applyConcurrency, all on the main-thread client, in the same rounds. For each consumer
 * segment it also prints the writer calls: how many, batches per call, their wall time and how many
 * ran at once, and each round trip's client-side wait (and, for MariaDB, the server's CPU per round
 * trip and redo-log writes per call).
 *
 * Two more segments per round measure the simplest apply (bench/lib/naive-apply.ts) with the same
 * loops, serial and pipelined: each batch's rows in one upsert on an autocommit connection, then the
 * delete — no version guard, no transform, no transaction of its own. Its ratio to the bare loop is
 * what writing the rows alone leaves of the bare rate on this machine; the consumer's ratio to it is
 * what the guarantees and the consumer's own work cost over that.
 *
 * Needs PostgreSQL (TEST_PG_URL, default postgres://postgres@127.0.0.1:5432/postgres).
 */
import { writeFileSync } from 'node:fs';
import type { Message } from '@aws-sdk/client-sqs';
import { Session } from 'node:inspector/promises';
import pg from 'pg';
import { createSnsClient, createSqsClient, createThreadedSqsClient, type SqsSender } from '../src/aws/clients.js';
import { openConsumer } from '../src/consumer/index.js';
import { queueDepth } from '../src/aws/resources.js';
import { deleteMessages } from '../src/aws/sqs-batch.js';
import { applySubscription, planSubscription } from '../src/subscriptions/subscribe.js';
import { silentLogger } from '../src/logger.js';
import { buildTransformer, createTargetWriter } from '../src/targets/index.js';
import type { TargetWriter } from '../src/targets/types.js';
import { outboxEvent, publishEvents } from '../test/helpers/consumer-fixtures.js';
import { quietAwsSdkNodeWarning } from '../src/config/node-version.js';
import { benchConsumerConfig, openBenchTarget } from './lib/bench-target.js';
import { startEmulatorProcess } from './lib/emulator-process.js';
import { machineLoad } from './lib/machine.js';
import { cpuSecondsOf, threadCpuSeconds, threadIds, threadSchedule } from './lib/process-cpu.js';
import { openNaiveApply } from './lib/naive-apply.js';
import { drainReceiveDelete, spread } from './lib/receive-delete-baseline.js';

quietAwsSdkNodeWarning();
const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 5_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CONSUMERS = Number(process.env.BENCH_CONSUMERS ?? 1);
const LOOPS = Number(process.env.BENCH_LOOPS ?? 4);
const BATCH = 10;
const KIND = process.env.BENCH_TARGET ?? 'postgres';
const APPLY_CONCURRENCY = process.env.BENCH_APPLY_CONCURRENCY?.split(',').map((v) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > LOOPS) throw new Error(`BENCH_APPLY_CONCURRENCY is "${process.env.BENCH_APPLY_CONCURRENCY}": use a list of integers from 1 to BENCH_LOOPS (${LOOPS}), e.g. 1,2,4`);
  return n;
});
if (KIND !== 'postgres' && KIND !== 'mysql' && KIND !== 'dynamodb') throw new Error(`BENCH_TARGET is "${KIND}": use postgres, mysql or dynamodb`);
const KIND_NAME = { postgres: 'PostgreSQL', mysql: 'MariaDB', dynamodb: 'DynamoDB Local' }[KIND];
const load = () => machineLoad().replace('load average ', '');

const emulator = await startEmulatorProcess();
const bench = await openBenchTarget(KIND);
const config = benchConsumerConfig(KIND, bench, emulator.endpoint, { batchSize: BATCH, concurrency: LOOPS });
const queue = config.targets.bench!.queue;
const sns = createSnsClient(config);
const sqs = createSqsClient(config);
/** SQS calls by command, counted in the client (the same client for the bare loops and the consumer). */
const sqsCalls = new Map<string, number>();
sqs.middlewareStack.add(
  (next, context) => (args) => {
    sqsCalls.set(context.commandName ?? '?', (sqsCalls.get(context.commandName ?? '?') ?? 0) + 1);
    return next(args);
  },
  { step: 'initialize', name: 'benchCallCounter' },
);
/** The consumer's default client: the SDK on a worker thread. Its calls are counted where they are sent. */
const threadedSqs = createThreadedSqsClient(config);
const sendThreaded = threadedSqs.send.bind(threadedSqs);
threadedSqs.send = (command, options) => {
  const name = (command as object).constructor.name;
  sqsCalls.set(name, (sqsCalls.get(name) ?? 0) + 1);
  return sendThreaded(command, options);
};
/**
 * Queries (round trips) and statements sent to the target database by this process, counted at the
 * pg and mysql2 query entry points; the MariaDB writer sends several statements in one query, joined
 * by ";\n" (src/targets/mysql/round-trip.ts), so its statements are counted in the query text.
 */
let statements = 0;
let queries = 0;
/**
 * Client-side wait of each round trip (query sent → its reply handled), by kind: MariaDB's first
 * round trip of a call (START TRANSACTION with the locks), its last (the writes with COMMIT), other
 * queries; PostgreSQL's queries. Reset per segment.
 */
const tripWait = new Map<string, { n: number; ms: number }>();
const recordTrip = (kind: string, started: number) => {
  const t = tripWait.get(kind) ?? { n: 0, ms: 0 };
  t.n += 1;
  t.ms += performance.now() - started;
  tripWait.set(kind, t);
};
const pgClient = pg.Client.prototype as unknown as { query: (...args: unknown[]) => unknown };
const pgQuery = pgClient.query;
pgClient.query = function (this: unknown, ...args: unknown[]) {
  statements += 1;
  queries += 1;
  const started = performance.now();
  const result = pgQuery.apply(this, args);
  if (result && typeof (result as Promise<unknown>).then === 'function') (result as Promise<unknown>).then(() => recordTrip('pg query', started), () => recordTrip('pg query', started));
  return result;
};
const mysqlModule = (await import('mysql2')) as unknown as { Connection?: { prototype: object }; default?: { Connection: { prototype: object } } };
const mysqlConnection = (mysqlModule.Connection ?? mysqlModule.default!.Connection).prototype as unknown as { query: (...args: unknown[]) => unknown };
const mysqlQuery = mysqlConnection.query;
mysqlConnection.query = function (this: unknown, ...args: unknown[]) {
  const sql = typeof args[0] === 'string' ? args[0] : (args[0] as { sql?: string }).sql;
  statements += typeof sql === 'string' ? sql.split(';\n').length : 1;
  queries += 1;
  const kind = typeof sql !== 'string' ? 'other' : sql.startsWith('START TRANSACTION') ? 'locks (START TRANSACTION …)' : sql.endsWith('COMMIT') ? 'writes (… COMMIT)' : 'other';
  const last = args.length - 1;
  const done = args[last];
  if (typeof done === 'function') {
    const started = performance.now();
    args[last] = function (this: unknown, ...reply: unknown[]) {
      recordTrip(kind, started);
      return (done as (...a: unknown[]) => unknown).apply(this, reply);
    };
  }
  return mysqlQuery.apply(this, args);
};
const sub = await applySubscription(planSubscription(config, 'bench'), sns, sqs);
const shape = { queueUrl: sub.queueUrl, loops: CONSUMERS * LOOPS, batchSize: BATCH, waitTimeSec: queue.waitTimeSec, visibilityTimeoutSec: queue.visibilityTimeoutSec };

let nextId = 1;
/** Publishes MESSAGES new customers (the relay's envelope and attributes) and waits until all are in the queue. */
async function fill(): Promise<void> {
  const events = Array.from({ length: MESSAGES }, () => {
    const id = nextId++;
    return outboxEvent({ id, row: { id, name: `customer ${id}`, email: `c${id}@example.com`, tenant: String(id % 7), score: '12.50', updated_at: new Date().toISOString() }, attributes: { tenant: String(id % 7) } });
  });
  const lanes = 16;
  const per = Math.ceil(events.length / lanes / 10) * 10;
  await Promise.all(Array.from({ length: lanes }, (_, i) => publishEvents(sns, sub.topicArn, events.slice(i * per, (i + 1) * per))));
  for (;;) {
    const d = await queueDepth(sqs, sub.queueUrl);
    if (d.visible >= MESSAGES) return;
    await new Promise((r) => setTimeout(r, 50));
  }
}

const PROFILE = process.env.BENCH_CPU_PROFILE;
const profiler = PROFILE ? new Session() : undefined;
const profiles: { segment: string; profile: object }[] = [];
if (profiler) {
  profiler.connect();
  await profiler.post('Profiler.enable');
}

/** The writer calls of all consumers: how many, their changes, their summed wall time, how many at once (reset per segment). */
const writerCalls = { calls: 0, changes: 0, ms: 0, inFlight: 0, maxInFlight: 0 };
const writers: TargetWriter[] = [];
for (let i = 0; i < CONSUMERS; i++) {
  const writer = createTargetWriter('bench', config.targets.bench!, config.targetSecrets('bench'), silentLogger);
  const problems = await writer.init({ keyColumns: { 'public.customers': ['id'] }, create: true });
  if (problems.length > 0) throw new Error(problems.join('; '));
  const apply = writer.apply.bind(writer);
  writer.apply = async (changes) => {
    const started = performance.now();
    writerCalls.calls += 1;
    writerCalls.changes += changes.length;
    writerCalls.maxInFlight = Math.max(writerCalls.maxInFlight, ++writerCalls.inFlight);
    try {
      return await apply(changes);
    } finally {
      writerCalls.inFlight -= 1;
      writerCalls.ms += performance.now() - started;
    }
  };
  writers.push(writer);
}

/** The consumers drain the queue: seconds from start until every message was applied and deleted. */
async function consume(client: SqsSender, applyConcurrency?: number): Promise<number> {
  const target = config.targets.bench!;
  if (applyConcurrency !== undefined) target.queue.applyConcurrency = applyConcurrency;
  const secrets = config.targetSecrets('bench');
  let deleted = 0;
  let resolveDone!: () => void;
  const done = new Promise<void>((r) => (resolveDone = r));
  const consumers = await Promise.all(
    writers.map(async (writer) => {
      const consumer = await openConsumer(config, 'bench', { sqs: client, writer, transform: buildTransformer('bench', target, secrets), logger: silentLogger });
      consumer.on('batch-applied', (e) => {
        deleted += e.deleted;
        if (deleted >= MESSAGES) resolveDone();
      });
      consumer.on('apply-failed', ({ error }) => console.error(`apply failed: ${error.message}`));
      return consumer;
    }),
  );
  const started = performance.now();
  for (const c of consumers) void c.start();
  await done;
  const seconds = (performance.now() - started) / 1000;
  await Promise.all(consumers.map((c) => c.stop()));
  return seconds;
}

/** A segment: the two bare loops, the consumer on the main-thread client, on the threaded client, or (BENCH_APPLY_CONCURRENCY) at one queue.applyConcurrency. */
type Segment = string;
const CONSUMER_SEGMENTS: Segment[] = APPLY_CONCURRENCY ? APPLY_CONCURRENCY.map((n) => `consumer ×${n}`) : ['consumer', 'threaded'];
const NAIVE_SEGMENTS: Segment[] = ['naive', 'naive pipelined'];
const SEGMENTS: Segment[] = ['serial', 'pipelined', ...NAIVE_SEGMENTS, ...CONSUMER_SEGMENTS];
const SEGMENT_NAMES: Record<Segment, string> = {
  serial: 'bare serial',
  pipelined: 'bare pipelined',
  naive: 'naive apply, serial',
  'naive pipelined': 'naive apply, pipelined',
  consumer: 'consumer, SDK on main thread',
  threaded: 'consumer, SDK on worker thread',
  ...Object.fromEntries((APPLY_CONCURRENCY ?? []).map((n) => [`consumer ×${n}`, `consumer, applyConcurrency ${n}`])),
};
interface Round {
  /** msg/s (bare loops) or rows/s (consumers) per segment. */
  rate: Record<Segment, number>;
  loads: string[];
}
/** The target's server processes, by command name, for the CPU split (DynamoDB Local is java). */
const SERVER_NAMES = { postgres: ['postgres'], mysql: ['mariadbd', 'mysqld'], dynamodb: ['java'] }[KIND];
const perSegment = <T>(make: () => T): Record<Segment, T> => Object.fromEntries(SEGMENTS.map((s) => [s, make()]));
/** CPU seconds each segment kind used, summed over the rounds: this process (and its main thread), the emulator, the target's server. */
const cpu = perSegment(() => ({ self: 0, main: 0, emulator: 0, server: 0, wall: 0 }));
/** Seconds the main thread and the SDK's worker thread ran on a CPU and waited for one (runnable), summed over the rounds. */
const sched = perSegment(() => ({ mainRun: 0, mainWait: 0, workerRun: 0, workerWait: 0 }));
/** The threads that started with the threaded client's worker (found at its warm-up). */
let workerThreads: number[] = [];
/** Round trips each segment kind made, summed over the rounds: SQS calls by command, target statements. */
const trips = perSegment(() => ({ sqs: new Map<string, number>(), statements: 0, queries: 0 }));
/** Writer calls of each consumer segment, summed over the rounds; the client-side wait of its round trips by kind; redo-log writes (Innodb_log_writes). */
const calls = perSegment(() => ({ calls: 0, changes: 0, ms: 0, maxInFlight: 0, trips: new Map<string, { n: number; ms: number }>(), logWrites: 0 }));
const sample = () => {
  const main = threadSchedule(process.pid);
  const worker = workerThreads.map((tid) => threadSchedule(process.pid, tid)).reduce((a, b) => ({ run: a.run + b.run, wait: a.wait + b.wait }), { run: 0, wait: 0 });
  return { self: cpuSecondsOf([process.pid]), main: threadCpuSeconds(process.pid), emulator: cpuSecondsOf([emulator.child.pid!]), server: cpuSecondsOf([], SERVER_NAMES), mainRun: main.run, mainWait: main.wait, workerRun: worker.run, workerWait: worker.wait };
};
/** The naive apply (bench/lib/naive-apply.ts): the batch's rows in one upsert, then the delete; a connection per receive loop. */
const naive = await openNaiveApply(KIND, bench.url, shape.loops);
const naiveHandle = async (messages: Message[]) => {
  await naive.apply(messages);
  const result = await deleteMessages(sqs, shape.queueUrl, messages);
  if (result.failed.length > 0) throw new Error(`the naive loop could not delete ${result.failed.length} messages (${result.failed[0]!.code})`);
  return result.succeeded.length;
};
const drain = async (segment: Segment) => {
  if (profiler) await profiler.post('Profiler.start');
  const at = APPLY_CONCURRENCY?.[CONSUMER_SEGMENTS.indexOf(segment)];
  const seconds = await (segment === 'serial' || segment === 'pipelined'
    ? drainReceiveDelete(sqs, shape, MESSAGES, { pipelined: segment === 'pipelined' })
    : NAIVE_SEGMENTS.includes(segment)
      ? drainReceiveDelete(sqs, shape, MESSAGES, { pipelined: segment === 'naive pipelined', handle: naiveHandle })
      : consume(segment === 'threaded' ? threadedSqs : sqs, at));
  if (profiler) profiles.push({ segment, profile: (await profiler.post('Profiler.stop')).profile });
  return seconds;
};

const loadAtStart = load();
const rounds: Round[] = [];
try {
  await fill(); // warm-up: connections, JIT, the target's first inserts, the worker thread (not counted)
  await consume(sqs, APPLY_CONCURRENCY?.at(-1));
  await fill();
  const threadsBefore = new Set(threadIds(process.pid));
  await consume(threadedSqs, APPLY_CONCURRENCY?.[0]);
  workerThreads = threadIds(process.pid).filter((tid) => !threadsBefore.has(tid));
  for (let r = 0; r < ROUNDS; r++) {
    const round: Round = { rate: {}, loads: [] };
    const segments = r % 2 === 0 ? [...SEGMENTS] : [...SEGMENTS].reverse();
    for (const segment of segments) {
      await fill();
      const before = sample();
      sqsCalls.clear();
      tripWait.clear();
      Object.assign(writerCalls, { calls: 0, changes: 0, ms: 0, inFlight: 0, maxInFlight: 0 });
      const logWritesBefore = (await bench.logWrites?.()) ?? 0;
      const statementsBefore = statements;
      const queriesBefore = queries;
      const seconds = await drain(segment);
      const after = sample();
      const logWritesAfter = (await bench.logWrites?.()) ?? 0;
      for (const [command, n] of sqsCalls) trips[segment]!.sqs.set(command, (trips[segment]!.sqs.get(command) ?? 0) + n);
      trips[segment]!.statements += statements - statementsBefore;
      trips[segment]!.queries += queries - queriesBefore;
      const c = calls[segment]!;
      c.calls += writerCalls.calls;
      c.changes += writerCalls.changes;
      c.ms += writerCalls.ms;
      c.maxInFlight = Math.max(c.maxInFlight, writerCalls.maxInFlight);
      c.logWrites += logWritesAfter - logWritesBefore;
      for (const [kind, t] of tripWait) {
        const sum = c.trips.get(kind) ?? { n: 0, ms: 0 };
        c.trips.set(kind, { n: sum.n + t.n, ms: sum.ms + t.ms });
      }
      round.rate[segment] = MESSAGES / seconds;
      cpu[segment]!.wall += seconds;
      for (const k of ['self', 'main', 'emulator', 'server'] as const) cpu[segment]![k] += after[k] - before[k];
      for (const k of ['mainRun', 'mainWait', 'workerRun', 'workerWait'] as const) sched[segment]![k] += after[k] - before[k];
      round.loads.push(load().split(' ')[0]!);
    }
    rounds.push(round);
    const rates = SEGMENTS.map((sg) => `${SEGMENT_NAMES[sg]} ${round.rate[sg]!.toFixed(0)}`).join(', ');
    const ratios = [...NAIVE_SEGMENTS, ...CONSUMER_SEGMENTS].map((sg) => `${sg} ${(round.rate[sg]! / round.rate.serial!).toFixed(2)}`).join(' / ');
    console.log(`  round ${r + 1}: ${rates} (msg/s, rows/s); ratios to serial ${ratios}  (${segments.join(', ')}; load ${round.loads.join(', ')})`);
  }
  const rows = await bench.count();
  const range = (s: { median: number; min: number; max: number }, digits = 0) => `median ${s.median.toFixed(digits).padStart(5)} (${s.min.toFixed(digits)}–${s.max.toFixed(digits)})`;
  const rateOf = (sg: Segment) => spread(rounds.map((r) => r.rate[sg]!));
  const ratioOf = (sg: Segment, to: Segment) => spread(rounds.map((r) => r.rate[sg]! / r.rate[to]!));
  console.log(`consumer throughput: ${ROUNDS} rounds of ${MESSAGES} messages, ${CONSUMERS} consumer(s) × ${LOOPS} receive loops, batch ${BATCH}, fauxqs in its own process, ${KIND_NAME} target`);
  console.log(`  load ${loadAtStart} at the start, ${load()} at the end`);
  console.log(`  bare receive+delete, serial    (${shape.loops} loops): ${range(rateOf('serial'))} msg/s`);
  console.log(`  bare receive+delete, pipelined (${shape.loops} loops): ${range(rateOf('pipelined'))} msg/s`);
  for (const sg of NAIVE_SEGMENTS) console.log(`  ${SEGMENT_NAMES[sg]!.padEnd(30)} (${shape.loops} loops): ${range(rateOf(sg))} rows/s (one upsert per batch, autocommit, no guard: bench/lib/naive-apply.ts)`);
  for (const sg of CONSUMER_SEGMENTS) {
    const note = sg === 'consumer' ? ' (aws.sdkThread: false, the default)' : sg === 'threaded' ? ` (aws.sdkThread: true); ${rows} rows in the target` : '';
    console.log(`  ${SEGMENT_NAMES[sg]!.padEnd(38)}: ${range(rateOf(sg))} rows/s${note}`);
  }
  if (APPLY_CONCURRENCY) console.log(`  ${rows} rows in the target`);
  console.log(`  ratio consumer / bare serial    (per round): ${CONSUMER_SEGMENTS.map((sg) => `${SEGMENT_NAMES[sg]} ${range(ratioOf(sg, 'serial'), 2)}`).join(', ')}  (goal ≥ 0.8)`);
  console.log(`  ratio consumer / bare pipelined (per round): ${CONSUMER_SEGMENTS.map((sg) => `${SEGMENT_NAMES[sg]} ${range(ratioOf(sg, 'pipelined'), 2)}`).join(', ')}`);
  console.log(`  ratio naive apply / bare serial (per round): ${NAIVE_SEGMENTS.map((sg) => `${SEGMENT_NAMES[sg]} ${range(ratioOf(sg, 'serial'), 2)}`).join(', ')}  (what writing the rows alone leaves of the bare rate)`);
  console.log(`  ratio consumer / naive apply, pipelined (per round): ${CONSUMER_SEGMENTS.map((sg) => `${SEGMENT_NAMES[sg]} ${range(ratioOf(sg, 'naive pipelined'), 2)}`).join(', ')}  (the cost of the guarantees and the consumer's own work over the simplest apply)`);
  for (const sg of CONSUMER_SEGMENTS.slice(1)) console.log(`  ratio ${SEGMENT_NAMES[sg]} / ${SEGMENT_NAMES[CONSUMER_SEGMENTS[0]!]} (per round): ${range(ratioOf(sg, CONSUMER_SEGMENTS[0]!), 2)}`);
  console.log(`  CPU ms per 1,000 messages (cores busy = CPU / wall time; the segment's work runs until the last delete, a trailing empty receive may add a little;`);
  console.log(`  the bench process = its main thread + its other threads: the SDK's worker, V8's GC and compiler threads, libuv's pool):`);
  for (const segment of SEGMENTS) {
    const c = cpu[segment]!;
    const per = (v: number) => ((v * 1000 * 1000) / (MESSAGES * ROUNDS)).toFixed(0).padStart(4);
    console.log(
      `    ${SEGMENT_NAMES[segment]!.padEnd(30)}: bench process ${per(c.self)} (main thread ${per(c.main)}, other threads ${per(c.self - c.main)}), emulator ${per(c.emulator)}, ${KIND_NAME} ${per(c.server)};` +
        ` cores busy ${((c.self + c.emulator + c.server) / c.wall).toFixed(2)} (main thread ${(c.main / c.wall).toFixed(2)})`,
    );
  }
  console.log(`  threads, ms per 1,000 messages on a CPU / waiting for one (runnable); (on + waiting) / wall time near 1.00 = the thread had work all along, CPU bounds it:`);
  for (const segment of SEGMENTS) {
    const t = sched[segment]!;
    const per = (v: number) => ((v * 1000 * 1000) / (MESSAGES * ROUNDS)).toFixed(0).padStart(4);
    const wall = cpu[segment]!.wall;
    const worker = segment === 'threaded' ? `; SDK worker (${workerThreads.length} thread${workerThreads.length === 1 ? '' : 's'}) ${per(t.workerRun)} / ${per(t.workerWait)} (${((t.workerRun + t.workerWait) / wall).toFixed(2)})` : '';
    console.log(`    ${SEGMENT_NAMES[segment]!.padEnd(30)}: main thread ${per(t.mainRun)} / ${per(t.mainWait)} (${((t.mainRun + t.mainWait) / wall).toFixed(2)})${worker}`);
  }
  console.log(`  round trips per batch of ${BATCH} messages (SQS calls by command; statements and the queries (round trips) they went in to ${KIND_NAME}):`);
  for (const segment of SEGMENTS) {
    const batches = (MESSAGES * ROUNDS) / BATCH;
    const sqsText = [...trips[segment]!.sqs].sort().map(([command, n]) => `${command.replace(/Command$/, '')} ${(n / batches).toFixed(2)}`).join(', ');
    console.log(`    ${SEGMENT_NAMES[segment]!.padEnd(30)}: ${sqsText}${KIND === 'dynamodb' ? '' : `; statements ${(trips[segment]!.statements / batches).toFixed(2)} in ${(trips[segment]!.queries / batches).toFixed(2)} queries`}`);
  }
  console.log(`  writer calls (all consumers; wall time per call from the consumer's call to its return; "at once" = summed call time / segment wall time, the mean calls under way):`);
  for (const segment of CONSUMER_SEGMENTS) {
    const c = calls[segment]!;
    const wall = cpu[segment]!.wall;
    const server = KIND === 'mysql' ? `; ${KIND_NAME} CPU ${((cpu[segment]!.server * 1000) / Math.max(1, trips[segment]!.queries)).toFixed(2)} ms per round trip, redo-log writes ${(c.logWrites / Math.max(1, c.calls)).toFixed(2)} per call` : '';
    console.log(
      `    ${SEGMENT_NAMES[segment]!.padEnd(30)}: ${(c.calls / wall).toFixed(0)} calls/s, ${(c.changes / Math.max(1, c.calls) / BATCH).toFixed(2)} batches per call, ${(c.ms / Math.max(1, c.calls)).toFixed(2)} ms per call, at once ${(c.ms / 1000 / wall).toFixed(2)} (max ${c.maxInFlight})${server}`,
    );
    const tripsText = [...c.trips].sort().map(([kind, t]) => `${kind} ${(t.n / Math.max(1, c.calls)).toFixed(2)} per call, ${(t.ms / t.n).toFixed(2)} ms each`).join('; ');
    console.log(`      round trips, client-side wait: ${tripsText}`);
  }
  const expected = MESSAGES * ((CONSUMER_SEGMENTS.length + NAIVE_SEGMENTS.length) * ROUNDS + 2);
  if (rows !== expected) {
    console.error(`target holds ${rows} rows, expected ${expected}`);
    process.exitCode = 1;
  }
  // One profile per measured segment: <name>.<segment>.<round>.cpuprofile.
  if (PROFILE) profiles.forEach((p, i) => writeFileSync(PROFILE.replace(/(\.cpuprofile)?$/, `.${p.segment}.${Math.floor(i / SEGMENTS.length) + 1}.cpuprofile`), JSON.stringify(p.profile)));
} finally {
  for (const w of writers) await w.close();
  await naive.close();
  sns.destroy();
  sqs.destroy();
  threadedSqs.destroy();
  await bench.drop();
  emulator.stop();
}
