import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBackfill } from '../../src/backfill/index.js';
import { silentLogger } from '../../src/logger.js';
import { runVerify } from '../../src/verify/index.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { createReplayer, type Replayer } from '../helpers/outbox-replay.js';
import { logCapture } from '../helpers/pipeline.js';
import { runCli, type CliRun } from '../helpers/cli.js';
import { createMigratedSource, readDecodedOutbox } from '../helpers/source.js';

type Ctx = Awaited<ReturnType<typeof createMigratedSource>>;
let ctx: Ctx;
let target: TestDatabase;
let replayer: Replayer;
let configFile: string;

// The target renames a column and leaves one out, so verify must compare after the transform.
const TARGET = {
  tables: ['public.accounts'],
  mapping: { 'public.accounts': { table: 'copy.accounts', rename: { email: 'email_address' }, exclude: ['notes'] } },
};

beforeAll(async () => {
  ctx = await createMigratedSource();
  target = await createTestDatabase('outbox_target');
  await ctx.db.pool.query(`
    CREATE TABLE public.accounts (id bigint PRIMARY KEY, email text, balance numeric(14, 2), tenant_id int NOT NULL, opened timestamptz NOT NULL, notes text);
    INSERT INTO public.accounts SELECT g, 'user' || g || '@example.com', g * 1.25, g % 3, timestamptz '2024-01-01 00:00:00+00' + g * interval '1 minute', 'n' FROM generate_series(1, 5000) g;`);
  await ctx.source.track({ table: { schema: 'public', table: 'accounts' }, attributes: ['tenant_id'] });
  await target.pool.query(`CREATE SCHEMA copy; CREATE TABLE copy.accounts (id bigint PRIMARY KEY, email_address text, balance numeric(14, 2), tenant_id int, opened timestamptz)`);
  await runBackfill({ source: ctx.source, table: { schema: 'public', table: 'accounts' }, logger: silentLogger });
  replayer = await createReplayer(ctx.db.pool, 'outbox', target.url, TARGET);
  await replayer.replay();
  const dir = mkdtempSync(join(tmpdir(), 'outbox-verify-'));
  configFile = join(dir, 'outbox.config.yaml');
  writeFileSync(configFile, JSON.stringify({ source: { url: ctx.db.url }, targets: { copy: { kind: 'postgres', urlEnv: 'COPY_URL', ...TARGET } } }));
});

afterAll(async () => {
  await replayer?.close();
  await ctx?.close();
  await target?.drop();
});

const verify = (repair = false) =>
  runVerify({ source: ctx.source, targetName: 'copy', target: replayer.target, secrets: { url: target.url }, chunkSize: 700, repair, logger: silentLogger });

