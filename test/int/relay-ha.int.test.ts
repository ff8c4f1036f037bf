import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/logger.js';
import { Redis } from 'ioredis';
import { leaderLockKey, startRelay, type RelayProcess } from '../../src/relay/start.js';
import { startEmulator, type Emulator } from '../helpers/fauxqs.js';
import { REDIS_URL } from '../helpers/env.js';
import {
  freePort,
  relayConfig,
  relayConfigDoc,
  scrapeMetric,
  spawnRelay,
  startPrivateRedis,
  startTcpProxy,
  subscribeQueue,
  tally,
  writeConfigFile,
  type QueueReader,
  type RelayChild,
} from '../helpers/relay.js';
import { cliNodeArgs } from '../helpers/cli.js';
import { createMigratedSource } from '../helpers/source.js';
import { waitFor } from '../helpers/wait.js';

let env: Awaited<ReturnType<typeof createMigratedSource>>;
let emulator: Emulator;
const running: RelayProcess[] = [];
const children: RelayChild[] = [];
const readers: QueueReader[] = [];
let nextId = 1;

beforeAll(async () => {
  Object.assign(process.env, { AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test' });
  env = await createMigratedSource();
  emulator = await startEmulator();
  await env.db.pool.query('CREATE TABLE public.items (id int PRIMARY KEY, v int NOT NULL)');
  await env.source.track({ table: { schema: 'public', table: 'items' } });
});

afterEach(async () => {
  await Promise.all(running.splice(0).map((r) => r.close()));
  for (const child of children.splice(0)) {
    if (child.proc.exitCode === null && child.proc.signalCode === null) {
      child.proc.kill('SIGCONT');
      child.proc.kill('SIGKILL');
      await child.exited;
    }
  }
  while (readers.length) readers.pop()!.close();
});

afterAll(async () => {
  await env?.close();
  await emulator?.stop();
});

async function lastSeq(): Promise<bigint> {
  const res = await env.db.pool.query<{ s: string }>(`SELECT CASE WHEN is_called THEN last_value ELSE 0 END::text AS s FROM outbox.event_seq`);
  return BigInt(res.rows[0]!.s);
}

function seqRange(from: bigint, to: bigint): string[] {
  const out: string[] = [];
  for (let s = from + 1n; s <= to; s++) out.push(String(s));
  return out;
}

/** Inserts `count` rows, one transaction each, from `concurrency` writers. */
async function write(count: number, concurrency = 2): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        next += 1;
        await env.db.pool.query('INSERT INTO public.items (id, v) VALUES ($1, 0)', [nextId++]);
      }
    }),
  );
}

