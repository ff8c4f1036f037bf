/**
 * The consumer's own work per message, without SQS: CPU microseconds (this process, user + system)
 * of each step a received batch goes through, on batches of 10 messages shaped as the relay
 * publishes them (envelope body and message attributes as SQS delivers them with raw delivery).
 * Where bench/consumer-throughput.ts says how far the consumer is from the bare receive + delete
 * loop, this says which step the difference is in.
 *
 *   npx tsx bench/consumer-path.ts                       # PostgreSQL target, 2,000 messages a step, 5 rounds
 *   BENCH_TARGET=mysql npx tsx bench/consumer-path.ts    # MariaDB/MySQL (TEST_MYSQL_URL)
 *   BENCH_MESSAGES=5000 BENCH_ROUNDS=7 npx tsx bench/consumer-path.ts
 *   BENCH_STEPS=apply node --import tsx --cpu-prof --cpu-prof-dir /tmp/prof bench/consumer-path.ts   # one step, profiled
 *
 * Steps (each measured alone, all rounds; the median per message is printed with the range):
 * parse (JSON.parse of the body), decode (parse + the envelope's JSON Schema check), transform (the
 * target's mapping behind its share rule), order (key hashes and lock order, planByTable), apply
 * (TargetWriter.apply of a batch: ordering, shaping, the statements and their replies — the server's
 * own CPU is not in it), batch (the consumer's whole processBatch: decode, transform, apply through
 * the breaker, outcomes and metrics; no SQS call). CPU, not wall time, so the load of other work on
 * the machine moves it less than a rate (it still moves it: shared caches, frequency).
 */
import { randomBytes } from 'node:crypto';
import type { Message } from '@aws-sdk/client-sqs';
import pg from 'pg';
import { parseConfig } from '../src/config/index.js';
import { Consumer } from '../src/consumer/consumer.js';
import { decodeMessage } from '../src/consumer/decode.js';
import { shareAware } from '../src/consumer/open.js';
import { silentLogger } from '../src/logger.js';
import { planByTable, orderEntries } from '../src/targets/base/batch.js';
import { buildTransformer, createTargetWriter } from '../src/targets/index.js';
import { buildEnvelope } from '../src/wire/envelope.js';
import { buildMessageAttributes } from '../src/wire/attributes.js';
import { outboxEvent, SOURCE_NAME } from '../test/helpers/consumer-fixtures.js';
import { openBenchTarget } from './lib/bench-target.js';
import { machineLoad, runBench } from './lib/machine.js';
import { spread } from './lib/receive-delete-baseline.js';
import type { SQSClient } from '@aws-sdk/client-sqs';
import type { TargetChange } from '../src/targets/types.js';

const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 2_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const BATCH = 10;
const KIND = process.env.BENCH_TARGET ?? 'postgres';
if (KIND !== 'postgres' && KIND !== 'mysql') throw new Error(`BENCH_TARGET is "${KIND}": use postgres or mysql`);


/**
 * Statements and queries (round trips) sent to the target by this process, counted at the pg and
 * mysql2 query entry points (the MariaDB writer joins several statements in one query with ";\n").
 */
const sent = { statements: 0, queries: 0 };
const mysqlCore = (await import('mysql2')) as unknown as { Connection?: { prototype: object }; default?: { Connection: { prototype: object } } };
for (const [proto, multi] of [
  [pg.Client.prototype, false],
  [(mysqlCore.Connection ?? mysqlCore.default!.Connection).prototype, true],
] as unknown as [{ query: (...args: unknown[]) => unknown }, boolean][]) {
  const query = proto.query;
  proto.query = function (this: unknown, ...args: unknown[]) {
    const sql = typeof args[0] === 'string' ? args[0] : (args[0] as { sql?: string }).sql;
    sent.statements += multi && typeof sql === 'string' ? sql.split(';\n').length : 1;
    sent.queries += 1;
    return query.apply(this, args);
  };
}

let nextId = 1;
/** A batch of new customers as SQS delivers them (raw delivery: the envelope is the body). */
function batch(): Message[] {
  return Array.from({ length: BATCH }, () => {
    const id = nextId++;
    const event = outboxEvent({ id, row: { id, name: `customer ${id}`, email: `c${id}@example.com`, tenant: String(id % 7), score: '12.50', updated_at: new Date().toISOString() }, attributes: { tenant: String(id % 7) } });
    return { MessageId: randomBytes(16).toString('hex'), ReceiptHandle: randomBytes(32).toString('base64'), Body: JSON.stringify(buildEnvelope(SOURCE_NAME, event)), MessageAttributes: buildMessageAttributes(SOURCE_NAME, event).attributes };
  });
}

/** CPU microseconds per message of `step` over MESSAGES messages (fresh batches, made before the clock starts). */
async function measure(step: (messages: Message[]) => unknown): Promise<number> {
  const batches = Array.from({ length: MESSAGES / BATCH }, batch);
  const before = process.cpuUsage();
  const started = performance.now();
  for (const b of batches) await step(b);
  const used = process.cpuUsage(before);
  lastWall = ((performance.now() - started) * 1000) / MESSAGES;
  return (used.user + used.system) / MESSAGES;
}
/** Wall-clock µs per message of the last measure() (waits on the target included; moves with the machine's load). */
let lastWall = 0;

