/**
 * The bare failover a relay handover is compared with (bench/relay-failover.ts, bench/fault-soak.ts):
 * two redlock clients of one key, the same TTL and the same settings as the relay's leader lock
 * (src/relay/leader.ts: no retries, drift factor 0.01, renewed when half the TTL is left, a standby
 * trying every min(500 ms, TTL / 4) as src/relay/start.ts sets it). The holder stops renewing at a
 * random moment of its term (as a killed process does) and the time until the standby holds the
 * lock is measured: lock expiry plus reacquire, with nothing else — no database epoch, no publish.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import Redlock, { type Lock } from 'redlock';
import { sleep } from '../../src/sleep.js';

export interface LockBaseline {
  /** Kill → standby holds the lock, ms, one per round. */
  takeoverMs: number[];
  mean: number;
  worst: number;
}

export async function measureLockTakeover(redisUrl: string, ttlMs: number, rounds: number, pollIntervalMs = 500): Promise<LockBaseline> {
  const acquireIntervalMs = Math.min(pollIntervalMs, Math.floor(ttlMs / 4));
  const key = `bench-lock-baseline-${randomBytes(4).toString('hex')}`;
  const clients = [0, 1].map(() => new Redis(redisUrl, { enableOfflineQueue: false, maxRetriesPerRequest: 0, lazyConnect: true }));
  await Promise.all(clients.map((c) => c.connect()));
  const [holder, standby] = clients.map((c) => {
    const r = new Redlock([c], { retryCount: 0, driftFactor: 0.01 });
    r.on('error', () => undefined);
    return r;
  }) as [Redlock, Redlock];
  const takeoverMs: number[] = [];
  try {
    for (let round = 0; round < rounds; round++) {
      let lock: Lock = await holder.acquire([key], ttlMs, { retryCount: 0 });
      // Renew when half the TTL is left, until the "kill" at a random moment of the term.
      const killAt = Date.now() + ttlMs * (0.5 + Math.random());
      while (Date.now() < killAt) {
        const renewAt = lock.expiration - ttlMs / 2;
        if (Date.now() >= renewAt) lock = await holder.extend(lock, ttlMs, { retryCount: 0 });
        else await sleep(Math.min(renewAt, killAt) - Date.now());
      }
      const killedAt = Date.now();
      for (;;) {
        const got = await standby.acquire([key], ttlMs, { retryCount: 0 }).catch(() => undefined);
        if (got) {
          takeoverMs.push(Date.now() - killedAt);
          await got.release().catch(() => undefined);
          break;
        }
        await sleep(acquireIntervalMs);
      }
    }
  } finally {
    for (const c of clients) c.disconnect();
  }
  return { takeoverMs, mean: takeoverMs.reduce((s, v) => s + v, 0) / takeoverMs.length, worst: Math.max(...takeoverMs) };
}