/** Writes continuously (one row per transaction, a few ms apart) until stop() is called. */
function writeContinuously(): { stop(): Promise<number> } {
  let stopped = false;
  let written = 0;
  const loop = (async () => {
    while (!stopped) {
      await env.db.pool.query('INSERT INTO public.items (id, v) VALUES ($1, 1)', [nextId++]);
      written += 1;
      await new Promise((r) => setTimeout(r, 5));
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
      return written;
    },
  };
}

/** Starts two relay processes at once; returns them once one leads and the other stands by. */
async function spawnPair(file: string, prefix: string, args: (name: string) => string[] = () => []): Promise<{ leader: RelayChild; standby: RelayChild; names: Map<RelayChild, string> }> {
  const names = new Map<RelayChild, string>();
  const nodeArgs = await cliNodeArgs();
  for (const name of [`${prefix}-a`, `${prefix}-b`]) {
    const child = spawnRelay(file, name, { args: args(name), nodeArgs });
    children.push(child);
    names.set(child, name);
  }
  const pair = [...names.keys()];
  const leader = await waitFor(() => pair.find((c) => c.logs.some((l) => l.msg === 'leading')), { timeoutMs: 30_000, what: 'a leading relay process' });
  const standby = pair.find((c) => c !== leader)!;
  await standby.waitForLog((l) => l.msg === 'relay started', 30_000);
  return { leader, standby, names };
}

async function freshTopic() {
  const topic = `t-${randomBytes(5).toString('hex')}`;
  const queue = await subscribeQueue(emulator.endpoint, topic);
  readers.push(queue);
  return { topic, queue };
}

describe('leader election', () => {
  it('makes exactly one of two relays leader, and hands over at once on a graceful stop', async () => {
    const { topic, queue } = await freshTopic();
    // A 10 s TTL: a handover well under it can only come from the released lock, however loaded the machine.
    const doc = relayConfigDoc({ sourceUrl: env.db.url, redisUrl: REDIS_URL, endpoint: emulator.endpoint, topic, relay: { lockTtlMs: 10_000 } });
    const a = await startRelay({ config: relayConfig(doc), logger: silentLogger, instanceId: 'a' });
    const b = await startRelay({ config: relayConfig(doc), logger: silentLogger, instanceId: 'b' });
    running.push(a, b);
    const leader = await waitFor(() => [a, b].find((r) => r.relay.isLeader), { what: 'a leader' });
    const standby = leader === a ? b : a;
    // Both have had several lock attempts by now (every 100 ms); still one leader.
    const from = await lastSeq();
    await write(20);
    await queue.waitForSeqs(seqRange(from, await lastSeq()));
    expect([a, b].filter((r) => r.relay.isLeader)).toEqual([leader]);

    const handedOver = new Promise<number>((resolve) => standby.relay.once('leader-acquired', () => resolve(Date.now())));
    const stopAt = Date.now();
    await leader.close();
    const tookMs = (await handedOver) - stopAt;
    expect(tookMs).toBeLessThan(5_000); // well under the 10 s TTL: the lock was released
    const from2 = await lastSeq();
    await write(10);
    await queue.waitForSeqs(seqRange(from2, await lastSeq()));
    const status = await env.source.status();
    expect(status.leader.id).toBe(standby.instanceId);
  });

  it('says so when two relays on one outbox do not share a lock (different redis.keyPrefix), and still loses nothing', async () => {
    const { topic, queue } = await freshTopic();
    const doc = (keyPrefix: string) => relayConfigDoc({ sourceUrl: env.db.url, redisUrl: REDIS_URL, endpoint: emulator.endpoint, topic, keyPrefix, relay: { lockTtlMs: 10_000 } });
    const timings = { heartbeatMs: 100 };
    const a = await startRelay({ config: relayConfig(doc(`pa-${randomBytes(4).toString('hex')}`)), logger: silentLogger, instanceId: 'prefix-a', timings });
    const b = await startRelay({ config: relayConfig(doc(`pb-${randomBytes(4).toString('hex')}`)), logger: silentLogger, instanceId: 'prefix-b', timings });
    running.push(a, b);
    const foreign = new Promise<{ epoch: string; lockHeld: boolean }>((resolve) => {
      for (const r of [a, b]) r.relay.on('fenced', (f) => f.lockHeld && resolve(f));
    });
    const from = await lastSeq();
    await write(20);
    expect((await foreign).lockHeld).toBe(true);
    const counted = async () => (await a.metrics.registry.getSingleMetricAsString('outbox_relay_fenced_holding_lock_total')) + (await b.metrics.registry.getSingleMetricAsString('outbox_relay_fenced_holding_lock_total'));
    expect(await counted()).toMatch(/outbox_relay_fenced_holding_lock_total\{[^}]*\} [1-9]/);
    await queue.waitForSeqs(seqRange(from, await lastSeq()));
  });

  it('stops publishing while Redis is down and resumes when it is back', async () => {
    const redis = await startPrivateRedis();
    try {
      const { topic, queue } = await freshTopic();
      const doc = relayConfigDoc({ sourceUrl: env.db.url, redisUrl: redis.url, endpoint: emulator.endpoint, topic });
      const relays = [
        await startRelay({ config: relayConfig(doc), logger: silentLogger, instanceId: 'ra' }),
        await startRelay({ config: relayConfig(doc), logger: silentLogger, instanceId: 'rb' }),
      ];
      running.push(...relays);
      await waitFor(() => relays.some((r) => r.relay.isLeader), { what: 'a leader' });
      let publishedWhileDown = 0;
      let down = false;
      for (const r of relays) r.relay.on('batch-published', (b) => (publishedWhileDown += down ? b.count : 0));

      await redis.stop();
      // The leader's next renewal fails (at the latest when the TTL runs out): nobody leads.
      await waitFor(() => relays.every((r) => !r.relay.isLeader), { timeoutMs: 5_000, what: 'leadership to end' });
      down = true;
      const from = await lastSeq();
      await write(20);
      // An observation window (a negative: nothing may happen in it) of more than one TTL.
      const observedUntil = Date.now() + 2_500;
      await waitFor(() => Date.now() > observedUntil || relays.some((r) => r.relay.isLeader), { timeoutMs: 5_000 });
      expect(relays.some((r) => r.relay.isLeader)).toBe(false);
      expect(publishedWhileDown).toBe(0);
      expect((await queue.drain()).filter((e) => BigInt(e.sequence) > from)).toEqual([]);
      expect(relays.every((r) => !r.relay.ready())).toBe(true);

      down = false;
      await redis.start();
      await waitFor(() => relays.some((r) => r.relay.isLeader), { timeoutMs: 10_000, what: 'a leader after Redis is back' });
      await queue.waitForSeqs(seqRange(from, await lastSeq()));
      expect(relays.filter((r) => r.relay.isLeader)).toHaveLength(1);
    } finally {
      await Promise.all(running.splice(0).map((r) => r.close()));
      await redis.stop();
    }
  });
});

