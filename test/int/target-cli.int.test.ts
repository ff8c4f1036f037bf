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

describe('outbox target resume, status and doctor after a halt at a schema change', () => {
  it('status and doctor show the halt (doctor exits 1); target resume lifts it', async () => {
    const { parseConfig } = await import('../../src/config/index.js');
    const { createTargetWriter } = await import('../../src/targets/index.js');
    const { silentLogger } = await import('../../src/logger.js');
    const config = parseConfig({ source: { url: ctx.db.url }, targets: { copy: { kind: 'postgres', urlEnv: 'TARGET_URL', tables: ['public.customers'], schemaChanges: 'stop', mapping: { 'public.customers': { table: 'replica.clients', rename: { id: 'client_id' } } } } } }, { TARGET_URL: ctx.db.url });
    const writer = createTargetWriter('copy', config.targets.copy!, config.targetSecrets('copy'), silentLogger);
    try {
      await ctx.db.pool.query(`CREATE SCHEMA IF NOT EXISTS replica; CREATE TABLE IF NOT EXISTS replica.clients (client_id bigint PRIMARY KEY, name text, email text)`);
      const halt = await writer.apply([
        {
          messageId: 'm1', eventId: 'src:77:schema', sourceTable: 'public.customers', table: 'replica.clients', op: 'schema', seq: '77', key: null, row: null, time: new Date().toISOString(),
          schemaChange: { dialect: 'postgres', items: [{ kind: 'add_column', column: 'phone', type: { dialect: 'postgres', type: 'text' }, nullable: true }] },
        },
      ]);
      expect(halt).toEqual([{ status: 'halt', reason: expect.stringContaining('Target "copy" stopped at a schema change of public.customers (seq 77: add column "phone" (text))') }]);
    } finally {
      await writer.close();
    }
    const status = await outbox(['status']);
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(/^HALTED Target "copy" stopped at a schema change of public\.customers \(seq 77/m);
    const statusJson = JSON.parse((await outbox(['status', '--json'])).stdout);
    expect(statusJson.targetHalts).toMatchObject([{ target: 'copy', halts: [{ sourceTable: 'public.customers', seq: '77', status: 'halted' }] }]);
    const doctor = await outbox(['doctor']);
    expect(doctor.code).toBe(1);
    expect(doctor.stdout).toMatch(/^ERROR \[target-schema\] Target "copy" stopped at a schema change .*outbox target resume copy/m);

    const resumed = await outbox(['target', 'resume', 'copy']);
    expect(resumed.code).toBe(0);
    expect(resumed.stdout).toMatch(/RESUMED public\.customers seq 77 \(replica\.clients\)/);
    expect(resumed.stdout).toMatch(/1 schema change\(s\) marked as applied by hand/);
    expect((await outbox(['target', 'resume', 'copy'])).stdout).toMatch(/is not halted at a schema change/);
    expect((await outbox(['doctor'])).stdout).not.toMatch(/target-schema/);
  });
});
