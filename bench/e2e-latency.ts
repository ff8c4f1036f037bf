/**
 * End-to-end capacity and latency: commit at the source → applied at a PostgreSQL target, through
 * the whole pipeline, each part in its own process as deployed, against the bare emulator path
 * with the same layout, measured in the same run:
 *
 *   pipeline  writers (this process) ─▶ source PostgreSQL ─▶ `outbox relay` ─▶ fauxqs (SNS → SQS) ─▶ `outbox consume` ×N ─▶ target PostgreSQL
 *   bare      a publisher process (PublishBatch, 10 a call, the relay's calls in flight) ─▶ fauxqs ─▶ N receive + delete processes
 *             (bench/lib/bare-path.ts; the pipeline's message body and attributes, the consumers' receive loops)
 *   naive     writers ─▶ source PostgreSQL (a plpgsql row trigger into a plain outbox table) ─▶ a naive relay process
 *             (DELETE … RETURNING, PublishBatch, COMMIT) ─▶ fauxqs ─▶ N naive consumer processes (one upsert per batch)
 *             ─▶ target PostgreSQL (bench/lib/naive-pipeline.ts): the simplest pipeline that loses nothing, whose
 *             capacity is what this machine allows any pipeline of this shape (`--naive false` skips it)
 *
 * For each path (the naive one after the pipeline's searches, on a table of its own) a step search finds the highest rate it sustains: a step of `--seconds` at a fixed
 * rate is sustained when the rate was achieved, p99 < `--p99-ms` and the backlog stayed flat (never
 * above one second of changes in the step's second half) and drained afterwards. Rates grow ×1.6 from
 * `--start-rate` until a step fails (halving when the first one fails), then `--bisect` steps
 * between the last sustained and the first failed rate. Printed: each step, both capacities and
 * pipeline ÷ bare (goal ≥ 0.6), then a pipeline run at 50 % of the bare capacity with its
 * percentiles, p50 per stretch, CPU per process and where changes wait; the load average with each.
 *
 * Pipeline latency: writers commit single-row inserts and updates (autocommit, `synchronous_commit =
 * off`); each row carries `committed_at = clock_timestamp()`, and a row trigger at the target logs
 * `clock_timestamp()` as the consumer writes that version — one server clock for both ends. A
 * version the target skips because a newer one of the row got there first is counted, not
 * measured. Bare latency: creation time (stamped in the body) → received, both this machine's clock.
 *
 *   npm run bench:e2e-latency -- [--seconds 10] [--start-rate 200] [--max-rate 8000] [--bisect 2] [--p99-ms 1000]
 *                                [--warmup 3] [--writers 4] [--consumers 3] [--update-share 0.5] [--sdk-thread true|false]
 *                                [--page-overlap false,true|true,false|true|false] [--naive true|false]
 *
 * `--page-overlap false,true` (the default) searches the pipeline twice in the run, the relay with
 * relay.pageOverlap false (one page at a time) and then true (`true,false`: the other way round, so
 * that two runs cancel out a load that drifts), each against the same bare capacity;
 * each pipeline step also prints the relay's PublishBatch calls (per second, mean round trip, mean
 * calls in flight), from its /metrics.
 *
 * Needs PostgreSQL and Redis as for the tests (TEST_PG_URL, TEST_REDIS_URL).
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { cpus } from 'node:os';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { CreateTopicCommand, SNSClient, SubscribeCommand } from '@aws-sdk/client-sns';
import { CreateQueueCommand, GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import pg from 'pg';
import { applySubscription, planSubscription } from '../src/subscriptions/index.js';
import { queueDepth } from '../src/aws/resources.js';
import { silentLogger } from '../src/logger.js';
import { createTargetWriter } from '../src/targets/index.js';
import { DEFAULT_PAGE_BYTES } from '../src/config/schema.js';
import { runtimeSql } from '../src/sql/files.js';
import { quoteIdent } from '../src/sql/identifiers.js';
import { createTestDatabase } from '../test/helpers/db.js';
import { REDIS_URL } from '../test/helpers/env.js';
import { pipelineConfig } from '../test/helpers/pipeline.js';
import { freePort, relayConfigDoc, scrapeMetric, writeConfigFile } from '../test/helpers/relay.js';
import { createMigratedSource } from '../test/helpers/source.js';
import { startEmulatorProcess } from './lib/emulator-process.js';
import { machineLoad, ratioLine, runBench } from './lib/machine.js';
import { NAIVE_SOURCE_SQL, NAIVE_TARGET_SQL } from './lib/naive-pipeline.js';
import { plainEntry } from './lib/publish-baseline.js';

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    'start-rate': { type: 'string', default: '200' },
    'max-rate': { type: 'string', default: '8000' },
    bisect: { type: 'string', default: '2' },
    'p99-ms': { type: 'string', default: '1000' },
    warmup: { type: 'string', default: '3' },
    writers: { type: 'string', default: '4' },
    consumers: { type: 'string', default: '3' },
    'update-share': { type: 'string', default: '0.5' },
    rate: { type: 'string' },
    'sdk-thread': { type: 'string', default: 'false' },
    'page-overlap': { type: 'string', default: 'false,true' },
    naive: { type: 'string', default: 'true' },
  },
});
const SECONDS = Number(args.seconds);
const START_RATE = Number(args['start-rate']);
const MAX_RATE = Number(args['max-rate']);
const BISECT = Number(args.bisect);
const P99_MS = Number(args['p99-ms']);
const WARMUP = Number(args.warmup);
const WRITERS = Number(args.writers);
const CONSUMERS = Number(args.consumers);
const UPDATE_SHARE = Number(args['update-share']);
/** `--rate R`: no capacity search; the pipeline alone at R, with where each change waits (bench/lib/stage-trace.ts). */
const TRACE_RATE = args.rate === undefined ? undefined : Number(args.rate);
/** aws.sdkThread of the relay and the consumers: the SDK on their main thread (the default) or on a worker thread (--sdk-thread true). */
const SDK_THREAD = args['sdk-thread'] === 'true';
/** relay.pageOverlap of each pipeline search, in order (the last one also runs the 50 % step). */
const OVERLAP_MODES = args['page-overlap'].split(',').map((m) => m.trim() === 'true');
/** `--naive false` skips the naive pipeline's search (bench/lib/naive-pipeline.ts). */
const NAIVE = args.naive !== 'false';
/** The product's defaults the bare path copies: PublishBatch calls in flight, receive loops per consumer. */
const PUBLISH_CONCURRENCY = 8;
const RECEIVE_LOOPS = 4;
const WAIT_SECONDS = 5;
const AWS_ENV = { AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test' };
Object.assign(process.env, AWS_ENV);
process.removeAllListeners('warning'); // the SDK's Node 22 notice

const children: ChildProcess[] = [];
const roles = new Map<ChildProcess, string>();
const running = () => children.filter((c) => c.exitCode === null && c.signalCode === null);
const pools: pg.Pool[] = [];
/** application_name of the writers' and of the bench's sampling connections. */
const WRITER_APP = 'bench writers';
const SAMPLER_APP = 'bench sampler';

/** CPU seconds a child has used so far (Linux /proc; 0 elsewhere). */
function cpuSeconds(child: ChildProcess): number {
  try {
    const fields = readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
}

/** `outbox <args>` from the source tree, as its own process; resolves once it printed a line matching `ready` (stdout or its JSON logs). */
async function spawnCli(cliArgs: string[], env: Record<string, string>, ready: RegExp): Promise<ChildProcess> {
  const preload = TRACE_RATE === undefined ? [] : ['--import', new URL('./lib/stage-trace.ts', import.meta.url).pathname];
  // BENCH_CPU_PROFILE_DIR=<dir>: a V8 CPU profile of the relay, written when it exits.
  if (process.env.BENCH_CPU_PROFILE_DIR && cliArgs[2] === 'relay') preload.push('--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROFILE_DIR}`);
  const child = spawn(process.execPath, ['--import', 'tsx', ...preload, 'src/cli/run.ts', ...cliArgs], {
    env: { ...process.env, ...AWS_ENV, OUTBOX_LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  roles.set(child, cliArgs[2] === 'consume' ? `consumer ${[...roles.values()].filter((r) => r.startsWith('consumer')).length + 1}` : cliArgs[2]!);
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`outbox ${cliArgs.join(' ')} did not get ready in 30 s`)), 30_000);
    const onLine = (line: string) => {
      if (line.startsWith('STAGE-TRACE ')) {
        traceWaiters.get(child)?.(JSON.parse(line.slice('STAGE-TRACE '.length)) as StageTrace);
        traceWaiters.delete(child);
        return;
      }
      if (line.includes('"level":50') || line.includes('"level":60')) process.stderr.write(`outbox ${cliArgs.at(-1)}: ${line}\n`);
      if (ready.test(line)) {
        clearTimeout(timer);
        resolve();
      }
    };
    createInterface({ input: child.stdout! }).on('line', onLine);
    createInterface({ input: child.stderr! }).on('line', onLine);
    child.once('exit', (code) => reject(new Error(`outbox ${cliArgs.join(' ')} exited with ${code}`)));
  });
  return child;
}

/** What bench/lib/stage-trace.ts reports for one process. */
interface StageTrace {
  wallMs: number;
  busyShare: Record<string, number>;
  loopDelayMs: { p50: number; p99: number; max: number };
  calls: Record<string, { n: number; perSecond: number; meanMs: number; p50Ms: number; p99Ms: number; share: number }>;
  ages: Record<string, { n: number; p50Ms: number; p90Ms: number; p99Ms: number }>;
}
const traceWaiters = new Map<ChildProcess, (t: StageTrace) => void>();

/** The child's trace since the last call (SIGUSR2; bench/lib/stage-trace.ts). */
function stageTrace(child: ChildProcess): Promise<StageTrace> {
  return new Promise<StageTrace>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${roles.get(child)} sent no stage trace in 10 s`)), 10_000);
    traceWaiters.set(child, (t) => {
      clearTimeout(timer);
      resolve(t);
    });
    child.kill('SIGUSR2');
  });
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

/** Committed events the relay has not published (relay_state: done snapshot, open window up to window_seq). */
const UNPUBLISHED = `SELECT count(*)::bigint AS n FROM outbox.events e, outbox.relay_state s
  WHERE e.xid >= pg_snapshot_xmin(s.done_snapshot) AND NOT pg_visible_in_snapshot(e.xid, s.done_snapshot)
    AND pg_visible_in_snapshot(e.xid, pg_current_snapshot())
    AND NOT (s.window_snapshot IS NOT NULL AND pg_visible_in_snapshot(e.xid, s.window_snapshot) AND e.seq <= coalesce(s.window_seq, -1))`;

/** Waits until the target holds the source's rows at the source's versions. */
async function converge(sourcePool: pg.Pool, targetPool: pg.Pool, timeoutMs: number, table: 'items' | 'naive_items' = 'items'): Promise<boolean> {
  const fingerprint = `SELECT count(*)::bigint AS n, coalesce(sum(v), 0)::bigint AS s FROM public.${table}`;
  const want = (await sourcePool.query<{ n: string; s: string }>(fingerprint)).rows[0]!;
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const got = (await targetPool.query<{ n: string; s: string }>(fingerprint)).rows[0]!;
    if (got.n === want.n && got.s === want.s) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

/** CPU seconds used so far by the PostgreSQL backends of the given databases, by pid, with their group ('PostgreSQL source outbox-relay:relay', …). */
async function backendCpu(pool: pg.Pool, databases: Record<string, string>): Promise<Map<number, { label: string; seconds: number }>> {
  const res = await pool.query<{ pid: number; datname: string; app: string }>(
    `SELECT pid, datname, coalesce(nullif(application_name, ''), 'unnamed') AS app FROM pg_catalog.pg_stat_activity WHERE datname = ANY ($1)`,
    [Object.keys(databases)],
  );
  const out = new Map<number, { label: string; seconds: number }>();
  for (const r of res.rows) {
    try {
      const fields = readFileSync(`/proc/${r.pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      out.set(r.pid, { label: `PostgreSQL ${databases[r.datname]} ${r.app}`, seconds: (Number(fields[11]) + Number(fields[12])) / 100 });
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

/**
 * CPU seconds each group of backends used between two backendCpu() readings. A backend that
 * connected during the step counts from zero (a pool opening connections); one that exited during
 * it is missed.
 */
function backendUse(before: Map<number, { seconds: number }>, after: Map<number, { label: string; seconds: number }>): Map<string, number> {
  const used = new Map<string, number>();
  for (const [pid, { label, seconds }] of after) used.set(label, (used.get(label) ?? 0) + seconds - (before.get(pid)?.seconds ?? 0));
  return used;
}

/** Busy CPU seconds of the whole machine so far (/proc/stat: all but idle and iowait). */
function machineCpuSeconds(): number {
  try {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
    return (fields.reduce((a, b) => a + b, 0) - fields[3]! - fields[4]!) / 100;
  } catch {
    return 0;
  }
}

/** CPU seconds per process (or group of processes) over a step. */
type CpuUse = Map<string, number>;

/** The CPU of every process of a path over a step, in cores and in ms per change, with the machine's total. */
function cpuSummary(use: CpuUse, machineSeconds: number, seconds: number, changes: number): string {
  const total = [...use.values()].reduce((a, b) => a + b, 0);
  const each = [...use].map(([name, s]) => `${name} ${(s / seconds).toFixed(2)} (${((1000 * s) / Math.max(1, changes)).toFixed(2)})`);
  return `${each.join(', ')}; these processes ${(total / seconds).toFixed(2)} cores (${((1000 * total) / Math.max(1, changes)).toFixed(2)} ms per change), the whole machine ${(machineSeconds / seconds).toFixed(2)} of ${cpus().length}`;
}

/** CPU seconds of the given children, from a reading taken before. */
function childrenUse(before: Map<ChildProcess, number>): CpuUse {
  const use: CpuUse = new Map();
  for (const [c, s] of before) {
    const role = roles.get(c)!.replace(/ \d+$/, 's'); // 'consumer 2' → 'consumers'
    use.set(role, (use.get(role) ?? 0) + cpuSeconds(c) - s);
  }
  return use;
}

/**
 * A CPU reading of a step, started now: every running child, the PostgreSQL backends of the given
 * databases, this process (the writers) and the whole machine. `finish` gives cpuSummary's line for
 * the step, the bench's own sampling queries (`bench sampler`) printed apart and not counted.
 */
async function startStepCpu(samplerPool: pg.Pool, databases: Record<string, string>): Promise<{ finish(elapsed: number, changes: number): Promise<string> }> {
  const cpuBefore = new Map(running().map((c) => [c, cpuSeconds(c)]));
  const backendsBefore = await backendCpu(samplerPool, databases);
  const machineBefore = machineCpuSeconds();
  const selfBefore = process.cpuUsage();
  return {
    async finish(elapsed, changes) {
      const use = childrenUse(cpuBefore);
      use.set('writers (the bench process)', cpuTotal(process.cpuUsage(selfBefore)));
      const backendsAfter = await backendCpu(samplerPool, databases);
      const machineSeconds = machineCpuSeconds() - machineBefore;
      const sampling = new Map<string, number>();
      for (const [label, seconds] of backendUse(backendsBefore, backendsAfter)) {
        if (label.endsWith(SAMPLER_APP)) sampling.set(label, seconds);
        else if (seconds > 0) use.set(label, seconds);
      }
      return `${cpuSummary(use, machineSeconds, elapsed, changes)}; not counted: the bench's sampling queries ${[...sampling].map(([l, sec]) => `${l} ${(sec / elapsed).toFixed(2)}`).join(', ') || '0'}`;
    },
  };
}

const elapsedOf = (start: number) => (performance.now() - start) / 1000;
const cpuTotal = (u: NodeJS.CpuUsage) => (u.user + u.system) / 1e6;

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/** One step of a search: a fixed rate for SECONDS, then drained. */
interface Step {
  rate: number;
  achieved: number;
  /** Latencies measured, sorted (ms). */
  sorted: number[];
  /** Changes waiting (not yet applied or received) at each sample. */
  backlog: { at: number; n: number }[];
  drained: boolean;
  /** CPU of every process of the path over the step (cpuSummary). */
  cpu?: string;
  /** Why the step was not sustained; undefined when it was. */
  failed?: string;
  /** The relay's PublishBatch calls over the step (pipeline only). */
  calls?: string;
}

function judge(step: Step): Step {
  const p99 = percentile(step.sorted, 99);
  const late = step.backlog.filter((b) => b.at >= SECONDS / 2);
  const worst = Math.max(0, ...late.map((b) => b.n));
  let failed: string | undefined;
  if (!step.drained) failed = 'did not drain within 120 s';
  else if (step.achieved < 0.95 * step.rate) failed = `rate not achieved (${step.achieved.toFixed(0)}/s)`;
  else if (!(p99 < P99_MS)) failed = `p99 ${p99.toFixed(0)} ms`;
  else if (worst > step.rate) failed = `backlog not flat (${worst} waiting in the second half)`;
  return { ...step, ...(failed ? { failed } : {}) };
}

function stepLine(name: string, s: Step): string {
  const backlog = s.backlog.map((b) => b.n).join(' ');
  return `  ${name} ${String(s.rate).padStart(5)}/s: achieved ${s.achieved.toFixed(0)}/s, p50 ${percentile(s.sorted, 50).toFixed(0)} ms, p99 ${percentile(s.sorted, 99).toFixed(0)} ms, backlog ${backlog || '-'} → ${s.failed ? `not sustained: ${s.failed}` : 'sustained'}; ${machineLoad()}${s.cpu ? `\n      CPU, cores (ms per change): ${s.cpu}` : ''}${s.calls ? `\n      relay PublishBatch: ${s.calls}` : ''}`;
}

/** The highest sustained rate: ×1.6 until a step fails (÷2 while the first ones fail), then bisection. */
async function search(name: string, measure: (rate: number) => Promise<Step>): Promise<Step | undefined> {
  const round = (r: number) => Math.max(10, Math.round(r / 10) * 10);
  const run = async (rate: number) => {
    const s = judge(await measure(rate));
    console.log(stepLine(name, s));
    return s;
  };
  let good: Step | undefined;
  let bad: number | undefined;
  for (let rate = START_RATE; rate >= 10 && !good; rate = round(rate / 2)) {
    const s = await run(rate);
    if (s.failed) bad = rate;
    else good = s;
    if (rate === 10) break;
  }
  if (!good) return undefined;
  while (bad === undefined && good.rate < MAX_RATE) {
    const s = await run(Math.min(MAX_RATE, round(good.rate * 1.6)));
    if (s.failed) bad = s.rate;
    else good = s;
  }
  for (let i = 0; i < BISECT && bad !== undefined; i++) {
    const mid = round((good.rate + bad) / 2);
    if (mid <= good.rate || mid >= bad) break;
    const s = await run(mid);
    if (s.failed) bad = mid;
    else good = s;
  }
  return good;
}

async function waitUntil(check: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 200));
  }
  return false;
}

