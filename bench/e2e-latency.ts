/**
 * End-to-end latency: commit at the source → applied at a PostgreSQL target, through the whole
 * pipeline, each part in its own process as deployed:
 *
 *   writers (this process) ─▶ source PostgreSQL ─▶ `outbox relay` ─▶ fauxqs (SNS → SQS) ─▶ `outbox consume` ×N ─▶ target PostgreSQL
 *
 * Writers commit single-row inserts and updates (autocommit, `synchronous_commit = off` so the
 * disk's fsync is not part of the figure) at a fixed total rate; each row carries `committed_at =
 * clock_timestamp()` from its statement (the commit follows at once). At the target, a row trigger
 * on the synced table logs `clock_timestamp()` as each version is written by the consumer's
 * transaction (a few ms before that transaction commits). Latency = applied_at − committed_at, both
 * from the one PostgreSQL server clock. A version the target skips because a newer one of the same
 * row got there first (standard queues reorder) has no applied time: it is counted, not measured.
 *
 *   npm run bench:e2e-latency -- [--rate 1000] [--seconds 20] [--warmup 3] [--writers 4] [--consumers 3] [--update-share 0.5]
 *
 * The warm-up's writes are drained before measuring, so the figures are the pipeline's steady state
 * at that rate (or, when a stage cannot keep up, how far behind it falls).
 *
 * Goals (issue 4): relay-only p50 ≤ 60 ms, p99 ≤ 250 ms; the end-to-end figures are reported
 * against them, not judged. The load average is printed: on a shared 2-core machine it moves the
 * figures more than anything else. Needs PostgreSQL and Redis as for the tests (TEST_PG_URL,
 * TEST_REDIS_URL).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { cpus, loadavg } from 'node:os';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { SNSClient } from '@aws-sdk/client-sns';
import { SQSClient } from '@aws-sdk/client-sqs';
import type pg from 'pg';
import { applySubscription, planSubscription } from '../src/subscriptions/index.js';
import { queueDepth } from '../src/aws/resources.js';
import { silentLogger } from '../src/logger.js';
import { createTargetWriter } from '../src/targets/index.js';
import { createTestDatabase } from '../test/helpers/db.js';
import { REDIS_URL } from '../test/helpers/env.js';
import { pipelineConfig } from '../test/helpers/pipeline.js';
import { relayConfigDoc, writeConfigFile } from '../test/helpers/relay.js';
import { createMigratedSource } from '../test/helpers/source.js';

const { values: args } = parseArgs({
  options: {
    rate: { type: 'string', default: '1000' },
    seconds: { type: 'string', default: '20' },
    warmup: { type: 'string', default: '3' },
    writers: { type: 'string', default: '4' },
    consumers: { type: 'string', default: '3' },
    'update-share': { type: 'string', default: '0.5' },
  },
});
const RATE = Number(args.rate);
const SECONDS = Number(args.seconds);
const WARMUP = Number(args.warmup);
const WRITERS = Number(args.writers);
const CONSUMERS = Number(args.consumers);
const UPDATE_SHARE = Number(args['update-share']);
const AWS_ENV = { AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test' };

Object.assign(process.env, AWS_ENV);
process.removeAllListeners('warning'); // the SDK's Node 22 notice

const children: ChildProcess[] = [];
const roles = new Map<ChildProcess, string>();

/** CPU seconds a child has used so far (Linux /proc; 0 elsewhere). */
function cpuSeconds(child: ChildProcess): number {
  try {
    const fields = readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
}

/** fauxqs in its own process, so it does not share an event loop with anything measured. */
async function startEmulatorProcess(): Promise<string> {
  const script = "import { startFauxqs } from 'fauxqs'; const s = await startFauxqs({ port: 0, host: '127.0.0.1', logger: false }); console.log(s.port);";
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  roles.set(child, 'fauxqs');
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', resolve);
    child.once('exit', (code) => reject(new Error(`emulator exited with ${code}`)));
  });
  return `http://127.0.0.1:${Number(line)}`;
}

