/**
 * Relay memory: RSS of a relay process while it drains a large backlog. The outbox is pre-filled
 * with `--events` changes (1M by default) before the relay starts; one relay process (the CLI) then
 * publishes them to the emulator (in this process, no subscription). Its RSS is sampled from
 * /proc every 100 ms until the relay has advanced past every event; the peak, the RSS when it
 * started draining and the drain rate are printed. Memory must stay bounded: pages of
 * relay.readBatchSize events, one page in flight.
 *
 *   npx tsx bench/relay-memory.ts [--events 1000000] [--batch 1000]
 *
 * Needs PostgreSQL and Redis as for the tests (TEST_PG_URL, TEST_REDIS_URL).
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { startEmulator } from '../test/helpers/fauxqs.js';
import { REDIS_URL } from '../test/helpers/env.js';
import { freePort, relayConfigDoc, scrapeMetric, spawnRelay, writeConfigFile } from '../test/helpers/relay.js';
import { createMigratedSource } from '../test/helpers/source.js';

const { values: args } = parseArgs({
  options: {
    events: { type: 'string', default: '1000000' },
    batch: { type: 'string', default: '1000' },
  },
});
const EVENTS = Number(args.events);
const BATCH = Number(args.batch);

function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return kb / 1024;
}

async function main(): Promise<void> {
  const env = await createMigratedSource();
  const emulator = await startEmulator();
  let child: ReturnType<typeof spawnRelay> | undefined;
  try {
    await env.db.pool.query('CREATE TABLE public.items (id bigint PRIMARY KEY, v int NOT NULL, note text NOT NULL)');
    await env.source.track({ table: { schema: 'public', table: 'items' } });
    const fillStart = performance.now();
    const chunk = 50_000;
    for (let from = 1; from <= EVENTS; from += chunk) {
      const to = Math.min(EVENTS, from + chunk - 1);
      await env.db.pool.query(`INSERT INTO public.items (id, v, note) SELECT g, g % 100, md5(g::text) FROM generate_series($1::bigint, $2::bigint) g`, [from, to]);
    }
    await env.db.pool.query('VACUUM ANALYZE outbox.events');
    console.log(`pre-filled ${EVENTS} changes in ${((performance.now() - fillStart) / 1000).toFixed(1)} s`);

    const topic = `memory-${randomBytes(4).toString('hex')}`;
    const port = await freePort();
    const file = writeConfigFile(relayConfigDoc({ sourceUrl: env.db.url, redisUrl: REDIS_URL, endpoint: emulator.endpoint, topic, relay: { lockTtlMs: 10_000, readBatchSize: BATCH, publishConcurrency: 16 } }));
    child = spawnRelay(file, 'memory', { args: ['--metrics-port', String(port)] });
    const pid = child.proc.pid!;
    await child.waitForLog((l) => l.msg === 'leading', 60_000);
    const startRss = rssMiB(pid);
    const started = performance.now();
    let peak = startRss;
    let published = 0;
    let lastReport = started;
    for (;;) {
      peak = Math.max(peak, rssMiB(pid));
      published = await scrapeMetric(port, 'outbox_relay_events_advanced_total').catch(() => published);
      if (published >= EVENTS) break;
      if (child.proc.exitCode !== null) throw new Error('the relay exited');
      if (performance.now() - lastReport > 15_000) {
        lastReport = performance.now();
        console.log(`  … ${published} published, RSS ${rssMiB(pid).toFixed(0)} MiB (peak ${peak.toFixed(0)} MiB)`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    const seconds = (performance.now() - started) / 1000;
    console.log('relay memory: draining a pre-filled backlog');
    console.log(`  load average ${loadavg().map((l) => l.toFixed(1)).join(' ')} on ${cpus().length} CPUs; readBatchSize ${BATCH}, publishConcurrency 16`);
    console.log(`  ${EVENTS} events in ${seconds.toFixed(1)} s (${(EVENTS / seconds).toFixed(0)} events/s)`);
    console.log(`  RSS at start of drain ${startRss.toFixed(0)} MiB, peak ${peak.toFixed(0)} MiB, at the end ${rssMiB(pid).toFixed(0)} MiB`);
  } finally {
    if (child && child.proc.exitCode === null) {
      child.proc.kill('SIGTERM');
      await child.exited;
    }
    await emulator.stop();
    await env.close();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
