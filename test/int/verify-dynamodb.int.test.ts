import { DeleteItemCommand, PutItemCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBackfill } from '../../src/backfill/index.js';
import { targetSchema, type TargetConfig } from '../../src/config/index.js';
import type { ChangeData } from '../../src/wire/envelope.js';
import { silentLogger } from '../../src/logger.js';
import { DynamodbTargetWriter } from '../../src/targets/dynamodb/writer.js';
import { buildTransformer } from '../../src/targets/transform/index.js';
import { runVerify } from '../../src/verify/index.js';
import { startDynamoLocal, type DynamoLocal } from '../helpers/dynamodb.js';
import { createMigratedSource } from '../helpers/source.js';

/**
 * verify and --repair against a DynamoDB target (DynamoDB Local): a real PostgreSQL source, its
 * outbox applied by the real DynamoDB writer; exact numbers, bytes, json and timestamps compared as
 * DynamoDB holds them; a two-column key (partition + sort key); drift made by hand in the table is
 * found (missing, different, extra) and repaired through the outbox.
 */
type Ctx = Awaited<ReturnType<typeof createMigratedSource>>;
let ctx: Ctx;
let ddb: DynamoLocal;
let target: TargetConfig;
let writer: DynamodbTargetWriter;
let lastSeq = '0';

beforeAll(async () => {
  process.env.AWS_ACCESS_KEY_ID = 'test';
  process.env.AWS_SECRET_ACCESS_KEY = 'test';
  [ctx, ddb] = await Promise.all([createMigratedSource(), startDynamoLocal()]);
  await ctx.db.pool.query(`
    CREATE TABLE public.things (id bigint PRIMARY KEY, amount numeric(30, 6), happened timestamptz, payload bytea, doc jsonb, label text, tenant_id int NOT NULL, secret text);
    INSERT INTO public.things
    SELECT g, CASE WHEN g % 11 = 0 THEN NULL ELSE g * 1.5 + 123456789012345678 END,
           timestamptz '2024-03-30 22:00:00-05' + g * interval '1 second 123 microseconds',
           CASE WHEN g % 9 = 0 THEN NULL ELSE decode(lpad(to_hex(g), 8, '0') || '00ff', 'hex') END,
           jsonb_build_object('z', g, 'a', jsonb_build_array(1.50, 'ü', NULL, true)),
           'héllo 🌍 ' || g, g % 3, 'not copied'
      FROM generate_series(1, 1500) g;
    INSERT INTO public.things (id, amount, tenant_id) VALUES (9007199254740993, 99999999999999999999.999999, 1);
    CREATE TABLE public.codes (tenant int, code text, qty int, PRIMARY KEY (tenant, code));
    INSERT INTO public.codes SELECT t, 'c' || g, g FROM generate_series(1, 3) t, generate_series(1, 200) g;`);
  await ctx.source.track({ table: { schema: 'public', table: 'things' }, attributes: ['tenant_id'] });
  await ctx.source.track({ table: { schema: 'public', table: 'codes' } });
  target = targetSchema.parse({
    kind: 'dynamodb',
    tables: ['public.things', 'public.codes'],
    mapping: { 'public.things': { table: 'things', rename: { label: 'title' }, exclude: ['secret'] }, 'public.codes': { table: 'codes' } },
    dynamodb: { attributeTypes: { 'public.things': { id: 'number', amount: 'number', payload: 'binary' }, 'public.codes': { tenant: 'number' } } },
  });
  writer = new DynamodbTargetWriter({ name: 'copy', target, endpoint: ddb.endpoint, region: 'us-east-1', logger: silentLogger });
  const problems = await writer.init({ keyColumns: { 'public.things': ['id'], 'public.codes': ['tenant', 'code'] }, create: true });
  if (problems.length) throw new Error(`target init: ${problems.join('; ')}`);
  for (const table of ['things', 'codes']) await runBackfill({ source: ctx.source, table: { schema: 'public', table }, logger: silentLogger });
  expect(await replay()).toBe(1501 + 600);
}, 180_000);

afterAll(async () => {
  await writer?.close();
  await ddb?.stop();
  await ctx?.close();
});

