import {
  CreateTableCommand,
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  UpdateTimeToLiveCommand,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import { tableMappingSchema, type DynamodbConfig, type TargetConfig } from '../../config/index.js';
import { describeError } from '../../errors.js';
import { sleep } from '../../sleep.js';
import type { InitOptions } from '../types.js';
import { keyNames, keySchemaFor, type KeySchema, type ScalarKeyType } from './keys.js';

/**
 * The tables of a DynamoDB target: reading a table's key schema, and what `outbox target init` does
 * (check each mapped table's key schema and Time to Live; with --create, create what is missing with
 * on-demand billing). The state table holds truncate markers, keyed by `id` (S).
 */
export const TABLE_NAME = /^[A-Za-z0-9_.-]{3,255}$/;

export async function describeKeySchema(client: DynamoDBClient, table: string): Promise<KeySchema | null> {
  try {
    const reply = await client.send(new DescribeTableCommand({ TableName: table }));
    const t = reply.Table!;
    const typeOf = (name: string) => (t.AttributeDefinitions?.find((a) => a.AttributeName === name)?.AttributeType ?? 'S') as ScalarKeyType;
    const hash = t.KeySchema?.find((k) => k.KeyType === 'HASH')?.AttributeName;
    const range = t.KeySchema?.find((k) => k.KeyType === 'RANGE')?.AttributeName;
    if (!hash) return null;
    return range ? { hash: { name: hash, type: typeOf(hash) }, range: { name: range, type: typeOf(range) } } : { hash: { name: hash, type: typeOf(hash) } };
  } catch (err) {
    if ((err as Error).name === 'ResourceNotFoundException') return null;
    throw err;
  }
}

async function waitActive(client: DynamoDBClient, table: string): Promise<void> {
  for (let i = 0; i < 600; i++) {
    const reply = await client.send(new DescribeTableCommand({ TableName: table })).catch(() => undefined);
    if (reply?.Table?.TableStatus === 'ACTIVE') return;
    await sleep(i < 10 ? 50 : 500);
  }
  throw new Error(`table ${table} did not become ACTIVE`);
}

async function createTable(client: DynamoDBClient, table: string, schema: KeySchema): Promise<void> {
  const attrs = schema.range ? [schema.hash, schema.range] : [schema.hash];
  try {
    await client.send(
      new CreateTableCommand({
        TableName: table,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: attrs.map((a) => ({ AttributeName: a.name, AttributeType: a.type })),
        KeySchema: [{ AttributeName: schema.hash.name, KeyType: 'HASH' }, ...(schema.range ? [{ AttributeName: schema.range.name, KeyType: 'RANGE' as const }] : [])],
      }),
    );
  } catch (err) {
    // another process created it at the same time
    if ((err as Error).name !== 'ResourceInUseException') throw err;
  }
  await waitActive(client, table);
}

/** Creates the state table (truncate markers) if it is missing; idempotent. */
export async function ensureStateTable(client: DynamoDBClient, settings: DynamodbConfig): Promise<void> {
  if (await describeKeySchema(client, settings.stateTable)) return;
  await createTable(client, settings.stateTable, { hash: { name: 'id', type: 'S' } });
}

async function ttlProblem(client: DynamoDBClient, table: string, attribute: string, create: boolean): Promise<string | undefined> {
  const reply = await client.send(new DescribeTimeToLiveCommand({ TableName: table }));
  const status = reply.TimeToLiveDescription?.TimeToLiveStatus;
  const current = reply.TimeToLiveDescription?.AttributeName;
  if ((status === 'ENABLED' || status === 'ENABLING') && current === attribute) return undefined;
  if (status === 'ENABLED' || status === 'ENABLING') {
    return `table ${table} has Time to Live on attribute "${current}", but tombstones expire by "${attribute}" (dynamodb.ttlAttribute): set one to the other`;
  }
  if (create) {
    await client.send(new UpdateTimeToLiveCommand({ TableName: table, TimeToLiveSpecification: { AttributeName: attribute, Enabled: true } }));
    return undefined;
  }
  return `table ${table} has no Time to Live, so tombstones of deleted rows are never removed: enable it on attribute "${attribute}" (outbox target init --create does, or aws dynamodb update-time-to-live --table-name ${table} --time-to-live-specification Enabled=true,AttributeName=${attribute})`;
}

/**
 * `outbox target init` for a DynamoDB target. Each problem names the table and says what to do.
 * Key columns come from the source catalog when it was reachable (InitOptions.keyColumns).
 */
export async function initTables(client: DynamoDBClient, target: TargetConfig, settings: DynamodbConfig, options: InitOptions): Promise<string[]> {
  const problems: string[] = [];
  const create = options.create ?? false;
  try {
    if (create) await ensureStateTable(client, settings);
    else if (!(await describeKeySchema(client, settings.stateTable))) {
      problems.push(`state table ${settings.stateTable} (truncate markers) does not exist: run \`outbox target init --create\`, or create it with partition key "id" (S)`);
    }
  } catch (err) {
    return [`cannot reach DynamoDB (${describeError(err)}): check AWS_REGION, credentials and AWS_ENDPOINT_URL_DYNAMODB / AWS_ENDPOINT_URL`];
  }
  for (const sourceTable of target.tables) {
    const mapping = target.mapping[sourceTable] ?? tableMappingSchema.parse({});
    const table = mapping.table ?? sourceTable;
    const forSource = table === sourceTable ? '' : ` (mapped from ${sourceTable})`;
    if (!TABLE_NAME.test(table)) {
      problems.push(`table name "${table}"${forSource} is not a DynamoDB table name (3-255 letters, digits, _ . -): set targets.<name>.mapping["${sourceTable}"].table`);
      continue;
    }
    const rename = (c: string) => mapping.rename[c] ?? c;
    const keys = options.keyColumns?.[sourceTable]?.map(rename);
    const types = settings.attributeTypes[sourceTable] ?? {};
    const expected = keys ? keySchemaFor(keys, (c) => (types[c] === 'number' ? 'N' : types[c] === 'binary' ? 'B' : 'S')) : undefined;
    let schema = await describeKeySchema(client, table);
    if (!schema) {
      if (!create || !expected) {
        const how = expected ? `partition key ${describeSchema(expected)}` : 'the source key columns as its key (run with the source reachable so init knows them)';
        problems.push(`table ${table}${forSource} does not exist: run \`outbox target init --create\`, or create it with ${how}`);
        continue;
      }
      await createTable(client, table, expected);
      schema = expected;
    }
    if (expected && describeSchema(schema) !== describeSchema(expected)) {
      problems.push(`table ${table}${forSource} has key ${describeSchema(schema)}, but the source key maps to ${describeSchema(expected)}: recreate the table with that key (docs/dynamodb.md, "Keys")`);
    }
    const ttl = await ttlProblem(client, table, settings.ttlAttribute, create);
    if (ttl) problems.push(ttl);
  }
  return problems;
}

function describeSchema(schema: KeySchema): string {
  const attrs = schema.range ? [schema.hash, schema.range] : [schema.hash];
  return keyNames(schema).length === 1 ? `${attrs[0]!.name} (${attrs[0]!.type})` : `${attrs[0]!.name} (${attrs[0]!.type}) + sort key ${attrs[1]!.name} (${attrs[1]!.type})`;
}