describe('verify', () => {
  it('finds no drift on equal data and exits 0', async () => {
    const report = await verify();
    expect(report.drift).toBe(false);
    expect(report.tables[0]).toMatchObject({ sourceRows: 5000, chunks: 8, mismatchedChunks: 0, missing: { count: 0 }, extra: { count: 0 }, different: { count: 0 } });
    const cli = await runOutbox(['verify', 'copy']);
    // progress lines go to standard error, the result alone to standard output
    expect(cli.stderr).not.toMatch(/^outbox: /m);
    expect(cli.stdout).not.toMatch(/rows\/s/);
    expect(cli.code).toBe(0);
    expect(cli.stdout).toMatch(/matches the source/);
  });

  it('finds a deleted, a changed and an extra target row, exits 1, and repair through the pipeline fixes them', async () => {
    await target.pool.query(`DELETE FROM copy.accounts WHERE id IN (10, 4321)`);
    await target.pool.query(`UPDATE copy.accounts SET balance = balance + 1 WHERE id = 2000`);
    await target.pool.query(`UPDATE copy.accounts SET email_address = 'x' WHERE id = 5000`);
    await target.pool.query(`INSERT INTO copy.accounts VALUES (7777, 'ghost@example.com', 0, 2, now()), (0, 'zero', 0, 1, now())`);
    const report = await verify();
    expect(report.drift).toBe(true);
    const t = report.tables[0]!;
    expect(t.missing).toEqual({ count: 2, sample: expect.arrayContaining([{ id: 10 }, { id: 4321 }]) });
    expect(t.extra).toEqual({ count: 2, sample: expect.arrayContaining([{ id: 7777 }, { id: 0 }]) });
    expect(t.different.count).toBe(2);
    expect(t.different.columns).toEqual({ balance: 1, email_address: 1 });
    expect(t.mismatchedChunks).toBeGreaterThanOrEqual(4);

    const cli = await runOutbox(['verify', 'copy', '--table', 'public.accounts']);
    expect(cli.code).toBe(1);
    expect(cli.stdout).toMatch(/missing at the target: 2/);
    expect(cli.stdout).toMatch(/extra at the target \(no source row in its share\): 2/);
    expect(cli.stdout).toMatch(/different: 2 \(columns: .*balance ×1/);

    const repaired = await verify(true);
    expect(repaired.tables[0]!.repair).toEqual({ snapshots: 4, deletes: 2 });
    const events = { rows: (await readDecodedOutbox(ctx.db.pool, 'outbox')).filter((e) => e.op === 'delete').map((e) => ({ op: e.op, key: e.key, attributes: e.attributes })) };
    expect(events.rows).toEqual(
      expect.arrayContaining([
        { op: 'delete', key: { id: '7777' }, attributes: { tenant_id: '2' } },
        { op: 'delete', key: { id: '0' }, attributes: { tenant_id: '1' } },
      ]),
    );
    expect(await replayer.replay()).toBe(6);
    const after = await verify();
    expect(after.drift).toBe(false);
  });

  it('repair snapshots are byte-identical to capture images', async () => {
    await ctx.db.pool.query(`UPDATE public.accounts SET balance = 99.5 WHERE id = 3`);
    const live = (await readDecodedOutbox(ctx.db.pool, 'outbox')).filter((e) => e.op === 'update').at(-1)!.after;
    await target.pool.query(`DELETE FROM copy.accounts WHERE id = 3`);
    await verify(true);
    const snap = (await ctx.db.pool.query(`SELECT after FROM outbox.events WHERE op = 'snapshot' AND key = '{"id": "3"}' ORDER BY seq DESC LIMIT 1`)).rows[0].after;
    expect(JSON.stringify(snap)).toBe(JSON.stringify(live));
    await replayer.replay();
    expect((await verify()).drift).toBe(false);
  });
});

describe('verify of a target that lists a table not tracked yet', () => {
  it('exits 1 naming the table and what to run, not a backfill reason; --table verifies the others', async () => {
    await ctx.db.pool.query(`CREATE TABLE IF NOT EXISTS public.later (id int PRIMARY KEY)`);
    const file = join(mkdtempSync(join(tmpdir(), 'outbox-verify-')), 'outbox.config.yaml');
    writeFileSync(file, JSON.stringify({ source: { url: ctx.db.url }, targets: { copy: { kind: 'postgres', urlEnv: 'COPY_URL', ...TARGET, tables: ['public.accounts', 'public.later'] } } }));
    const env = { inheritEnv: true, env: { COPY_URL: target.url, OUTBOX_LOG_LEVEL: 'warn' }, timeoutMs: 60_000 };
    const all = await runCli(['--config', file, 'verify', 'copy'], env);
    expect(all.code).toBe(1);
    expect(all.stderr).toContain('Table public.later is not tracked. Run: outbox track public.later');
    expect(all.stderr).toContain('name one with --table');
    expect(all.stderr).not.toMatch(/a backfill relies/);
    const one = await runCli(['--config', file, 'verify', 'copy', '--table', 'public.accounts'], env);
    expect(one.code).toBe(0);
  });
});

describe('verify --repair of a target whose share was narrowed', () => {
  it('says which extra rows no repair event can reach (outside the share by their own values), and what to do', async () => {
    // The copy holds every tenant; narrowed to tenant 1, the rows of tenants 0 and 2 are extra.
    const logs = logCapture();
    const narrowed = { ...replayer.target, where: { tenant_id: ['1'] } };
    const report = await runVerify({ source: ctx.source, targetName: 'copy', target: narrowed, secrets: { url: target.url }, repair: true, logger: logs.logger });
    const extra = report.tables[0]!.extra.count;
    expect(extra).toBeGreaterThan(3000);
    const warning = logs.lines.map((l) => JSON.parse(l) as { msg: string; keys?: number }).find((l) => l.msg.includes('are outside its share by their own values too'));
    expect(warning).toMatchObject({ keys: extra, msg: expect.stringContaining('Delete them at the target by hand') });
  });
});

function runOutbox(args: string[]): Promise<CliRun> {
  return runCli(['--config', configFile, ...args], { inheritEnv: true, env: { COPY_URL: target.url, OUTBOX_LOG_LEVEL: 'warn' }, timeoutMs: 60_000 });
}
