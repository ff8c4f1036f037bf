import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { DescribeTableCommand, DescribeTimeToLiveCommand, GetItemCommand, ScanCommand, type AttributeValue } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { targetSchema, type TargetConfig } from '../../src/config/index.js';
import type { ChangeData } from '../../src/wire/envelope.js';
import { OutboxError } from '../../src/errors.js';
import { silentLogger } from '../../src/logger.js';
import { DynamodbTargetWriter } from '../../src/targets/dynamodb/writer.js';
import { buildTransformer, type ApplyOutcome, type TargetChange } from '../../src/targets/index.js';
import { buildTargetTransform } from '../../src/targets/user-transform.js';
import { startDynamoLocal, startThrottlingProxy, type DynamoLocal } from '../helpers/dynamodb.js';

/**
 * The DynamoDB target against DynamoDB Local (AWS's jar): init creates and checks tables, the
 * version guard (duplicates, reordering, tombstones with TTL), exact values, per-change rejections,
 * randomized convergence (alone and two writers at once, with truncates), throttling retries through
 * a real error-injecting HTTP proxy, and the documented order-document user transform.
 */
let ddb: DynamoLocal;
beforeAll(async () => {
  process.env.AWS_ACCESS_KEY_ID = 'test';
  process.env.AWS_SECRET_ACCESS_KEY = 'test';
  ddb = await startDynamoLocal();
});
afterAll(async () => {
  for (const w of writers) await w.close();
  await ddb?.stop();
});

const writers: DynamodbTargetWriter[] = [];
function writer(target: TargetConfig, endpoint = ddb.endpoint): DynamodbTargetWriter {
  const w = new DynamodbTargetWriter({ name: 't', target, endpoint, region: 'us-east-1', logger: silentLogger });
  writers.push(w);
  return w;
}

function config(table: string, extra: Record<string, unknown> = {}, dynamodb: Record<string, unknown> = {}): TargetConfig {
  return targetSchema.parse({
    kind: 'dynamodb',
    tables: ['public.items'],
    mapping: { 'public.items': { table } },
    dynamodb: { stateTable: `${table}_state`, attributeTypes: { 'public.items': { id: 'number' } }, ...dynamodb },
    ...extra,
  });
}

const uniqueTable = (what: string) => `${what}_${randomBytes(4).toString('hex')}`;

interface Item {
  id: number;
  name: string;
  qty: number | null;
}

function data(op: ChangeData['op'], seq: number, item: Partial<Item> & { id?: number }): ChangeData {
  const key = op === 'truncate' ? null : { id: String(item.id) };
  const after = op === 'delete' || op === 'truncate' ? null : { id: String(item.id), name: item.name ?? `n${item.id}`, qty: item.qty ?? null };
  return { schema: 'public', table: 'items', op, seq: String(seq), key, before: null, after, changed: null };
}

function toChanges(target: TargetConfig, list: ChangeData[]): TargetChange[] {
  const transform = buildTransformer('t', target, {});
  return list.map((d) => transform(d, { messageId: `m-${d.seq}`, eventId: `src:${d.seq}`, time: new Date().toISOString() }));
}

async function scanAll(table: string): Promise<Record<string, AttributeValue>[]> {
  const items: Record<string, AttributeValue>[] = [];
  let start: Record<string, AttributeValue> | undefined;
  do {
    const page = await ddb.client.send(new ScanCommand({ TableName: table, ConsistentRead: true, ...(start ? { ExclusiveStartKey: start } : {}) }));
    items.push(...(page.Items ?? []));
    start = page.LastEvaluatedKey;
  } while (start);
  return items;
}

/** Live items (tombstones left out) as plain rows, sorted by id. */
async function rows(table: string): Promise<Item[]> {
  return (await scanAll(table))
    .filter((i) => !i.outbox_deleted)
    .map((i) => ({ id: Number(i.id!.N), name: i.name!.S!, qty: i.qty!.NULL ? null : Number(i.qty!.N) }))
    .sort((a, b) => a.id - b.id);
}