/** Stands in for relay + SNS/SQS + consumer: applies the outbox after the last replay with the real transformer and DynamoDB writer. */
async function replay(): Promise<number> {
  const transform = buildTransformer('copy', target, {});
  const res = await ctx.db.pool.query(`SELECT e.seq::text AS seq, e.table_schema, e.table_name, e.op, e.key, e.after FROM outbox.events e WHERE e.seq > $1 ORDER BY e.seq`, [lastSeq]);
  const changes = res.rows.map((e) => {
    const data: ChangeData = { schema: e.table_schema, table: e.table_name, op: e.op, seq: e.seq, key: e.key, after: e.after };
    return transform(data, { messageId: `m${e.seq}`, eventId: `test:${e.seq}`, time: new Date().toISOString() });
  });
  for (let i = 0; i < changes.length; i += 100) {
    const outcomes = await writer.apply(changes.slice(i, i + 100));
    const rejected = outcomes.find((o) => o.status === 'rejected');
    if (rejected) throw new Error(`target rejected a change: ${JSON.stringify(rejected)}`);
  }
  if (res.rows.length) lastSeq = res.rows.at(-1)!.seq;
  return res.rows.length;
}

const verify = (options: { repair?: boolean } = {}) =>
  runVerify({ source: ctx.source, targetName: 'copy', target, secrets: { url: ddb.endpoint }, awsRegion: 'us-east-1', chunkSize: 400, repair: options.repair, logger: silentLogger });

describe('verify against DynamoDB', () => {
  it('finds no drift on equal data (38-digit numbers, bytes, json, timestamps, a partition + sort key)', async () => {
    const report = await verify();
    expect(report.drift).toBe(false);
    expect(report.tables[0]).toMatchObject({ sourceTable: 'public.things', sourceRows: 1501, chunks: 4, missing: { count: 0 }, extra: { count: 0 }, different: { count: 0 } });
    expect(report.tables[1]).toMatchObject({ sourceTable: 'public.codes', sourceRows: 600, missing: { count: 0 }, extra: { count: 0 }, different: { count: 0 } });
  });

  it('finds deleted, changed and extra items, and repair through the writer fixes them', async () => {
    await ddb.client.send(new DeleteItemCommand({ TableName: 'things', Key: { id: { N: '10' } } }));
    await ddb.client.send(new UpdateItemCommand({ TableName: 'things', Key: { id: { N: '700' } }, UpdateExpression: 'SET amount = :a', ExpressionAttributeValues: { ':a': { N: '1' } } }));
    await ddb.client.send(new UpdateItemCommand({ TableName: 'things', Key: { id: { N: '9007199254740993' } }, UpdateExpression: 'SET title = :t', ExpressionAttributeValues: { ':t': { S: 'x' } } }));
    await ddb.client.send(new PutItemCommand({ TableName: 'things', Item: { id: { N: '7777777' }, tenant_id: { N: '2' }, outbox_seq: { N: '1' } } }));
    await ddb.client.send(new DeleteItemCommand({ TableName: 'codes', Key: { tenant: { N: '2' }, code: { S: 'c7' } } }));

    const report = await verify();
    expect(report.drift).toBe(true);
    const t = report.tables[0]!;
    expect(t.missing).toEqual({ count: 1, sample: [{ id: '10' }] });
    expect(t.extra).toEqual({ count: 1, sample: [{ id: '7777777' }] });
    expect(t.different).toMatchObject({ count: 2, columns: { amount: 1, title: 1 } });
    expect(report.tables[1]!.missing).toEqual({ count: 1, sample: [{ tenant: 2, code: 'c7' }] });

    const repaired = await verify({ repair: true });
    expect(repaired.tables[0]!.repair).toEqual({ snapshots: 3, deletes: 1 });
    expect(repaired.tables[1]!.repair).toEqual({ snapshots: 1, deletes: 0 });
    const deletes = await ctx.db.pool.query(`SELECT key, attributes FROM outbox.events WHERE op = 'delete' ORDER BY seq`);
    expect(deletes.rows).toEqual([{ key: { id: '7777777' }, attributes: { tenant_id: '2' } }]);
    expect(await replay()).toBe(5);
    expect((await verify()).drift).toBe(false);
  });
});