describe('SNS outage', () => {
  it('opens the breaker, stops reading, and loses nothing after recovery', async () => {
    const proxy = await startTcpProxy(emulator.endpoint);
    try {
      const { topic, queue } = await freshTopic();
      const doc = relayConfigDoc({
        sourceUrl: env.db.url,
        redisUrl: REDIS_URL,
        endpoint: proxy.url,
        topic,
        relay: { breaker: { timeoutMs: 1_000, resetTimeoutMs: 1_000, volumeThreshold: 1, errorThresholdPercentage: 50, rollingCountTimeoutMs: 5_000 } },
      });
      const relay = await startRelay({ config: relayConfig(doc), logger: silentLogger, instanceId: 'sns' });
      running.push(relay);
      const from = await lastSeq();
      await write(10);
      await queue.waitForSeqs(seqRange(from, await lastSeq()));

      proxy.block();
      const from2 = await lastSeq();
      await write(30);
      await waitFor(async () => (await scrapeAvailable(relay)) === 0, { timeoutMs: 15_000, what: 'the breaker to open' });
      const backlog = await env.source.status();
      expect(backlog.backlog).toBeGreaterThan(0);

      proxy.unblock();
      await queue.waitForSeqs(seqRange(from2, await lastSeq()), 30_000);
      const result = tally(await queue.drain(), seqRange(from2, await lastSeq()));
      expect(result.missing).toEqual([]);
    } finally {
      await Promise.all(running.splice(0).map((r) => r.close()));
      await proxy.close();
    }
  });
});

/** 0 while the publish breaker is open (the relay has stopped reading), else 1. */
async function scrapeAvailable(relay: RelayProcess): Promise<number> {
  const metric = await relay.metrics.registry.getSingleMetric('outbox_publish_breaker_state')?.get();
  return metric?.values[0]?.value === 2 ? 0 : 1;
}

