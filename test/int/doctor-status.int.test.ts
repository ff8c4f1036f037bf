import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, type CliRun } from '../helpers/cli.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';

/** `outbox status` and `outbox doctor` as a subprocess, from the current source (test/helpers/cli.ts). */
const WORKDIR = mkdtempSync(join(tmpdir(), 'outbox-doctor-'));

function outbox(args: string[]): Promise<CliRun> {
  return runCli(args, { cwd: WORKDIR, env: { OUTBOX_SOURCE_URL: db.url, OUTBOX_LOG_LEVEL: 'warn' } });
}

let db: TestDatabase;
const sql = (text: string) => db.pool.query(text);

beforeAll(async () => {
  db = await createTestDatabase();
  await sql(`
    CREATE TABLE public.orders (id int PRIMARY KEY, v int);
    CREATE TABLE public.customers (id int PRIMARY KEY, name text)`);
});
afterAll(async () => {
  await db?.drop();
});

describe('outbox doctor and status', () => {
  it('doctor exits 1 before migrate, saying what to run', async () => {
    const run = await outbox(['doctor']);
    expect(run.code).toBe(1);
    expect(run.stdout).toContain('The outbox schema "outbox" is not installed. Run: outbox migrate');
  });

  it('status --json shows tracked tables, backlog and the oldest unpublished change', async () => {
    expect((await outbox(['migrate'])).code).toBe(0);
    const tracks = await Promise.all([outbox(['track', 'public.orders']), outbox(['track', 'public.customers'])]);
    expect(tracks.map((t) => t.code)).toEqual([0, 0]);
    await sql(`INSERT INTO orders SELECT g, g FROM generate_series(1, 3) g`);
    await sql(`INSERT INTO customers VALUES (1, 'a')`);
    const run = await outbox(['status', '--json']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const status = JSON.parse(run.stdout);
    expect(status.schema).toBe('outbox');
    expect(status.migration).toMatchObject({ pending: [], changed: [], unknown: [] });
    expect(status.tables.map((t: { table: unknown; backlog: number; keyColumns: string[] }) => [t.table, t.keyColumns, t.backlog])).toEqual([
      [{ schema: 'public', table: 'customers' }, ['id'], 1],
      [{ schema: 'public', table: 'orders' }, ['id'], 3],
    ]);
    expect(status.backlog).toBe(4);
    expect(status.oldestUnpublishedAgeSeconds).toBeGreaterThanOrEqual(0);
    expect(status.oldestUnpublishedAgeSeconds).toBeLessThan(600);
    expect(status.leader).toEqual({ id: null, epoch: '0', since: null });

    const text = await outbox(['status']);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/Backlog: 4 event\(s\); oldest unpublished \d/);
    expect(text.stdout).toMatch(/^public\.orders\s+incremental\s.*\s3\s/m);
  });

  it('doctor exits 0 when capture is intact', async () => {
    const run = await outbox(['doctor']);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('OK: capture is intact.');
  });

  it('doctor exits 1 when a trigger is disabled or missing, and 0 again once fixed', async () => {
    await sql('ALTER TABLE public.orders DISABLE TRIGGER outbox_capture_update');
    await sql('DROP TRIGGER outbox_capture_truncate ON public.customers');
    const broken = await outbox(['doctor']);
    expect(broken.code).toBe(1);
    expect(broken.stdout).toContain('Table public.orders: capture trigger outbox_capture_update is missing or disabled');
    expect(broken.stdout).toContain('Table public.customers: capture trigger outbox_capture_truncate is missing or disabled');
    expect(broken.stdout).toContain('2 problem(s) found.');

    await sql('ALTER TABLE public.orders ENABLE TRIGGER outbox_capture_update');
    expect((await outbox(['track', 'public.customers'])).code).toBe(0);
    expect((await outbox(['doctor'])).code).toBe(0);
  });

  it('doctor warns (exit 0) when a tracked table gained a column, and exits 1 when its key column is renamed away', async () => {
    await sql('ALTER TABLE public.orders ADD COLUMN note text');
    const run = await outbox(['doctor']);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('Table public.orders changed since the relay last published its shape (+note text)');
    const status = await outbox(['status', '--json']);
    expect(JSON.parse(status.stdout).tables.map((t: { drift: string[] }) => t.drift)).toEqual([[], ['+note text']]);
    expect((await outbox(['status'])).stdout).toContain('Schema drift: public.orders (+note text)');
    await sql('ALTER TABLE public.orders DROP COLUMN note');
    // The DDL event triggers (installed: the test migrates as a superuser) would refuse this rename;
    // the path without them is the one checked here (test/int/capture-ddl.int.test.ts has both).
    await sql('BEGIN; SET LOCAL session_replication_role = replica; ALTER TABLE public.orders RENAME COLUMN id TO order_id; COMMIT');
    const lost = await outbox(['doctor']);
    expect(lost.code).toBe(1);
    expect(lost.stdout).toContain('Table public.orders no longer has its key column "id" (dropped or renamed)');
    await sql('ALTER TABLE public.orders RENAME COLUMN order_id TO id');
    expect((await outbox(['doctor'])).code).toBe(0);
  });

  it('doctor exits 1 when the ledger drifted or the schema is newer than the code', async () => {
    await sql(`UPDATE outbox.schema_migrations SET checksum = 'drifted' WHERE version = 1`);
    await sql(`INSERT INTO outbox.schema_migrations (version, name, checksum) VALUES (999999, 'from_the_future', 'x')`);
    const run = await outbox(['doctor']);
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/ERROR \[ledger\] Migration 1 \(outbox_core\) differs/);
    expect(run.stdout).toMatch(/ERROR \[schema\] The database has migration 999999 \(from_the_future\).*newer than the code/);
  });
});
