import {
  DeleteItemCommand,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  ScanCommand,
  UpdateItemCommand,
  type AttributeValue,
} from '@aws-sdk/client-dynamodb';
import { dynamodbSchema, type DynamodbConfig, type TargetConfig } from '../../config/index.js';
import { canonicalJson } from '../../wire/envelope.js';
import { OutboxError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import { checkSeq, storeScope, truncateClears } from '../base/batch.js';
import type { ApplyOutcome, InitOptions, TargetChange, TargetWriter } from '../types.js';
import { classify, reasonOf, withThrottlingRetry, type RetryStats } from './errors.js';
import { isSystemAttribute, itemKey, keyNames, SYSTEM, type KeySchema } from './keys.js';
import { describeKeySchema, ensureStateTable, initTables, TABLE_NAME } from './tables.js';
import { toAttributeMap, ValueMappingError, type AttributeType } from './values.js';
import { createDynamodbClient } from './client.js';

/**
 * DynamoDB target. Every item carries the seq of the change it holds (outbox_seq); each write is
 * conditional on that seq, so a duplicate or an older change fails its condition and is counted
 * stale, never applied twice or out of order. A delete writes a tombstone (key, seq, outbox_deleted,
 * and an expiry for the table's Time to Live) so an older upsert arriving later stays stale.
 *
 * A batch: its changes are coalesced so each key (and document part) is written once, with its
 * newest version; truncates run first; then the writes go out in parallel, at most
 * dynamodb.concurrency at once. Throttling is retried with backoff (errors.ts); a permanent error
 * (ValidationException…) rejects that change only (it goes to the DLQ); anything else fails the
 * batch, which SQS redelivers and the target's breaker counts.
 *
 * Truncate (onTruncate: clear) without transactions: the truncate raises the table's marker in the
 * state table to its seq, then deletes every item older than it (a consistent parallel Scan). A write
 * reads the marker before (skipping changes at or below it) and after: a write that raced a truncate
 * (read the old marker, landed after the Scan passed its key) sees the new marker afterwards and
 * deletes its own item again, on the condition that the item still holds its seq. Either the Scan
 * sees the write or the write sees the marker, so no older row survives a truncate.
 */
export interface DynamodbWriterOptions {
  name: string;
  target: TargetConfig;
  /** Endpoint override from the target's urlEnv; empty/undefined: the SDK chain (AWS_ENDPOINT_URL_DYNAMODB, AWS_ENDPOINT_URL). */
  endpoint?: string;
  region?: string;
  logger: Logger;
}

export interface DynamodbWriterStats extends RetryStats {
  /** Writes whose condition failed: the item already held that change or a newer one. */
  conditionalFailures: number;
  /** Changes made stale by a newer change of the same key in the same batch (not written). */
  coalesced: number;
  /** Items a raced write removed again after a concurrent truncate. */
  truncateFixes: number;
}

interface Entry {
  index: number;
  change: TargetChange;
  seq: bigint;
}

const SCAN_SEGMENTS = 4;

export class DynamodbTargetWriter implements TargetWriter {
  readonly kind = 'dynamodb' as const;
  readonly client: DynamoDBClient;
  readonly stats: DynamodbWriterStats = { retries: 0, conditionalFailures: 0, coalesced: 0, truncateFixes: 0 };
  private readonly settings: DynamodbConfig;
  private readonly log: Logger;
  private readonly scope: { owner: string; share: boolean };
  private readonly schemas = new Map<string, KeySchema>();
  private stateReady = false;

  constructor(private readonly options: DynamodbWriterOptions) {
    this.settings = options.target.dynamodb ?? dynamodbSchema.parse({});
    this.client = createDynamodbClient(options);
    this.log = options.logger.child({ component: 'target', target: options.name, kind: 'dynamodb' });
    this.scope = storeScope(options.name, options.target);
  }

  async init(initOptions: InitOptions = {}): Promise<string[]> {
    const problems = await initTables(this.client, this.options.target, this.settings, initOptions);
    if (problems.length === 0) this.stateReady = true;
    return problems;
  }

  async apply(changes: TargetChange[]): Promise<ApplyOutcome[]> {
    if (changes.length === 0) return [];
    checkSeq(changes);
    const outcomes: ApplyOutcome[] = new Array(changes.length);
    const truncates: Entry[] = [];
    const newest = new Map<string, Entry>();
    changes.forEach((change, index) => {
      const entry = { index, change, seq: BigInt(change.seq) };
      if (change.op === 'truncate') return void truncates.push(entry);
      const id = `${change.table}\0${canonicalJson(change.key)}\0${change.part ? JSON.stringify(change.part) : ''}`;
      const other = newest.get(id);
      if (!other) return void newest.set(id, entry);
      const [win, lose] = newer(entry, other) ? [entry, other] : [other, entry];
      newest.set(id, win);
      outcomes[lose.index] = { status: 'stale' };
      this.stats.coalesced += 1;
    });

    for (const t of truncates.sort((a, b) => (a.seq < b.seq ? -1 : a.seq > b.seq ? 1 : 0))) {
      outcomes[t.index] = truncateClears(this.options.target, t.change) ? await this.truncate(t) : { status: 'applied' };
    }

    const writes = [...newest.values()];
    const tables = [...new Set(writes.map((w) => w.change.table))];
    const before = new Map<string, bigint>();
    await Promise.all(tables.map(async (t) => before.set(t, await this.marker(t))));
    const applied: Entry[] = [];
    await forEachLimited(writes, this.settings.concurrency, async (entry) => {
      if (entry.seq <= before.get(entry.change.table)!) {
        outcomes[entry.index] = { status: 'stale' };
        return;
      }
      const outcome = await this.write(entry);
      outcomes[entry.index] = outcome;
      if (outcome.status === 'applied') applied.push(entry);
    });
    await this.undoRacedWrites(applied, before);
    return outcomes;
  }

  async close(): Promise<void> {
    this.client.destroy();
  }

  /** The key schema of a table (cached); null when the table does not exist. */
  private async schemaOf(table: string): Promise<KeySchema | null> {
    const known = this.schemas.get(table);
    if (known) return known;
    let schema: KeySchema | null;
    try {
      schema = await this.call(() => describeKeySchema(this.client, table));
    } catch (err) {
      throw unavailable(this.options.name, err);
    }
    if (schema) this.schemas.set(table, schema);
    return schema;
  }

  private typeOf(change: TargetChange): (column: string) => AttributeType | undefined {
    const types = this.settings.attributeTypes[change.sourceTable];
    return (column) => types?.[column];
  }

  private async write(entry: Entry): Promise<ApplyOutcome> {
    const { change } = entry;
    const table = change.table;
    if (!TABLE_NAME.test(table)) return this.reject(change, `"${table}" is not a DynamoDB table name (3-255 letters, digits, _ . -); set the mapping's table`);
    if (change.key === null) return this.reject(change, 'the change has no key');
    const isDelete = change.op === 'delete';
    if (!isDelete && change.row === null) return this.reject(change, `the ${change.op} change has no row`);
    const schema = await this.schemaOf(table);
    if (!schema) return this.reject(change, `table ${table} does not exist at the target (run \`outbox target init ${this.options.name} --create\`)`);
    let key: Record<string, AttributeValue>;
    let row: Record<string, AttributeValue> | undefined;
    try {
      key = itemKey(change.key, schema);
      if (change.part && (change.part.length < 1 || change.part.length > 2 || change.part.some((p) => typeof p !== 'string' || p.length === 0))) {
        throw new ValueMappingError('a part path must hold one or two non-empty names');
      }
      if (change.row) {
        const clash = Object.keys(change.row).find((c) => isSystemAttribute(c, this.settings.ttlAttribute));
        if (clash) return this.reject(change, `column "${clash}" has the name of an attribute the target keeps for itself; rename it in the mapping`);
        row = toAttributeMap(change.row, this.typeOf(change));
      }
    } catch (err) {
      if (err instanceof ValueMappingError) return this.reject(change, err.message);
      throw err;
    }
    const seq = { N: change.seq };
    const command = change.part
      ? undefined
      : isDelete
        ? new PutItemCommand({
            TableName: table,
            Item: { ...key, [SYSTEM.seq]: seq, [SYSTEM.deleted]: { BOOL: true }, [SYSTEM.owner]: { S: this.scope.owner }, [this.settings.ttlAttribute]: { N: String(this.tombstoneExpiry()) } },
            ConditionExpression: 'attribute_not_exists(#seq) OR #seq < :seq',
            ExpressionAttributeNames: { '#seq': SYSTEM.seq },
            ExpressionAttributeValues: { ':seq': seq },
          })
        : change.merge
          ? mergeCommand(table, key, row!, seq, this.scope.owner, this.settings.ttlAttribute)
          : new PutItemCommand({
              TableName: table,
              Item: { ...row, ...key, [SYSTEM.seq]: seq, [SYSTEM.owner]: { S: this.scope.owner } },
              // at an equal seq an upsert wins over a delete: the two sides of a share move (docs/targets.md, "Shares")
              ConditionExpression: 'attribute_not_exists(#seq) OR #seq < :seq OR (#seq = :seq AND #del = :true)',
              ExpressionAttributeNames: { '#seq': SYSTEM.seq, '#del': SYSTEM.deleted },
              ExpressionAttributeValues: { ':seq': seq, ':true': { BOOL: true } },
            });
    try {
      if (command) await this.call(() => this.client.send(command as PutItemCommand));
      else await this.writePart(table, key, change.part!, row, seq);
      return { status: 'applied' };
    } catch (err) {
      const kind = classify(err);
      if (kind === 'stale') {
        this.stats.conditionalFailures += 1;
        return { status: 'stale' };
      }
      if (kind === 'permanent') {
        if ((err as Error).name === 'ResourceNotFoundException') this.schemas.delete(table);
        return this.reject(change, `${table}: ${reasonOf(err)}`);
      }
      throw unavailable(this.options.name, err);
    }
  }

  /** A row at a document path (user transforms): the parent map is made first, then the part is written under its own version. */
  private async writePart(table: string, key: Record<string, AttributeValue>, part: string[], row: Record<string, AttributeValue> | undefined, seq: AttributeValue): Promise<void> {
    const names: Record<string, string> = { '#parts': SYSTEM.parts, '#p0': part[0]!, '#pk': JSON.stringify(part), '#seq': SYSTEM.seq, '#del': SYSTEM.deleted };
    const prepare = part.length === 2 ? 'SET #p0 = if_not_exists(#p0, :empty), #parts = if_not_exists(#parts, :empty)' : 'SET #parts = if_not_exists(#parts, :empty)';
    await this.call(() =>
      this.client.send(
        new UpdateItemCommand({ TableName: table, Key: key, UpdateExpression: prepare, ExpressionAttributeNames: part.length === 2 ? { '#parts': SYSTEM.parts, '#p0': part[0]! } : { '#parts': SYSTEM.parts }, ExpressionAttributeValues: { ':empty': { M: {} } } }),
      ),
    );
    const path = part.length === 2 ? '#p0.#p1' : '#p0';
    if (part.length === 2) names['#p1'] = part[1]!;
    const update = row ? `SET ${path} = :row, #parts.#pk = :seq` : `REMOVE ${path} SET #parts.#pk = :seq`;
    await this.call(() =>
      this.client.send(
        new UpdateItemCommand({
          TableName: table,
          Key: key,
          UpdateExpression: update,
          ConditionExpression: '(attribute_not_exists(#parts.#pk) OR #parts.#pk < :seq) AND (attribute_not_exists(#del) OR #seq < :seq)',
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: { ':seq': seq, ...(row ? { ':row': { M: row } } : {}) },
        }),
      ),
    );
  }

  /** Raises the table's truncate marker to this seq, then deletes every item older than it. */
  private async truncate(entry: Entry): Promise<ApplyOutcome> {
    const table = entry.change.table;
    if (!TABLE_NAME.test(table)) return this.reject(entry.change, `"${table}" is not a DynamoDB table name`);
    const schema = await this.schemaOf(table);
    if (!schema) return this.reject(entry.change, `table ${table} does not exist at the target (run \`outbox target init ${this.options.name} --create\`)`);
    await this.ensureState();
    const t = { N: entry.change.seq };
    try {
      // <= : a truncate delivered again after a crash between marker and Scan finishes its Scan
      await this.call(() =>
        this.client.send(
          new UpdateItemCommand({
            TableName: this.settings.stateTable,
            Key: { id: { S: this.markerId(table) } },
            UpdateExpression: 'SET #seq = :t',
            ConditionExpression: 'attribute_not_exists(#seq) OR #seq <= :t',
            ExpressionAttributeNames: { '#seq': 'seq' },
            ExpressionAttributeValues: { ':t': t },
          }),
        ),
      );
    } catch (err) {
      if (classify(err) === 'stale') return { status: 'stale' };
      throw unavailable(this.options.name, err);
    }
    const filter = this.scope.share ? '#seq < :t AND #owner = :owner' : '#seq < :t';
    const names: Record<string, string> = { '#seq': SYSTEM.seq, ...(this.scope.share ? { '#owner': SYSTEM.owner } : {}) };
    keyNames(schema).forEach((k, i) => (names[`#k${i}`] = k));
    const values: Record<string, AttributeValue> = { ':t': t, ...(this.scope.share ? { ':owner': { S: this.scope.owner } } : {}) };
    let deleted = 0;
    try {
      await Promise.all(
        Array.from({ length: SCAN_SEGMENTS }, async (_, segment) => {
          let start: Record<string, AttributeValue> | undefined;
          do {
            const page = await this.call(() =>
              this.client.send(
                new ScanCommand({
                  TableName: table,
                  ConsistentRead: true,
                  Segment: segment,
                  TotalSegments: SCAN_SEGMENTS,
                  FilterExpression: filter,
                  ProjectionExpression: keyNames(schema).map((_, i) => `#k${i}`).join(', '),
                  ExpressionAttributeNames: names,
                  ExpressionAttributeValues: values,
                  ...(start ? { ExclusiveStartKey: start } : {}),
                }),
              ),
            );
            await forEachLimited(page.Items ?? [], this.settings.concurrency, async (key) => {
              try {
                await this.call(() => this.client.send(new DeleteItemCommand({ TableName: table, Key: key, ConditionExpression: '#seq < :t', ExpressionAttributeNames: { '#seq': SYSTEM.seq }, ExpressionAttributeValues: { ':t': t } })));
                deleted += 1;
              } catch (err) {
                if (classify(err) !== 'stale') throw err;
              }
            });
            start = page.LastEvaluatedKey;
          } while (start);
        }),
      );
    } catch (err) {
      throw unavailable(this.options.name, err);
    }
    this.log.info({ table, seq: entry.change.seq, deleted }, 'truncate applied');
    return { status: 'applied' };
  }

  /**
   * Writes that raced a truncate (see the top of this file): when a table's marker rose during the
   * batch, an applied upsert older than it is deleted again, if its item still holds that seq.
   */
  private async undoRacedWrites(applied: Entry[], before: Map<string, bigint>): Promise<void> {
    const upserts = applied.filter((e) => e.change.op !== 'delete' && !e.change.part);
    const tables = [...new Set(upserts.map((e) => e.change.table))];
    if (tables.length === 0 || this.options.target.tables.every((t) => (this.options.target.mapping[t]?.onTruncate ?? 'clear') === 'ignore')) return;
    const after = new Map<string, bigint>();
    await Promise.all(tables.map(async (t) => after.set(t, await this.marker(t))));
    const raced = upserts.filter((e) => after.get(e.change.table)! > before.get(e.change.table)! && e.seq < after.get(e.change.table)!);
    await forEachLimited(raced, this.settings.concurrency, async (e) => {
      const schema = (await this.schemaOf(e.change.table))!;
      try {
        await this.call(() =>
          this.client.send(
            new DeleteItemCommand({ TableName: e.change.table, Key: itemKey(e.change.key!, schema), ConditionExpression: '#seq = :mine', ExpressionAttributeNames: { '#seq': SYSTEM.seq }, ExpressionAttributeValues: { ':mine': { N: e.change.seq } } }),
          ),
        );
        this.stats.truncateFixes += 1;
      } catch (err) {
        if (classify(err) !== 'stale') throw unavailable(this.options.name, err);
      }
    });
  }

  /** The table's truncate marker (0 when it was never truncated, or there is no state table yet). */
  private async marker(table: string): Promise<bigint> {
    try {
      const reply = await this.call(() => this.client.send(new GetItemCommand({ TableName: this.settings.stateTable, Key: { id: { S: this.markerId(table) } }, ConsistentRead: true })));
      const seq = reply.Item?.seq?.N;
      return seq === undefined ? 0n : BigInt(seq);
    } catch (err) {
      if ((err as Error).name === 'ResourceNotFoundException') return 0n;
      throw unavailable(this.options.name, err);
    }
  }

  private markerId(table: string): string {
    return `truncate\0${this.scope.share ? this.scope.owner : '*'}\0${table}`;
  }

  private async ensureState(): Promise<void> {
    if (this.stateReady) return;
    try {
      await this.call(() => ensureStateTable(this.client, this.settings));
    } catch (err) {
      throw new OutboxError('TARGET_UNAVAILABLE', `Target "${this.options.name}": the state table ${this.settings.stateTable} is missing and could not be created (${reasonOf(err)}). Run \`outbox target init ${this.options.name} --create\`.`, {
        cause: err,
        retryable: true,
        context: { target: this.options.name },
      });
    }
    this.stateReady = true;
  }

  private tombstoneExpiry(): number {
    return Math.floor(Date.now() / 1000) + this.options.target.tombstoneRetentionHours * 3600;
  }

  private call<T>(fn: () => Promise<T>): Promise<T> {
    return withThrottlingRetry(fn, this.settings.maxAttempts, this.stats);
  }

  private reject(change: TargetChange, reason: string): ApplyOutcome {
    this.log.warn({ table: change.table, seq: change.seq }, 'change rejected by the target');
    return { status: 'rejected', reason };
  }
}

/** The version guard's order: a larger seq, and at an equal seq an upsert before a delete. */
function newer(a: Entry, b: Entry): boolean {
  if (a.seq !== b.seq) return a.seq > b.seq;
  return a.change.op !== 'delete' && b.change.op === 'delete';
}

function mergeCommand(table: string, key: Record<string, AttributeValue>, row: Record<string, AttributeValue>, seq: AttributeValue, owner: string, ttl: string): UpdateItemCommand {
  const names: Record<string, string> = { '#seq': SYSTEM.seq, '#del': SYSTEM.deleted, '#owner': SYSTEM.owner, '#ttl': ttl };
  const values: Record<string, AttributeValue> = { ':seq': seq, ':true': { BOOL: true }, ':owner': { S: owner } };
  const sets = ['#seq = :seq', '#owner = :owner'];
  Object.entries(row)
    .filter(([column]) => !(column in key))
    .forEach(([column, value], i) => {
      names[`#c${i}`] = column;
      values[`:c${i}`] = value;
      sets.push(`#c${i} = :c${i}`);
    });
  return new UpdateItemCommand({
    TableName: table,
    Key: key,
    UpdateExpression: `SET ${sets.join(', ')} REMOVE #del, #ttl`,
    ConditionExpression: 'attribute_not_exists(#seq) OR #seq < :seq OR (#seq = :seq AND #del = :true)',
    ExpressionAttributeNames: names,
    ExpressionAttributeValues: values,
  });
}

/** Runs fn over items with at most `limit` at once; after the first error no new call starts, and that error is thrown once the running ones end. */
export async function forEachLimited<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: { err: unknown } | undefined;
  const worker = async () => {
    while (!failure && next < items.length) {
      const item = items[next++]!;
      try {
        await fn(item);
      } catch (err) {
        failure ??= { err };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failure) throw failure.err;
}

function unavailable(name: string, cause: unknown): OutboxError {
  if (cause instanceof OutboxError) return cause;
  return new OutboxError('TARGET_UNAVAILABLE', `Target "${name}": DynamoDB did not take the batch (${reasonOf(cause)}); the batch will be retried.`, { cause, retryable: true, context: { target: name } });
}