function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A source history with updates, deletes, re-inserts (a key coming back after its delete) and truncates. */
function history(random: () => number, keys: number, length: number, truncates = true): { changes: ChangeData[]; final: Item[] } {
  const state = new Map<number, Item>();
  const changes: ChangeData[] = [];
  let seq = 1000;
  for (let i = 0; i < length; i++) {
    seq += 1 + Math.floor(random() * 3);
    if (truncates && i > length / 4 && random() < 0.01) {
      state.clear();
      changes.push(data('truncate', seq, {}));
      continue;
    }
    const id = 1 + Math.floor(random() * keys);
    const item: Item = { id, name: `name-${id}-${i}`, qty: random() < 0.2 ? null : Math.floor(random() * 1000) };
    if (!state.has(id)) {
      state.set(id, item);
      changes.push(data(random() < 0.1 ? 'snapshot' : 'insert', seq, item));
    } else if (random() < 0.2) {
      state.delete(id);
      changes.push(data('delete', seq, { id }));
    } else {
      state.set(id, item);
      changes.push(data('update', seq, item));
    }
  }
  return { changes, final: [...state.values()].sort((a, b) => a.id - b.id) };
}

function deliveries<T>(random: () => number, changes: T[]): T[][] {
  const copies = changes.flatMap((c) => (random() < 0.3 ? [c, c] : [c]));
  for (let i = copies.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [copies[i], copies[j]] = [copies[j]!, copies[i]!];
  }
  const batches: T[][] = [];
  for (let i = 0; i < copies.length; ) {
    const size = 1 + Math.floor(random() * 10);
    batches.push(copies.slice(i, i + size));
    i += size;
  }
  return batches;
}

async function applyWithRetry(w: DynamodbTargetWriter, batch: TargetChange[]): Promise<ApplyOutcome[]> {
  for (let retries = 0; ; retries++) {
    try {
      return await w.apply(batch);
    } catch (err) {
      if (!(err instanceof OutboxError && err.retryable) || retries > 20) throw err;
    }
  }
}

async function ready(table: string, extra: Record<string, unknown> = {}, dynamodb: Record<string, unknown> = {}): Promise<{ target: TargetConfig; w: DynamodbTargetWriter }> {
  const target = config(table, extra, dynamodb);
  const w = writer(target);
  expect(await w.init({ keyColumns: { 'public.items': ['id'] }, create: true })).toEqual([]);
  return { target, w };
}

