import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SNSClient, type PublishBatchCommandInput } from '@aws-sdk/client-sns';
import { silentLogger } from '../../src/logger.js';
import { startRelay, type RelayProcess } from '../../src/relay/start.js';
import type { RelayEvents } from '../../src/relay/relay.js';
import { PostgresOutboxStore } from '../../src/source/postgres/relay-store.js';
import { startEmulator, type Emulator } from '../helpers/fauxqs.js';
import { REDIS_URL } from '../helpers/env.js';
import { relayConfig, relayConfigDoc, subscribeQueue, tally, type QueueReader } from '../helpers/relay.js';
import { createMigratedSource } from '../helpers/source.js';
import { waitFor } from '../helpers/wait.js';

/**
 * Page overlap (docs/architecture.md, "The relay loop"): the relay publishes the next page while
 * the last calls of a page are in flight, within relay.publishConcurrency, and advances the pages
 * strictly in order. Every PublishBatch goes to the emulator through an SNS client whose middleware
 * sees each call (its seqs and message groups) and can hold it back or fail it before it is sent.
 */

let env: Awaited<ReturnType<typeof createMigratedSource>>;
let emulator: Emulator;
const running: RelayProcess[] = [];
const readers: QueueReader[] = [];
const clients: SNSClient[] = [];
let nextId = 1;

