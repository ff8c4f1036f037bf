/**
 * Where a change waits, per process of bench/e2e-latency.ts `--rate R`: preloaded into the relay and
 * the consumers (`node --import tsx --import ./bench/lib/stage-trace.ts src/cli/run.ts …`), it times
 * every PostgreSQL statement (by the runtime SQL file it comes from, else its first words) and every
 * SNS/SQS call, the relay's waits for a NOTIFY or the poll interval, and the age of each change
 * (now − the `changed_at` its trigger recorded, one machine clock) when the relay reads it, when
 * PublishBatch acknowledges it, when a consumer receives it and when the delete of its message is
 * acknowledged. On SIGUSR2 it prints one line `STAGE-TRACE <json>` on stderr and starts afresh.
 * Nothing of the product is changed: only prototypes are wrapped, in the bench's child processes.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import pg from 'pg';
import { SNSClient } from '@aws-sdk/client-sns';
import { SQSClient } from '@aws-sdk/client-sqs';
import { ThreadedClient } from '../../src/aws/threaded-client.js';
import { Waker } from '../../src/relay/waker.js';
import { PACKAGE_ROOT } from '../../src/sql/files.js';

/** First line of each runtime SQL file → its name. */
const byFirstLine = new Map<string, string>();
const dir = join(PACKAGE_ROOT, 'sql', 'postgres', 'runtime');
for (const file of readdirSync(dir)) byFirstLine.set(readFileSync(join(dir, file), 'utf8').split('\n', 1)[0]!, file.replace(/\.sql$/, ''));

function label(text: string): string {
  const first = text.split('\n', 1)[0]!;
  return byFirstLine.get(first) ?? first.replace(/\s+/g, ' ').trim().slice(0, 48);
}

interface Timing {
  n: number;
  totalMs: number;
  ms: number[];
}
let timings = new Map<string, Timing>();
let ages = new Map<string, number[]>();
let startedAt = performance.now();
const loopDelay = monitorEventLoopDelay({ resolution: 10 });
loopDelay.enable();
/** Wall time with at least one call of a kind in flight ('pg', 'aws'), and with anything in flight. */
const inFlight = new Map<string, { n: number; since: number; busyMs: number }>();

function enter(kind: string): void {
  for (const k of [kind, 'any']) {
    const f = inFlight.get(k) ?? { n: 0, since: 0, busyMs: 0 };
    if (f.n++ === 0) f.since = performance.now();
    inFlight.set(k, f);
  }
}
function leave(kind: string): void {
  for (const k of [kind, 'any']) {
    const f = inFlight.get(k)!;
    if (--f.n === 0) f.busyMs += performance.now() - f.since;
  }
}
function time(name: string, ms: number): void {
  const t = timings.get(name) ?? { n: 0, totalMs: 0, ms: [] };
  t.n += 1;
  t.totalMs += ms;
  t.ms.push(ms);
  timings.set(name, t);
}
function age(stage: string, changedAt: number): void {
  const list = ages.get(stage) ?? [];
  list.push(Date.now() - changedAt);
  ages.set(stage, list);
}

function observeRows(name: string, rows: { changed_at?: Date }[] | undefined): void {
  if (name !== 'relay_read_window' || !rows) return;
  for (const r of rows) if (r.changed_at instanceof Date) age('relay read', r.changed_at.getTime());
}

const query = pg.Client.prototype.query as (...args: unknown[]) => unknown;
(pg.Client.prototype as unknown as { query: (...args: unknown[]) => unknown }).query = function traced(this: pg.Client, ...args: unknown[]): unknown {
  const first = args[0] as string | { text?: string } | undefined;
  const text = typeof first === 'string' ? first : (first?.text ?? '');
  if (!text) return query.apply(this, args);
  const name = label(text);
  const start = performance.now();
  enter('pg');
  const done = (rows?: { changed_at?: Date }[]) => {
    leave('pg');
    time(`pg ${name}`, performance.now() - start);
    observeRows(name, rows);
  };
  const cb = args.at(-1);
  if (typeof cb === 'function') {
    args[args.length - 1] = (err: unknown, res: { rows?: { changed_at?: Date }[] }) => {
      done(err ? undefined : res?.rows);
      (cb as (e: unknown, r: unknown) => void)(err, res);
    };
    return query.apply(this, args);
  }
  const result = query.apply(this, args) as Promise<{ rows?: { changed_at?: Date }[] }> | undefined;
  if (result && typeof result.then === 'function') {
    result.then(
      (res) => done(res?.rows),
      () => done(),
    );
  } else done();
  return result;
};

/** The envelope's `time` (the change's changed_at) of a message body, or undefined. */
function bodyTime(body: string | undefined): number | undefined {
  if (!body) return undefined;
  const m = /"time":"([^"]+)"/.exec(body);
  return m ? Date.parse(m[1]!) : undefined;
}

