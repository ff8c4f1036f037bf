/**
 * Soak: do a relay and a consumer stay flat when they run for a long time? Two subjects, each its
 * own process (so each heap is its own): an idle one (nothing written: the consumer long-polls an
 * empty queue with its 4 receive loops, the relay polls an empty outbox and renews its lock) and a
 * busy one (single-row inserts, updates and deletes at `--rate`/s). Each is a relay and a consumer
 * of a PostgreSQL target with the product's default settings, against the real PostgreSQL, Redis and
 * the SNS/SQS emulator (in this process). Every `--sample-seconds` each subject reports its heap
 * after a full GC, RSS, active handles and the listener counts of its long-lived signals and
 * emitters; at the end the script prints the slopes after the warm-up (first fifth) and checks that
 * the busy target equals its source.
 *
 * Baseline, same run: a third process, `bare`, a bare SDK loop doing the busy subject's traffic
 * with no relay, consumer or database — PublishBatch of what is pending at `--rate` messages/s
 * (bench/lib/bare-path.ts publishAt, the relay's message body) to a topic with a queue, and 4
 * long-polling receive loops that delete what they get — sampled the same way; the busy subject's
 * slopes are printed against it (difference and ratio) with the load.
 *
 *   npm run bench:soak -- [--minutes 10] [--rate 50] [--sample-seconds N]
 *   npm run bench:soak -- --fast      (1 minute, a sample every 5 s)
 *
 * Needs PostgreSQL and Redis as for the tests (TEST_PG_URL, TEST_REDIS_URL).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { sleep } from '../src/sleep.js';
import { startEmulator } from '../test/helpers/fauxqs.js';
import { CreateQueueCommand, DeleteMessageBatchCommand, GetQueueAttributesCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { CreateTopicCommand, SNSClient, SubscribeCommand } from '@aws-sdk/client-sns';
import { randomBytes } from 'node:crypto';
import { collectGarbage, slope, startSoakSubject, type SoakMode, type SoakSample } from '../test/helpers/soak.js';
import { publishAt } from './lib/bare-path.js';
import { plainEntry } from './lib/publish-baseline.js';
import { ratioLine } from './lib/machine.js';
import { withoutSdkLogging } from '../src/aws/clients.js';

type Subject = SoakMode | 'bare';

const { values: args } = parseArgs({
  options: {
    minutes: { type: 'string', default: '10' },
    rate: { type: 'string', default: '50' },
    'sample-seconds': { type: 'string' },
    fast: { type: 'boolean', default: false },
    subject: { type: 'string' },
    endpoint: { type: 'string' },
  },
});
const MINUTES = args.fast ? 1 : Number(args.minutes);
const RATE = Number(args.rate);
const SAMPLE_SECONDS = Number(args['sample-seconds'] ?? (args.fast ? 5 : Math.max(5, Math.round((MINUTES * 60) / 40))));
if (!(MINUTES > 0) || !(RATE > 0) || !(SAMPLE_SECONDS > 0)) {
  console.error('--minutes, --rate and --sample-seconds must be positive numbers');
  process.exit(2);
}
const load = () => loadavg().map((l) => l.toFixed(1)).join(' ');

/** The baseline subject: the busy subject's SNS/SQS traffic from bare SDK loops, sampled the same way. */
async function runBare(endpoint: string): Promise<void> {
  const credentials = { accessKeyId: 'test', secretAccessKey: 'test' };
  const sns = withoutSdkLogging(new SNSClient({ region: 'us-east-1', endpoint, credentials }));
  const sqs = withoutSdkLogging(new SQSClient({ region: 'us-east-1', endpoint, credentials }));
  const name = `soak-bare-${randomBytes(4).toString('hex')}`;
  const topicArn = (await sns.send(new CreateTopicCommand({ Name: name }))).TopicArn!;
  const queueUrl = (await sqs.send(new CreateQueueCommand({ QueueName: name }))).QueueUrl!;
  const arn = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['QueueArn'] }))).Attributes!.QueueArn!;
  await sns.send(new SubscribeCommand({ TopicArn: topicArn, Protocol: 'sqs', Endpoint: arn, Attributes: { RawMessageDelivery: 'true' } }));
  const row = { id: 1, v: 1, note: 'n1' };
  const entry = plainEntry('soak-bare', { seq: '1', xid: '1', tableSchema: 'public', tableName: 'items', op: 'insert', key: { id: 1 }, before: null, after: row, changed: Object.keys(row), attributes: null, changedAt: new Date() }, 0);
  const started = Date.now();
  const until = started + MINUTES * 60_000;
  let written = 0;
  let applied = 0;
  const sample = (): SoakSample => {
    collectGarbage();
    const m = process.memoryUsage();
    return { t: (Date.now() - started) / 1000, heapMiB: m.heapUsed / 2 ** 20, rssMiB: m.rss / 2 ** 20, activeResources: process.getActiveResourcesInfo().length, listeners: {}, written, applied };
  };
  const publishing = (async () => {
    while (Date.now() < until) {
      const r = await publishAt(sns, topicArn, entry, 8, { rate: RATE, seconds: Math.min(SAMPLE_SECONDS, (until - Date.now()) / 1000) });
      written += r.sent;
    }
  })();
  const receiving = Promise.all(
    Array.from({ length: 4 }, async () => {
      while (Date.now() < until) {
        const res = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: Math.max(0, Math.min(10, Math.floor((until - Date.now()) / 1000))), MessageAttributeNames: ['All'] }));
        const messages = res.Messages ?? [];
        if (messages.length === 0) continue;
        await sqs.send(new DeleteMessageBatchCommand({ QueueUrl: queueUrl, Entries: messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })) }));
        applied += messages.length;
      }
    }),
  );
  console.log(JSON.stringify({ sample: sample() }));
  while (Date.now() < until) {
    await sleep(Math.min(SAMPLE_SECONDS * 1000, until - Date.now()));
    console.log(JSON.stringify({ sample: sample() }));
  }
  await Promise.all([publishing, receiving]);
  sns.destroy();
  sqs.destroy();
}

