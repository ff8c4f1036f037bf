/**
 * What moving the SQS client to a worker thread costs and gives, without a consumer: the bare
 * receive + delete loop (pipelined, 4 loops, batches of 10: bench/lib/receive-delete-baseline.ts)
 * on the SDK's own client on the main thread, and the same loop on the threaded client
 * (src/aws/threaded-client.ts), taking turns on freshly filled queues.
 *
 *   npx tsx bench/threaded-client-cost.ts                 # 5,000 messages a segment, 3 rounds
 *   BENCH_MESSAGES=10000 BENCH_ROUNDS=5 npx tsx bench/threaded-client-cost.ts
 *
 * Prints the rates, their ratio per round, and per 1,000 messages the CPU of this process, of its
 * main thread and of the worker's thread, with each thread's wait for a CPU (schedstat): what the
 * SDK costs on its own thread against on the caller's, and what the caller's thread keeps.
 */
import { randomBytes } from 'node:crypto';
import { CreateQueueCommand } from '@aws-sdk/client-sqs';
import { createSqsClient, createThreadedSqsClient, type SqsSender } from '../src/aws/clients.js';
import { sendMessages } from '../src/aws/sqs-batch.js';
import { parseConfig } from '../src/config/index.js';
import { quietAwsSdkNodeWarning } from '../src/config/node-version.js';
import { startEmulatorProcess } from './lib/emulator-process.js';
import { machineLoad } from './lib/machine.js';
import { cpuSecondsOf, threadIds, threadSchedule } from './lib/process-cpu.js';
import { drainReceiveDelete, spread } from './lib/receive-delete-baseline.js';

quietAwsSdkNodeWarning();
const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 5_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const load = () => machineLoad().replace('load average ', '');

