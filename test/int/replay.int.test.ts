import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Config } from '../../src/config/index.js';
import type { ChangeEnvelope } from '../../src/wire/envelope.js';
import { main } from '../../src/cli/main.js';
import { runReplay } from '../../src/cli/commands/replay.js';
import { silentLogger } from '../../src/logger.js';
import { startRelay } from '../../src/relay/start.js';
import { startEmulator, type Emulator } from '../helpers/fauxqs.js';
import { REDIS_URL } from '../helpers/env.js';
import { relayConfig, relayConfigDoc, subscribeQueue, tally, writeConfigFile, type QueueReader } from '../helpers/relay.js';
import { createMigratedSource } from '../helpers/source.js';

/**
 * outbox replay against real PostgreSQL and the SNS/SQS emulator: the relay publishes, the queue is
 * drained, and replay re-sends exactly the published events its filters select — never one the relay
 * has not published — without touching the relay's cursor.
 */
let env: Awaited<ReturnType<typeof createMigratedSource>>;
let emulator: Emulator;
let queue: QueueReader;
let config: Config;
let configFile: string;
/** Seqs by phase: published before --since, published after it, committed but never published. */
let before: string[];
let after: string[];
let unpublished: string[];
let since: Date;

async function seqsAfter(from: string): Promise<string[]> {
  const res = await env.db.pool.query<{ seq: string }>('SELECT seq FROM outbox.events WHERE seq > $1 ORDER BY seq', [from]);
  return res.rows.map((r) => r.seq);
}

async function lastSeq(): Promise<string> {
  const res = await env.db.pool.query<{ s: string }>('SELECT coalesce(max(seq), 0)::text AS s FROM outbox.events');
  return res.rows[0]!.s;
}

/** Everything the queue holds now (waits until it stays empty), then forgets it for the next check. */
async function drainQueue(): Promise<ChangeEnvelope[]> {
  const got = [...(await queue.drain())];
  queue.received.length = 0;
  return got;
}

async function relayState(): Promise<Record<string, unknown>> {
  const res = await env.db.pool.query('SELECT epoch, leader_id, done_snapshot::text, window_snapshot::text, window_seq, advanced_at FROM outbox.relay_state');
  return res.rows[0] as Record<string, unknown>;
}

/** Runs the CLI in this process and returns its exit code and standard output. */
async function outbox(args: string[]): Promise<{ code: number; stdout: string }> {
  let stdout = '';
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stdout += chunk.toString();
    return true;
  });
  try {
    const code = await main(['node', 'outbox', '--config', configFile, ...args]);
    return { code, stdout };
  } finally {
    spy.mockRestore();
    process.exitCode = undefined;
  }
}