/** A forked bare-path role (bench/lib/bare-path.ts, or another file under bench/lib/) and its next reply. */
function forkBare(roleArgs: string[], role: string, file = 'bare-path.ts'): { child: ChildProcess; ask: <T>(msg: unknown) => Promise<T> } {
  const child = fork(new URL(`./lib/${file}`, import.meta.url).pathname, roleArgs, { execArgv: ['--import', 'tsx'], env: { ...process.env, ...AWS_ENV } });
  children.push(child);
  roles.set(child, role);
  return {
    child,
    ask: <T>(msg: unknown) =>
      new Promise<T>((resolve, reject) => {
        const onExit = (code: number | null) => reject(new Error(`${role} exited with ${code}`));
        child.once('exit', onExit);
        child.once('message', (reply) => {
          child.off('exit', onExit);
          resolve(reply as T);
        });
        child.send(msg as string);
      }),
  };
}

/** A topic and a queue of their own on the emulator, `<prefix>-<random>`, the queue subscribed with raw delivery and no filter. */
async function rawTopicQueue(endpoint: string, prefix: string): Promise<{ topicArn: string; queueUrl: string }> {
  const sns = new SNSClient({ region: AWS_ENV.AWS_REGION, endpoint });
  const sqs = new SQSClient({ region: AWS_ENV.AWS_REGION, endpoint });
  try {
    const name = `${prefix}-${randomBytes(4).toString('hex')}`;
    const topic = await sns.send(new CreateTopicCommand({ Name: name }));
    const queue = await sqs.send(new CreateQueueCommand({ QueueName: name }));
    const attrs = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queue.QueueUrl!, AttributeNames: ['QueueArn'] }));
    await sns.send(new SubscribeCommand({ TopicArn: topic.TopicArn!, Protocol: 'sqs', Endpoint: attrs.Attributes!.QueueArn!, Attributes: { RawMessageDelivery: 'true' } }));
    return { topicArn: topic.TopicArn!, queueUrl: queue.QueueUrl! };
  } finally {
    sns.destroy();
    sqs.destroy();
  }
}