/** Receipt handle → change time, for the delete stage. */
const received = new Map<string, number>();
type Send = (...args: unknown[]) => Promise<unknown>;
/** A send() that times each call and records the ages of the changes it carries. */
const tracing = (send: Send): Send => async function traced(this: unknown, ...args: unknown[]): Promise<unknown> {
  const command = args[0] as { constructor: { name: string }; input: Record<string, unknown> };
  const name = command.constructor.name.replace(/Command$/, '');
  const start = performance.now();
  enter('aws');
  let reply: Record<string, unknown> | undefined;
  try {
    reply = (await send.apply(this, args)) as Record<string, unknown>;
    return reply;
  } finally {
    leave('aws');
    const ms = performance.now() - start;
    if (name === 'ReceiveMessage') {
      const messages = (reply?.Messages ?? []) as { Body?: string; ReceiptHandle?: string }[];
      time(messages.length > 0 ? 'aws ReceiveMessage (messages)' : 'aws ReceiveMessage (empty)', ms);
      for (const m of messages) {
        const t = bodyTime(m.Body);
        if (t === undefined) continue;
        age('received', t);
        if (m.ReceiptHandle) received.set(m.ReceiptHandle, t);
      }
    } else {
      time(`aws ${name}`, ms);
      if (name === 'PublishBatch' && reply) {
        const entries = (command.input.PublishBatchRequestEntries ?? []) as { Id?: string; Message?: string }[];
        const ok = new Set(((reply.Successful ?? []) as { Id?: string }[]).map((s) => s.Id));
        for (const e of entries) {
          const t = ok.has(e.Id) ? bodyTime(e.Message) : undefined;
          if (t !== undefined) age('published', t);
        }
      } else if (name === 'DeleteMessageBatch' && reply) {
        for (const e of (command.input.Entries ?? []) as { ReceiptHandle?: string }[]) {
          const t = e.ReceiptHandle ? received.get(e.ReceiptHandle) : undefined;
          if (t === undefined) continue;
          received.delete(e.ReceiptHandle!);
          age('deleted', t);
        }
      }
    }
  }
};

// Both SDK clients' send() is their base class's (the SDK's smithy Client); wrapped on each class.
const sdkSend = tracing(SNSClient.prototype.send as unknown as Send);
(SNSClient.prototype as unknown as { send: Send }).send = sdkSend;
(SQSClient.prototype as unknown as { send: Send }).send = sdkSend;
// A client on a worker thread (aws.sdkThread): its send() as the calling thread sees it.
(ThreadedClient.prototype as unknown as { send: Send }).send = tracing(ThreadedClient.prototype.send as unknown as Send);

/** The relay's waits for new events: how long, and whether a NOTIFY ended them. */
const wait = Waker.prototype.wait;
Waker.prototype.wait = async function traced(this: Waker, ms: number, signal: AbortSignal): Promise<void> {
  const start = performance.now();
  await wait.call(this, ms, signal);
  const took = performance.now() - start;
  time(took < 1 ? 'relay wait (a NOTIFY was pending)' : took >= ms - 5 ? 'relay wait (poll interval ran out)' : 'relay wait (ended by a NOTIFY)', took);
};

const pct = (sorted: number[], p: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]! : NaN);

process.on('SIGUSR2', () => {
  const wallMs = performance.now() - startedAt;
  const now = performance.now();
  const busy = Object.fromEntries([...inFlight].map(([k, f]) => [k, (f.busyMs + (f.n > 0 ? now - f.since : 0)) / wallMs]));
  const report = {
    wallMs,
    busyShare: busy,
    /** Event loop delay (ms): how late timers and I/O callbacks ran. */
    loopDelayMs: { p50: loopDelay.percentile(50) / 1e6, p99: loopDelay.percentile(99) / 1e6, max: loopDelay.max / 1e6 },
    calls: Object.fromEntries(
      [...timings].map(([k, t]) => {
        const s = t.ms.sort((a, b) => a - b);
        return [k, { n: t.n, perSecond: (t.n * 1000) / wallMs, meanMs: t.totalMs / t.n, p50Ms: pct(s, 50), p99Ms: pct(s, 99), share: t.totalMs / wallMs }];
      }),
    ),
    ages: Object.fromEntries(
      [...ages].map(([k, list]) => {
        const s = list.sort((a, b) => a - b);
        return [k, { n: s.length, p50Ms: pct(s, 50), p90Ms: pct(s, 90), p99Ms: pct(s, 99) }];
      }),
    ),
  };
  process.stderr.write(`STAGE-TRACE ${JSON.stringify(report)}\n`);
  timings = new Map();
  ages = new Map();
  startedAt = performance.now();
  loopDelay.reset();
  for (const f of inFlight.values()) {
    f.busyMs = 0;
    f.since = performance.now();
  }
});