/** `outbox <args>` from the source tree, as its own process; resolves once it printed a line matching `ready` (stdout or its JSON logs). */
async function spawnCli(cliArgs: string[], env: Record<string, string>, ready: RegExp): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/run.ts', ...cliArgs], {
    env: { ...process.env, ...AWS_ENV, OUTBOX_LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  roles.set(child, cliArgs[2] === 'consume' ? `consumer ${[...roles.values()].filter((r) => r.startsWith('consumer')).length + 1}` : cliArgs[2]!);
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`outbox ${cliArgs.join(' ')} did not get ready in 30 s`)), 30_000);
    const onLine = (line: string) => {
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
async function converge(sourcePool: pg.Pool, targetPool: pg.Pool, timeoutMs: number): Promise<boolean> {
  const fingerprint = 'SELECT count(*)::bigint AS n, coalesce(sum(v), 0)::bigint AS s FROM public.items';
  const want = (await sourcePool.query<{ n: string; s: string }>(fingerprint)).rows[0]!;
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const got = (await targetPool.query<{ n: string; s: string }>(fingerprint)).rows[0]!;
    if (got.n === want.n && got.s === want.s) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

const elapsedOf = (start: number) => (performance.now() - start) / 1000;
const cpuTotal = (u: NodeJS.CpuUsage) => (u.user + u.system) / 1e6;

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

async function main(): Promise<void> {
  const source = await createMigratedSource();
  const target = await createTestDatabase('outbox_bench_target');
  try {
    const endpoint = await startEmulatorProcess();
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
      CREATE TRIGGER bench_log_applied AFTER INSERT OR UPDATE ON public.items FOR EACH ROW EXECUTE FUNCTION public.bench_log_applied();`);

    // One config for every process: relay settings are the product's defaults.
    const topic = `e2e-${randomBytes(4).toString('hex')}`;
    const base = relayConfigDoc({ sourceUrl: source.db.url, redisUrl: REDIS_URL, endpoint, topic });
    const doc = {
      ...base,
      relay: { lockTtlMs: 10_000 },
      targets: { bench: { kind: 'postgres', urlEnv: 'BENCH_TARGET_URL', tables: ['public.items'], queue: { waitTimeSec: 5, batchSize: 10 } } },
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

    await spawnCli(['--config', configFile, 'relay', '--instance-id', 'bench-e2e'], childEnv, /"msg":"leading"/);
    await Promise.all(Array.from({ length: CONSUMERS }, () => spawnCli(['--config', configFile, 'consume', 'bench'], childEnv, /^Consuming target/)));

    const clients = await Promise.all(Array.from({ length: WRITERS }, () => source.db.pool.connect()));
    for (const c of clients) await c.query('SET synchronous_commit = off');
    const intervalMs = (1000 * WRITERS) / RATE;
    let nextId = 1;
    let writes = 0;
    let late = 0;
    const write = async (client: pg.PoolClient, seconds: number, w: number) => {
      const start = performance.now();
      let due = start + (w * intervalMs) / WRITERS;
      await new Promise((r) => setTimeout(r, due - start));
      while (performance.now() - start < seconds * 1000) {
        // Updates pick a row written at least a little while ago, so each version usually lands on its own.
        if (nextId > 200 && Math.random() < UPDATE_SHARE) {
          const id = 1 + Math.floor(Math.random() * (nextId - 100));
          await client.query(`UPDATE public.items SET v = v + 1, committed_at = clock_timestamp() WHERE id = $1`, [id]);
        } else {
          const id = nextId++;
          await client.query(`INSERT INTO public.items (id, v, note, committed_at) VALUES ($1, 1, 'e2e latency', clock_timestamp())`, [id]);
        }
        writes += 1;
        due += intervalMs;
        const wait = due - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        else late += 1;
      }
    };
    const run = (seconds: number) => Promise.all(clients.map((c, w) => write(c, seconds, w)));

    // Warm up (JIT, connections, topic and queue caches), and let the pipeline drain before measuring.
    await run(WARMUP);
    if (!(await converge(source.db.pool, target.pool, 60_000))) throw new Error('the target did not catch up with the warm-up writes within 60 s');
    const measureFrom = (await source.db.pool.query<{ t: Date }>('SELECT clock_timestamp() AS t')).rows[0]!.t;
    writes = 0;
    late = 0;
    const startedAt = performance.now();
    const loadBefore = loadavg();
    const cpuBefore = new Map(children.map((c) => [c, cpuSeconds(c)]));
    const selfBefore = process.cpuUsage();
    // Where changes wait, every few seconds: unpublished in the outbox, in the queue.
    const samples: string[] = [];
    const sampler = setInterval(() => {
      const at = elapsedOf(startedAt).toFixed(0);
      const applied = target.pool.query<{ n: string }>('SELECT count(*) AS n FROM public.bench_applied');
      void Promise.all([source.db.pool.query<{ n: string }>(UNPUBLISHED), queueDepth(sqs, queueUrl), applied]).then(([outbox, queue, done]) =>
        samples.push(`${at}s: ${outbox.rows[0]!.n} unpublished, ${queue.visible} queued + ${queue.inFlight} in flight, ${done.rows[0]!.n} applied`),
      );
    }, 4_000);
    await run(SECONDS);
    clearInterval(sampler);
    const cpu = [...children.map((c) => `${roles.get(c)} ${((cpuSeconds(c) - cpuBefore.get(c)!) / elapsedOf(startedAt)).toFixed(2)}`), `writers ${(cpuTotal(process.cpuUsage(selfBefore)) / elapsedOf(startedAt)).toFixed(2)}`];
    const elapsed = (performance.now() - startedAt) / 1000;
    const measuredWrites = writes;
    for (const c of clients) c.release();

    // Wait until the target converged: same rows and versions as the source.
    const converged = await converge(source.db.pool, target.pool, 60_000);
    const loadAfter = loadavg();

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
    const p50 = percentile(sorted, 50);
    const p99 = percentile(sorted, 99);
    const fmt = (ms: number) => `${ms.toFixed(1)} ms`;
    console.log(`end-to-end latency: commit at the source → written at the PostgreSQL target (relay, fauxqs, ${CONSUMERS} consumer(s): each its own process)`);
    console.log(`  load average     ${loadBefore.map((l) => l.toFixed(1)).join(' ')} before, ${loadAfter.map((l) => l.toFixed(1)).join(' ')} after, on ${cpus().length} CPUs`);
    console.log(`  target rate      ${RATE} changes/s (${WRITERS} writers, single-row autocommit, ${Math.round(UPDATE_SHARE * 100)} % updates), achieved ${(measuredWrites / elapsed).toFixed(0)} changes/s over ${elapsed.toFixed(1)} s; writers behind schedule ${late} time(s)`);
    console.log(`  changes measured ${sorted.length} of ${measuredWrites} (the rest were superseded at the target by a newer version of the row that arrived first)${converged ? '' : '  — TARGET DID NOT CONVERGE WITHIN 60 s!'}`);
    console.log(`  p50 ${fmt(p50)}   p90 ${fmt(percentile(sorted, 90))}   p99 ${fmt(p99)}   max ${fmt(sorted.at(-1) ?? NaN)}`);
    console.log(`  for reference, the relay-only goals: p50 ≤ 60 ms (${p50 <= 60 ? 'within' : 'above'}), p99 ≤ 250 ms (${p99 <= 250 ? 'within' : 'above'})`);
    console.log(`  p50 by stretch  ${trend.join(', ')} (ms, by commit time)`);
    console.log(`  CPU (cores) while writing: ${cpu.join(', ')}`);
    console.log(`  backlog while writing: ${samples.join('; ')}`);
    sqs.destroy();
    if (!converged) process.exitCode = 1;
  } finally {
    for (const child of children.reverse()) await stopChild(child);
    await source.close();
    await target.drop();
  }
}

main().then(
  () => process.exit(process.exitCode ?? 0),
  (err: unknown) => {
    console.error(err);
    for (const child of children) child.kill('SIGKILL');
    process.exit(1);
  },
);