/** The bare path's capacity: its own topic and queue on the same emulator, its own processes. */
async function searchBare(endpoint: string, entryFile: string): Promise<Step | undefined> {
  const sqs = new SQSClient({ region: AWS_ENV.AWS_REGION, endpoint });
  const { topicArn, queueUrl } = await rawTopicQueue(endpoint, 'bare');
  const publisher = forkBare(['publish', endpoint, topicArn, entryFile, String(PUBLISH_CONCURRENCY)], 'bare publisher');
  const consumers = Array.from({ length: CONSUMERS }, (_, i) => forkBare(['consume', endpoint, queueUrl, String(RECEIVE_LOOPS), String(WAIT_SECONDS)], `bare consumer ${i + 1}`));
  const waiting = async () => {
    const d = await queueDepth(sqs, queueUrl);
    return d.visible + d.inFlight;
  };
  const measure = async (rate: number): Promise<Step> => {
    const started = performance.now();
    const backlog: Step['backlog'] = [];
    const cpuBefore = new Map(running().map((c) => [c, cpuSeconds(c)]));
    const machineBefore = machineCpuSeconds();
    const sampler = setInterval(() => void waiting().then((n) => backlog.push({ at: elapsedOf(started), n })), 2_000);
    const { sent, seconds } = await publisher.ask<{ sent: number; seconds: number }>({ rate, seconds: SECONDS });
    clearInterval(sampler);
    const elapsed = elapsedOf(started);
    const cpu = cpuSummary(childrenUse(cpuBefore), machineCpuSeconds() - machineBefore, elapsed, sent);
    const achieved = sent / Math.max(SECONDS, seconds);
    const drained = await waitUntil(async () => (await waiting()) === 0, 120_000);
    const reports = await Promise.all(consumers.map((c) => c.ask<{ latencies: number[] }>('report')));
    return { rate, achieved, sorted: reports.flatMap((r) => r.latencies).sort((a, b) => a - b), backlog, drained, cpu };
  };
  try {
    await measure(Math.min(START_RATE, 200)); // warm-up: connections, JIT
    return await search('bare    ', measure);
  } finally {
    for (const c of [publisher, ...consumers]) await stopChild(c.child);
    sqs.destroy();
  }
}

