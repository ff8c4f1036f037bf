import { randomBytes } from 'node:crypto';
import { ScanCommand } from '@aws-sdk/client-dynamodb';
import mysql from 'mysql2/promise';
import { parseConfig, type Config } from '../../src/config/index.js';
import { createTestDatabase } from '../../test/helpers/db.js';
import { startDynamoLocal } from '../../test/helpers/dynamodb.js';
import { MYSQL_URL } from '../../test/helpers/env.js';

/** The target kinds the consumer benches run against (BENCH_TARGET). */
export type BenchTargetKind = 'postgres' | 'mysql' | 'dynamodb';

/** A target with an empty `customers` table: its URL, the target's settings, a row count and a clean-up. */
export interface BenchTarget {
  url: string;
  /** Settings merged into `targets.bench` (mapping, state schema, attribute types). */
  target: Record<string, unknown>;
  count(): Promise<number>;
  /** MariaDB: the server's redo-log writes so far (global status Innodb_log_writes; other sessions of the server count too). */
  logWrites?(): Promise<number>;
  drop(): Promise<void>;
}

/**
 * Opens a fresh target for the consumer benches (bench/consumer-throughput.ts, consumer-cpu.ts,
 * consumer-path.ts): a database of its own on the local PostgreSQL or MariaDB, or a DynamoDB Local.
 */
export async function openBenchTarget(kind: BenchTargetKind): Promise<BenchTarget> {
  if (kind === 'postgres') {
    const db = await createTestDatabase('outbox_bench');
    await db.pool.query('CREATE TABLE customers (id int PRIMARY KEY, name text, email text, tenant text, score numeric, updated_at timestamptz)');
    const count = async () => Number((await db.pool.query<{ n: string }>('SELECT count(*) AS n FROM customers')).rows[0]!.n);
    return { url: db.url, target: {}, count, drop: () => db.drop() };
  }
  if (kind === 'mysql') {
    const database = `outbox_bench_${randomBytes(4).toString('hex')}`;
    const admin = await mysql.createConnection({ uri: MYSQL_URL });
    await admin.query(`CREATE DATABASE \`${database}\` CHARACTER SET utf8mb4`);
    await admin.query(`CREATE TABLE \`${database}\`.customers (id int PRIMARY KEY, name text, email text, tenant text, score decimal(12,2), updated_at datetime(6))`);
    const url = new URL(MYSQL_URL);
    url.pathname = `/${database}`;
    const count = async () => Number(((await admin.query(`SELECT count(*) AS n FROM \`${database}\`.customers`))[0] as { n: number }[])[0]!.n);
    const drop = async () => {
      await admin.query(`DROP DATABASE IF EXISTS \`${database}\``);
      await admin.query(`DROP DATABASE IF EXISTS \`st_${database}\``);
      await admin.end();
    };
    const logWrites = async () => Number(((await admin.query(`SHOW GLOBAL STATUS LIKE 'Innodb_log_writes'`))[0] as { Value: string }[])[0]?.Value ?? 0);
    return { url: url.toString(), target: { stateSchema: `st_${database}`, mapping: { 'public.customers': { table: 'customers' } } }, count, logWrites, drop };
  }
  const ddb = await startDynamoLocal();
  const count = async () => {
    let n = 0;
    let start: Record<string, never> | undefined;
    do {
      const page = await ddb.client.send(new ScanCommand({ TableName: 'customers', Select: 'COUNT', FilterExpression: 'attribute_exists(#n)', ExpressionAttributeNames: { '#n': 'name' }, ExclusiveStartKey: start }));
      n += page.Count ?? 0;
      start = page.LastEvaluatedKey as Record<string, never> | undefined;
    } while (start);
    return n;
  };
  return { url: ddb.endpoint, target: { mapping: { 'public.customers': { table: 'customers' } }, dynamodb: { attributeTypes: { 'public.customers': { id: 'number', score: 'number' } } } }, count, drop: () => ddb.stop() };
}

/**
 * The config of one consumer target `bench` on `public.customers` against the emulator at `endpoint`
 * (its test credentials also go into process.env, where the SDK clients the benches make read them).
 */
export function benchConsumerConfig(kind: BenchTargetKind, bench: BenchTarget, endpoint: string, queue: { batchSize: number; concurrency: number }): Config {
  const awsEnv = { AWS_REGION: 'us-east-1', AWS_ENDPOINT_URL: endpoint, AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test' };
  Object.assign(process.env, awsEnv);
  return parseConfig(
    {
      source: { url: 'postgres://unused@127.0.0.1/unused' },
      publish: { topics: { default: { name: `bench-${randomBytes(4).toString('hex')}` } } },
      targets: { bench: { kind, urlEnv: 'BENCH_TARGET_URL', tables: ['public.customers'], queue: { waitTimeSec: 1, visibilityTimeoutSec: 60, ...queue }, ...bench.target } },
    },
    { ...awsEnv, BENCH_TARGET_URL: bench.url },
  );
}
