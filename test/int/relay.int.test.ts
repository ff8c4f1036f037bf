import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SNSClient, type PublishBatchCommandInput } from '@aws-sdk/client-sns';
import type pg from 'pg';
import { silentLogger } from '../../src/logger.js';
import { MAX_BATCH_BYTES, MAX_BATCH_ENTRIES } from '../../src/wire/limits.js';
import { messageBytes } from '../../src/wire/message-size.js';
import { startRelay, type RelayProcess } from '../../src/relay/start.js';
import { PostgresOutboxStore } from '../../src/source/postgres/relay-store.js';
import { startEmulator, type Emulator } from '../helpers/fauxqs.js';
import { REDIS_URL } from '../helpers/env.js';
import { relayConfig, relayConfigDoc, subscribeQueue, tally, type QueueReader } from '../helpers/relay.js';
import { createMigratedSource } from '../helpers/source.js';
import { waitFor } from '../helpers/wait.js';

let env: Awaited<ReturnType<typeof createMigratedSource>>;
let emulator: Emulator;
const running: RelayProcess[] = [];
const readers: QueueReader[] = [];
const clients: SNSClient[] = [];

beforeAll(async () => {
  // The in-process relay takes AWS credentials from the SDK's standard chain, as in production.
  Object.assign(process.env, { AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test' });
  env = await createMigratedSource();
  emulator = await startEmulator();
  await env.db.pool.query('CREATE TABLE public.items (id int PRIMARY KEY, v text, payload text)');
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

/** A relay in this process on a fresh topic, with a queue subscribed to it. */
async function startTestRelay(options: { relay?: Record<string, unknown>; sns?: SNSClient; timings?: Parameters<typeof startRelay>[0]['timings'] } = {}) {
  const topic = `t-${randomBytes(5).toString('hex')}`;
  const queue = await subscribeQueue(emulator.endpoint, topic);
  readers.push(queue);
  const config = relayConfig(relayConfigDoc({ sourceUrl: env.db.url, redisUrl: REDIS_URL, endpoint: emulator.endpoint, topic, relay: options.relay }));
  const relay = await startRelay({ config, logger: silentLogger, instanceId: `r-${randomBytes(3).toString('hex')}`, ...(options.sns ? { sns: options.sns } : {}), ...(options.timings ? { timings: options.timings } : {}) });
  running.push(relay);
  return { relay, queue, config };
}

/** An SNS client that records the sequence of every entry it publishes, in publish order. */
function recordingSns(): { sns: SNSClient; order: string[] } {
  const sns = new SNSClient({ region: 'us-east-1', endpoint: emulator.endpoint, credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
  const order: string[] = [];
  sns.middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName === 'PublishBatchCommand') {
        for (const entry of (args.input as PublishBatchCommandInput).PublishBatchRequestEntries ?? []) order.push((JSON.parse(entry.Message!) as { sequence: string }).sequence);
      }
      return next(args);
    },
    { step: 'initialize', name: 'recordPublishOrder' },
  );
  clients.push(sns);
  return { sns, order };
}

/** Runs statements in one transaction on a client of its own; returns the seqs its rows took. */
async function seqsOf(client: pg.PoolClient | pg.Pool, from: string): Promise<string[]> {
  const res = await client.query<{ seq: string }>(`SELECT seq FROM outbox.events WHERE seq > $1 ORDER BY seq`, [from]);
  return res.rows.map((r) => r.seq);
}

/** The last seq taken (rotation may have truncated the rows that held it). */
async function maxSeq(): Promise<string> {
  const res = await env.db.pool.query<{ s: string }>(`SELECT CASE WHEN is_called THEN last_value ELSE 0 END::text AS s FROM outbox.event_seq`);
  return res.rows[0]!.s;
}

async function insertMarker(id: number): Promise<string> {
  await env.db.pool.query('INSERT INTO public.items (id, v) VALUES ($1, $2)', [id, 'marker']);
  const res = await env.db.pool.query<{ seq: string }>(`SELECT max(seq)::text AS seq FROM outbox.events WHERE coalesce(key, new_row::jsonb)->>'id' = $1`, [String(id)]);
  return res.rows[0]!.seq;
}

describe('gap-safe reading', () => {
  it('publishes a transaction that took its seq first and committed last', async () => {
    const { relay, queue } = await startTestRelay();
    const late = await env.db.pool.connect();
    try {
      await late.query('BEGIN');
      await late.query(`INSERT INTO public.items (id, v) VALUES (100, 'late')`);
      const lateSeq = (await late.query<{ s: string }>(`SELECT currval('outbox.event_seq')::text AS s`)).rows[0]!.s;
      const earlySeq = await insertMarker(101);
      expect(BigInt(earlySeq)).toBeGreaterThan(BigInt(lateSeq));
      await queue.waitForSeqs([earlySeq]);
      // The relay has moved past the later seq: a reader of `seq > last` would now skip lateSeq.
      expect(queue.received.some((e) => e.sequence === lateSeq)).toBe(false);
      await late.query('COMMIT');
      await queue.waitForSeqs([lateSeq]);
      expect(relay.relay.isLeader).toBe(true);
    } finally {
      late.release();
    }
  });

  it('keeps per-key commit order in the cross-key trap (the later writer holds the lower xid)', async () => {
    await env.db.pool.query(`INSERT INTO public.items (id, v) VALUES (200, 'initial')`);
    const from = await maxSeq();
    const t1 = await env.db.pool.connect();
    const t2 = await env.db.pool.connect();
    try {
      // T1 takes the lower xid first (by writing another row), T2 updates key 200 and commits,
      // then T1 updates key 200 and commits: T1 is the later writer of 200, with the lower xid.
      await t1.query('BEGIN');
      await t1.query(`INSERT INTO public.items (id, v) VALUES (201, 'other')`);
      await t2.query('BEGIN');
      await t2.query(`UPDATE public.items SET v = 'by-t2' WHERE id = 200`);
      const x2 = (await t2.query<{ x: string }>('SELECT pg_current_xact_id()::text AS x')).rows[0]!.x;
      await t2.query('COMMIT');
      await t1.query(`UPDATE public.items SET v = 'by-t1' WHERE id = 200`);
      const x1 = (await t1.query<{ x: string }>('SELECT pg_current_xact_id()::text AS x')).rows[0]!.x;
      await t1.query('COMMIT');
      expect(BigInt(x1)).toBeLessThan(BigInt(x2));
    } finally {
      t1.release();
      t2.release();
    }
    const seqs = await seqsOf(env.db.pool, from);
    // Started after both commits, so both updates fall into one window. The publish order is
    // recorded at the SNS client, which exists before the relay starts: a listener attached after
    // startRelay could miss a batch published at once.
    const { sns, order } = recordingSns();
    const { queue } = await startTestRelay({ sns });
    await queue.waitForSeqs(seqs);
    const updates = queue.received.filter((e) => e.data?.key?.id === 200 && e.data.op === 'update');
    const byT1 = updates.find((e) => e.data?.after?.v === 'by-t1')!;
    const byT2 = updates.find((e) => e.data?.after?.v === 'by-t2')!;
    expect(BigInt(byT1.sequence)).toBeGreaterThan(BigInt(byT2.sequence));
    const published = order.filter((s) => s === byT1.sequence || s === byT2.sequence);
    expect(published).toEqual([byT2.sequence, byT1.sequence]);
  });

  it('publishes nothing of a rolled-back transaction', async () => {
    const { queue } = await startTestRelay();
    const client = await env.db.pool.connect();
    try {
      await client.query('BEGIN');
      await client.query(`INSERT INTO public.items (id, v) SELECT g, 'rolled-back' FROM generate_series(300, 309) g`);
      await client.query('ROLLBACK');
    } finally {
      client.release();
    }
    const marker = await insertMarker(310);
    await queue.waitForSeqs([marker]);
    await queue.drain();
    expect(queue.received.filter((e) => e.data?.after?.v === 'rolled-back')).toEqual([]);
  });
});

describe('publishing', () => {
  it('respects the PublishBatch entry and byte limits, in order, through the real publisher', async () => {
    const sns = new SNSClient({ region: 'us-east-1', endpoint: emulator.endpoint, credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
    const calls: PublishBatchCommandInput[] = [];
    sns.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === 'PublishBatchCommand') calls.push(structuredClone(args.input as PublishBatchCommandInput));
        return next(args);
      },
      { step: 'initialize', name: 'recordPublishBatch' },
    );
    try {
      const { queue } = await startTestRelay({ sns });
      const from = await maxSeq();
      // 60 KB rows: four fit under 256 KiB, so the byte limit binds before the entry limit.
      await env.db.pool.query(`INSERT INTO public.items (id, v, payload) SELECT g, 'big', repeat('x', 60000) FROM generate_series(400, 439) g`);
      await env.db.pool.query(`INSERT INTO public.items (id, v) SELECT g, 'small' FROM generate_series(440, 499) g`);
      const seqs = await seqsOf(env.db.pool, from);
      await queue.waitForSeqs(seqs);
      expect(calls.length).toBeGreaterThan(0);
      for (const call of calls) {
        const entries = call.PublishBatchRequestEntries!;
        expect(entries.length).toBeLessThanOrEqual(MAX_BATCH_ENTRIES);
        const bytes = entries.reduce((sum, e) => sum + messageBytes(e.Message!, e.MessageAttributes ?? {}), 0);
        expect(bytes).toBeLessThanOrEqual(MAX_BATCH_BYTES);
      }
      expect(calls.some((c) => c.PublishBatchRequestEntries!.length < MAX_BATCH_ENTRIES && c.PublishBatchRequestEntries!.length > 1)).toBe(true);
    } finally {
      sns.destroy();
    }
  });

  it('quarantines an oversized event (no claim-check bucket) and keeps the stream going', async () => {
    const { queue } = await startTestRelay();
    const from = await maxSeq();
    await env.db.pool.query(`INSERT INTO public.items (id, v, payload) VALUES (500, 'huge', repeat('y', 300000))`);
    const [hugeSeq] = await seqsOf(env.db.pool, from);
    const marker = await insertMarker(501);
    await queue.waitForSeqs([marker]);
    const q = await env.db.pool.query(`SELECT seq::text, table_name, op, reason, size_bytes FROM outbox.quarantine WHERE seq = $1`, [hugeSeq]);
    expect(q.rows).toHaveLength(1);
    expect(q.rows[0].table_name).toBe('items');
    expect(q.rows[0].size_bytes).toBeGreaterThan(256 * 1024);
    expect(queue.received.some((e) => e.sequence === hugeSeq)).toBe(false);
  });
});

describe('leadership state', () => {
  it('bumps the epoch on each new leader, shows it in status, and clears the name on a graceful stop', async () => {
    const before = await env.source.status();
    const { relay } = await startTestRelay();
    await waitFor(() => relay.relay.isLeader, { what: 'leadership' });
    const status = await env.source.status();
    expect(status.leader.id).toBe(relay.instanceId);
    expect(BigInt(status.leader.epoch)).toBeGreaterThan(BigInt(before.leader.epoch));
    expect(relay.relay.epoch).toBe(status.leader.epoch);
    await running.pop()!.close();
    expect((await env.source.status()).leader.id).toBeNull();
  });

  it('fences a stale session: its advance and rotation touch nothing once a newer leader claimed', async () => {
    const store = await PostgresOutboxStore.open({ url: env.db.url, schema: 'outbox', logger: silentLogger });
    try {
      const stale = await store.claimLeadership('stale');
      const fresh = await store.claimLeadership('fresh');
      await insertMarker(600);
      const page = await stale.readPage(100);
      expect(page.events.length).toBeGreaterThan(0);
      expect(await stale.advance(page, page.events.length)).toBe(false);
      expect(await stale.checkpoint()).toBe(false);
      await env.db.pool.query(`UPDATE outbox.rotation SET rotated_at = now() - interval '1 day'`);
      expect(await stale.reclaim(0)).toEqual({ done: false, reason: 'fenced' });
      const state = await env.db.pool.query(`SELECT epoch::text, leader_id FROM outbox.relay_state`);
      expect(state.rows[0]).toEqual({ epoch: fresh.epoch, leader_id: 'fresh' });
      // The fresh leader still sees the event the stale one failed to advance past.
      const again = await fresh.readPage(100);
      expect(again.events.map((e) => e.seq)).toEqual(page.events.map((e) => e.seq));
      expect(await fresh.advance(again, again.events.length)).toBe(true);
      await env.db.pool.query(`UPDATE outbox.rotation SET rotated_at = now()`);
    } finally {
      await store.close();
    }
  });
});

describe('space reclaim (rotation)', () => {
  it('never truncates an unpublished row, including one of a transaction open during rotation', async () => {
    const store = await PostgresOutboxStore.open({ url: env.db.url, schema: 'outbox', logger: silentLogger });
    const writer = await env.db.pool.connect();
    try {
      const session = await store.claimLeadership('rotation-test');
      // Publish everything so far (stand-in for the relay), so only the open transaction's row is pending.
      const drain = async () => {
        for (;;) {
          const page = await session.readPage(1000);
          if (page.events.length > 0) expect(await session.advance(page, page.events.length)).toBe(true);
          if (page.last) return;
        }
      };
      await drain();
      const due = () => env.db.pool.query(`UPDATE outbox.rotation SET rotated_at = now() - interval '1 day'`);
      const current = async () => (await env.db.pool.query<{ p: number }>('SELECT current_part AS p FROM outbox.rotation')).rows[0]!.p;
      const start = await current();

      await writer.query('BEGIN');
      await writer.query(`INSERT INTO public.items (id, v) VALUES (700, 'open during rotation')`);
      const openSeq = (await writer.query<{ s: string }>(`SELECT currval('outbox.event_seq')::text AS s`)).rows[0]!.s;

      await env.db.pool.query(`UPDATE outbox.rotation SET rotated_at = now()`);
      expect(await session.reclaim(60_000)).toEqual({ done: false, reason: 'not-due' });
      await due();
      expect(await session.reclaim(0)).toEqual({ done: true, partition: (start + 1) % 3 });
      await due();
      expect(await session.reclaim(0)).toEqual({ done: true, partition: (start + 2) % 3 });
      // The next partition is the one the open transaction wrote into: its lock keeps it.
      await due();
      expect(await session.reclaim(0)).toEqual({ done: false, reason: 'busy' });
      await writer.query('COMMIT');
      // Committed but not published yet: still kept.
      expect(await session.reclaim(0)).toEqual({ done: false, reason: 'unpublished' });
      const row = await env.db.pool.query(`SELECT part FROM outbox.events WHERE seq = $1`, [openSeq]);
      expect(row.rows).toEqual([{ part: start }]);
      // Published and past retention: reclaimed.
      const page = await session.readPage(1000);
      expect(page.events.map((e) => e.seq)).toContain(openSeq);
      expect(await session.advance(page, page.events.length)).toBe(true);
      await drain();
      expect(await session.reclaim(60 * 60 * 1000)).toEqual({ done: false, reason: 'too-recent' });
      expect(await session.reclaim(0)).toEqual({ done: true, partition: start });
      expect((await env.db.pool.query(`SELECT count(*)::int AS n FROM outbox.events WHERE seq = $1`, [openSeq])).rows[0].n).toBe(0);
      await env.db.pool.query(`UPDATE outbox.rotation SET rotated_at = now()`);
    } finally {
      await writer.query('ROLLBACK').catch(() => undefined);
      writer.release();
      await store.close();
    }
  });

  it('loses nothing while the relay rotates continuously under concurrent writes', async () => {
    const { relay, queue } = await startTestRelay({ timings: { reclaimIntervalMs: 50, retentionMs: 0 } });
    let reclaimed = 0;
    relay.relay.on('reclaimed', () => reclaimed++);
    const from = await maxSeq();
    const writers = Array.from({ length: 4 }, async (_, w) => {
      for (let i = 0; i < 40; i++) {
        const id = 10_000 + w * 1000 + i;
        const c = await env.db.pool.connect();
        try {
          await c.query('BEGIN');
          await c.query(`INSERT INTO public.items (id, v) VALUES ($1, 'rot')`, [id]);
          await c.query(`UPDATE public.items SET v = 'rot2' WHERE id = $1`, [id]);
          await c.query('COMMIT');
        } finally {
          c.release();
        }
        await env.db.pool.query(`UPDATE outbox.rotation SET rotated_at = now() - interval '1 day'`);
      }
    });
    await Promise.all(writers);
    const seqs = await env.db.pool.query<{ seq: string }>(`SELECT seq FROM outbox.events WHERE seq > $1`, [from]);
    // Some rows may already be gone (truncated after publishing); the expected set is every seq taken.
    const last = await maxSeq();
    const expected = [];
    for (let s = BigInt(from) + 1n; s <= BigInt(last); s++) expected.push(String(s));
    expect(expected.length).toBe(4 * 40 * 2);
    await queue.waitForSeqs(expected);
    const result = tally(queue.received, expected);
    expect(result.missing).toEqual([]);
    expect(reclaimed).toBeGreaterThan(0);
    expect(seqs.rows.length).toBeLessThanOrEqual(expected.length);
    await env.db.pool.query(`UPDATE outbox.rotation SET rotated_at = now()`);
  });
});