/**
 * `--rate R`: one pipeline step at R with the relay and consumers traced (bench/lib/stage-trace.ts):
 * the age of the changes at each stage, what each process spent its time on, and an EXPLAIN ANALYZE
 * of the relay's read at its cursor halfway through the step.
 */
async function traceStep(rate: number, pool: pg.Pool, measure: (rate: number, onWritten: () => Promise<void>) => Promise<Step & { cpu: string; samples: string[] }>): Promise<void> {
  const traced = children.filter((c) => roles.get(c) === 'relay' || roles.get(c)!.startsWith('consumer'));
  await Promise.all(traced.map(stageTrace)); // from here on
  const explain = (async () => {
    await new Promise((r) => setTimeout(r, (SECONDS * 1000) / 2));
    const st = (await pool.query<{ done: string; win: string | null; seq: string | null }>('SELECT done_snapshot::text AS done, window_snapshot::text AS win, window_seq::text AS seq FROM outbox.relay_state')).rows[0]!;
    const win = st.win ?? (await pool.query<{ s: string }>('SELECT pg_current_snapshot()::text AS s')).rows[0]!.s;
    const started = performance.now();
    const plan = await pool.query<{ 'QUERY PLAN': string }>(`EXPLAIN (ANALYZE, BUFFERS)\n${runtimeSql('postgres', 'relay_read_window', { schema: quoteIdent('outbox') })}`, [st.done, win, st.seq ?? '-1', 1000, DEFAULT_PAGE_BYTES]);
    return { ms: performance.now() - started, lines: plan.rows.map((r) => r['QUERY PLAN']) };
  })();
  const loadBefore = machineLoad();
  let traces: StageTrace[] = [];
  const measured = await measure(rate, async () => {
    traces = await Promise.all(traced.map(stageTrace));
  });
  const step = { ...measured, ...judge(measured) };
  const plan = await explain;
  console.log(stepLine('pipeline', step));
  console.log(`  ${loadBefore} before, ${machineLoad()} after`);
  console.log(`  backlog while writing: ${step.samples.join('; ')}`);
  const f = (ms: number | undefined) => (ms === undefined || Number.isNaN(ms) ? '-' : `${ms.toFixed(0)}`);
  console.log('  age of a change at each stage (ms since its trigger ran; p50 / p90 / p99, n):');
  const applied = { p50Ms: percentile(step.sorted, 50), p90Ms: percentile(step.sorted, 90), p99Ms: percentile(step.sorted, 99), n: step.sorted.length };
  const rows: [string, string, StageTrace['ages'][string] | undefined][] = [];
  traced.forEach((c, i) => {
    for (const [stage, a] of Object.entries(traces[i]!.ages)) rows.push([roles.get(c)!, stage, a]);
  });
  rows.push(['target', 'applied (target trigger)', applied]);
  for (const [who, stage, a] of rows) console.log(`    ${`${who}: ${stage}`.padEnd(40)} ${f(a?.p50Ms).padStart(6)} / ${f(a?.p90Ms).padStart(6)} / ${f(a?.p99Ms).padStart(6)}   n ${a?.n ?? 0}`);
  traced.forEach((c, i) => {
    const t = traces[i]!;
    const busy = Object.entries(t.busyShare).map(([k, v]) => `${k} ${(100 * v).toFixed(0)} %`).join(', ');
    console.log(`  ${roles.get(c)}: over ${(t.wallMs / 1000).toFixed(1)} s a call in flight (${busy}); idle ${(100 * (1 - (t.busyShare.any ?? 0))).toFixed(0)} %; event loop delay p50 ${t.loopDelayMs.p50.toFixed(0)} ms, p99 ${t.loopDelayMs.p99.toFixed(0)} ms, max ${t.loopDelayMs.max.toFixed(0)} ms`);
    for (const [name, call] of Object.entries(t.calls).sort(([, a], [, b]) => b.share - a.share)) {
      console.log(`    ${name.padEnd(44)} ${call.perSecond.toFixed(1).padStart(7)}/s  mean ${call.meanMs.toFixed(1).padStart(7)} ms  p50 ${call.p50Ms.toFixed(1).padStart(7)}  p99 ${call.p99Ms.toFixed(1).padStart(7)}  ${(100 * call.share).toFixed(0).padStart(4)} % of the wall time`);
    }
  });
  console.log(`  EXPLAIN ANALYZE of relay_read_window at the relay's cursor, halfway (${plan.ms.toFixed(0)} ms with the round trip):`);
  for (const line of plan.lines) console.log(`    ${line}`);
}

