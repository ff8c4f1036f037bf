import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, type CliRun } from '../helpers/cli.js';
import { createMigratedSource } from '../helpers/source.js';

/** `outbox target init` as a subprocess: problems named with exit 1, then ready with exit 0. */
const WORKDIR = mkdtempSync(join(tmpdir(), 'outbox-target-init-'));
const CONFIG = join(WORKDIR, 'outbox.config.yaml');

let ctx: Awaited<ReturnType<typeof createMigratedSource>>;

function outbox(args: string[]): Promise<CliRun> {
  return runCli(['--config', CONFIG, ...args], { cwd: WORKDIR, env: { OUTBOX_SOURCE_URL: ctx.db.url, TARGET_URL: ctx.db.url, OUTBOX_LOG_LEVEL: 'warn' } });
}

beforeAll(async () => {
  ctx = await createMigratedSource();
  await ctx.db.pool.query(`CREATE TABLE public.customers (id bigint PRIMARY KEY, name text, email text)`);
  await ctx.source.track({ table: { schema: 'public', table: 'customers' } });
  writeFileSync(
    CONFIG,
    [
      'targets:',
      '  copy:',
      '    kind: postgres',
      '    urlEnv: TARGET_URL',
      '    tables: [public.customers]',
      '    mapping:',
      '      public.customers: { table: replica.clients, rename: { id: client_id } }',
    ].join('\n'),
  );
});

afterAll(async () => {
  await ctx?.close();
  rmSync(WORKDIR, { recursive: true, force: true });
});

describe('outbox target init', () => {
  it('names what is missing and exits 1, then creates the version store and exits 0', async () => {
    const missing = await outbox(['target', 'init', 'copy']);
    expect(missing.code).toBe(1);
    expect(missing.stdout).toMatch(/PROBLEM table replica\.clients \(mapped from public\.customers\) does not exist: .*primary key on \(client_id\)/);

    await ctx.db.pool.query(`CREATE SCHEMA replica; CREATE TABLE replica.clients (id bigint PRIMARY KEY, name text, email text)`);
    const wrongKey = await outbox(['target', 'init', 'copy']);
    expect(wrongKey.code).toBe(1);
    expect(wrongKey.stdout).toMatch(/has no column "client_id"/);
    expect(wrongKey.stdout).toMatch(/needs a primary key or unique index on exactly \(client_id\)/);

    await ctx.db.pool.query(`ALTER TABLE replica.clients RENAME COLUMN id TO client_id`);
    const ready = await outbox(['target', 'init', 'copy']);
    expect(ready.stderr).toBe('');
    expect(ready.code).toBe(0);
    expect(ready.stdout).toMatch(/Target "copy" is ready/);
    const store = await ctx.db.pool.query(`SELECT to_regclass('outbox_target.versions') IS NOT NULL AS ok`);
    expect(store.rows[0].ok).toBe(true);
    expect((await outbox(['target', 'init', 'copy'])).code).toBe(0);
  });

  it('refuses a mapping that masks a key column, naming it', async () => {
    writeFileSync(CONFIG, ['targets:', '  copy:', '    kind: postgres', '    urlEnv: TARGET_URL', '    tables: [public.customers]', '    mapping:', "      public.customers: { mask: { id: full } }"].join('\n'));
    const result = await outbox(['target', 'init', 'copy']);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/mapping\.public\.customers\.mask: "id" is a key column/);
  });

  it('an unknown target is a clear error', async () => {
    const result = await outbox(['target', 'init', 'nope']);
    // an unknown target is bad usage (README: exit 2)
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/Target "nope" is not in the config/);
  });
});
