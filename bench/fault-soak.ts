/**
 * Fault soak: the whole pipeline under a pgbench-style load while its parts fail, then a source ↔
 * target comparison. Writers (this process, `--writers` connections) commit single-row inserts,
 * updates and deletes and two-table transactions on public.accounts and public.orders at about
 * `--rate` transactions/s. Every other part runs as it is deployed: two `outbox relay` processes
 * (a pair behind a private redis-server), the SNS/SQS emulator, and two `outbox consume` processes
 * applying to a PostgreSQL and a MariaDB target. While the load runs, `--cycles` times, with
 * `--settle-seconds` between faults:
 *
 *  1. kill -9 of the leading relay (restarted afterwards as the standby);
 *  2. SIGSTOP of the next leader for twice the lock TTL, then SIGCONT: the standby takes over, and the
 *     woken process must step down (fenced by the source's epoch, or its lock expired) and the source
 *     keep the newer epoch; the batch it had in flight at the pause is at most a page of duplicates;
 *  3. a restart of the private redis-server (never the shared one);
 *  4. a restart of the emulator's server (its queues kept: SNS/SQS do not lose state in an outage);
 *  5. the targets' connections broken: pg_terminate_backend on every session of the PostgreSQL
 *     target database, KILL of every MariaDB connection to the target database.
 *
 * Then the writers stop and it measures the time until verify (src/verify) finds both targets equal
 * to the source, and prints changes written, lost (rows missing, extra or different at a target
 * after the convergence timeout: must be 0), duplicates absorbed (the consumers' stale skips) and
 * what each fault did, and the standby takeovers (kill -9, SIGSTOP) against the bare redlock expiry +
 * reacquire with the same TTL on the same Redis (bench/lib/lock-baseline.ts), measured after the
 * run, as relay ÷ bare with the load. Exit 1 when anything was lost or dead-lettered, or a woken ex-leader kept leading.
 *
 *   npm run bench:fault-soak -- [--cycles 1] [--rate 200] [--writers 4] [--settle-seconds 10] [--ttl-ms 3000]
 *   npm run bench:fault-soak -- --fast      (settle 5 s, rate 100)
 *
 * Needs PostgreSQL, MariaDB and redis-server (for the private one) as for the tests.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpus, loadavg } from 'node:os';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { SNSClient } from '@aws-sdk/client-sns';
import { SQSClient } from '@aws-sdk/client-sqs';
import { applySubscription, planSubscription } from '../src/subscriptions/index.js';
import { silentLogger } from '../src/logger.js';
import { sleep } from '../src/sleep.js';
import { createTargetWriter } from '../src/targets/index.js';
import { runVerify, type VerifyReport } from '../src/verify/index.js';
import { cliNodeArgs } from '../test/helpers/cli.js';
import { createTestDatabase } from '../test/helpers/db.js';
import { startRestartableEmulator } from '../test/helpers/fauxqs.js';
import { createMysqlDatabase, pipelineConfig, useEmulatorCredentials } from '../test/helpers/pipeline.js';
import { freePort, scrapeMetric, spawnRelay, startPrivateRedis, writeConfigFile, type RelayChild } from '../test/helpers/relay.js';
import { createMigratedSource } from '../test/helpers/source.js';
import { waitFor } from '../test/helpers/wait.js';
import { measureLockTakeover } from './lib/lock-baseline.js';
import { ratioLine, runBench } from './lib/machine.js';

const { values: args } = parseArgs({
  options: {
    cycles: { type: 'string', default: '1' },
    rate: { type: 'string' },
    writers: { type: 'string', default: '4' },
    'settle-seconds': { type: 'string' },
    'ttl-ms': { type: 'string', default: '3000' },
    keys: { type: 'string', default: '2000' },
    'converge-timeout-seconds': { type: 'string', default: '300' },
    fast: { type: 'boolean', default: false },
  },
});
const CYCLES = Number(args.cycles);
const RATE = Number(args.rate ?? (args.fast ? 100 : 200));
const WRITERS = Number(args.writers);
const SETTLE_MS = Number(args['settle-seconds'] ?? (args.fast ? 5 : 10)) * 1000;
const TTL = Number(args['ttl-ms']);
const KEYS = Number(args.keys);
const CONVERGE_TIMEOUT_MS = Number(args['converge-timeout-seconds']) * 1000;
for (const [name, value] of Object.entries({ cycles: CYCLES, rate: RATE, writers: WRITERS, 'settle-seconds': SETTLE_MS, 'ttl-ms': TTL, keys: KEYS })) {
  if (!(value > 0)) {
    console.error(`--${name} must be a positive number`);
    process.exit(2);
  }
}

const load = () => loadavg().map((l) => l.toFixed(1)).join(' ');
const started = Date.now();
const stamp = () => `${((Date.now() - started) / 1000).toFixed(1).padStart(6)} s`;
const say = (line: string) => console.log(`${stamp()}  ${line}   (load ${load()})`);

const SOURCE_DDL = `
  CREATE TABLE public.accounts (id bigint PRIMARY KEY, tenant_id int NOT NULL, balance bigint NOT NULL, note text NOT NULL);
  CREATE TABLE public.orders (id bigint PRIMARY KEY, account_id bigint NOT NULL, amount int NOT NULL, status text NOT NULL);`;
const MARIA_DDL = [
  'CREATE TABLE accounts (id BIGINT PRIMARY KEY, tenant_id INT NOT NULL, balance BIGINT NOT NULL, note VARCHAR(200) NOT NULL) CHARACTER SET utf8mb4',
  'CREATE TABLE orders (id BIGINT PRIMARY KEY, account_id BIGINT NOT NULL, amount INT NOT NULL, status VARCHAR(40) NOT NULL) CHARACTER SET utf8mb4',
];
const TABLES = ['public.accounts', 'public.orders'];

/** A long-running CLI process (consume) with its log lines kept. */
interface CliChild {
  proc: ChildProcess;
  exited: Promise<number | null>;
}

