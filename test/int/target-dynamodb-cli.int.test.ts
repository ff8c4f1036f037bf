import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DescribeTableCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, type CliRun } from '../helpers/cli.js';
import { startDynamoLocal, type DynamoLocal } from '../helpers/dynamodb.js';
import { createMigratedSource } from '../helpers/source.js';

/**
 * `outbox target init` for a DynamoDB target, as a subprocess whose endpoint comes from the AWS SDK
 * chain (AWS_ENDPOINT_URL_DYNAMODB; AWS_ENDPOINT_URL points elsewhere): problems with exit 1,
 * `--create` makes the table from the source's key columns, then ready with exit 0; a transform
 * module is found relative to the config file, and a bad one is a problem naming the setting.
 */
const WORKDIR = mkdtempSync(join(tmpdir(), 'outbox-ddb-init-'));
const CONFIG = join(WORKDIR, 'conf', 'outbox.config.yaml');
let ctx: Awaited<ReturnType<typeof createMigratedSource>>;
let ddb: DynamoLocal;

function outbox(args: string[], config = CONFIG): Promise<CliRun> {
  return runCli(['--config', config, ...args], {
    cwd: WORKDIR,
    timeoutMs: 60_000,
    env: {
      OUTBOX_SOURCE_URL: ctx.db.url,
      OUTBOX_LOG_LEVEL: 'warn',
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
      AWS_ENDPOINT_URL: 'http://127.0.0.1:9',
      AWS_ENDPOINT_URL_DYNAMODB: ddb.endpoint,
    },
  });
}

function writeConfig(file: string, transform: string): void {
  writeFileSync(
    file,
    [
      'targets:',
      '  ddb:',
      '    kind: dynamodb',
      '    tables: [public.customers]',
      '    mapping:',
      `      public.customers: { table: clients, rename: { id: client_id }, transform: ${transform} }`,
      '    dynamodb:',
      '      attributeTypes: { public.customers: { client_id: number } }',
    ].join('\n'),
  );
}

beforeAll(async () => {
  [ctx, ddb] = await Promise.all([createMigratedSource(), startDynamoLocal()]);
  await ctx.db.pool.query(`CREATE TABLE public.customers (id bigint PRIMARY KEY, name text)`);
  await ctx.source.track({ table: { schema: 'public', table: 'customers' } });
  mkdirSync(join(WORKDIR, 'conf', 'transforms'), { recursive: true });
  writeFileSync(join(WORKDIR, 'conf', 'transforms', 'pass.mjs'), 'export const transform = (c) => ({ key: c.key, row: c.row });');
  writeConfig(CONFIG, './transforms/pass.mjs');
});

afterAll(async () => {
  await ddb?.stop();
  await ctx?.close();
  rmSync(WORKDIR, { recursive: true, force: true });
});

describe('outbox target init (DynamoDB)', () => {
  it('reports the missing tables (exit 1), creates them with --create, then is ready (exit 0)', async () => {
    const before = await outbox(['target', 'init', 'ddb']);
    expect(before.stdout).toMatch(/PROBLEM table clients \(mapped from public\.customers\) does not exist: run `outbox target init --create`, or create it with partition key client_id \(N\)/);
    expect(before.code).toBe(1);
    const created = await outbox(['target', 'init', 'ddb', '--create']);
    expect(created.stdout).toMatch(/Target "ddb" is ready: 1 DynamoDB table\(s\) checked/);
    expect(created.code).toBe(0);
    const table = await ddb.client.send(new DescribeTableCommand({ TableName: 'clients' }));
    expect(table.Table?.KeySchema).toEqual([{ AttributeName: 'client_id', KeyType: 'HASH' }]);
    const again = await outbox(['target', 'init', 'ddb', '--json']);
    expect(JSON.parse(again.stdout)).toEqual({ target: 'ddb', kind: 'dynamodb', ready: true, problems: [] });
    expect(again.code).toBe(0);
  });

  it('names a transform module that is not there, with the folder it was looked for in', async () => {
    const bad = join(WORKDIR, 'conf', 'bad.config.yaml');
    writeConfig(bad, './transforms/nope.js');
    const run = await outbox(['target', 'init', 'ddb'], bad);
    expect(run.stdout).toMatch(/PROBLEM targets\.ddb\.mapping\["public\.customers"\]\.transform: .*nope\.js is not a file \(relative paths are read from the config file's folder/);
    expect(run.code).toBe(1);
  });
});
