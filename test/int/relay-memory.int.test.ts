import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { cliNodeArgs } from '../helpers/cli.js';
import { startEmulator, type Emulator } from '../helpers/fauxqs.js';
import { REDIS_URL } from '../helpers/env.js';
import { freePort, relayConfigDoc, spawnRelay, writeConfigFile, type RelayChild } from '../helpers/relay.js';
import { createMigratedSource } from '../helpers/source.js';

/**
 * `outbox relay` keeps V8's heap growth small (--heap-growth, src/relay/heap.ts): draining a backlog,
 * each page is promoted and becomes old garbage, which V8's default factor lets pile up. The same
 * backlog is drained twice, by a relay with the default and one with V8's own factor (0); the
 * default must run more full collections and peak with a smaller heap.
 */
// Enough pages that the difference is not a matter of when a collection happens to fall: at 6,000
// changes both could end with one full GC on a loaded machine; at 20,000 here 11 against 2, 82 MiB against 153.
const CHANGES = 20_000;
const MiB = 1024 * 1024;

let env: Awaited<ReturnType<typeof createMigratedSource>>;
let emulator: Emulator;
const children: RelayChild[] = [];

beforeAll(async () => {
  env = await createMigratedSource();
  emulator = await startEmulator();
  await env.db.pool.query('CREATE TABLE public.items (id bigint PRIMARY KEY, v int NOT NULL, note text NOT NULL)');
  await env.source.track({ table: { schema: 'public', table: 'items' } });
});

afterEach(async () => {
  for (const child of children.splice(0)) {
    if (child.proc.exitCode === null && child.proc.signalCode === null) {
      child.proc.kill('SIGKILL');
      await child.exited;
    }
  }
});

afterAll(async () => {
  await env?.close();
  await emulator?.stop();
});

interface Drain {
  peakHeapTotal: number;
  majorGcs: number;
}

function metric(text: string, name: string, labels = ''): number {
  return text
    .split('\n')
    .filter((l) => l.startsWith(`${name}{`) && l.includes(labels))
    .reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
}

/** Writes CHANGES rows (one statement), then lets a relay process drain them; samples its /metrics until it advanced past all. */
async function drain(first: number, extraArgs: string[]): Promise<Drain> {
  await env.db.pool.query(`INSERT INTO public.items (id, v, note) SELECT g, g % 100, repeat(md5(g::text), 8) FROM generate_series($1::bigint, $2::bigint) g`, [first, first + CHANGES - 1]);
  const port = await freePort();
  const doc = relayConfigDoc({ sourceUrl: env.db.url, redisUrl: REDIS_URL, endpoint: emulator.endpoint, topic: `memory-${randomBytes(4).toString('hex')}`, relay: { lockTtlMs: 10_000, readBatchSize: 1000, publishConcurrency: 8 } });
  const child = spawnRelay(writeConfigFile(doc), `memory-${first}`, { args: ['--metrics-port', String(port), ...extraArgs], nodeArgs: await cliNodeArgs() });
  children.push(child);
  await child.waitForLog((l) => l.msg === 'leading', 30_000);
  let peakHeapTotal = 0;
  let majorGcs = 0;
  const deadline = Date.now() + 120_000;
  for (;;) {
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    peakHeapTotal = Math.max(peakHeapTotal, metric(text, 'outbox_nodejs_heap_size_total_bytes') / MiB);
    majorGcs = metric(text, 'outbox_nodejs_gc_duration_seconds_count', 'kind="major"');
    if (metric(text, 'outbox_relay_events_advanced_total') >= CHANGES) break;
    if (child.proc.exitCode !== null || Date.now() > deadline) throw new Error('the relay exited or did not drain the backlog in 120 s');
    // sampling, not waiting for a condition: the heap between scrapes is what is measured
    await new Promise((r) => setTimeout(r, 100));
  }
  child.proc.kill('SIGTERM');
  expect(await child.exited).toBe(0);
  return { peakHeapTotal, majorGcs };
}

describe('outbox relay memory', () => {
  it('collects the old garbage of drained pages early: more full GCs and a smaller peak heap than with V8 default growth', async () => {
    const v8Default = await drain(1, ['--heap-growth', '0']);
    const product = await drain(1 + CHANGES, []);
    console.info(`relay heap: V8 default growth ${JSON.stringify(v8Default)}, the relay's ${JSON.stringify(product)}`);
    expect(product.majorGcs).toBeGreaterThan(v8Default.majorGcs);
    expect(product.peakHeapTotal).toBeLessThan(v8Default.peakHeapTotal);
  }, 300_000);
});
