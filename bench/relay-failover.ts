/**
 * Relay failover: kill -9 of the leading relay process → first publish by the standby. Two relay
 * processes (the CLI) run against one source while a writer commits continuously; the leader is
 * killed with SIGKILL; the time to the standby's epoch claim and to its first cursor advance (which
 * follows its first acknowledged PublishBatch) is read from relay_state, polled every 5 ms. The
 * killed instance is restarted as the new standby and the next leader is killed, `--rounds` times.
 * Goal: first publish ≤ TTL + 1 s.
 *
 * Baseline, same run: the bare lock expiry + reacquire with redlock, the same TTL and the relay's
 * lock settings (bench/lib/lock-baseline.ts), the same number of rounds; printed as relay ÷ bare
 * (mean and worst) with the load.
 *
 *   npx tsx bench/relay-failover.ts [--ttl-ms 2000] [--rounds 3]
 *
 * Needs PostgreSQL and Redis as for the tests (TEST_PG_URL, TEST_REDIS_URL).
 */
import { randomBytes } from 'node:crypto';
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { startEmulator } from '../test/helpers/fauxqs.js';
import { REDIS_URL } from '../test/helpers/env.js';
import { relayConfigDoc, spawnRelay, subscribeQueue, writeConfigFile, type RelayChild } from '../test/helpers/relay.js';
import { createMigratedSource } from '../test/helpers/source.js';
import { waitFor } from '../test/helpers/wait.js';
import { measureLockTakeover } from './lib/lock-baseline.js';
import { machineLoad, ratioLine, runBench } from './lib/machine.js';

const { values: args } = parseArgs({
  options: {
    'ttl-ms': { type: 'string', default: '2000' },
    rounds: { type: 'string', default: '3' },
  },
});
const TTL = Number(args['ttl-ms']);
const ROUNDS = Number(args.rounds);

async function main(): Promise<void> {
  const env = await createMigratedSource();
  const emulator = await startEmulator();
  const children: RelayChild[] = [];
  let writing = true;
  try {
    await env.db.pool.query('CREATE TABLE public.items (id bigint PRIMARY KEY, v int NOT NULL)');
    await env.source.track({ table: { schema: 'public', table: 'items' } });
    const topic = `failover-${randomBytes(4).toString('hex')}`;
    const queue = await subscribeQueue(emulator.endpoint, topic);
    const file = writeConfigFile(relayConfigDoc({ sourceUrl: env.db.url, redisUrl: REDIS_URL, endpoint: emulator.endpoint, topic, relay: { lockTtlMs: TTL, pollIntervalMs: 500 } }));
    const spawn = (name: string) => {
      const child = spawnRelay(file, name);
      children.push(child);
      return child;
    };
    const state = async () => (await env.db.pool.query<{ epoch: string; leader_id: string | null; advanced_at: Date }>('SELECT epoch::text, leader_id, advanced_at FROM outbox.relay_state')).rows[0]!;

    let nextId = 1;
    const writer = (async () => {
      while (writing) {
        await env.db.pool.query('INSERT INTO public.items (id, v) VALUES ($1, 1)', [nextId++]);
        await new Promise((r) => setTimeout(r, 5));
      }
    })();

    const byName = new Map<string, RelayChild>([['relay-1', spawn('relay-1')], ['relay-2', spawn('relay-2')]]);
    await waitFor(async () => (await state()).leader_id !== null, { timeoutMs: 60_000, what: 'a leader' });
    for (const child of byName.values()) await child.waitForLog((l) => l.msg === 'relay started', 60_000);
    const results: { claimMs: number; publishMs: number }[] = [];
    let spare = 3;

    for (let round = 1; round <= ROUNDS; round++) {
      const before = await state();
      const leaderName = before.leader_id!;
      const leader = byName.get(leaderName)!;
      // Make sure the leader is publishing right now.
      await waitFor(async () => (await state()).advanced_at.getTime() > before.advanced_at.getTime(), { timeoutMs: 10_000, what: 'the leader to publish' });
      leader.proc.kill('SIGKILL');
      const killedAt = Date.now();
      let claimMs = NaN;
      let publishMs = NaN;
      for (;;) {
        const now = await state();
        if (Number.isNaN(claimMs) && now.epoch !== before.epoch) claimMs = Date.now() - killedAt;
        if (now.epoch !== before.epoch && now.advanced_at.getTime() > killedAt) {
          publishMs = Date.now() - killedAt;
          break;
        }
        if (Date.now() - killedAt > TTL * 5) throw new Error('the standby did not take over');
        await new Promise((r) => setTimeout(r, 5));
      }
      results.push({ claimMs, publishMs });
      console.log(`  round ${round}: killed ${leaderName}; standby claimed the epoch after ${claimMs} ms, first publish after ${publishMs} ms`);
      await leader.exited;
      byName.delete(leaderName);
      const name = `relay-${spare++}`;
      const standby = spawn(name);
      byName.set(name, standby);
      await standby.waitForLog((l) => l.msg === 'relay started', 60_000);
    }
    writing = false;
    await writer;

    const worst = Math.max(...results.map((r) => r.publishMs));
    const mean = results.reduce((s, r) => s + r.publishMs, 0) / results.length;
    console.log('relay failover: kill -9 of the leader → first publish by the standby');
    console.log(`  load average ${loadavg().map((l) => l.toFixed(1)).join(' ')} on ${cpus().length} CPUs; lock TTL ${TTL} ms, poll 500 ms`);
    console.log(`  first publish: mean ${mean.toFixed(0)} ms, worst ${worst} ms over ${results.length} round(s); goal ≤ TTL + 1 s = ${TTL + 1000} ms: ${worst <= TTL + 1000 ? 'MET' : 'MISSED'}`);
    const loadBefore = machineLoad();
    const bare = await measureLockTakeover(REDIS_URL, TTL, ROUNDS, 500);
    console.log(`baseline: bare redlock expiry + reacquire (TTL ${TTL} ms, standby every ${Math.min(500, Math.floor(TTL / 4))} ms), ${loadBefore} before, ${machineLoad()} after`);
    console.log(`  takeover: ${bare.takeoverMs.join(', ')} ms (mean ${bare.mean.toFixed(0)}, worst ${bare.worst})`);
    console.log(`  relay ÷ bare: mean ${ratioLine(mean, bare.mean)}, worst ${ratioLine(worst, bare.worst)}`);
    queue.close();
  } finally {
    writing = false;
    for (const c of children) if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.kill('SIGKILL');
    await emulator.stop();
    await env.close();
  }
}

runBench(main);
