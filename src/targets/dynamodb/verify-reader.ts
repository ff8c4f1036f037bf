import { GetItemCommand, ScanCommand, type AttributeValue } from '@aws-sdk/client-dynamodb';
import { dynamodbSchema, type TargetConfig } from '../../config/index.js';
import type { RowImage } from '../../wire/envelope.js';
import { OutboxError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import type { ChunkDigest, Divergence, KeyFilter, TargetReader, TargetTableSpec } from '../base/verify-reader.js';
import { reasonOf, withThrottlingRetry } from './errors.js';
import { itemKey, keyNames, SYSTEM, type KeySchema } from './keys.js';
import { describeKeySchema } from './tables.js';
import { canonicalAttribute, toAttributeValue, type AttributeType } from './values.js';
import { createDynamodbClient } from './client.js';

/**
 * Reads a DynamoDB target for verify. DynamoDB cannot read a key range in the source's order (items
 * are spread by the hash of their partition key), so the reader takes the table once, with a
 * consistent parallel Scan (SCAN_SEGMENTS segments), into memory as canonical texts of the compared
 * attributes per item key (tombstones left out). Each source chunk is then compared with the items of
 * its keys; items that no source row claimed are reported as extra with the last chunk (the one with
 * an open upper bound). The second look by key reads each item again (GetItem, consistent).
 * Values are compared as DynamoDB holds them: both sides go through the writer's value mapping
 * (src/targets/dynamodb/values.ts) and numbers are normalised (1.50 = 1.5).
 */
export interface DynamodbReaderOptions {
  endpoint?: string;
  region?: string;
  target: TargetConfig;
  sourceTable: string;
}

const SCAN_SEGMENTS = 4;

interface Held {
  key: RowImage;
  values: string[];
  attributes: Record<string, string> | null;
}

export async function openDynamodbTargetReader(spec: TargetTableSpec, options: DynamodbReaderOptions, logger: Logger): Promise<TargetReader> {
  const settings = options.target.dynamodb ?? dynamodbSchema.parse({});
  const types = settings.attributeTypes[options.sourceTable] ?? {};
  const client = createDynamodbClient(options);
  const stats = { retries: 0 };
  const call = <T>(fn: () => Promise<T>) => withThrottlingRetry(fn, settings.maxAttempts, stats);
  let schema: KeySchema | null;
  try {
    schema = await call(() => describeKeySchema(client, spec.table));
  } catch (err) {
    client.destroy();
    throw new OutboxError('TARGET_UNAVAILABLE', `Cannot reach DynamoDB for table ${spec.table} (${reasonOf(err)}). Check AWS_REGION, credentials and AWS_ENDPOINT_URL_DYNAMODB.`, { cause: err, retryable: true });
  }
  if (!schema) {
    client.destroy();
    throw new OutboxError('TABLE_NOT_FOUND', `DynamoDB table ${spec.table} does not exist. Run \`outbox target init --create\`, then verify again.`, { context: { table: spec.table } });
  }
  const keySchema = schema;
  const compared = spec.columns;
  const idOf = (key: Record<string, AttributeValue>) => keyNames(keySchema).map((k) => canonicalAttribute(key[k])).join('\u0001');
  const rowValues = (row: RowImage) => compared.map((c) => {
    try {
      return canonicalAttribute(toAttributeValue(row[c], c, types[c] as AttributeType | undefined));
    } catch {
      return 'unmappable';
    }
  });
  const itemValues = (item: Record<string, AttributeValue>) => compared.map((c) => canonicalAttribute(item[c]));
  const keyImageOf = (item: Record<string, AttributeValue>): RowImage => {
    if (keySchema.hash.name === SYSTEM.compositeKey && !keySchema.range) return JSON.parse(item[SYSTEM.compositeKey]!.S!) as RowImage;
    return Object.fromEntries(keyNames(keySchema).map((k) => [k, plain(item[k])]));
  };
  const attributesOf = (item: Record<string, AttributeValue>) =>
    spec.attributeColumns.length ? Object.fromEntries(spec.attributeColumns.filter((a) => item[a.target] && !item[a.target]!.NULL).map((a) => [a.source, String(plain(item[a.target]))])) : null;

  let held: Map<string, Held> | undefined;
  const seen = new Set<string>();
  async function load(): Promise<Map<string, Held>> {
    if (held) return held;
    const map = new Map<string, Held>();
    const started = Date.now();
    await Promise.all(
      Array.from({ length: SCAN_SEGMENTS }, async (_, segment) => {
        let start: Record<string, AttributeValue> | undefined;
        do {
          const page = await call(() => client.send(new ScanCommand({ TableName: spec.table, ConsistentRead: true, Segment: segment, TotalSegments: SCAN_SEGMENTS, ...(start ? { ExclusiveStartKey: start } : {}) })));
          for (const item of page.Items ?? []) {
            if (item[SYSTEM.deleted]?.BOOL) continue;
            map.set(idOf(item), { key: keyImageOf(item), values: itemValues(item), attributes: attributesOf(item) });
          }
          start = page.LastEvaluatedKey;
        } while (start);
      }),
    );
    logger.info({ table: spec.table, items: map.size, ms: Date.now() - started, segments: SCAN_SEGMENTS }, 'DynamoDB table scanned for verify');
    held = map;
    return map;
  }

  function compare(rows: RowImage[], items: Map<string, Held>, extras: boolean): Divergence[] {
    const out: Divergence[] = [];
    for (const row of rows) {
      const keyImage = Object.fromEntries(spec.keyColumns.map((k) => [k, row[k]]));
      let id: string;
      try {
        id = idOf(itemKey(keyImage, keySchema));
      } catch {
        out.push({ kind: 'missing', key: keyImage, columns: [], attributes: null });
        continue;
      }
      seen.add(id);
      const item = items.get(id);
      if (!item) {
        out.push({ kind: 'missing', key: keyImage, columns: [], attributes: null });
        continue;
      }
      const want = rowValues(row);
      const columns = compared.filter((_, i) => want[i] !== item.values[i]);
      if (columns.length > 0) out.push({ kind: 'different', key: keyImage, columns, attributes: null });
    }
    if (extras) for (const [id, item] of items) if (!seen.has(id)) out.push({ kind: 'extra', key: item.key, columns: [], attributes: item.attributes });
    return out;
  }

  async function fresh(keys: RowImage[]): Promise<Map<string, Held>> {
    const map = new Map<string, Held>();
    for (const key of keys) {
      let k: Record<string, AttributeValue>;
      try {
        k = itemKey(key, keySchema);
      } catch {
        continue;
      }
      const reply = await call(() => client.send(new GetItemCommand({ TableName: spec.table, Key: k, ConsistentRead: true })));
      if (reply.Item && !reply.Item[SYSTEM.deleted]?.BOOL) map.set(idOf(reply.Item), { key: keyImageOf(reply.Item), values: itemValues(reply.Item), attributes: attributesOf(reply.Item) });
    }
    return map;
  }

  return {
    comparedColumns: compared,
    async digest(rows: RowImage[], filter: KeyFilter): Promise<ChunkDigest> {
      const items = 'keys' in filter ? await fresh(filter.keys) : await load();
      const last = !('keys' in filter) && filter.upTo === null;
      const divergent = compare(rows, items, last);
      const matched = rows.length - divergent.filter((d) => d.kind === 'missing').length;
      const extra = divergent.filter((d) => d.kind === 'extra').length;
      return { sourceCount: rows.length, targetCount: matched + extra, equal: divergent.length === 0 };
    },
    async diff(rows: RowImage[], filter: KeyFilter): Promise<Divergence[]> {
      if ('keys' in filter) {
        const items = await fresh(filter.keys);
        const found = compare(rows, items, false);
        const inRows = new Set(rows.map((r) => idOf(itemKey(Object.fromEntries(spec.keyColumns.map((k) => [k, r[k]])), keySchema))));
        for (const [id, item] of items) if (!inRows.has(id)) found.push({ kind: 'extra', key: item.key, columns: [], attributes: item.attributes });
        return found;
      }
      return compare(rows, await load(), filter.upTo === null);
    },
    async close() {
      client.destroy();
    },
  };
}

/** An attribute value as the plain JSON value a key image holds: numbers and strings as text, bytes as bytea hex. */
function plain(value: AttributeValue | undefined): unknown {
  if (!value || value.NULL) return null;
  if (value.N !== undefined) return value.N;
  if (value.S !== undefined) return value.S;
  if (value.B !== undefined) return `\\x${Buffer.from(value.B).toString('hex')}`;
  if (value.BOOL !== undefined) return value.BOOL;
  return canonicalAttribute(value);
}