/** A subject process: runs its pipeline and prints one JSON sample a line on stdout. */
async function runSubject(mode: Subject, endpoint: string): Promise<void> {
  if (mode === 'bare') return runBare(endpoint);
  const subject = await startSoakSubject({ mode, endpoint, ratePerSec: RATE });
  try {
    const until = Date.now() + MINUTES * 60_000;
    console.log(JSON.stringify({ sample: subject.sample() }));
    while (Date.now() < until) {
      await sleep(Math.min(SAMPLE_SECONDS * 1000, until - Date.now()));
      console.log(JSON.stringify({ sample: subject.sample() }));
    }
    if (mode === 'busy') console.log(JSON.stringify({ convergedMs: await subject.converge() }));
  } finally {
    await subject.close();
  }
}

function spawnSubject(mode: Subject, endpoint: string, onSample: (s: SoakSample) => void): { child: ChildProcess; done: Promise<{ convergedMs?: number }> } {
  const child = spawn(process.execPath, ['--import', 'tsx', 'bench/soak.ts', '--subject', mode, '--endpoint', endpoint, '--minutes', String(MINUTES), '--rate', String(RATE), '--sample-seconds', String(SAMPLE_SECONDS)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const result: { convergedMs?: number } = {};
  createInterface({ input: child.stdout! }).on('line', (line) => {
    try {
      const msg = JSON.parse(line) as { sample?: SoakSample; convergedMs?: number };
      if (msg.sample) onSample(msg.sample);
      if (msg.convergedMs !== undefined) result.convergedMs = msg.convergedMs;
    } catch {
      process.stderr.write(`${mode}: ${line}\n`);
    }
  });
  const done = new Promise<{ convergedMs?: number }>((resolve, reject) =>
    child.once('exit', (code) => (code === 0 ? resolve(result) : reject(new Error(`the ${mode} subject exited with ${code}`)))),
  );
  return { child, done };
}

const sum = (o: Record<string, number>) => Object.values(o).reduce((a, b) => a + b, 0);

async function main(): Promise<void> {
  const emulator = await startEmulator();
  const samples: Record<Subject, SoakSample[]> = { idle: [], busy: [], bare: [] };
  console.log(`soak: ${MINUTES} min, a sample every ${SAMPLE_SECONDS} s, busy subject at ${RATE} changes/s; load average ${load()} on ${cpus().length} CPUs`);
  console.log('subject   t (s)   heap MiB   RSS MiB   handles   listeners   written   applied   load');
  const subjects = (['idle', 'busy', 'bare'] as const).map((mode) =>
    spawnSubject(mode, emulator.endpoint, (s) => {
      samples[mode].push(s);
      console.log(
        `${mode.padEnd(7)} ${s.t.toFixed(0).padStart(7)} ${s.heapMiB.toFixed(1).padStart(10)} ${s.rssMiB.toFixed(0).padStart(9)} ${String(s.activeResources).padStart(9)} ${String(sum(s.listeners)).padStart(11)} ${String(s.written).padStart(9)} ${String(s.applied).padStart(9)}   ${load()}`,
      );
    }),
  );
  let failed = false;
  try {
    const results = await Promise.all(subjects.map((s) => s.done));
    console.log(`\nafter the warm-up (first fifth of the run); load average ${load()}`);
    console.log('subject   heap MiB/h   RSS MiB/h   handles/h   listeners: first → last (max), per counter');
    const slopes = {} as Record<Subject, { heap: number; rss: number }>;
    for (const mode of ['idle', 'busy', 'bare'] as const) {
      const list = samples[mode];
      const warm = list.filter((s) => s.t >= list[0]!.t + (MINUTES * 60) / 5);
      const per = (f: (s: SoakSample) => number) => slope(warm.map((s) => ({ x: s.t / 3600, y: f(s) })));
      slopes[mode] = { heap: per((s) => s.heapMiB), rss: per((s) => s.rssMiB) };
      const growing = Object.keys(list[0]!.listeners).filter((name) => Math.max(...warm.map((s) => s.listeners[name]!)) > Math.max(...list.slice(0, 3).map((s) => s.listeners[name]!)) + 10);
      console.log(`${mode.padEnd(7)} ${per((s) => s.heapMiB).toFixed(1).padStart(12)} ${per((s) => s.rssMiB).toFixed(1).padStart(11)} ${per((s) => s.activeResources).toFixed(1).padStart(11)}   ${Object.keys(list[0]!.listeners).map((n) => `${n} ${list[0]!.listeners[n]}→${list.at(-1)!.listeners[n]} (${Math.max(...list.map((s) => s.listeners[n]!))})`).join(', ')}`);
      if (growing.length > 0) {
        failed = true;
        console.log(`  GROWING: ${growing.join(', ')}`);
      }
    }
    const bareLast = samples.bare.at(-1)!;
    console.log(`baseline (bare SDK loops, the busy traffic: ${bareLast.written} published, ${bareLast.applied} received): heap ${slopes.bare.heap.toFixed(1)} MiB/h, RSS ${slopes.bare.rss.toFixed(1)} MiB/h`);
    console.log(`  busy − bare: heap ${(slopes.busy.heap - slopes.bare.heap).toFixed(1)} MiB/h, RSS ${(slopes.busy.rss - slopes.bare.rss).toFixed(1)} MiB/h; busy ÷ bare: heap ${ratioLine(slopes.busy.heap, slopes.bare.heap)}, RSS ${ratioLine(slopes.busy.rss, slopes.bare.rss)} (slopes near 0 make the ratio noise: read the difference); load average ${load()}`);
    const busy = samples.busy.at(-1)!;
    console.log(`busy: ${busy.written} changes written, ${busy.applied} applied; target equal to the source ${results[1]!.convergedMs} ms after the writes stopped`);
  } finally {
    for (const s of subjects) if (s.child.exitCode === null) s.child.kill('SIGTERM');
    await emulator.stop();
  }
  if (failed) process.exitCode = 1;
}

(args.subject ? runSubject(args.subject as Subject, args.endpoint!) : main()).then(
  () => process.exit(process.exitCode ?? 0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
