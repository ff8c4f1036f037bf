import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mysql, { type Connection } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBackfill } from '../../src/backfill/index.js';
import { targetSchema, type TargetConfig } from '../../src/config/index.js';
import type { ChangeData } from '../../src/wire/envelope.js';
import { silentLogger } from '../../src/logger.js';
import { MysqlTargetWriter } from '../../src/targets/index.js';
import { buildTransformer } from '../../src/targets/transform/index.js';
import { runVerify } from '../../src/verify/index.js';
import { MYSQL_URL } from '../helpers/env.js';
import { runCli, type CliRun } from '../helpers/cli.js';
import { createMigratedSource, readDecodedOutbox } from '../helpers/source.js';

/**
 * verify against a MariaDB target: a real PostgreSQL source, its outbox applied by the real
 * MysqlTargetWriter. The main table holds every type whose text differs between the two databases
 * (numeric scale, timestamptz vs DATETIME(6) in UTC, timestamp, date, boolean vs TINYINT(1), bytea vs
 * BLOB, jsonb vs JSON, unicode text, bigint beyond 2^53, double), so equality is really across
 * databases; a second table has a composite text key whose order differs between the two collations.
 */
type Ctx = Awaited<ReturnType<typeof createMigratedSource>>;
let ctx: Ctx;
let admin: Connection;
let database: string;
let targetUrl: string;
let target: TargetConfig;
let writer: MysqlTargetWriter;
let lastSeq = '0';
let configFile: string;

const RAW_TARGET = {
  tables: ['public.things', 'public.codes'],
  mapping: {
    'public.things': { table: 'things', rename: { label: 'title' }, exclude: ['secret'] },
    'public.codes': { table: 'codes' },
  },
};

beforeAll(async () => {
  ctx = await createMigratedSource();
  database = `outbox_verify_${randomBytes(5).toString('hex')}`;
  admin = await mysql.createConnection({ uri: MYSQL_URL, dateStrings: true, supportBigNumbers: true, bigNumberStrings: true, charset: 'utf8mb4', timezone: 'Z' });
  await admin.query(`SET time_zone = '+00:00'`);
  await admin.query(`CREATE DATABASE \`${database}\` CHARACTER SET utf8mb4`);
  await admin.query(`USE \`${database}\``);
  const url = new URL(MYSQL_URL);
  url.pathname = `/${database}`;
  targetUrl = url.toString();

  await ctx.db.pool.query(`
    CREATE TABLE public.things (id bigint PRIMARY KEY, amount numeric(20, 6), happened timestamptz, local_at timestamp, day date, active boolean,
                                payload bytea, doc jsonb, label text, ratio double precision, tenant_id int NOT NULL, secret text);
    INSERT INTO public.things
    SELECT g,
           CASE WHEN g % 11 = 0 THEN NULL WHEN g % 2 = 0 THEN g * 1.5 ELSE round(g / 7.0, 6) END,
           CASE WHEN g % 13 = 0 THEN NULL ELSE timestamptz '2024-03-30 22:00:00-05' + g * interval '1 second 123 microseconds' END,
           timestamp '1999-12-31 23:59:59.999999' + g * interval '17 minutes 1 microsecond',
           date '2024-02-29' + g,
           CASE WHEN g % 7 = 0 THEN NULL ELSE g % 2 = 0 END,
           CASE WHEN g % 9 = 0 THEN NULL WHEN g % 5 = 0 THEN '\\x'::bytea ELSE decode(lpad(to_hex(g), 8, '0') || '00ff', 'hex') END,
           CASE WHEN g % 17 = 0 THEN NULL ELSE jsonb_build_object('z', g, 'a', jsonb_build_array(1.50, 'ü', NULL, true), 'nested', jsonb_build_object('k', 'v "q"', 'e', '{}'::jsonb)) END,
           CASE WHEN g % 19 = 0 THEN NULL WHEN g % 3 = 0 THEN 'trailing  ' ELSE 'héllo 🌍 中文 e' || chr(769) || ' ''"\\ ' || g END,
           g / 3.0::float8,
           g % 3,
           'not copied'
      FROM generate_series(1, 3000) g;
    INSERT INTO public.things (id, amount, happened, local_at, day, active, payload, doc, label, ratio, tenant_id)
    VALUES (9007199254740993, 99999999999999.999999, '1970-01-01 00:00:00+00', '0001-01-01 00:00:00', '9999-12-31', true, '\\x00', '[]', '', -0.0, 1);
    CREATE TABLE public.codes (tenant int, code text, qty int, PRIMARY KEY (tenant, code));
    INSERT INTO public.codes SELECT t, chr(65 + (g % 26) + (g % 2) * 32) || g, g FROM generate_series(1, 3) t, generate_series(1, 400) g;`);
  await ctx.source.track({ table: { schema: 'public', table: 'things' }, attributes: ['tenant_id'] });
  await ctx.source.track({ table: { schema: 'public', table: 'codes' } });

  await admin.query(`CREATE TABLE things (id BIGINT PRIMARY KEY, amount DECIMAL(20, 6), happened DATETIME(6), local_at DATETIME(6), day DATE, active BOOLEAN,
                                          payload BLOB, doc JSON, title TEXT, ratio DOUBLE, tenant_id INT) CHARACTER SET utf8mb4`);
  await admin.query(`CREATE TABLE codes (tenant INT, code VARCHAR(20), qty INT, PRIMARY KEY (tenant, code)) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci`);

  target = targetSchema.parse({ kind: 'mysql', urlEnv: 'COPY_URL', stateSchema: `st_${database}`, ...RAW_TARGET });
  writer = new MysqlTargetWriter({ name: 'copy', target, url: targetUrl, logger: silentLogger });
  const problems = await writer.init();
  if (problems.length) throw new Error(`target init: ${problems.join('; ')}`);
  for (const table of ['things', 'codes']) await runBackfill({ source: ctx.source, table: { schema: 'public', table }, logger: silentLogger });
  expect(await replay()).toBe(3001 + 1200);

  const dir = mkdtempSync(join(tmpdir(), 'outbox-verify-mysql-'));
  configFile = join(dir, 'outbox.config.yaml');
  writeFileSync(configFile, JSON.stringify({ source: { url: ctx.db.url }, targets: { copy: { kind: 'mysql', urlEnv: 'COPY_URL', stateSchema: `st_${database}`, ...RAW_TARGET } } }));
}, 180_000); // 4,200 changes applied one by one through MariaDB: slow on a loaded machine