describe('DynamoDB target', () => {
  it('init reports a missing table, creates it with --create (on-demand, TTL on), then finds it ready; a wrong key schema is a problem', async () => {
    const table = uniqueTable('init');
    const target = config(table);
    const w = writer(target);
    const before = await w.init({ keyColumns: { 'public.items': ['id'] } });
    expect(before.join('\n')).toMatch(new RegExp(`table ${table} \\(mapped from public.items\\) does not exist: run \`outbox target init --create\`, or create it with partition key id \\(N\\)`));
    expect(before.join('\n')).toMatch(/state table .* does not exist/);
    expect(await w.init({ keyColumns: { 'public.items': ['id'] }, create: true })).toEqual([]);
    const described = await ddb.client.send(new DescribeTableCommand({ TableName: table }));
    expect(described.Table?.KeySchema).toEqual([{ AttributeName: 'id', KeyType: 'HASH' }]);
    expect(described.Table?.AttributeDefinitions).toEqual([{ AttributeName: 'id', AttributeType: 'N' }]);
    expect(described.Table?.BillingModeSummary?.BillingMode).toBe('PAY_PER_REQUEST');
    const ttl = await ddb.client.send(new DescribeTimeToLiveCommand({ TableName: table }));
    expect(ttl.TimeToLiveDescription?.AttributeName).toBe('outbox_expires_at');
    expect(await w.init({ keyColumns: { 'public.items': ['id'] } })).toEqual([]);
    const wrong = await w.init({ keyColumns: { 'public.items': ['id', 'region'] } });
    expect(wrong.join('\n')).toMatch(/has key id \(N\), but the source key maps to id \(N\) \+ sort key region \(S\)/);
  });

  it('applies only newer changes: duplicates and older ones are stale, a delete leaves a tombstone with an expiry', async () => {
    const table = uniqueTable('guard');
    const { target, w } = await ready(table);
    const c = toChanges(target, [data('insert', 10, { id: 1, name: 'a', qty: 1 }), data('update', 12, { id: 1, name: 'b', qty: 2 }), data('update', 11, { id: 1, name: 'old' }), data('delete', 13, { id: 1 }), data('insert', 9, { id: 1, name: 'older' })]);
    expect(await w.apply([c[0]!])).toEqual([{ status: 'applied' }]);
    expect(await w.apply([c[0]!])).toEqual([{ status: 'stale' }]);
    expect(await w.apply([c[1]!, c[2]!])).toEqual([{ status: 'applied' }, { status: 'stale' }]);
    expect(await rows(table)).toEqual([{ id: 1, name: 'b', qty: 2 }]);
    expect(await w.apply([c[3]!])).toEqual([{ status: 'applied' }]);
    expect(await w.apply([c[4]!, c[2]!])).toEqual([{ status: 'stale' }, { status: 'stale' }]);
    expect(await rows(table)).toEqual([]);
    const tomb = (await ddb.client.send(new GetItemCommand({ TableName: table, Key: { id: { N: '1' } }, ConsistentRead: true }))).Item!;
    expect(tomb.outbox_seq).toEqual({ N: '13' });
    expect(tomb.outbox_deleted).toEqual({ BOOL: true });
    const expires = Number(tomb.outbox_expires_at!.N);
    expect(expires).toBeGreaterThan(Date.now() / 1000 + target.tombstoneRetentionHours * 3600 - 60);
    // re-insert after the delete (a newer seq) brings the row back without the tombstone marks
    expect(await w.apply(toChanges(target, [data('insert', 14, { id: 1, name: 'again' })]))).toEqual([{ status: 'applied' }]);
    const back = (await ddb.client.send(new GetItemCommand({ TableName: table, Key: { id: { N: '1' } }, ConsistentRead: true }))).Item!;
    expect(back.outbox_deleted).toBeUndefined();
    expect(back.outbox_expires_at).toBeUndefined();
    expect(w.stats.conditionalFailures).toBeGreaterThan(0);
  });

  it('coalesces a batch to one write per key, the newest version', async () => {
    const table = uniqueTable('coalesce');
    const { target, w } = await ready(table);
    const list = [data('insert', 20, { id: 5, name: 'v1' }), data('update', 22, { id: 5, name: 'v3' }), data('update', 21, { id: 5, name: 'v2' }), data('insert', 20, { id: 6, name: 'x' })];
    const outcomes = await w.apply(toChanges(target, list));
    expect(outcomes.map((o) => o.status)).toEqual(['stale', 'applied', 'stale', 'applied']);
    expect(w.stats.coalesced).toBe(2);
    expect(await rows(table)).toEqual([{ id: 5, name: 'v3', qty: null }, { id: 6, name: 'x', qty: null }]);
  });

  it('lands values exactly: 38-digit numbers, bigint above 2^53, bytes as binary, json as maps and lists, timestamps as text, null', async () => {
    const table = uniqueTable('vals');
    const target = targetSchema.parse({
      kind: 'dynamodb',
      tables: ['public.vals'],
      mapping: { 'public.vals': { table } },
      dynamodb: { stateTable: `${table}_state`, attributeTypes: { 'public.vals': { id: 'number', n: 'number', big: 'number', b: 'binary', zip: 'string' } } },
    });
    const w = writer(target);
    expect(await w.init({ keyColumns: { 'public.vals': ['id'] }, create: true })).toEqual([]);
    const after = { id: 1, n: '1234567890123456789012345678.9012345678', big: '9007199254740993', b: '\\x00ff10', j: { a: [1, 'two', null, { deep: 0.1 }], t: true }, ts: '2024-03-10T06:30:00+00:00', zip: 1234, none: null, f: 0.1 };
    const change = buildTransformer('t', target, {})({ schema: 'public', table: 'vals', op: 'insert', seq: '5', key: { id: 1 }, after }, { messageId: 'm', eventId: 'e', time: new Date().toISOString() });
    expect(await w.apply([change])).toEqual([{ status: 'applied' }]);
    const item = (await ddb.client.send(new GetItemCommand({ TableName: table, Key: { id: { N: '1' } }, ConsistentRead: true }))).Item!;
    expect(item.n).toEqual({ N: '1234567890123456789012345678.9012345678' });
    expect(item.big).toEqual({ N: '9007199254740993' });
    expect(Buffer.from(item.b!.B!).toString('hex')).toBe('00ff10');
    expect(item.j).toEqual({ M: { a: { L: [{ N: '1' }, { S: 'two' }, { NULL: true }, { M: { deep: { N: '0.1' } } }] }, t: { BOOL: true } } });
    expect(item.ts).toEqual({ S: '2024-03-10T06:30:00+00:00' });
    expect(item.zip).toEqual({ S: '1234' });
    expect(item.none).toEqual({ NULL: true });
    expect(item.f).toEqual({ N: '0.1' });
  });

  it('rejects one bad change (item over 400 KB, text in a number column) and applies the rest; the rejected one leaves no version', async () => {
    const table = uniqueTable('reject');
    const { target, w } = await ready(table, {}, { attributeTypes: { 'public.items': { id: 'number', qty: 'number' } } });
    const big = data('insert', 31, { id: 2, name: 'x'.repeat(410 * 1024) });
    const notNumber: ChangeData = { ...data('insert', 32, { id: 3 }), after: { id: '3', name: 'n', qty: 'many' } };
    const outcomes = await w.apply(toChanges(target, [data('insert', 30, { id: 1, name: 'ok' }), big, notNumber]));
    expect(outcomes[0]).toEqual({ status: 'applied' });
    expect(outcomes[1]).toMatchObject({ status: 'rejected', reason: expect.stringMatching(/ValidationException: .*size/i) });
    expect(outcomes[2]).toMatchObject({ status: 'rejected', reason: expect.stringMatching(/column "qty" is typed number/) });
    expect((outcomes[2] as { reason: string }).reason).not.toMatch(/many/);
    expect(await w.apply(toChanges(target, [data('insert', 29, { id: 2, name: 'small' })]))).toEqual([{ status: 'applied' }]);
  });

  it('a truncate removes older items and keeps newer ones; a change older than the truncate arriving later stays out', async () => {
    const table = uniqueTable('trunc');
    const { target, w } = await ready(table);
    await w.apply(toChanges(target, [data('insert', 40, { id: 1 }), data('insert', 41, { id: 2 }), data('insert', 45, { id: 3 })]));
    expect(await w.apply(toChanges(target, [data('truncate', 44, {})]))).toEqual([{ status: 'applied' }]);
    expect((await rows(table)).map((r) => r.id)).toEqual([3]);
    expect(await w.apply(toChanges(target, [data('update', 43, { id: 1 }), data('insert', 46, { id: 4 })]))).toEqual([{ status: 'stale' }, { status: 'applied' }]);
    expect(await w.apply(toChanges(target, [data('truncate', 44, {})]))).toEqual([{ status: 'applied' }]);
    expect(await w.apply(toChanges(target, [data('truncate', 42, {})]))).toEqual([{ status: 'stale' }]);
    expect((await rows(table)).map((r) => r.id)).toEqual([3, 4]);
  });

  it('converges to the source state under duplicated, shuffled, batched delivery with truncates', async () => {
    const table = uniqueTable('conv');
    const { target, w } = await ready(table);
    for (const seed of [1, 2]) {
      const random = rng(seed * 7919);
      const { changes, final } = history(random, 12, 300);
      const offset = seed * 1000;
      const shifted = changes.map((d) => ({ ...d, seq: String(Number(d.seq) + seed * 1_000_000), ...(d.key ? { key: { id: String(Number(d.key.id) + offset) }, after: d.after ? { ...d.after, id: String(Number(d.after.id) + offset) } : null } : {}) }));
      for (const batch of deliveries(random, toChanges(target, shifted))) await applyWithRetry(w, batch);
      expect((await rows(table)).filter((r) => r.id > offset && r.id < offset + 1000)).toEqual(final.map((i) => ({ ...i, id: i.id + offset })));
    }
  });

  it('two writers applying the same history at once converge, truncates included', async () => {
    const table = uniqueTable('two');
    const { target } = await ready(table);
    const [a, b] = [writer(target), writer(target)];
    const random = rng(424242);
    const { changes, final } = history(random, 8, 260);
    const all = toChanges(target, changes);
    const run = async (w: DynamodbTargetWriter, batches: TargetChange[][]) => {
      for (const batch of batches) await applyWithRetry(w, batch);
    };
    await Promise.all([run(a, deliveries(random, all)), run(b, deliveries(random, all))]);
    expect(await rows(table)).toEqual(final);
  });

  it('retries throttled writes (HTTP 400 ThrottlingException from a proxy on the wire) and still converges; persistent throttling fails the batch as retryable', async () => {
    const table = uniqueTable('throttle');
    const { target } = await ready(table);
    const proxy = await startThrottlingProxy(ddb.endpoint, (op, n) => op.endsWith('PutItem') && n % 3 !== 0);
    try {
      const w = writer(target, proxy.endpoint);
      const random = rng(99);
      const { changes, final } = history(random, 10, 120, false);
      for (const batch of deliveries(random, toChanges(target, changes))) await applyWithRetry(w, batch);
      expect(await rows(table)).toEqual(final);
      expect(proxy.throttled).toBeGreaterThan(20);
      expect(w.stats.retries).toBe(proxy.throttled);
    } finally {
      await proxy.close();
    }
    // a connection closed under a request ("socket hang up") is tried again, not a failed batch
    const resets = await startThrottlingProxy(ddb.endpoint, (op, n) => (op.endsWith('PutItem') && n % 2 === 0 ? 'reset' : false));
    try {
      const w = writer(target, resets.endpoint);
      const outcomes = await w.apply(toChanges(target, [data('update', 1_000_000, { id: 1 }), data('update', 1_000_001, { id: 2 }), data('update', 1_000_002, { id: 3 })]));
      expect(outcomes.every((o) => o.status === 'applied')).toBe(true);
      expect(resets.throttled).toBeGreaterThan(0);
      expect(w.stats.retries).toBe(resets.throttled);
    } finally {
      await resets.close();
    }
    const always = await startThrottlingProxy(ddb.endpoint, (op) => op.endsWith('PutItem'));
    try {
      const w = writer(config(table, {}, { maxAttempts: 3 }), always.endpoint);
      const err = await w.apply(toChanges(target, [data('update', 999_999, { id: 1 })])).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(OutboxError);
      expect(err).toMatchObject({ code: 'TARGET_UNAVAILABLE', retryable: true });
      expect((err as Error).message).toMatch(/ThrottlingException/);
      expect(always.throttled).toBe(3);
    } finally {
      await always.close();
    }
  });

  it('the documented user transform nests order lines into one order document, in any order, and dead-letters a throw with its message', async () => {
    const table = 'orders';
    const suffix = randomBytes(3).toString('hex');
    const state = `orders_state_${suffix}`;
    const module = fileURLToPath(new URL('../../docs/examples/order-document.js', import.meta.url));
    const target = targetSchema.parse({
      kind: 'dynamodb',
      tables: ['public.orders', 'public.order_lines'],
      mapping: { 'public.orders': { table, transform: module }, 'public.order_lines': { table, transform: module, onTruncate: 'ignore' } },
      dynamodb: { stateTable: state, attributeTypes: { 'public.orders': { order_id: 'number', total: 'number' }, 'public.order_lines': { price: 'number' } } },
    });
    const w = writer(target);
    // the documents' table: key order_id (N), as init creates it from the transform's key
    const keyed = targetSchema.parse({ ...target, mapping: { 'public.orders': { table } }, tables: ['public.orders'] });
    expect(await writer(keyed).init({ keyColumns: { 'public.orders': ['order_id'] }, create: true })).toEqual([]);
    const transform = await buildTargetTransform('t', target, buildTransformer('t', target, {}));
    const meta = (seq: number) => ({ messageId: `m${seq}`, eventId: `e${seq}`, time: new Date().toISOString() });
    const order = (op: ChangeData['op'], seq: number, id: number, status: string): ChangeData => ({ schema: 'public', table: 'orders', op, seq: String(seq), key: { id: String(id) }, after: op === 'delete' ? null : { id: String(id), customer: 'ann', status, total: '12.50' } });
    const line = (op: ChangeData['op'], seq: number, id: number, no: number, qty: number): ChangeData => ({ schema: 'public', table: 'order_lines', op, seq: String(seq), key: { order_id: String(id), line_no: no }, after: op === 'delete' ? null : { order_id: String(id), line_no: no, product: `p${no}`, qty, price: '2.50' } });
    const id = 7_000 + Math.floor(Math.random() * 1000);
    const history = [order('insert', 1, id, 'new'), line('insert', 2, id, 1, 1), line('insert', 3, id, 2, 5), line('update', 4, id, 1, 2), order('update', 5, id, 'paid'), line('insert', 6, id, 3, 1), line('delete', 7, id, 2, 0)];
    const changes = history.flatMap((d) => [transform(d, meta(Number(d.seq)))].flat()).filter((c): c is TargetChange => c !== null);
    // lines before their order, newest first, with duplicates
    const shuffled = [...changes].reverse().concat(changes.slice(0, 3));
    for (const c of shuffled) await w.apply([c]);
    const doc = (await ddb.client.send(new GetItemCommand({ TableName: table, Key: { order_id: { N: String(id) } }, ConsistentRead: true }))).Item!;
    expect(doc.status).toEqual({ S: 'paid' });
    expect(doc.total).toEqual({ N: '12.50' });
    expect(Object.keys(doc.lines!.M!).sort()).toEqual(['1', '3']);
    expect(doc.lines!.M!['1']).toEqual({ M: { product: { S: 'p1' }, qty: { N: '2' }, price: { N: '2.50' } } });
    expect(() => transform(line('insert', 8, id, 4, -1), meta(8))).toThrow(/the transform .*order-document\.js threw: order line 4 has a negative quantity/);
  });
});