async function main(): Promise<void> {
  const source = await createMigratedSource();
  const target = await createTestDatabase('outbox_bench_target');
  try {
    const emulator = await startEmulatorProcess();
    children.push(emulator.child);
    roles.set(emulator.child, 'fauxqs');
    const endpoint = emulator.endpoint;
    await source.db.pool.query('CREATE TABLE public.items (id bigint PRIMARY KEY, v int NOT NULL, note text, committed_at timestamptz NOT NULL)');
    await source.source.track({ table: { schema: 'public', table: 'items' } });
    await target.pool.query(`
      CREATE TABLE public.items (id bigint PRIMARY KEY, v int NOT NULL, note text, committed_at timestamptz NOT NULL);
      CREATE TABLE public.bench_applied (id bigint NOT NULL, v int NOT NULL, committed_at timestamptz NOT NULL, applied_at timestamptz NOT NULL DEFAULT clock_timestamp());
      CREATE FUNCTION public.bench_log_applied() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        INSERT INTO public.bench_applied (id, v, committed_at) VALUES (NEW.id, NEW.v, NEW.committed_at);
        RETURN NULL;
      END $$;
      CREATE TRIGGER bench_log_applied AFTER INSERT OR UPDATE ON public.items FOR EACH ROW EXECUTE FUNCTION public.bench_log_applied();
      ${NAIVE_TARGET_SQL};
      CREATE TRIGGER bench_log_applied AFTER INSERT OR UPDATE ON public.naive_items FOR EACH ROW EXECUTE FUNCTION public.bench_log_applied();`);
    await source.db.pool.query(NAIVE_SOURCE_SQL);

    // The bare path's message: an insert of a bench row as the relay would send it (envelope and attributes).
    const sample = { id: 123456, v: 1, note: 'e2e latency', committed_at: new Date().toISOString() };
    const entry = plainEntry('relay-test', { seq: '123456', xid: '123456', tableSchema: 'public', tableName: 'items', op: 'insert', key: { id: sample.id }, before: null, after: sample, changed: Object.keys(sample), attributes: null, changedAt: new Date() }, 0);
    const entryFile = `${writeConfigFile({}).replace(/outbox\.config\.yaml$/, '')}bare-entry.json`;
    writeFileSync(entryFile, JSON.stringify(entry));
    console.log(`end-to-end capacity: the pipeline (relay, fauxqs, ${CONSUMERS} consumer(s) into PostgreSQL, each its own process; the SDK ${SDK_THREAD ? 'on a worker thread' : 'on their main thread'}, aws.sdkThread: ${SDK_THREAD}) against the bare emulator path (a publisher, fauxqs, ${CONSUMERS} receive + delete processes); ${SECONDS} s steps, sustained = p99 < ${P99_MS} ms and a flat backlog`);
    console.log(`  messages of ${Buffer.byteLength(entry.Message)} bytes; ${machineLoad()}`);
    const bare = TRACE_RATE === undefined ? await searchBare(endpoint, entryFile) : undefined;
    if (TRACE_RATE === undefined && !bare) throw new Error('the bare path sustained no rate');

    // One config for every process: relay settings are the product's defaults.
    const topic = `e2e-${randomBytes(4).toString('hex')}`;
    const base = relayConfigDoc({ sourceUrl: source.db.url, redisUrl: REDIS_URL, endpoint, topic });
    const doc = {
      ...base,
      relay: { lockTtlMs: 10_000 },
      aws: { ...(base.aws as object), sdkThread: SDK_THREAD },
      targets: { bench: { kind: 'postgres', urlEnv: 'BENCH_TARGET_URL', tables: ['public.items'], queue: { waitTimeSec: WAIT_SECONDS, batchSize: 10 } } },
      log: { level: 'info' },
    };
    const childEnv = { BENCH_TARGET_URL: target.url };
    const config = pipelineConfig(doc, childEnv);
    const configFile = writeConfigFile(doc);

    const sns = new SNSClient({ region: config.aws.region, endpoint });
    const sqs = new SQSClient({ region: config.aws.region, endpoint });
    const { queueUrl } = await applySubscription(planSubscription(config, 'bench'), sns, sqs);
    sns.destroy();
    const writer = createTargetWriter('bench', config.targets.bench!, config.targetSecrets('bench'), silentLogger);
    const problems = await writer.init({});
    await writer.close();
    if (problems.length) throw new Error(`target init: ${problems.join('; ')}`);

    // The relay of each search is its own process, with relay.pageOverlap as that search asks.
    let relayChild: ChildProcess | undefined;
    let relayPort = 0;
    const startRelayChild = async (overlap: boolean) => {
      if (relayChild) {
        await stopChild(relayChild);
        children.splice(children.indexOf(relayChild), 1);
      }
      relayPort = await freePort();
      const file = writeConfigFile({ ...doc, relay: { ...doc.relay, pageOverlap: overlap } });
      relayChild = await spawnCli(['--config', file, 'relay', '--instance-id', `bench-e2e-${overlap ? 'overlap' : 'paged'}`, '--metrics-port', String(relayPort)], childEnv, /"msg":"leading"/);
    };
    await startRelayChild(OVERLAP_MODES[0]!);
    await Promise.all(Array.from({ length: CONSUMERS }, () => spawnCli(['--config', configFile, 'consume', 'bench'], childEnv, /^Consuming target/)));

    // The writers and the bench's own sampling on pools of their own, named, so their backends' CPU is told apart.
    const writerPool = new pg.Pool({ connectionString: source.db.url, max: WRITERS, application_name: WRITER_APP });
    const samplerPool = new pg.Pool({ connectionString: source.db.url, max: 2, application_name: SAMPLER_APP });
    pools.push(writerPool, samplerPool);
    const clients = await Promise.all(Array.from({ length: WRITERS }, () => writerPool.connect()));
    const databases = { [new URL(source.db.url).pathname.slice(1)]: 'source', [new URL(target.url).pathname.slice(1)]: 'target' };
    for (const c of clients) await c.query('SET synchronous_commit = off');
    /** The next id to insert, per table the writers write (the pipeline's, the naive pipeline's). */
    const nextIds = { items: 1, naive_items: 1 };
    let writes = 0;
    let late = 0;
    const write = async (client: pg.PoolClient, seconds: number, w: number, rate: number, table: keyof typeof nextIds) => {
      const intervalMs = (1000 * WRITERS) / rate;
      const start = performance.now();
      let due = start + (w * intervalMs) / WRITERS;
      await new Promise((r) => setTimeout(r, due - start));
      while (performance.now() - start < seconds * 1000) {
        // Updates pick a row written at least a little while ago, so each version usually lands on its own.
        if (nextIds[table] > 200 && Math.random() < UPDATE_SHARE) {
          const id = 1 + Math.floor(Math.random() * (nextIds[table] - 100));
          await client.query(`UPDATE public.${table} SET v = v + 1, committed_at = clock_timestamp() WHERE id = $1`, [id]);
        } else {
          const id = nextIds[table]++;
          await client.query(`INSERT INTO public.${table} (id, v, note, committed_at) VALUES ($1, 1, 'e2e latency', clock_timestamp())`, [id]);
        }
        writes += 1;
        due += intervalMs;
        const wait = due - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        else late += 1;
      }
    };
    const run = (seconds: number, rate: number, table: keyof typeof nextIds = 'items') => Promise.all(clients.map((c, w) => write(c, seconds, w, rate, table)));
    const waitingInPipeline = async () => {
      const [outbox, queue] = await Promise.all([samplerPool.query<{ n: string }>(UNPUBLISHED), queueDepth(sqs, queueUrl)]);
      return { outbox: Number(outbox.rows[0]!.n), queued: queue.visible, inFlight: queue.inFlight };
    };

    interface PipelineStep extends Step {
      measured: number;
      writes: number;
      late: number;
      elapsed: number;
      samples: string[];
      cpu: string;
      trend: string[];
    }
    const measurePipeline = async (rate: number, onWritten?: () => Promise<void>): Promise<PipelineStep> => {
      const measureFrom = (await source.db.pool.query<{ t: Date }>('SELECT clock_timestamp() AS t')).rows[0]!.t;
      writes = 0;
      late = 0;
      const startedAt = performance.now();
      const stepCpu = await startStepCpu(samplerPool, databases);
      const publishCalls = async () => ({ at: performance.now(), n: await scrapeMetric(relayPort, 'outbox_publish_batch_duration_seconds_count'), seconds: await scrapeMetric(relayPort, 'outbox_publish_batch_duration_seconds_sum') });
      const callsBefore = await publishCalls();
      // Where changes wait, every 2 s: unpublished in the outbox, in the queue.
      const samples: string[] = [];
      const backlog: Step['backlog'] = [];
      const sampler = setInterval(() => {
        const at = elapsedOf(startedAt);
        void waitingInPipeline().then((w) => {
          backlog.push({ at, n: w.outbox + w.queued + w.inFlight });
          samples.push(`${at.toFixed(0)}s: ${w.outbox} unpublished, ${w.queued} queued + ${w.inFlight} in flight`);
        });
      }, 2_000);
      await run(SECONDS, rate);
      clearInterval(sampler);
      const callsAfter = await publishCalls();
      const [callN, callSeconds, wall] = [callsAfter.n - callsBefore.n, callsAfter.seconds - callsBefore.seconds, (callsAfter.at - callsBefore.at) / 1000];
      const calls = `${(callN / wall).toFixed(0)} calls/s, round trip mean ${callN ? ((1000 * callSeconds) / callN).toFixed(1) : '-'} ms, ${(callSeconds / wall).toFixed(2)} calls in flight (mean)`;
      const elapsed = elapsedOf(startedAt);
      await onWritten?.();
      // The bench's own sampling (backlog, CPU readings, EXPLAIN) is printed apart, not as the pipeline's cost.
      const cpu = await stepCpu.finish(elapsed, writes);
      const measuredWrites = writes;
      const measuredLate = late;
      const drained = await converge(source.db.pool, target.pool, 120_000);
      const res = await target.pool.query<{ ms: number; second: number }>(
        `SELECT extract(epoch FROM applied_at - committed_at)::float8 * 1000 AS ms, floor(extract(epoch FROM committed_at - $1::timestamptz))::int AS second
           FROM public.bench_applied WHERE committed_at >= $1 AND committed_at < $2`,
        [measureFrom, new Date(measureFrom.getTime() + elapsed * 1000)],
      );
      const sorted = res.rows.map((r) => r.ms).sort((a, b) => a - b);
      // p50 per stretch of the run: flat when the pipeline keeps up, rising when a stage falls behind.
      const stretch = Math.max(1, Math.ceil(SECONDS / 5));
      const bySecond = new Map<number, number[]>();
      for (const r of res.rows) {
        const k = Math.floor(r.second / stretch) * stretch;
        bySecond.set(k, [...(bySecond.get(k) ?? []), r.ms]);
      }
      const trend = [...bySecond.entries()].sort(([a], [b]) => a - b).map(([k, v]) => `${k}–${k + stretch}s ${percentile(v.sort((a, b) => a - b), 50).toFixed(0)}`);
      return { rate, achieved: measuredWrites / elapsed, sorted, backlog, drained, measured: sorted.length, writes: measuredWrites, late: measuredLate, elapsed, samples, cpu, trend, calls };
    };

    // Warm up (JIT, connections, topic and queue caches), and let the pipeline drain before measuring.
    await run(WARMUP, Math.min(START_RATE, 200));
    if (!(await converge(source.db.pool, target.pool, 60_000))) throw new Error('the target did not catch up with the warm-up writes within 60 s');
    if (TRACE_RATE !== undefined) {
      await traceStep(TRACE_RATE, samplerPool, (rate, onWritten) => measurePipeline(rate, onWritten));
      for (const c of clients) c.release();
      sqs.destroy();
      return;
    }
    const pipelines: { overlap: boolean; step: Step | undefined }[] = [];
    for (const [i, overlap] of OVERLAP_MODES.entries()) {
      if (i > 0) {
        await startRelayChild(overlap);
        await run(WARMUP, Math.min(START_RATE, 200));
        if (!(await converge(source.db.pool, target.pool, 60_000))) throw new Error('the target did not catch up with the warm-up writes within 60 s');
      }
      console.log(`pipeline search, relay.pageOverlap: ${overlap}; ${machineLoad()}`);
      pipelines.push({ overlap, step: await search(overlap ? 'pipeline (overlap)' : 'pipeline (paged) ', (rate) => measurePipeline(rate)) });
    }

    // The naive pipeline (bench/lib/naive-pipeline.ts): its own topic, queue and processes, started for its search only.
    let naive: Step | undefined;
    if (NAIVE) {
      const naivePath = await rawTopicQueue(endpoint, 'naive');
      const naiveChildren = [
        forkBare(['relay', source.db.url, endpoint, naivePath.topicArn, String(PUBLISH_CONCURRENCY)], 'naive relay', 'naive-pipeline.ts').child,
        ...Array.from({ length: CONSUMERS }, (_, i) => forkBare(['consume', target.url, endpoint, naivePath.queueUrl, String(RECEIVE_LOOPS), String(WAIT_SECONDS)], `naive consumer ${i + 1}`, 'naive-pipeline.ts').child),
      ];
      const measureNaive = async (rate: number): Promise<Step> => {
        const measureFrom = (await source.db.pool.query<{ t: Date }>('SELECT clock_timestamp() AS t')).rows[0]!.t;
        writes = 0;
        const startedAt = performance.now();
        const stepCpu = await startStepCpu(samplerPool, databases);
        const backlog: Step['backlog'] = [];
        const sampler = setInterval(() => {
          const at = elapsedOf(startedAt);
          void Promise.all([samplerPool.query<{ n: string }>('SELECT count(*)::bigint AS n FROM public.naive_outbox'), queueDepth(sqs, naivePath.queueUrl)]).then(([o, q]) => backlog.push({ at, n: Number(o.rows[0]!.n) + q.visible + q.inFlight }));
        }, 2_000);
        await run(SECONDS, rate, 'naive_items');
        clearInterval(sampler);
        const elapsed = elapsedOf(startedAt);
        const cpu = await stepCpu.finish(elapsed, writes);
        const achieved = writes / elapsed;
        const drained = await converge(source.db.pool, target.pool, 120_000, 'naive_items');
        const res = await target.pool.query<{ ms: number }>(
          `SELECT extract(epoch FROM applied_at - committed_at)::float8 * 1000 AS ms FROM public.bench_applied WHERE committed_at >= $1 AND committed_at < $2`,
          [measureFrom, new Date(measureFrom.getTime() + elapsed * 1000)],
        );
        return { rate, achieved, sorted: res.rows.map((r) => r.ms).sort((a, b) => a - b), backlog, drained, cpu };
      };
      try {
        await run(WARMUP, Math.min(START_RATE, 200), 'naive_items');
        if (!(await converge(source.db.pool, target.pool, 60_000, 'naive_items'))) throw new Error('the naive pipeline did not catch up with the warm-up writes within 60 s');
        console.log(`naive pipeline search (bench/lib/naive-pipeline.ts); ${machineLoad()}`);
        naive = await search('naive   ', measureNaive);
      } finally {
        for (const c of naiveChildren) await stopChild(c);
      }
    }

    if (!bare) throw new Error('the bare path sustained no rate');
    const halfRate = Math.max(10, Math.round(bare.rate / 2 / 10) * 10);
    const loadBefore = machineLoad();
    const half = judge(await measurePipeline(halfRate)) as PipelineStep;
    for (const c of clients) c.release();
    const fmt = (ms: number) => `${ms.toFixed(1)} ms`;
    console.log('end-to-end capacity (highest sustained rate)');
    console.log(`  bare emulator path ${bare.rate}/s (p50 ${fmt(percentile(bare.sorted, 50))}, p99 ${fmt(percentile(bare.sorted, 99))})`);
    for (const { overlap, step } of pipelines) {
      console.log(`  pipeline, relay.pageOverlap ${String(overlap).padEnd(5)} ${step ? `${step.rate}/s (p50 ${fmt(percentile(step.sorted, 50))}, p99 ${fmt(percentile(step.sorted, 99))}; PublishBatch ${step.calls ?? '-'})` : 'none'}`);
      console.log(`    ratio pipeline / bare: ${ratioLine(step?.rate ?? 0, bare.rate, { atLeast: 0.6 })}`);
    }
    if (NAIVE) {
      console.log(`  naive pipeline ${naive ? `${naive.rate}/s (p50 ${fmt(percentile(naive.sorted, 50))}, p99 ${fmt(percentile(naive.sorted, 99))})` : 'none'} (trigger → DELETE … RETURNING → PublishBatch → SQS → one upsert per batch: bench/lib/naive-pipeline.ts)`);
      console.log(`    ratio naive / bare: ${ratioLine(naive?.rate ?? 0, bare.rate, {})}`);
      for (const { overlap, step } of pipelines) console.log(`    ratio pipeline (relay.pageOverlap ${overlap}) / naive: ${naive ? ratioLine(step?.rate ?? 0, naive.rate, {}) : '-'}`);
    }
    const on = pipelines.find((p) => p.overlap)?.step;
    const off = pipelines.find((p) => !p.overlap)?.step;
    if (on && off) console.log(`  overlap / one page at a time: ${(on.rate / off.rate).toFixed(2)}×`);
    console.log(`pipeline at 50 % of the bare capacity, ${halfRate} changes/s (${WRITERS} writers, single-row autocommit, ${Math.round(UPDATE_SHARE * 100)} % updates): ${half.failed ? `not sustained: ${half.failed}` : 'sustained'}`);
    console.log(`  ${loadBefore} before, ${machineLoad()} after`);
    console.log(`  achieved ${half.achieved.toFixed(0)} changes/s over ${half.elapsed.toFixed(1)} s; writers behind schedule ${half.late} time(s)`);
    console.log(`  changes measured ${half.measured} of ${half.writes} (the rest were superseded at the target by a newer version of the row that arrived first)${half.drained ? '' : '  — TARGET DID NOT CONVERGE WITHIN 120 s!'}`);
    console.log(`  p50 ${fmt(percentile(half.sorted, 50))}   p90 ${fmt(percentile(half.sorted, 90))}   p99 ${fmt(percentile(half.sorted, 99))}   max ${fmt(half.sorted.at(-1) ?? NaN)}`);
    console.log(`  p50 by stretch  ${half.trend.join(', ')} (ms, by commit time)`);
    console.log(`  CPU while writing, cores (ms per change): ${half.cpu}`);
    console.log(`  relay PublishBatch: ${half.calls}`);
    console.log(`  backlog while writing: ${half.samples.join('; ')}`);
    sqs.destroy();
    if (!half.drained) process.exitCode = 1;
  } finally {
    for (const child of children.reverse()) await stopChild(child);
    for (const pool of pools) await pool.end().catch(() => undefined);
    await source.close();
    await target.drop();
  }
}

runBench(main, () => {
  for (const child of children) child.kill('SIGKILL');
});