afterAll(async () => {
  await writer?.close();
  await admin?.query(`DROP DATABASE IF EXISTS \`${database}\``);
  await admin?.query(`DROP DATABASE IF EXISTS \`st_${database}\``);
  await admin?.end();
  await ctx?.close();
});

/** Stands in for relay + SNS/SQS + consumer: applies the outbox after the last replay with the real transformer and MySQL writer. */
async function replay(): Promise<number> {
  const transform = buildTransformer('copy', target, {});
  const res = { rows: await readDecodedOutbox(ctx.db.pool, 'outbox', lastSeq) };
  const changes = res.rows.map((e) => {
    const data: ChangeData = { schema: e.tableSchema, table: e.tableName, op: e.op, seq: e.seq, key: e.key, after: e.after };
    return transform(data, { messageId: `m${e.seq}`, eventId: `test:${e.seq}${e.keyChange ? ':old' : ''}`, time: new Date().toISOString() });
  });
  for (let i = 0; i < changes.length; i += 500) {
    const outcomes = await writer.apply(changes.slice(i, i + 500));
    const rejected = outcomes.find((o) => o.status === 'rejected');
    if (rejected) throw new Error(`target rejected a change: ${JSON.stringify(rejected)}`);
  }
  if (res.rows.length) lastSeq = res.rows.at(-1)!.seq;
  return res.rows.length;
}

const verify = (options: { repair?: boolean; table?: string } = {}) =>
  runVerify({
    source: ctx.source,
    targetName: 'copy',
    target,
    secrets: { url: targetUrl },
    table: options.table ? { schema: 'public', table: options.table } : undefined,
    chunkSize: 700,
    repair: options.repair,
    logger: silentLogger,
  });