async function main(): Promise<void> {
  useEmulatorCredentials();
  const [source, pgTarget, maria, redis, emulator] = await Promise.all([createMigratedSource(), createTestDatabase('outbox_fault_target'), createMysqlDatabase(), startPrivateRedis(), startRestartableEmulator()]);
  const relays = new Map<string, { child: RelayChild; port: number }>();
  const consumers: CliChild[] = [];
  const writing = new AbortController();
  let writers: Promise<void>[] = [];
  try {
    await source.db.pool.query(SOURCE_DDL);
    await pgTarget.pool.query(SOURCE_DDL);
    for (const ddl of MARIA_DDL) await maria.conn.query(ddl);
    for (const table of TABLES) await source.source.track({ table: { schema: 'public', table: table.split('.')[1]! } });

    const id = randomBytes(4).toString('hex');
    const queue = { waitTimeSec: 2, visibilityTimeoutSec: 15 };
    const doc = {
      source: { url: source.db.url, schema: 'outbox', name: 'fault-soak' },
      redis: { urls: [redis.url], keyPrefix: `fault-${id}`, commandTimeoutMs: 300 },
      relay: { lockTtlMs: TTL, pollIntervalMs: 200, readBatchSize: 500, publishConcurrency: 4, breaker: { resetTimeoutMs: 2_000 } },
      publish: { topics: { default: { name: `fault-${id}` } } },
      aws: { region: 'us-east-1', endpoint: emulator.endpoint },
      targets: {
        pg: { kind: 'postgres', urlEnv: 'FAULT_PG_URL', tables: TABLES, stateSchema: 'sync_state', queue: { ...queue, name: `fault-pg-${id}` }, breaker: { resetTimeoutMs: 2_000 } },
        maria: {
          kind: 'mysql',
          urlEnv: 'FAULT_MARIA_URL',
          tables: TABLES,
          stateSchema: `${maria.name}_state`,
          mapping: { 'public.accounts': { table: 'accounts' }, 'public.orders': { table: 'orders' } },
          queue: { ...queue, name: `fault-maria-${id}` },
          breaker: { resetTimeoutMs: 2_000 },
        },
      },
      log: { level: 'info' },
    };
    const targetEnv = { FAULT_PG_URL: pgTarget.url, FAULT_MARIA_URL: maria.url };
    const config = pipelineConfig(doc, targetEnv);
    const file = writeConfigFile(doc);
    const sns = new SNSClient({ region: 'us-east-1', endpoint: emulator.endpoint });
    const sqs = new SQSClient({ region: 'us-east-1', endpoint: emulator.endpoint });
    for (const name of ['pg', 'maria']) {
      await applySubscription(planSubscription(config, name), sns, sqs);
      const writer = createTargetWriter(name, config.targets[name]!, config.targetSecrets(name), silentLogger);
      const problems = await writer.init({});
      await writer.close();
      if (problems.length > 0) throw new Error(`target ${name}: ${problems.join('; ')}`);
    }
    sns.destroy();
    sqs.destroy();

    const nodeArgs = await cliNodeArgs();
    const startRelayProcess = async (name: string) => {
      const port = relays.get(name)?.port ?? (await freePort());
      const child = spawnRelay(file, name, { nodeArgs, args: ['--metrics-port', String(port)] });
      relays.set(name, { child, port });
      await child.waitForLog((l) => l.msg === 'relay started', 60_000);
    };
    const consumerPorts: Record<string, number> = {};
    const startConsumer = async (name: string) => {
      consumerPorts[name] = await freePort();
      const proc = spawn(process.execPath, [...nodeArgs, '--config', file, 'consume', name, '--metrics-port', String(consumerPorts[name])], {
        env: { ...process.env, ...emulator.awsEnv, ...targetEnv, OUTBOX_LOG_LEVEL: 'warn' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      createInterface({ input: proc.stderr! }).on('line', (line) => {
        if (line.includes('"level":50') || line.includes('"level":60')) process.stderr.write(`consumer ${name}: ${line}\n`);
      });
      proc.stdout!.resume();
      consumers.push({ proc, exited: new Promise((r) => proc.once('exit', r)) });
      await waitFor(() => scrapeMetric(consumerPorts[name]!, 'outbox_consumer_received_total').then(() => true), { timeoutMs: 60_000, what: `consumer ${name}` });
    };
    await Promise.all([startRelayProcess('relay-a'), startRelayProcess('relay-b'), startConsumer('pg'), startConsumer('maria')]);

    const state = async () => (await source.db.pool.query<{ epoch: string; leader_id: string | null; advanced_at: Date }>('SELECT epoch::text, leader_id, advanced_at FROM outbox.relay_state')).rows[0]!;
    const leader = async () => {
      const s = await waitFor(async () => {
        const now = await state();
        return now.leader_id && relays.has(now.leader_id) ? now : undefined;
      }, { timeoutMs: 60_000, what: 'a leading relay' });
      return { ...s, name: s.leader_id! };
    };
    /** Waits until a leader advances the cursor after `since`, with an epoch other than `epoch` when given. */
    const progress = async (since: number, epoch?: string) => {
      await waitFor(async () => {
        const now = await state();
        return now.advanced_at.getTime() > since && (epoch === undefined || now.epoch !== epoch);
      }, { timeoutMs: 120_000, intervalMs: 20, what: 'the relay to publish again' });
      return Date.now() - since;
    };
    await leader();
    say(`pipeline up: 2 relays (TTL ${TTL} ms), 2 consumers, private redis ${redis.url}, emulator ${emulator.endpoint}`);

    // the load
    let transactions = 0;
    let rowChanges = 0;
    let writeErrors = 0;
    const perWriter = RATE / WRITERS;
    writers = Array.from({ length: WRITERS }, (_, w) =>
      (async () => {
        const client = await source.db.pool.connect();
        let rnd = 1 + w * 7919;
        const next = () => (rnd = (rnd * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
        const begun = Date.now();
        try {
          for (let i = 0; !writing.signal.aborted; i++) {
            const key = 1 + Math.floor(next() * KEYS);
            const roll = next();
            try {
              let n = 0;
              if (roll < 0.3) n = (await client.query('INSERT INTO public.accounts (id, tenant_id, balance, note) VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO UPDATE SET balance = public.accounts.balance + 1, note = excluded.note', [key, key % 5, i, `w${w}-${i}`])).rowCount ?? 0;
              else if (roll < 0.55) n = (await client.query('UPDATE public.accounts SET balance = balance + $2, note = $3 WHERE id = $1', [key, 1 + (i % 9), `u${w}-${i}`])).rowCount ?? 0;
              else if (roll < 0.65) n = (await client.query('DELETE FROM public.accounts WHERE id = $1', [key])).rowCount ?? 0;
              else if (roll < 0.9) {
                // a two-table transaction, like a pgbench TPC-B step
                await client.query('BEGIN');
                n += (await client.query('UPDATE public.accounts SET balance = balance - $2 WHERE id = $1', [key, 1 + (i % 50)])).rowCount ?? 0;
                n += (await client.query("INSERT INTO public.orders (id, account_id, amount, status) VALUES ($1, $2, $3, 'new') ON CONFLICT (id) DO UPDATE SET status = 'changed', amount = excluded.amount", [key, key, 1 + (i % 50)])).rowCount ?? 0;
                await client.query('COMMIT');
              } else if (roll < 0.97) n = (await client.query("UPDATE public.orders SET status = 'shipped', amount = amount + 1 WHERE id = $1", [key])).rowCount ?? 0;
              else n = (await client.query('DELETE FROM public.orders WHERE id = $1', [key])).rowCount ?? 0;
              transactions += 1;
              rowChanges += n;
            } catch (err) {
              writeErrors += 1;
              await client.query('ROLLBACK').catch(() => undefined);
              if (writeErrors <= 3) console.error(`writer ${w}: ${(err as Error).message}`);
            }
            await sleep(begun + ((i + 1) * 1000) / perWriter - Date.now(), writing.signal);
          }
        } finally {
          client.release();
        }
      })(),
    );
    await sleep(SETTLE_MS);

    const faults: string[] = [];
    const note = (line: string) => {
      faults.push(line);
      say(line);
    };
    let staleLeaderProblems = 0;
    /** Fault → the standby's first publish, for kill -9 and SIGSTOP (compared with the bare lock takeover). */
    const takeovers: number[] = [];
    for (let cycle = 1; cycle <= CYCLES; cycle++) {
      say(`cycle ${cycle}/${CYCLES}: ${transactions} transactions so far`);

      // 1. kill -9 the leader
      {
        const before = await leader();
        const at = Date.now();
        const victim = relays.get(before.name)!;
        victim.child.proc.kill('SIGKILL');
        await victim.child.exited;
        const ms = await progress(at, before.epoch);
        takeovers.push(ms);
        note(`kill -9 ${before.name} (epoch ${before.epoch}): the standby published ${ms} ms later`);
        await startRelayProcess(before.name);
      }
      await sleep(SETTLE_MS);

      // 2. SIGSTOP the leader past its TTL, then SIGCONT
      {
        const before = await leader();
        const paused = relays.get(before.name)!;
        const counters = () => Promise.all(['outbox_relay_events_advanced_total', 'outbox_events_published_total', 'outbox_relay_fenced_total'].map((m) => scrapeMetric(paused.port, m)));
        const [advancedBefore, publishedBefore, fencedBefore] = await counters();
        const at = Date.now();
        paused.child.proc.kill('SIGSTOP');
        const ms = await progress(at, before.epoch);
        takeovers.push(ms);
        await sleep(Math.max(0, 2 * TTL - (Date.now() - at)));
        const logsBefore = paused.child.logs.length;
        const duringPause = await state();
        paused.child.proc.kill('SIGCONT');
        const stepped = await paused.child.waitForLog((l) => paused.child.logs.indexOf(l) >= logsBefore && l.msg === 'stopped leading', 30_000);
        const [advancedAfter, publishedAfter, fencedAfter] = await counters();
        const after = await state();
        // The cursor moves only in the same statement that checks the epoch: a woken ex-leader's advance is refused.
        const reason = String(stepped.reason ?? '');
        const harmless = BigInt(after.epoch) >= BigInt(duringPause.epoch) && (reason === 'fenced' || reason.includes('lock'));
        if (!harmless) staleLeaderProblems += 1;
        note(
          `SIGSTOP ${before.name} for ${((Date.now() - at) / 1000).toFixed(1)} s (epoch ${before.epoch}): the standby published ${ms} ms later (epoch ${duringPause.epoch}); on SIGCONT it stopped leading (${reason}), ` +
            `fenced ${fencedAfter! - fencedBefore!} time(s); from the last scrape before the pause to its step-down it advanced ${advancedAfter! - advancedBefore!} and published ${publishedAfter! - publishedBefore!} events (the batch in flight at the pause included); the source's epoch stayed ${after.epoch}`,
        );
      }
      await sleep(SETTLE_MS);

      // 3. restart the private redis-server
      {
        const before = await state();
        const at = Date.now();
        await redis.stop();
        await sleep(2_000);
        await redis.start();
        const ms = await progress(Date.now());
        const after = await state();
        note(`redis-server killed, back after ${((Date.now() - at - ms) / 1000).toFixed(1)} s: publishing again ${ms} ms after it was back (epoch ${before.epoch} → ${after.epoch})`);
      }
      await sleep(SETTLE_MS);

      // 4. restart the emulator's server
      {
        const at = Date.now();
        await emulator.restart(2_000);
        const back = Date.now();
        const ms = await progress(back);
        const applied = await Promise.all(Object.values(consumerPorts).map((p) => scrapeMetric(p, 'outbox_consumer_applied_total')));
        await waitFor(async () => (await Promise.all(Object.values(consumerPorts).map((p) => scrapeMetric(p, 'outbox_consumer_applied_total')))).every((n, i) => n > applied[i]!), { timeoutMs: 120_000, what: 'both consumers to apply again' });
        note(`emulator down ${((back - at) / 1000).toFixed(1)} s: relay publishing ${ms} ms and both consumers applying ${Date.now() - back} ms after it was back`);
      }
      await sleep(SETTLE_MS);

      // 5. break the targets' connections
      {
        const pgKilled = (await pgTarget.pool.query<{ ok: boolean }>('SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [pgTarget.name])).rows.length;
        const [rows] = await maria.conn.query<import('mysql2').RowDataPacket[]>('SELECT ID FROM information_schema.PROCESSLIST WHERE DB = ? AND ID <> CONNECTION_ID()', [maria.name]);
        for (const row of rows) await maria.conn.query(`KILL ${Number(row.ID)}`).catch(() => undefined);
        const at = Date.now();
        const applied = await Promise.all(Object.values(consumerPorts).map((p) => scrapeMetric(p, 'outbox_consumer_applied_total')));
        await waitFor(async () => (await Promise.all(Object.values(consumerPorts).map((p) => scrapeMetric(p, 'outbox_consumer_applied_total')))).every((n, i) => n > applied[i]!), { timeoutMs: 120_000, what: 'both consumers to apply again' });
        note(`target connections broken (PostgreSQL: ${pgKilled} sessions terminated, MariaDB: ${rows.length} killed): both consumers applying again ${Date.now() - at} ms later`);
      }
      await sleep(SETTLE_MS);
    }

    // stop the load, then wait until both targets equal the source
    writing.abort();
    await Promise.all(writers);
    const stoppedAt = Date.now();
    say(`writers stopped: ${transactions} transactions, ${rowChanges} row changes, ${writeErrors} failed transactions`);
    const verifyTarget = (name: string) =>
      runVerify({ source: source.source, targetName: name, target: config.targets[name]!, secrets: config.targetSecrets(name), sourceName: config.source.name, logger: silentLogger });
    const diverged = (r: VerifyReport) => r.tables.reduce((n, t) => n + t.missing.count + t.extra.count + t.different.count, 0);
    const convergedAt: Record<string, number> = {};
    let reports: VerifyReport[] = [];
    while (Date.now() - stoppedAt < CONVERGE_TIMEOUT_MS) {
      reports = await Promise.all(['pg', 'maria'].map(verifyTarget));
      for (const r of reports) if (diverged(r) === 0) convergedAt[r.target] ??= Date.now() - stoppedAt;
      if (reports.every((r) => diverged(r) === 0)) break;
      await sleep(1_000);
    }
    const events = Number((await source.db.pool.query<{ n: string }>('SELECT count(*) AS n FROM outbox.events')).rows[0]!.n);
    const stale = await Promise.all(['pg', 'maria'].map((n) => scrapeMetric(consumerPorts[n]!, 'outbox_consumer_stale_skipped_total')));
    const appliedTotal = await Promise.all(['pg', 'maria'].map((n) => scrapeMetric(consumerPorts[n]!, 'outbox_consumer_applied_total')));
    const applyFailures = await Promise.all(['pg', 'maria'].map((n) => scrapeMetric(consumerPorts[n]!, 'outbox_consumer_apply_failures_total')));
    const dlq = await Promise.all(['pg', 'maria'].map((n) => scrapeMetric(consumerPorts[n]!, 'outbox_consumer_dead_lettered_total')));
    const lost = reports.reduce((n, r) => n + diverged(r), 0);
    const rows = reports.map((r) => r.tables.map((t) => `${r.target} ${t.targetTable}: ${t.sourceRows} rows, missing ${t.missing.count}, extra ${t.extra.count}, different ${t.different.count}`).join('; '));

    console.log(`\nfault soak: ${CYCLES} cycle(s) of 5 faults, ${WRITERS} writers at ≈ ${RATE} transactions/s; ${((Date.now() - started) / 1000).toFixed(0)} s in all; load average ${load()} on ${cpus().length} CPUs`);
    for (const f of faults) console.log(`  - ${f}`);
    console.log(`  changes written      ${rowChanges} row changes in ${transactions} transactions (${events} events captured in the outbox; an update that changes nothing captures none)`);
    console.log(`  lost                 ${lost}   (${rows.join(' | ')})`);
    console.log(`  duplicates absorbed  pg ${stale[0]}, maria ${stale[1]} (changes the version guard skipped as already applied)`);
    console.log(`  applied              pg ${appliedTotal[0]}, maria ${appliedTotal[1]}; failed batch applies pg ${applyFailures[0]}, maria ${applyFailures[1]} (retried); dead-lettered pg ${dlq[0]}, maria ${dlq[1]}`);
    console.log(`  woken ex-leader      ${staleLeaderProblems === 0 ? 'stepped down each time (fenced or lock expired); the source kept the newer epoch' : `${staleLeaderProblems} time(s) NOT fenced`}`);
    console.log(`  time to converge     pg ${convergedAt.pg ?? 'not converged'} ms, maria ${convergedAt.maria ?? 'not converged'} ms after the writers stopped`);
    // Baseline: the bare redlock expiry + reacquire with the same TTL and the relays' poll interval, on the same private Redis.
    const loadBefore = load();
    const bare = await measureLockTakeover(redis.url, TTL, Math.max(3, takeovers.length), 200);
    const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
    console.log(`  takeover baseline    bare redlock expiry + reacquire (TTL ${TTL} ms): ${bare.takeoverMs.join(', ')} ms; relay takeovers (kill -9, SIGSTOP) ${takeovers.join(', ')} ms`);
    console.log(`                       relay ÷ bare: mean ${ratioLine(mean(takeovers), bare.mean)}, worst ${ratioLine(Math.max(...takeovers), bare.worst)}; load average ${loadBefore} before, ${load()} after`);
    if (lost > 0 || staleLeaderProblems > 0 || dlq.some((n) => n > 0)) process.exitCode = 1;
  } finally {
    writing.abort();
    await Promise.allSettled(writers);
    for (const { child } of relays.values()) {
      if (child.proc.exitCode === null && child.proc.signalCode === null) {
        child.proc.kill('SIGCONT');
        child.proc.kill('SIGKILL');
      }
    }
    for (const c of consumers) if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.kill('SIGKILL');
    await Promise.all([...[...relays.values()].map((r) => r.child.exited), ...consumers.map((c) => c.exited)]);
    await maria.conn.query(`DROP DATABASE IF EXISTS \`${maria.name}_state\``).catch(() => undefined);
    await Promise.allSettled([source.close(), pgTarget.drop(), maria.drop(), redis.stop(), emulator.stop()]);
  }
}

runBench(main);