beforeAll(async () => {
  Object.assign(process.env, { AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test' });
  env = await createMigratedSource();
  emulator = await startEmulator();
  await env.db.pool.query('CREATE TABLE public.items (id int PRIMARY KEY, v text); CREATE TABLE public.notes (id int PRIMARY KEY, body text)');
  await env.source.track({ table: { schema: 'public', table: 'items' } });
  await env.source.track({ table: { schema: 'public', table: 'notes' } });

  const topic = `t-${randomBytes(5).toString('hex')}`;
  queue = await subscribeQueue(emulator.endpoint, topic);
  const doc = relayConfigDoc({ sourceUrl: env.db.url, redisUrl: REDIS_URL, endpoint: emulator.endpoint, topic });
  config = relayConfig(doc);
  configFile = writeConfigFile({ ...doc, log: { level: 'warn' } });

  const relay = await startRelay({ config, logger: silentLogger, instanceId: 'replay-test' });
  try {
    await env.db.pool.query(`INSERT INTO public.items (id, v) SELECT g, 'a' FROM generate_series(1, 30) g`);
    await env.db.pool.query(`UPDATE public.items SET v = 'a2' WHERE id <= 5`);
    before = await seqsAfter('0');
    await queue.waitForSeqs(before);
    // --since lies between the two phases, on the database's clock (changed_at is clock_timestamp()).
    since = (await env.db.pool.query<{ t: Date }>('SELECT clock_timestamp() AS t')).rows[0]!.t;
    const from = await lastSeq();
    await env.db.pool.query(`INSERT INTO public.items (id, v) SELECT g, 'b' FROM generate_series(31, 60) g`);
    await env.db.pool.query(`UPDATE public.items SET v = 'b2' WHERE id BETWEEN 1 AND 10`);
    await env.db.pool.query(`DELETE FROM public.items WHERE id = 60`);
    await env.db.pool.query(`INSERT INTO public.notes (id, body) SELECT g, 'n' FROM generate_series(1, 7) g`);
    after = await seqsAfter(from);
    await queue.waitForSeqs(after);
  } finally {
    await relay.close();
  }
  // Committed after the relay stopped: in the outbox, never published.
  const from = await lastSeq();
  await env.db.pool.query(`INSERT INTO public.items (id, v) SELECT g, 'c' FROM generate_series(61, 70) g`);
  unpublished = await seqsAfter(from);
  expect(before.length).toBe(35);
  expect(after.length).toBe(30 + 10 + 1 + 7);
  expect(unpublished.length).toBe(10);
  await drainQueue();
});

afterAll(async () => {
  queue?.close();
  await env?.close();
  await emulator?.stop();
});

describe('outbox replay', () => {
  it('re-publishes exactly the published events since --since, in seq order, leaving the relay cursor alone', async () => {
    const cursor = await relayState();
    const progress: number[] = [];
    const result = await runReplay({ config, logger: silentLogger, since, pageSize: 16, onProgress: (n) => progress.push(n) });
    expect(result).toMatchObject({ matched: after.length, published: after.length, firstSeq: after[0], lastSeq: after.at(-1), resumeFromSeq: null });
    expect(progress.at(-1)).toBe(after.length);
    expect(progress.length).toBe(Math.ceil(after.length / 16));

    await queue.waitForSeqs(after);
    const got = await drainQueue();
    expect(tally(got, after)).toEqual({ missing: [], duplicates: 0, unexpected: [] });
    // The envelopes are the relay's own: same ids, ops and images.
    const deleted = got.find((e) => e.data?.op === 'delete')!;
    expect(deleted.data).toMatchObject({ schema: 'public', table: 'items', key: { id: 60 } });
    expect(deleted.id).toBe(`relay-test:${deleted.sequence}`);
    expect(await relayState()).toEqual(cursor);
  });

  it('filters by table and --from-seq, and without filters replays everything published but nothing unpublished', async () => {
    const notes = await runReplay({ config, logger: silentLogger, tables: [{ schema: 'public', table: 'notes' }] });
    expect(notes.published).toBe(7);
    const fromSeq = after[20]!;
    const tail = await runReplay({ config, logger: silentLogger, fromSeq, tables: [{ schema: 'public', table: 'items' }] });
    const all = await runReplay({ config, logger: silentLogger });
    expect(all.published).toBe(before.length + after.length);

    const itemsTail = after.slice(20, after.length - 7); // phase two wrote the items first, then the notes
    expect(tail.published).toBe(itemsTail.length);
    const expected = [...before, ...after];
    await queue.waitForSeqs(expected);
    const got = await drainQueue();
    const counts = tally(got, expected);
    expect(counts.missing).toEqual([]);
    expect(counts.unexpected).toEqual([]); // not one of the unpublished events
    expect(counts.duplicates).toBe(7 + itemsTail.length); // the notes and the items tail came twice
  });

  it('as a command: --dry-run counts and publishes nothing; bad options exit 2', async () => {
    const cursor = await relayState();
    const dry = await outbox(['replay', '--since', since.toISOString(), '--table', 'public.items', '--dry-run']);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain(`would re-publish ${after.length - 7} event(s)`);
    const real = await outbox(['replay', '--since', since.toISOString(), '--table', 'public.notes,public.items']);
    expect(real.code).toBe(0);
    expect(real.stdout).toMatch(new RegExp(`^Re-published ${after.length} event\\(s\\)`, 'm'));
    await queue.waitForSeqs(after);
    expect(tally(await drainQueue(), after)).toEqual({ missing: [], duplicates: 0, unexpected: [] });
    expect(await relayState()).toEqual(cursor);

    expect((await outbox(['replay', '--since', 'yesterday'])).code).toBe(2);
    expect((await outbox(['replay', '--since', '2024-05-01T12:00:00'])).code).toBe(2);
    expect((await outbox(['replay', '--from-seq', 'abc'])).code).toBe(2);
    expect((await outbox(['replay', '--table', 'no-such.thing!'])).code).toBe(2);
    const help = await outbox(['replay', '--help']);
    expect(help.stdout).toMatch(/duplicates\s+are\s+harmless/);
  });

  it('counts an open window as published only up to window_seq', async () => {
    // As a relay that has published the first 4 events of the window holding the unpublished rows.
    await env.db.pool.query(`UPDATE outbox.relay_state SET window_snapshot = pg_current_snapshot(), window_seq = $1`, [unpublished[3]]);
    const result = await runReplay({ config, logger: silentLogger, fromSeq: unpublished[0]! });
    expect(result.published).toBe(4);
    await queue.waitForSeqs(unpublished.slice(0, 4));
    const got = await drainQueue();
    expect(tally(got, unpublished.slice(0, 4))).toEqual({ missing: [], duplicates: 0, unexpected: [] });
  });
});

describe('outbox replay over rows that publish nothing', () => {
  it('reads on past a page whose rows all publish nothing (updates of excluded columns only), to the end', async () => {
    await env.db.pool.query('CREATE TABLE public.accounts (id int PRIMARY KEY, v text, pin text)');
    await env.source.track({ table: { schema: 'public', table: 'accounts' }, exclude: ['pin'] });
    const from = await lastSeq();
    await env.db.pool.query(`INSERT INTO public.accounts (id, v, pin) SELECT g, 'a', '0000' FROM generate_series(1, 3) g`);
    // A batch job touching only the excluded column, row by row.
    for (let id = 1; id <= 3; id++) for (let k = 0; k < 3; k++) await env.db.pool.query(`UPDATE public.accounts SET pin = $1 WHERE id = $2`, [`${id}${k}`, id]);
    await env.db.pool.query(`UPDATE public.accounts SET v = 'b' WHERE id = 2`);
    const rows = await seqsAfter(from);
    // Only the inserts and the last update publish anything (the relay closes after its last advance).
    const published = [...rows.slice(0, 3), rows.at(-1)!];
    const relay = await startRelay({ config, logger: silentLogger, instanceId: 'replay-test-2' });
    try {
      await queue.waitForSeqs(published);
    } finally {
      await relay.close();
    }
    // (The items left unpublished above are published by this relay too.)
    const accounts = async () => (await drainQueue()).filter((e) => e.data?.table === 'accounts');
    expect(tally(await accounts(), published)).toEqual({ missing: [], duplicates: 0, unexpected: [] });

    const result = await runReplay({ config, logger: silentLogger, tables: [{ schema: 'public', table: 'accounts' }], pageSize: 3 });
    expect(result.published).toBe(4);
    await queue.waitForSeqs(published);
    expect(tally(await accounts(), published)).toEqual({ missing: [], duplicates: 0, unexpected: [] });
  });
});
