/**
 * A soak subject: a relay and a consumer (PostgreSQL target) of one source, in this process, against
 * the real services, and what to watch while it runs for a long time — heap after a full GC, RSS,
 * active handles and the listener counts of every long-lived signal and emitter. Used by
 * bench/soak.ts (minutes to hours) and test/int/soak.int.test.ts (under a minute).
 *
 * An idle subject writes nothing: its consumer long-polls an empty queue and its relay polls an empty
 * outbox (the loops that leaked before); a busy one commits inserts, updates and deletes at a rate.
 */
import { randomBytes } from 'node:crypto';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { RelayProcess } from '../../src/relay/start.js';
import { sleep } from '../../src/sleep.js';
import { createTestDatabase, type TestDatabase } from './db.js';
import { REDIS_URL } from './env.js';
import { pipelineConfig, startPipelineRelay, startTarget, useEmulatorCredentials, type RunningTarget } from './pipeline.js';
import { createMigratedSource } from './source.js';
import { waitFor } from './wait.js';

export type SoakMode = 'idle' | 'busy';

export interface SoakSample {
  /** Seconds since the subject started. */
  t: number;
  heapMiB: number;
  rssMiB: number;
  /** Handles and requests keeping the event loop alive (timers, sockets…). */
  activeResources: number;
  listeners: Record<string, number>;
  written: number;
  applied: number;
}

export interface SoakSubject {
  mode: SoakMode;
  sample(): SoakSample;
  /** Stops writing, waits until the target equals the source, and returns how long that took. */
  converge(timeoutMs?: number): Promise<number>;
  close(): Promise<void>;
}

const SOURCE_DDL = 'CREATE TABLE public.items (id bigint PRIMARY KEY, v int NOT NULL, note text NOT NULL)';

let gc: (() => void) | undefined;

/** A full garbage collection, so heap samples show what is retained (works without --expose-gc). */
export function collectGarbage(): void {
  if (!gc) {
    setFlagsFromString('--expose-gc');
    gc = runInNewContext('gc') as () => void;
  }
  gc();
}

export async function startSoakSubject(options: { mode: SoakMode; endpoint: string; ratePerSec?: number }): Promise<SoakSubject> {
  useEmulatorCredentials();
  const started = Date.now();
  const [source, target] = await Promise.all([createMigratedSource(), createTestDatabase('outbox_soak_target')]);
  let relay: RelayProcess | undefined;
  let consumer: RunningTarget | undefined;
  const writing = new AbortController();
  let written = 0;
  let applied = 0;
  let writer: Promise<void> = Promise.resolve();
  const close = async () => {
    writing.abort();
    await writer.catch(() => undefined);
    await relay?.close();
    await consumer?.stop();
    await Promise.all([source.close(), target.drop()]);
  };
  try {
    await source.db.pool.query(SOURCE_DDL);
    await target.pool.query(SOURCE_DDL);
    await source.source.track({ table: { schema: 'public', table: 'items' } });
    const id = randomBytes(4).toString('hex');
    // Product defaults (lock TTL, polls, queue long-poll, 4 receive loops): what runs for weeks.
    const config = pipelineConfig(
      {
        source: { url: source.db.url, schema: 'outbox', name: `soak-${options.mode}` },
        redis: { urls: [REDIS_URL], keyPrefix: `soak-${id}` },
        publish: { topics: { default: { name: `soak-${options.mode}-${id}` } } },
        aws: { region: 'us-east-1', endpoint: options.endpoint },
        // the queue is named after the target: one per subject, so subjects can share an emulator
        targets: { copy: { kind: 'postgres', urlEnv: 'COPY_URL', tables: ['public.items'], stateSchema: 'sync_state', queue: { name: `soak-${options.mode}-${id}` } } },
        log: { level: 'silent' },
      },
      { COPY_URL: target.url },
    );
    consumer = await startTarget(config, 'copy');
    consumer.consumer.on('batch-applied', (b) => (applied += b.applied));
    relay = await startPipelineRelay(config, `soak-${options.mode}`);
    await waitFor(() => relay!.relay.isLeader, { timeoutMs: 30_000, what: 'the relay to lead' });
    if (options.mode === 'busy') writer = write(source.db, options.ratePerSec ?? 50, writing.signal, () => (written += 1));
  } catch (err) {
    await close().catch(() => undefined);
    throw err;
  }

  return {
    mode: options.mode,
    sample() {
      collectGarbage();
      const memory = process.memoryUsage();
      return {
        t: (Date.now() - started) / 1000,
        heapMiB: memory.heapUsed / 2 ** 20,
        rssMiB: memory.rss / 2 ** 20,
        activeResources: process.getActiveResourcesInfo().length,
        listeners: { ...consumer!.consumer.listenerCounts(), ...relay!.relay.listenerCounts() },
        written,
        applied,
      };
    },
    async converge(timeoutMs = 120_000) {
      writing.abort();
      await writer;
      const from = Date.now();
      const snapshot = 'SELECT coalesce(md5(string_agg(id::text || \':\' || v || \':\' || note, \',\' ORDER BY id)), \'\') AS sum, count(*)::int AS n FROM public.items';
      const want = (await source.db.pool.query<{ sum: string; n: number }>(snapshot)).rows[0]!;
      await waitFor(async () => (await target.pool.query<{ sum: string }>(snapshot)).rows[0]!.sum === want.sum, { timeoutMs, intervalMs: 200, what: `the target to equal the source (${want.n} rows)` });
      return Date.now() - from;
    },
    close,
  };
}

/** Single-row inserts, updates and deletes at about ratePerSec, on 200 keys, until the signal aborts. */
async function write(db: TestDatabase, ratePerSec: number, signal: AbortSignal, onWrite: () => void): Promise<void> {
  let step = 0;
  const begun = Date.now();
  while (!signal.aborted) {
    const id = 1 + (step % 200);
    const roll = (step * 7919) % 10;
    if (roll < 6) await db.pool.query('INSERT INTO public.items (id, v, note) VALUES ($1, $2, $3) ON CONFLICT (id) DO UPDATE SET v = public.items.v + 1, note = excluded.note', [id, step, `n${step}`]);
    else if (roll < 9) await db.pool.query('UPDATE public.items SET v = v + 1 WHERE id = $1', [id]);
    else await db.pool.query('DELETE FROM public.items WHERE id = $1', [id]);
    onWrite();
    step += 1;
    await sleep(begun + (step * 1000) / ratePerSec - Date.now(), signal);
  }
}

/** Least-squares slope of y over x. */
export function slope(points: { x: number; y: number }[]): number {
  const n = points.length;
  if (n < 2) return 0;
  const mx = points.reduce((s, p) => s + p.x, 0) / n;
  const my = points.reduce((s, p) => s + p.y, 0) / n;
  const sxx = points.reduce((s, p) => s + (p.x - mx) ** 2, 0);
  return sxx === 0 ? 0 : points.reduce((s, p) => s + (p.x - mx) * (p.y - my), 0) / sxx;
}