beforeAll(async () => {
  Object.assign(process.env, { AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test' });
  env = await createMigratedSource();
  emulator = await startEmulator();
  await env.db.pool.query('CREATE TABLE public.items (id int PRIMARY KEY, v int NOT NULL)');
  await env.source.track({ table: { schema: 'public', table: 'items' } });
});

afterEach(async () => {
  while (running.length) await running.pop()!.close();
  while (readers.length) readers.pop()!.close();
  while (clients.length) clients.pop()!.destroy();
});

afterAll(async () => {
  await env?.close();
  await emulator?.stop();
});

interface Call {
  seqs: string[];
  groups: string[];
  done: boolean;
}

/** An SNS client that tracks PublishBatch calls in flight; `before` runs ahead of each call's send (it may wait, or throw to fail the call). */
function watchedSns(before?: (call: Call) => Promise<void> | void) {
  const sns = new SNSClient({ region: 'us-east-1', endpoint: emulator.endpoint, credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
  const stats = { inFlight: 0, maxInFlight: 0, calls: [] as Call[], inFlightCalls: new Set<Call>(), sameGroupOverlaps: [] as string[] };
  sns.middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName !== 'PublishBatchCommand') return next(args);
      const entries = (args.input as PublishBatchCommandInput).PublishBatchRequestEntries ?? [];
      const call: Call = { seqs: entries.map((e) => (JSON.parse(e.Message!) as { sequence: string }).sequence), groups: [...new Set(entries.map((e) => e.MessageGroupId ?? ''))], done: false };
      for (const other of stats.inFlightCalls) {
        const shared = call.groups.filter((g) => g !== '' && other.groups.includes(g));
        if (shared.length) stats.sameGroupOverlaps.push(`seqs ${call.seqs[0]}… sent while seqs ${other.seqs[0]}… of the same group were in flight`);
      }
      stats.calls.push(call);
      stats.inFlightCalls.add(call);
      stats.inFlight += 1;
      stats.maxInFlight = Math.max(stats.maxInFlight, stats.inFlight);
      try {
        await before?.(call);
        return await next(args);
      } finally {
        call.done = true;
        stats.inFlight -= 1;
        stats.inFlightCalls.delete(call);
      }
    },
    { step: 'initialize', name: 'watchPublishBatch' },
  );
  clients.push(sns);
  return { sns, stats };
}

/** Resolves once the condition holds, or after timeoutMs (the assertions after it then tell what did not happen). */
async function until(check: () => boolean, timeoutMs: number): Promise<void> {
  await waitFor(check, { timeoutMs, intervalMs: 5 }).catch(() => undefined);
}

/** Inserts `count` rows in one transaction; returns their seqs, in order. */
async function insertRows(count: number): Promise<string[]> {
  const first = nextId;
  nextId += count;
  const res = await env.db.pool.query<{ seq: string }>(
    `WITH ins AS (INSERT INTO public.items (id, v) SELECT g, 0 FROM generate_series($1::int, $2::int) g RETURNING id) SELECT count(*) FROM ins`,
    [first, first + count - 1],
  );
  expect(res.rowCount).toBe(1);
  return seqsOfIds(first, first + count - 1);
}

async function seqsOfIds(from: number, to: number): Promise<string[]> {
  const res = await env.db.pool.query<{ s: string }>(`SELECT e.seq::text AS s FROM outbox.events e WHERE (coalesce(e.key, e.new_row::jsonb)->>'id')::int BETWEEN $1 AND $2 ORDER BY e.seq`, [from, to]);
  return res.rows.map((r) => r.s);
}

/** A relay in this process publishing through `sns` to a fresh topic (and a queue on it, for a standard topic). */
async function startTestRelay(sns: SNSClient, relay: Record<string, unknown>, options: { fifo?: boolean } = {}) {
  const topic = `ov-${randomBytes(5).toString('hex')}${options.fifo ? '.fifo' : ''}`;
  const queue = options.fifo ? undefined : await subscribeQueue(emulator.endpoint, topic);
  if (queue) readers.push(queue);
  // A failing call must not open the breaker: these tests are about what the relay advances.
  const config = relayConfig(relayConfigDoc({ sourceUrl: env.db.url, redisUrl: REDIS_URL, endpoint: emulator.endpoint, topic, relay: { breaker: { volumeThreshold: 1_000 }, ...relay } }));
  const proc = await startRelay({ config, logger: silentLogger, instanceId: `ov-${randomBytes(3).toString('hex')}`, sns });
  running.push(proc);
  const published: RelayEvents['batch-published'][0][] = [];
  proc.relay.on('batch-published', (e) => published.push(e));
  return { proc, queue, published, advanced: () => published.flatMap((e) => e.seqs) };
}

describe('page overlap', () => {
  it('publishes the next page while the calls of a page are in flight, never more than publishConcurrency at once', async () => {
    const seqs = await insertRows(80); // pages of 20 events: 2 calls each
    const pageOne = new Set(seqs.slice(0, 20));
    // Page 1's calls wait until 4 calls are in flight: only page 2's calls can make up the other two.
    const { sns, stats } = watchedSns(async (call) => {
      if (call.seqs.some((s) => pageOne.has(s))) await until(() => stats.inFlight >= 4, 3_000);
    });
    const { proc, queue, advanced } = await startTestRelay(sns, { readBatchSize: 20, publishConcurrency: 4 });
    await waitFor(() => advanced().length === seqs.length, { timeoutMs: 30_000, what: 'every event advanced' });
    await queue!.waitForSeqs(seqs);
    expect(stats.maxInFlight).toBe(4); // more than one page's 2 calls, and within publishConcurrency
    expect(advanced()).toEqual(seqs); // advanced in order, each event once
    expect(proc.relay.isLeader).toBe(true);
  });

  it('stops at the first unacknowledged event of a page that fails in the middle while the next page publishes: nothing lost, nothing advanced past it', async () => {
    const seqs = await insertRows(90); // pages of 30 events: 3 calls each
    const middle = seqs[10]!; // page 1's second call
    const pageTwo = new Set(seqs.slice(30, 60));
    let failures = 0;
    const { sns, stats } = watchedSns(async (call) => {
      if (!call.seqs.includes(middle) || failures >= 4) return; // four attempts: the publisher's whole retry of that call
      failures += 1;
      // The first attempt waits until a call of page 2 is acknowledged, so the failure lands while page 2 is out.
      if (failures === 1) await until(() => stats.calls.some((c) => c.done && c.seqs.some((s) => pageTwo.has(s))), 5_000);
      throw new Error('injected: the connection was reset');
    });
    const { proc, queue, advanced } = await startTestRelay(sns, { readBatchSize: 30, publishConcurrency: 4 });
    const failed: (RelayEvents['publish-failed'][0] & { advancedThen: string[] })[] = [];
    proc.relay.on('publish-failed', (e) => failed.push({ ...e, advancedThen: advanced() }));
    await waitFor(() => advanced().length === seqs.length, { timeoutMs: 30_000, what: 'every event advanced' });
    await queue!.waitForSeqs(seqs);

    expect(failed.length).toBe(1);
    expect(failed[0]).toMatchObject({ acknowledged: 10, pending: 20 });
    expect(failed[0]!.advancedThen).toEqual(seqs.slice(0, 10)); // the cursor stopped at the failed call's first event
    expect(failed[0]!.republished).toBeGreaterThan(0); // page 2 had calls acknowledged: they went out again
    expect(advanced()).toEqual(seqs); // in order, each once, none past an unacknowledged one
    const received = tally(await queue!.drain(), seqs);
    expect(received.missing).toEqual([]);
    expect(received.duplicates).toBeGreaterThanOrEqual(failed[0]!.republished);
  });

  it('advances neither page when fenced while two pages are in flight', async () => {
    const seqs = await insertRows(80); // pages of 20 events: 2 calls each
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    const held = new Set(seqs.slice(0, 40));
    const { sns, stats } = watchedSns(async (call) => {
      if (call.seqs.some((s) => held.has(s))) await gate;
    });
    const { proc, queue, published } = await startTestRelay(sns, { readBatchSize: 20, publishConcurrency: 4 });
    const fenced = new Promise<RelayEvents['fenced'][0]>((resolve) => proc.relay.once('fenced', resolve));
    const staleEpoch = await waitFor(() => proc.relay.epoch, { what: 'the relay leading' });
    try {
      await waitFor(() => stats.inFlight === 4, { timeoutMs: 10_000, what: 'both pages in flight (4 calls)' });
    } finally {
      // A newer leader claims the epoch while both pages are out, then their calls are let through.
      const store = await PostgresOutboxStore.open({ url: env.db.url, schema: 'outbox', logger: silentLogger });
      try {
        await store.claimLeadership('newer');
      } finally {
        await store.close();
      }
      open();
    }
    expect((await fenced).epoch).toBe(staleEpoch);
    expect(published.filter((e) => e.epoch === staleEpoch)).toEqual([]); // neither page advanced
    // The relay leads again under a new epoch and publishes everything from the untouched cursor.
    await queue!.waitForSeqs(seqs);
    await waitFor(() => published.flatMap((e) => e.seqs).length === seqs.length, { timeoutMs: 30_000, what: 'every event advanced by the new term' });
    expect(published.flatMap((e) => e.seqs)).toEqual(seqs);
    expect(published.every((e) => e.epoch !== staleEpoch)).toBe(true);
  });

  it('keeps a FIFO message group in order across overlapping pages: a group never has two calls in flight', async () => {
    // Two keys, many versions each: every page carries both groups (at most two lanes), so slots stay free for the next page.
    const first = nextId;
    nextId += 2;
    await env.db.pool.query('INSERT INTO public.items (id, v) VALUES ($1, 0), ($2, 0)', [first, first + 1]);
    for (let v = 1; v <= 40; v++) await env.db.pool.query('UPDATE public.items SET v = $2 WHERE id = $1 OR id = $3', [first, v, first + 1]);
    const seqs = await seqsOfIds(first, first + 1);
    expect(seqs.length).toBe(82);
    const pageOne = new Set(seqs.slice(0, 20));
    // Page 1's calls are held for a while: time for page 2 to send its calls of the same groups, if it would.
    const { sns, stats } = watchedSns(async (call) => {
      if (call.seqs.some((s) => pageOne.has(s))) await until(() => stats.calls.some((c) => !c.seqs.some((s) => pageOne.has(s))), 1_000);
    });
    const { advanced } = await startTestRelay(sns, { readBatchSize: 20, publishConcurrency: 4 }, { fifo: true });
    await waitFor(() => advanced().length === seqs.length, { timeoutMs: 30_000, what: 'every event advanced' });
    expect(stats.sameGroupOverlaps).toEqual([]);
    // Per group, the calls went out in seq order.
    const firstSent = new Map<string, string[]>();
    for (const call of stats.calls) for (const group of call.groups) firstSent.set(group, [...(firstSent.get(group) ?? []), ...call.seqs]);
    for (const sent of firstSent.values()) {
      const once = [...new Set(sent)];
      expect(once).toEqual([...once].sort((a, b) => Number(BigInt(a) - BigInt(b))));
    }
    expect(advanced()).toEqual(seqs);
  });
});