describe('relay processes (CLI)', () => {
  it('loses nothing when the leader is killed with SIGKILL during a continuous write load', async () => {
    const { topic, queue } = await freshTopic();
    const file = writeConfigFile(relayConfigDoc({ sourceUrl: env.db.url, redisUrl: REDIS_URL, endpoint: emulator.endpoint, topic, relay: { readBatchSize: 50 } }));
    const { leader: a, standby: b } = await spawnPair(file, 'kill');
    const from = await lastSeq();
    const load = writeContinuously();
    // Let the leader publish part of the load, then kill it mid-stream.
    await waitFor(async () => (await lastSeq()) - from > 100n, { what: 'writes' });
    a.proc.kill('SIGKILL');
    const killedAt = Date.now();
    // When the standby got the lock, by its own clock (its log line's time), not when this loaded
    // process got around to reading the line.
    const acquired = await b.waitForLog((l) => l.msg === 'leader lock acquired', 10_000);
    await b.waitForLog((l) => l.msg === 'leading', 10_000);
    const takeoverMs = Date.parse(String(acquired.time)) - killedAt;
    await waitFor(async () => (await lastSeq()) - from > 300n, { what: 'more writes' });
    const written = await load.stop();
    const expected = seqRange(from, await lastSeq());
    expect(expected.length).toBe(written);
    await queue.waitForSeqs(expected, 30_000);
    const result = tally(await queue.drain(), expected);
    console.info(`kill -9 failover: ${expected.length} changes, takeover ${takeoverMs} ms (TTL 2000 ms), ${result.duplicates} duplicate(s), ${result.missing.length} lost`);
    expect(result.missing).toEqual([]);
    expect(takeoverMs).toBeLessThan(2_000 + 1_000);
  });

  it('fences a leader paused past its TTL (SIGSTOP/SIGCONT): it advances nothing, publishes at most one batch; SIGTERM hands over at once', async () => {
    const { topic, queue } = await freshTopic();
    const readBatchSize = 50;
    const doc = relayConfigDoc({ sourceUrl: env.db.url, redisUrl: REDIS_URL, endpoint: emulator.endpoint, topic, relay: { readBatchSize } });
    const file = writeConfigFile(doc);
    const ports = new Map([['pause-a', await freePort()], ['pause-b', await freePort()]]);
    const { leader: a, standby: b, names } = await spawnPair(file, 'pause', (name) => ['--metrics-port', String(ports.get(name))]);
    const portA = ports.get(names.get(a)!)!;

    const from = await lastSeq();
    await write(30);
    await queue.waitForSeqs(seqRange(from, await lastSeq()));
    const epochA = (await env.source.status()).leader.epoch;
    expect((await fetch(`http://127.0.0.1:${portA}/healthz`)).status).toBe(200);
    expect((await fetch(`http://127.0.0.1:${portA}/readyz`)).status).toBe(200);
    expect(await scrapeMetric(portA, 'outbox_relay_leader')).toBe(1);
    expect(await scrapeMetric(portA, 'outbox_relay_epoch')).toBe(Number(epochA));
    const publishedBefore = await scrapeMetric(portA, 'outbox_events_published_total');
    const advancedBefore = await scrapeMetric(portA, 'outbox_relay_events_advanced_total');

    a.proc.kill('SIGSTOP');
    await b.waitForLog((l) => l.msg === 'leading', 10_000);
    const epochB = (await env.source.status()).leader.epoch;
    expect(BigInt(epochB)).toBeGreaterThan(BigInt(epochA));
    // Work waits for the paused leader: a page it might publish on waking.
    const from2 = await lastSeq();
    await write(40);
    await queue.waitForSeqs(seqRange(from2, await lastSeq()));

    a.proc.kill('SIGCONT');
    await a.waitForLog((l) => l.msg === 'stopped leading', 10_000);
    const from3 = await lastSeq();
    await write(10);
    await queue.waitForSeqs(seqRange(from3, await lastSeq()));

    const state = await env.source.status();
    expect(state.leader).toMatchObject({ id: names.get(b), epoch: epochB });
    expect(await scrapeMetric(portA, 'outbox_relay_leader')).toBe(0);
    const publishedByStale = (await scrapeMetric(portA, 'outbox_events_published_total')) - publishedBefore;
    expect(publishedByStale).toBeLessThanOrEqual(readBatchSize);
    expect(await scrapeMetric(portA, 'outbox_relay_events_advanced_total')).toBe(advancedBefore);

    // The fenced ex-leader is a healthy standby now. SIGTERM on the leader: it drains, releases the
    // lock and exits 0, and the standby takes over. Released, not expired: the moment the leader has
    // exited, the lock no longer holds its token (it renews every second while it drains, so an
    // unreleased lock would still hold it for a TTL).
    const redis = new Redis(REDIS_URL);
    try {
      const lockKey = leaderLockKey(relayConfig(doc));
      const tokenB = await redis.get(lockKey);
      expect(tokenB).not.toBeNull();
      b.proc.kill('SIGTERM');
      expect(await b.exited).toBe(0);
      expect(await redis.get(lockKey)).not.toBe(tokenB);
    } finally {
      redis.disconnect();
    }
    await waitFor(() => a.logs.filter((l) => l.msg === 'leading').length >= 2, { timeoutMs: 20_000, what: 'the standby to take over' });
    const from4 = await lastSeq();
    await write(10);
    await queue.waitForSeqs(seqRange(from4, await lastSeq()));
  });
});