describe('verify against MySQL/MariaDB', () => {
  it('finds no drift on equal data across the two databases and exits 0', async () => {
    const report = await verify();
    expect(report.drift).toBe(false);
    expect(report.tables[0]).toMatchObject({ sourceTable: 'public.things', sourceRows: 3001, chunks: 5, mismatchedChunks: 0, missing: { count: 0 }, extra: { count: 0 }, different: { count: 0 } });
    // The composite text key collates differently (C vs utf8mb4_general_ci): chunks may differ, keys do not.
    expect(report.tables[1]).toMatchObject({ sourceTable: 'public.codes', sourceRows: 1200, chunks: 2, missing: { count: 0 }, extra: { count: 0 }, different: { count: 0 } });
    const cli = await runOutbox(['verify', 'copy']);
    // progress lines go to standard error, the result alone to standard output
    expect(cli.stderr).not.toMatch(/^outbox: /m);
    expect(cli.stdout).not.toMatch(/rows\/s/);
    expect(cli.code).toBe(0);
    expect(cli.stdout).toMatch(/matches the source/);
  });

  it('compares JSON by content, not by key order or spacing', async () => {
    await admin.query(`UPDATE things SET doc = '{ "nested": {"e": {}, "k": "v \\\\"q\\\\""},  "z": 4, "a": [1.5, "\\\\u00fc", null, true] }' WHERE id = 4`);
    const [rows] = await admin.query(`SELECT CAST(doc AS CHAR) AS doc FROM things WHERE id = 4`);
    expect((rows as { doc: string }[])[0]!.doc).toMatch(/^\{ "nested"/);
    expect((await verify({ table: 'things' })).drift).toBe(false);
  });

  it('finds deleted, changed and extra target rows, exits 1, and repair through the writer fixes them', async () => {
    await admin.query(`DELETE FROM things WHERE id IN (10, 2500)`);
    await admin.query(`UPDATE things SET happened = happened + INTERVAL 1 MICROSECOND WHERE id = 1500`);
    await admin.query(`UPDATE things SET amount = amount + 0.000001 WHERE id = 2000`);
    await admin.query(`UPDATE things SET payload = UNHEX('000004b100fe') WHERE id = 1201`);
    await admin.query(`UPDATE things SET doc = JSON_SET(doc, '$.nested.k', 'V "q"') WHERE id = 1202`);
    await admin.query(`UPDATE things SET active = NOT active, title = CONCAT(title, ' ') WHERE id = 1206`);
    await admin.query(`INSERT INTO things (id, amount, tenant_id) VALUES (7777777, 1, 2), (0, NULL, 1)`);
    await admin.query(`DELETE FROM codes WHERE tenant = 2 AND code = 'b1'`);

    const report = await verify();
    expect(report.drift).toBe(true);
    const t = report.tables[0]!;
    expect(t.missing).toEqual({ count: 2, sample: expect.arrayContaining([{ id: 10 }, { id: 2500 }]) });
    expect(t.extra).toEqual({ count: 2, sample: expect.arrayContaining([{ id: 7777777 }, { id: 0 }]) });
    expect(t.different.count).toBe(5);
    expect(t.different.columns).toEqual({ happened: 1, amount: 1, payload: 1, doc: 1, active: 1, title: 1 });
    expect(t.mismatchedChunks).toBeGreaterThanOrEqual(4);
    expect(report.tables[1]!.missing).toEqual({ count: 1, sample: [{ tenant: 2, code: 'b1' }] });

    const cli = await runOutbox(['verify', 'copy', '--table', 'public.things']);
    expect(cli.code).toBe(1);
    expect(cli.stdout).toMatch(/missing at the target: 2/);
    expect(cli.stdout).toMatch(/extra at the target \(no source row in its share\): 2/);
    expect(cli.stdout).toMatch(/different: 5 \(columns: .*happened ×1/);

    const repaired = await verify({ repair: true });
    expect(repaired.tables[0]!.repair).toEqual({ snapshots: 7, deletes: 2 });
    expect(repaired.tables[1]!.repair).toEqual({ snapshots: 1, deletes: 0 });
    const deletes = { rows: (await readDecodedOutbox(ctx.db.pool, 'outbox')).filter((e) => e.op === 'delete').map((e) => ({ key: e.key, attributes: e.attributes })) };
    expect(deletes.rows).toEqual(
      expect.arrayContaining([
        { key: { id: '7777777' }, attributes: { tenant_id: '2' } },
        { key: { id: '0' }, attributes: { tenant_id: '1' } },
      ]),
    );
    expect(await replay()).toBe(10);
    const after = await verify();
    expect(after.drift).toBe(false);
  });

  it('sees a change of one microsecond and a changed bigint key beyond 2^53', async () => {
    await admin.query(`UPDATE things SET local_at = local_at + INTERVAL 1 MICROSECOND WHERE id = 9007199254740993`);
    const report = await verify({ table: 'things' });
    expect(report.tables[0]!.different).toMatchObject({ count: 1, sample: [{ id: '9007199254740993' }], columns: { local_at: 1 } });
    await verify({ table: 'things', repair: true });
    expect(await replay()).toBe(1);
    expect((await verify({ table: 'things' })).drift).toBe(false);
  });
});

function runOutbox(args: string[]): Promise<CliRun> {
  return runCli(['--config', configFile, ...args], { inheritEnv: true, env: { COPY_URL: targetUrl, OUTBOX_LOG_LEVEL: 'warn' }, timeoutMs: 60_000 });
}
