import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, type CliRun } from '../helpers/cli.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { readDecodedOutbox } from '../helpers/source.js';

/** The CLI as a user runs it: a subprocess in an empty folder (test/helpers/cli.ts). */
const WORKDIR = mkdtempSync(join(tmpdir(), 'outbox-cli-'));

function outbox(args: string[], env: Record<string, string> = {}): Promise<CliRun> {
  return runCli(args, { cwd: WORKDIR, env });
}

function configFile(name: string, text: string): string {
  const path = join(WORKDIR, name);
  writeFileSync(path, text);
  return path;
}

let db: TestDatabase;
let env: Record<string, string>;

beforeAll(async () => {
  db = await createTestDatabase();
  env = { OUTBOX_SOURCE_URL: db.url, OUTBOX_LOG_LEVEL: 'warn' };
  await db.pool.query(`
    CREATE TABLE public.orders (id bigint PRIMARY KEY, tenant_id int NOT NULL, secret text, total numeric);
    CREATE TABLE public.loose (code text NOT NULL, v int);
    CREATE TABLE public.y (id int PRIMARY KEY);`);
});
afterAll(async () => {
  await db?.drop();
});

describe('outbox CLI: usage and config (exit 2)', () => {
  it('prints help and exits 0', async () => {
    const top = await outbox(['--help']);
    expect(top.code).toBe(0);
    for (const command of ['migrate', 'track', 'untrack', 'status', 'doctor']) expect(top.stdout).toContain(command);
  });

  it('exits 2 on an unknown command or a missing argument', async () => {
    const [unknown, missing] = await Promise.all([outbox(['frobnicate']), outbox(['track'], env)]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("unknown command 'frobnicate'");
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("missing required argument 'table'");
  });

  it('exits 2 when there is no config and no OUTBOX_SOURCE_URL, or --config names a missing file', async () => {
    const [bare, missingFile] = await Promise.all([outbox(['status']), outbox(['--config', 'nope.yaml', 'status'])]);
    expect(bare.code).toBe(2);
    expect(bare.stderr).toMatch(/source\.url: OUTBOX_SOURCE_URL is not set and there is no config file/);
    expect(missingFile.code).toBe(2);
    expect(missingFile.stderr).toContain('Config file nope.yaml does not exist');
  });

  it('lists every problem of a bad config at once, naming setting and value, without credentials', async () => {
    const path = configFile(
      'bad.yaml',
      [
        'source:',
        '  url: postgres://app:pa55word@db.example/app',
        '  schema: "bad-name;drop"',
        '  poolSize: 1000',
        'redis:',
        '  urls: ["http://:r3dis-secret@cache:6379"]',
        'relay:',
        '  pollIntervalMs: -5',
        'log: { level: chatty }',
        'surprise: true',
      ].join('\n'),
    );
    const run = await outbox(['--config', path, 'migrate']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(`${path} has 6 problems`);
    expect(run.stderr).toMatch(/source\.schema: must be a plain SQL identifier.*\(got "bad-name;drop"\)/);
    expect(run.stderr).toMatch(/source\.poolSize: .*\(got 1000\)/);
    expect(run.stderr).toMatch(/redis\.urls\.0: must start with redis:\/\/ or rediss:\/\/ \(got "http:\/\/\*\*\*@cache:6379"\)/);
    expect(run.stderr).toMatch(/relay\.pollIntervalMs: .*\(got -5\)/);
    expect(run.stderr).toMatch(/log\.level: .*\(got "chatty"\)/);
    expect(run.stderr).toMatch(/unknown setting "surprise"/);
    expect(run.stderr).not.toMatch(/pa55word|r3dis-secret/);
    expect(run.stdout).toBe('');
  });

  it('reports a malformed YAML file with its line (exit 2)', async () => {
    const run = await outbox(['--config', configFile('broken.yaml', 'source:\n  url: "postgres://x/db\nredis: {}\n'), 'status']);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/not valid YAML \(line \d+\)/);
  });

  it('takes OUTBOX_REDIS_URL as a comma-separated list of nodes', async () => {
    const run = await outbox(['status'], { ...env, OUTBOX_REDIS_URL: 'redis://a:6379, http://user:n0de-pw@b:6379' });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('redis.urls.1: must start with redis://');
    expect(run.stderr).not.toContain('redis.urls.0');
    expect(run.stderr).not.toContain('n0de-pw');
  });
});

describe('outbox CLI against PostgreSQL', () => {
  it('migrates through OUTBOX_SOURCE_URL, which overrides the config file; a second run is a no-op', async () => {
    const path = configFile('good.yaml', 'source:\n  url: postgres://nobody@127.0.0.1:1/nothing\n  name: cli-test\n');
    const first = await outbox(['--config', path, 'migrate'], env);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/^Applied 1 outbox_core, 2 relay_state/);
    const second = await outbox(['migrate'], env);
    expect(second.code).toBe(0);
    expect(second.stdout).toMatch(/Outbox schema "outbox" is up to date/);
  });

  it('migrate --no-event-triggers drops the DDL event triggers, source.eventTriggers: skip keeps them off (doctor says so), and a plain migrate installs them again', async () => {
    const count = async () => (await db.pool.query(`SELECT count(*)::int AS n FROM pg_event_trigger`)).rows[0].n as number;
    expect(await count()).toBe(2);
    const dropped = await outbox(['migrate', '--no-event-triggers'], env);
    expect(dropped.code).toBe(0);
    expect(dropped.stdout).toContain('DDL event triggers dropped (source.eventTriggers: skip)');
    expect(await count()).toBe(0);
    const path = configFile('skip.yaml', 'source:\n  eventTriggers: skip\n');
    const skipped = await outbox(['--config', path, 'migrate'], env);
    expect(skipped.stdout).toContain('DDL event triggers skipped by setting');
    const doctor = await outbox(['--config', path, 'doctor'], env);
    expect(doctor.stdout).toContain('skipped by setting (source.eventTriggers: skip)');
    const again = await outbox(['migrate'], env);
    expect(again.stdout).toContain('DDL event triggers installed');
    expect(await count()).toBe(2);
  });

  it('tracks and untracks a table, with exit 0', async () => {
    const run = await outbox(['track', 'public.orders', '--exclude', 'secret', '--attributes', 'tenant_id'], env);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toBe('Tracking public.orders: key (id), 3 captured column(s), excluded secret, attributes tenant_id.\n');
    await db.pool.query(`INSERT INTO orders VALUES (1, 7, 'hidden', 10)`);
    const events = (await readDecodedOutbox(db.pool, 'outbox')).map((e) => ({ op: e.op, after: e.after, attributes: e.attributes }));
    expect(events).toEqual([{ op: 'insert', after: { id: '1', tenant_id: 7, total: '10' }, attributes: { tenant_id: '7' } }]);

    // re-run after a column change, without options: the recorded ones stay (the secret stays out)
    await db.pool.query('ALTER TABLE orders ADD COLUMN region text');
    const again = await outbox(['track', 'public.orders'], env);
    expect(again.code).toBe(0);
    expect(again.stdout).toBe('Tracking public.orders: key (id), 4 captured column(s), excluded secret, attributes tenant_id.\n');

    // No relay runs here: the captured insert is not published, so untrack stops the capture and
    // says to run it again (exit 1); --force finishes (the insert goes to the quarantine).
    const waiting = await outbox(['untrack', 'public.orders', '--wait', '0'], env);
    expect(waiting.code).toBe(1);
    expect(waiting.stderr).toMatch(/the relay has not published its last \d+ captured changes? yet.*run `outbox untrack public\.orders` again to finish/s);
    const untrack = await outbox(['untrack', 'public.orders', '--force'], env);
    expect(untrack.code).toBe(0);
    expect(untrack.stdout).toContain('Stopped tracking public.orders.');
    const triggers = await db.pool.query(`SELECT count(*)::int AS n FROM pg_trigger WHERE tgrelid = 'public.orders'::regclass AND NOT tgisinternal`);
    expect(triggers.rows[0].n).toBe(0);
  });

  it('exits 1 naming an unknown table or column, and a table without a key; --key fixes the latter', async () => {
    const [table, column, nokey] = await Promise.all([
      outbox(['track', 'public.nosuch'], env),
      outbox(['track', 'public.orders', '--exclude', 'nosuchcol'], env),
      outbox(['track', 'public.loose'], env),
    ]);
    expect(table.code).toBe(1);
    expect(table.stderr).toContain('Table public.nosuch does not exist');
    expect(column.code).toBe(1);
    expect(column.stderr).toContain('Table public.orders has no column "nosuchcol"');
    expect(nokey.code).toBe(1);
    expect(nokey.stderr).toContain('Table public.loose has no primary key');
    const keyed = await outbox(['track', 'public.loose', '--key', 'code'], env);
    expect(keyed.code).toBe(0);
    expect(keyed.stdout).toContain('key (code)');
  });

  it('rejects SQL injection in table and column names (exit 2), executing nothing', async () => {
    const runs = await Promise.all([
      outbox(['track', 'public.x"; drop table y; --'], env),
      outbox(['track', 'public.orders', '--exclude', 'a);drop'], env),
    ]);
    for (const run of runs) {
      expect(run.code).toBe(2);
      expect(run.stderr).toContain('is not a plain SQL identifier');
    }
    const y = await db.pool.query(`SELECT to_regclass('public.y') IS NOT NULL AS present`);
    expect(y.rows[0].present).toBe(true);
  });

  it('never shows the credentials of an unreachable or malformed source URL', async () => {
    const runs = await Promise.all([
      outbox(['status'], { OUTBOX_SOURCE_URL: 'postgres://app:Sup3rS3cret@127.0.0.1:1/app', OUTBOX_LOG_LEVEL: 'trace' }),
      outbox(['migrate'], { OUTBOX_SOURCE_URL: 'postgres://app:Sup3rS3cret@127.0.0.1:notaport/app' }),
    ]);
    for (const run of runs) {
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(/^outbox: /m);
      expect(run.stderr + run.stdout).not.toContain('Sup3rS3cret');
    }
  });
});