runBench(async () => {
  const bench = await openBenchTarget(KIND);
  const config = parseConfig(
    {
      source: { url: 'postgres://unused@127.0.0.1/unused' },
      publish: { topics: { default: { name: 'bench' } } },
      targets: { bench: { kind: KIND, urlEnv: 'BENCH_TARGET_URL', tables: ['public.customers'], queue: { batchSize: BATCH, concurrency: 1 }, ...bench.target } },
    },
    { AWS_REGION: 'us-east-1', BENCH_TARGET_URL: bench.url },
  );
  const target = config.targets.bench!;
  const writer = createTargetWriter('bench', target, config.targetSecrets('bench'), silentLogger);
  try {
    const problems = await writer.init({ keyColumns: { 'public.customers': ['id'] }, create: true });
    if (problems.length > 0) throw new Error(problems.join('; '));
    const transform = shareAware(config, 'bench', buildTransformer('bench', target, config.targetSecrets('bench')));
    // processBatch makes no SQS call (its acknowledgement does, and is not run here).
    const consumer = new Consumer({ target: 'bench', queue: target.queue, breaker: target.breaker, queueUrl: '', dlqUrl: '', fifo: false, sqs: undefined as unknown as SQSClient, writer, transform, logger: silentLogger });
    const processBatch = (consumer as unknown as { processBatch(m: Message[], e: { stop(): void }): Promise<() => Promise<void>> }).processBatch.bind(consumer);
    const changesOf = async (messages: Message[]): Promise<TargetChange[]> =>
      Promise.all(
        messages.map(async (m) => {
          const d = await decodeMessage(m.Body, undefined);
          if (!d.ok) throw new Error(d.reason);
          return transform(d.envelope.data, { messageId: m.MessageId!, eventId: d.envelope.id, time: d.envelope.time, source: d.envelope.source, attributes: m.MessageAttributes }) as TargetChange;
        }),
      );
    const steps: Record<string, (messages: Message[]) => unknown> = {
      parse: (messages) => messages.forEach((m) => JSON.parse(m.Body!)),
      decode: (messages) => Promise.all(messages.map((m) => decodeMessage(m.Body, undefined))),
      transform: async (messages) => {
        const decoded = await Promise.all(messages.map((m) => decodeMessage(m.Body, undefined)));
        decoded.forEach((d, i) => d.ok && transform(d.envelope.data, { messageId: messages[i]!.MessageId!, eventId: d.envelope.id, time: d.envelope.time, source: d.envelope.source, attributes: messages[i]!.MessageAttributes }));
      },
      order: async (messages) => planByTable(orderEntries(await changesOf(messages), (t) => t)),
      apply: async (messages) => writer.apply(await changesOf(messages)),
      batch: (messages) => processBatch(messages, { stop() {} }),
    };
    const only = process.env.BENCH_STEPS?.split(',');
    if (only) for (const name of Object.keys(steps)) if (!only.includes(name)) delete steps[name];
    // Warm-up: JIT, connections, prepared statements.
    for (const step of Object.values(steps)) await measure(step);
    const figures = new Map<string, number[]>(Object.keys(steps).map((k) => [k, []]));
    const loadAtStart = machineLoad();
    const applySent = { statements: 0, queries: 0 };
    const applyWall: number[] = [];
    for (let r = 0; r < ROUNDS; r++)
      for (const [name, step] of Object.entries(steps)) {
        const before = { ...sent };
        figures.get(name)!.push(await measure(step));
        if (name === 'apply') {
          applyWall.push(lastWall);
          for (const k of ['statements', 'queries'] as const) applySent[k] += sent[k] - before[k];
        }
      }
    console.log(`consumer path: CPU µs per message (this process), ${ROUNDS} rounds of ${MESSAGES} messages a step, batches of ${BATCH}, ${KIND === 'postgres' ? 'PostgreSQL' : 'MariaDB'} target`);
    console.log(`  ${loadAtStart} at the start, ${machineLoad()} at the end`);
    const medians = new Map<string, number>();
    for (const [name, values] of figures) {
      const s = spread(values);
      medians.set(name, s.median);
      console.log(`  ${name.padEnd(9)} median ${s.median.toFixed(1).padStart(6)} µs (${s.min.toFixed(1)}–${s.max.toFixed(1)})`);
    }
    if (figures.has('apply')) {
      const batches = (ROUNDS * MESSAGES) / BATCH;
      const wall = spread(applyWall);
      console.log(`  apply: ${(applySent.statements / batches).toFixed(2)} statements in ${(applySent.queries / batches).toFixed(2)} queries (round trips) per batch of ${BATCH}; wall clock median ${wall.median.toFixed(1)} µs per message (${wall.min.toFixed(1)}–${wall.max.toFixed(1)})`);
    }
    const m = (k: string) => medians.get(k)!;
    if (!only) console.log(`  so: schema check ≈ ${(m('decode') - m('parse')).toFixed(1)}, transform ≈ ${(m('transform') - m('decode')).toFixed(1)}, writer ≈ ${(m('apply') - m('transform')).toFixed(1)} (ordering ≈ ${(m('order') - m('transform')).toFixed(1)}), consumer around them ≈ ${(m('batch') - m('apply')).toFixed(1)} µs per message`);
  } finally {
    await writer.close();
    await bench.drop();
  }
});