const emulator = await startEmulatorProcess();
const awsEnv = { AWS_REGION: 'us-east-1', AWS_ENDPOINT_URL: emulator.endpoint, AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test' };
Object.assign(process.env, awsEnv);
const config = parseConfig({ source: { url: 'postgres://unused@127.0.0.1/unused' } }, awsEnv);
const direct = createSqsClient(config);
const threaded = createThreadedSqsClient(config);
const { QueueUrl } = await direct.send(new CreateQueueCommand({ QueueName: `threaded-cost-${randomBytes(4).toString('hex')}`, Attributes: { VisibilityTimeout: '60' } }));
const queueUrl = QueueUrl!;
// a consumer's message: the relay's envelope size and four attributes
const body = JSON.stringify({ v: 2, source: 'bench', table: 'public.customers', op: 'insert', after: { id: 1, name: 'customer 1', email: 'c1@example.com', tenant: '1', score: '12.50', updated_at: new Date().toISOString() }, pad: 'x'.repeat(200) });
const attributes = { table: 'public.customers', op: 'insert', source: 'bench', tenant: '1' };

async function fill(): Promise<void> {
  const items = Array.from({ length: MESSAGES }, (_, i) => i);
  const lanes = 16;
  const per = Math.ceil(MESSAGES / lanes / 10) * 10;
  await Promise.all(
    Array.from({ length: lanes }, (_, i) =>
      sendMessages(direct, queueUrl, items.slice(i * per, (i + 1) * per), () => ({ body, attributes: Object.fromEntries(Object.entries(attributes).map(([k, v]) => [k, { DataType: 'String', StringValue: v }])) })),
    ),
  );
}

const shape = { queueUrl, loops: 4, batchSize: 10, waitTimeSec: 1, visibilityTimeoutSec: 60 };
type Segment = 'main' | 'threaded';
const totals: Record<Segment, { process: number; mainRun: number; mainWait: number; workerRun: number; workerWait: number; wall: number }> = {
  main: { process: 0, mainRun: 0, mainWait: 0, workerRun: 0, workerWait: 0, wall: 0 },
  threaded: { process: 0, mainRun: 0, mainWait: 0, workerRun: 0, workerWait: 0, wall: 0 },
};
let workerThreads: number[] = [];
const sample = () => {
  const main = threadSchedule(process.pid);
  const worker = workerThreads.map((tid) => threadSchedule(process.pid, tid)).reduce((a, b) => ({ run: a.run + b.run, wait: a.wait + b.wait }), { run: 0, wait: 0 });
  return { process: cpuSecondsOf([process.pid]), mainRun: main.run, mainWait: main.wait, workerRun: worker.run, workerWait: worker.wait };
};
const client = (segment: Segment): SqsSender => (segment === 'main' ? direct : threaded);

const loadAtStart = load();
try {
  // warm-up of both (JIT, connections, the worker thread)
  await fill();
  await drainReceiveDelete(direct, shape, MESSAGES, { pipelined: true });
  await fill();
  const before = new Set(threadIds(process.pid));
  await drainReceiveDelete(threaded, shape, MESSAGES, { pipelined: true });
  workerThreads = threadIds(process.pid).filter((tid) => !before.has(tid));

  const rates: Record<Segment, number>[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const order: Segment[] = r % 2 === 0 ? ['main', 'threaded'] : ['threaded', 'main'];
    const round = { main: 0, threaded: 0 };
    const loads: string[] = [];
    for (const segment of order) {
      await fill();
      const a = sample();
      const seconds = await drainReceiveDelete(client(segment), shape, MESSAGES, { pipelined: true });
      const b = sample();
      for (const k of ['process', 'mainRun', 'mainWait', 'workerRun', 'workerWait'] as const) totals[segment][k] += b[k] - a[k];
      totals[segment].wall += seconds;
      round[segment] = MESSAGES / seconds;
      loads.push(load().split(' ')[0]!);
    }
    rates.push(round);
    console.log(`  round ${r + 1}: SDK on the main thread ${round.main.toFixed(0).padStart(5)} msg/s, on a worker thread ${round.threaded.toFixed(0).padStart(5)} msg/s; ratio ${(round.threaded / round.main).toFixed(2)}  (${order.join(', ')}; load ${loads.join(', ')})`);
  }
  const range = (s: { median: number; min: number; max: number }, digits = 0) => `median ${s.median.toFixed(digits)} (${s.min.toFixed(digits)}–${s.max.toFixed(digits)})`;
  console.log(`threaded client cost: ${ROUNDS} rounds of ${MESSAGES} messages, bare receive+delete pipelined, 4 loops, batch 10, fauxqs in its own process`);
  console.log(`  load ${loadAtStart} at the start, ${load()} at the end`);
  console.log(`  SDK on the main thread  : ${range(spread(rates.map((r) => r.main)))} msg/s`);
  console.log(`  SDK on a worker thread  : ${range(spread(rates.map((r) => r.threaded)))} msg/s`);
  console.log(`  ratio worker / main (per round): ${range(spread(rates.map((r) => r.threaded / r.main)), 2)}`);
  console.log(`  ms per 1,000 messages: process CPU; main thread on a CPU / waiting for one; worker thread (${workerThreads.length}) on a CPU / waiting; (on + waiting) / wall`);
  for (const segment of ['main', 'threaded'] as const) {
    const t = totals[segment];
    const per = (v: number) => ((v * 1000 * 1000) / (MESSAGES * ROUNDS)).toFixed(0).padStart(4);
    const worker = segment === 'threaded' ? `; worker ${per(t.workerRun)} / ${per(t.workerWait)} (${((t.workerRun + t.workerWait) / t.wall).toFixed(2)})` : '';
    console.log(`    ${segment === 'main' ? 'SDK on the main thread' : 'SDK on a worker thread'}: process ${per(t.process)}; main ${per(t.mainRun)} / ${per(t.mainWait)} (${((t.mainRun + t.mainWait) / t.wall).toFixed(2)})${worker}`);
  }
} finally {
  direct.destroy();
  threaded.destroy();
  emulator.stop();
}
