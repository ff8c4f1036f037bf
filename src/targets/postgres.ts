import pg from 'pg';
import type { TargetConfig } from '../config/index.js';
import type { RowImage } from '../wire/envelope.js';
import { OutboxError, describeError } from '../errors.js';
import type { Logger } from '../logger.js';
import { parseTableName, quoteIdent } from '../sql/identifiers.js';
import { applyChangeByChange, orderEntries, scrubValues, storeScope, tablesToLock, checkSeq, type BatchEntry } from './batch.js';
import { checkTables, type InitOptions, type TableShape } from './check.js';
import { PostgresVersionStore, type SchemaChangeRecord, type SchemaChangeStatus } from './postgres-store.js';
import { decideSchemaChange, describeSchemaChange } from './schema/decide.js';
import { describePgColumns, pgStatements } from './schema/postgres-ddl.js';
import { haltMessage, RowShaper } from './schema/row-shaper.js';
import type { ApplyOutcome, TargetChange, TargetWriter } from './types.js';

/**
 * PostgreSQL target. A batch is one transaction; each change runs in a savepoint so one bad row is
 * rejected while the rest commit. Values go through jsonb_populate_record, so the JSON encoding of the
 * capture (numeric and int8 as text, bytea as \x hex, timestamptz as ISO text, json nested) is cast by
 * the target column types themselves and lands exactly.
 */
const PURGE_EVERY_MS = 10 * 60_000;
const UNDEFINED_COLUMN = '42703';
/** string_data_right_truncation, numeric_value_out_of_range: what a row written after a widening alter_type meets before it. */
const VALUE_DOES_NOT_FIT = new Set(['22001', '22003']);

export interface PostgresWriterOptions {
  name: string;
  target: TargetConfig;
  url: string;
  logger: Logger;
  poolSize?: number;
}

export class PostgresTargetWriter implements TargetWriter {
  readonly kind = 'postgres' as const;
  private readonly pool: pg.Pool;
  private readonly store: PostgresVersionStore;
  private readonly shaper: RowShaper;
  private readonly log: Logger;
  private storeReady = false;
  private lastPurge = 0;

  constructor(private readonly options: PostgresWriterOptions) {
    this.pool = new pg.Pool({ connectionString: options.url, max: options.poolSize ?? 2 });
    this.log = options.logger.child({ component: 'target', target: options.name, kind: 'postgres' });
    this.pool.on('error', (err) => this.log.warn({ err: describeError(err) }, 'idle target connection failed'));
    this.store = new PostgresVersionStore(options.target.stateSchema, storeScope(options.name, options.target));
    this.shaper = new RowShaper(options.target.schemaChanges);
  }

  /** Creates the version store and checks the mapped tables; returns the problems found (empty = ready). */
  async init(initOptions: InitOptions = {}): Promise<string[]> {
    const client = await this.pool.connect();
    const onError = (err: Error) => this.log.warn({ err: describeError(err) }, 'target connection lost during init');
    client.on('error', onError);
    try {
      await this.store.create(client);
      this.storeReady = true;
      return await checkTables(this.options.target, initOptions, (name) => describePostgresTable(client, name));
    } finally {
      client.off('error', onError);
      client.release();
    }
  }

  async apply(changes: TargetChange[]): Promise<ApplyOutcome[]> {
    if (changes.length === 0) return [];
    checkSeq(changes);
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (err) {
      throw unavailable(this.options.name, 'cannot connect', err);
    }
    // A checked-out client whose connection drops emits 'error' besides failing its query: listen, or the process dies.
    const onError = (err: Error) => this.log.warn({ err: describeError(err) }, 'target connection lost during a batch');
    client.on('error', onError);
    let broken: Error | undefined;
    try {
      await this.ensureStore(client);
      const outcomes = await this.applyInTransaction(client, changes);
      await this.maybePurge(client);
      return outcomes;
    } catch (err) {
      broken = err instanceof Error ? err : new Error(String(err));
      if (err instanceof OutboxError) throw err;
      throw unavailable(this.options.name, 'the batch did not commit', err);
    } finally {
      client.off('error', onError);
      client.release(broken);
    }
  }

  async close(): Promise<void> {
    await this.pool.end();
  }

  private async ensureStore(client: pg.PoolClient): Promise<void> {
    if (this.storeReady) return;
    if (!(await this.store.exists(client))) {
      try {
        await this.store.create(client);
      } catch (err) {
        throw new OutboxError('TARGET_UNAVAILABLE', `Target "${this.options.name}": the version store ${this.options.target.stateSchema}.versions is missing and could not be created (${describeError(err)}). Run \`outbox target init ${this.options.name}\`.`, { cause: err, retryable: true, context: { target: this.options.name } });
      }
    }
    this.storeReady = true;
  }

  /**
   * Schema changes first (each in its own transaction, in seq order), then the row changes shaped
   * against what the target now has (src/targets/schema/row-shaper.ts): rows that must wait for a
   * schema change are left out with a wait outcome.
   */
  private async applyInTransaction(client: pg.PoolClient, changes: TargetChange[]): Promise<ApplyOutcome[]> {
    const all = orderEntries(changes, (t) => resolveTable(t).qualified);
    const outcomes: ApplyOutcome[] = new Array(changes.length);
    const schemaEntries = all.filter((e) => e.change.op === 'schema').sort((a, b) => (a.seq < b.seq ? -1 : a.seq > b.seq ? 1 : 0));
    for (const entry of schemaEntries) outcomes[entry.index] = await this.applySchemaChange(client, entry);
    const rows = await this.shaper.shape(all.filter((e) => e.change.op !== 'schema'), outcomes, {
      state: (table) => this.store.schemaState(client, table),
      columns: async (entry) => {
        const columns = await describePgColumns(client, resolveTable(entry.change.table).sql);
        return columns && new Set(columns.keys());
      },
    });
    if (rows.length === 0) return outcomes;
    const applied = await this.applyRows(client, rows, changes.length);
    for (const entry of rows) outcomes[entry.index] = applied[entry.index]!;
    return outcomes;
  }

  /** One schema change by targets.<name>.schemaChanges, in its own transaction (PostgreSQL DDL is transactional). */
  private async applySchemaChange(client: pg.PoolClient, entry: BatchEntry): Promise<ApplyOutcome> {
    const { change } = entry;
    const schemaChange = change.schemaChange ?? { dialect: 'postgres', items: [] };
    const table = resolveTable(change.table);
    const log = { table: change.sourceTable, targetTable: entry.table, seq: change.seq };
    await client.query('BEGIN');
    try {
      const claimed = await this.store.claimSchemaChange(client, entry.table, change.seq, change.sourceTable);
      let outcome: ApplyOutcome;
      if (claimed.status === 'applied' || claimed.status === 'ignored') outcome = { status: 'stale' };
      else if (claimed.status === 'resumed') outcome = { status: 'applied' };
      else {
        const decision = decideSchemaChange(this.options.target, 'postgres', schemaChange);
        const halt = async (reason: string): Promise<ApplyOutcome> => {
          const message = haltMessage(this.options.name, change.sourceTable, change.seq, schemaChange, reason);
          await this.store.recordSchemaChange(client, entry.table, change.seq, 'halted', schemaChange.items, message);
          return { status: 'halt', reason: message };
        };
        if (decision.action === 'ignore') {
          await this.store.recordSchemaChange(client, entry.table, change.seq, 'ignored', schemaChange.items, null);
          outcome = { status: 'applied' };
        } else if (decision.action === 'halt') outcome = await halt(decision.reason);
        else {
          const columns = await describePgColumns(client, table.sql);
          let statements: string[] | undefined;
          let problem: string | undefined;
          if (!columns) problem = `the target table ${entry.table} does not exist; create it by hand`;
          else {
            try {
              statements = pgStatements(table.sql, decision.steps, columns);
            } catch (err) {
              problem = (err as Error).message;
            }
          }
          if (statements) {
            await client.query('SAVEPOINT schema_change');
            try {
              for (const sql of statements) await client.query(sql);
              await client.query('RELEASE SAVEPOINT schema_change');
            } catch (err) {
              if (!isPermanentPgError(err)) throw err;
              await client.query('ROLLBACK TO SAVEPOINT schema_change');
              problem = `the target refused the DDL (${scrubValues(describeError(err))}); apply the change by hand`;
            }
          }
          if (problem) outcome = await halt(problem);
          else {
            await this.store.recordSchemaChange(client, entry.table, change.seq, 'applied', schemaChange.items, null);
            outcome = { status: 'applied' };
            this.log.info({ ...log, statements: statements?.length ?? 0, change: describeSchemaChange(schemaChange) }, 'schema change applied at the target');
          }
        }
      }
      await client.query('COMMIT');
      if (outcome.status === 'halt') this.log.error({ ...log, reason: outcome.reason }, 'target halted at a schema change');
      return outcome;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      this.shaper.forget(entry.table);
    }
  }

  async schemaChanges(statuses: SchemaChangeStatus[]): Promise<SchemaChangeRecord[]> {
    return this.withClient(async (client) => ((await this.store.exists(client)) ? this.store.schemaChanges(client, statuses) : []));
  }

  async resumeSchemaChanges(): Promise<SchemaChangeRecord[]> {
    return this.withClient(async (client) => ((await this.store.exists(client)) ? this.store.resumeHalts(client) : []));
  }

  private async withClient<T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    const onError = (err: Error) => this.log.warn({ err: describeError(err) }, 'target connection lost');
    client.on('error', onError);
    try {
      return await work(client);
    } finally {
      client.off('error', onError);
      client.release();
    }
  }

  /** The row changes of a batch (no schema changes): set-based when it can, change by change otherwise. */
  private async applyRows(client: pg.PoolClient, entries: BatchEntry[], count: number): Promise<ApplyOutcome[]> {
    if (entries.every(fitsSetBased)) {
      try {
        return await this.applySetBased(client, entries, count);
      } catch (err) {
        // A row the target refuses fails the whole set-based statement: apply the batch again change by
        // change, where that row is rejected on its own and the rest commit.
        if (!isPermanentPgError(err)) throw err;
        this.log.debug({ code: (err as { code?: string }).code }, 'set-based apply refused a row; applying the batch change by change');
      }
    }
    return this.applyEach(client, entries, count);
  }

  /**
   * The fast path for a batch without truncates: one statement advances the versions of all keys
   * (newest change per key; older ones in the batch are stale), then one upsert or delete per table
   * and column set. Same outcomes as applyEach when no row is refused.
   */
  private async applySetBased(client: pg.PoolClient, entries: BatchEntry[], count: number): Promise<ApplyOutcome[]> {
    const outcomes: ApplyOutcome[] = new Array(count);
    await client.query('BEGIN');
    try {
      const truncatedAt = new Map<string, bigint>();
      for (const { table } of tablesToLock(entries, () => false)) truncatedAt.set(table, await this.store.lockTable(client, table, false));
      const candidates: BatchEntry[] = [];
      for (const entry of entries) {
        const previous = candidates.at(-1);
        const sameKey = previous !== undefined && previous.table === entry.table && previous.keyHash.equals(entry.keyHash);
        if (sameKey || entry.seq <= truncatedAt.get(entry.table)!) outcomes[entry.index] = { status: 'stale' };
        else candidates.push(entry);
      }
      const newer = candidates.length
        ? await this.store.advanceMany(client, candidates.map((e) => ({ table: e.table, keyHash: e.keyHash, key: e.change.key, seq: e.change.seq, deleted: e.change.op === 'delete' })))
        : new Set<number>();
      const groups = new Map<string, { sql: string; rows: RowImage[] }>();
      candidates.forEach((entry, i) => {
        if (!newer.has(i)) {
          outcomes[entry.index] = { status: 'stale' };
          return;
        }
        outcomes[entry.index] = { status: 'applied' };
        const { change } = entry;
        const table = resolveTable(change.table).sql;
        const keys = Object.keys(change.key!);
        const sql = change.op === 'delete' ? deleteManySql(table, keys) : upsertManySql(table, Object.keys(change.row!), keys);
        let group = groups.get(sql);
        if (!group) groups.set(sql, (group = { sql, rows: [] }));
        group.rows.push(change.op === 'delete' ? change.key! : change.row!);
      });
      for (const group of groups.values()) await client.query(group.sql, [JSON.stringify(group.rows)]);
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    }
    return outcomes;
  }

  /** The careful path: each change in its own savepoint, so a refused row is rejected alone. */
  private async applyEach(client: pg.PoolClient, entries: BatchEntry[], count: number): Promise<ApplyOutcome[]> {
    await client.query('BEGIN');
    try {
      const outcomes = await applyChangeByChange(this.options.target, entries, count, {
        lockTable: (table, exclusive) => this.store.lockTable(client, table, exclusive),
        applyOne: (entry) => this.applyOne(client, entry),
      });
      await client.query('COMMIT');
      return outcomes;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    }
  }

  /** One change inside its own savepoint: errors of the version store fail the batch, errors of the row reject the change. */
  private async applyOne(client: pg.PoolClient, entry: BatchEntry): Promise<ApplyOutcome> {
    const { change } = entry;
    const table = resolveTable(change.table);
    await client.query('SAVEPOINT change');
    if (change.op === 'truncate') {
      try {
        if (this.store.scope.share) await this.store.truncateShare(client, entry.table, table.sql, change.seq);
        else {
          const keep = await this.store.keysNewerThan(client, entry.table, change.seq);
          await client.query(clearSql(table.sql, keep), keep.length ? [JSON.stringify(keep)] : []);
          await this.store.recordTruncate(client, entry.table, change.seq);
        }
      } catch (err) {
        return this.rejectOrThrow(client, err, change);
      }
      await client.query('RELEASE SAVEPOINT change');
      return { status: 'applied' };
    }
    if (change.key === null) return this.reject(client, 'the change has no key');
    const isDelete = change.op === 'delete';
    if (!isDelete && change.row === null) return this.reject(client, `the ${change.op} change has no row`);
    const newer = await this.store.advance(client, entry.table, entry.keyHash, change.key, change.seq, isDelete);
    if (!newer) {
      await client.query('RELEASE SAVEPOINT change');
      return { status: 'stale' };
    }
    try {
      if (isDelete) await client.query(deleteSql(table.sql, Object.keys(change.key)), [JSON.stringify(change.key)]);
      else await client.query(upsertSql(table.sql, Object.keys(change.row!), Object.keys(change.key)), [JSON.stringify(change.row)]);
    } catch (err) {
      return this.rejectOrThrow(client, err, change);
    }
    await client.query('RELEASE SAVEPOINT change');
    return { status: 'applied' };
  }

  private async rejectOrThrow(client: pg.PoolClient, err: unknown, change: TargetChange): Promise<ApplyOutcome> {
    if (!isPermanentPgError(err)) throw err;
    const e = err as pg.DatabaseError;
    const wait = change.op === 'truncate' ? undefined : e.code === UNDEFINED_COLUMN ? "the target's columns changed; trying again" : this.options.target.schemaChanges !== 'ignore' && VALUE_DOES_NOT_FIT.has(e.code ?? '') ? 'the value does not fit the target column; a type change may be on its way' : undefined;
    if (wait) {
      // The table changed under the batch (a schema change applied by another consumer, or by hand), or
      // a widening alter_type has not arrived yet: the row waits (bounded by the consumer) instead of failing.
      this.shaper.forget(resolveTable(change.table).qualified);
      await client.query('ROLLBACK TO SAVEPOINT change');
      await client.query('RELEASE SAVEPOINT change');
      return { status: 'wait', reason: `${change.table}: ${scrubValues(e.message)} (${wait})` };
    }
    const reason = `${change.table}: ${scrubValues(e.message)} (SQLSTATE ${e.code}${e.column ? `, column ${e.column}` : ''}${e.constraint ? `, constraint ${e.constraint}` : ''})`;
    this.log.warn({ table: change.table, seq: change.seq, code: e.code }, 'change rejected by the target');
    return this.reject(client, reason);
  }

  private async reject(client: pg.PoolClient, reason: string): Promise<ApplyOutcome> {
    await client.query('ROLLBACK TO SAVEPOINT change');
    await client.query('RELEASE SAVEPOINT change');
    return { status: 'rejected', reason };
  }

  private async maybePurge(client: pg.PoolClient): Promise<void> {
    if (Date.now() - this.lastPurge < PURGE_EVERY_MS) return;
    this.lastPurge = Date.now();
    try {
      const purged = await this.store.purgeTombstones(client, this.options.target.tombstoneRetentionHours);
      if (purged > 0) this.log.info({ purged, retentionHours: this.options.target.tombstoneRetentionHours }, 'purged old tombstones');
    } catch (err) {
      this.log.warn({ err: describeError(err) }, 'tombstone purge failed; will try again later');
    }
  }
}

/**
 * Errors that belong to one row and will not go away by retrying: data exceptions (22), integrity
 * violations (23), undefined/invalid objects (42, but not missing privileges), program limits (54),
 * a trigger's RAISE (P0001). Connection loss, deadlocks (40P01), serialization (40001), lock timeouts
 * and shutdowns are retryable.
 */
export function isPermanentPgError(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  if (typeof code !== 'string' || code.length !== 5) return false;
  if (code === '42501') return false;
  return ['22', '23', '42', '44', '54'].includes(code.slice(0, 2)) || code === 'P0001';
}

export interface ResolvedTable {
  /** "schema.table", as the version store names it. */
  qualified: string;
  /** Quoted for SQL. */
  sql: string;
}

/** "schema.table" or "table" (schema public). Names come from config, so they are plain identifiers. */
export function resolveTable(name: string): ResolvedTable {
  const t = parseTableName(name, 'public');
  return { qualified: `${t.schema}.${t.table}`, sql: `${quoteIdent(t.schema)}.${quoteIdent(t.table)}` };
}

/** Quotes a column name as the source catalog spelled it (embedded quotes doubled). */
export function quoteColumn(name: string): string {
  if (name.length === 0 || name.includes('\0')) throw new OutboxError('IDENTIFIER_INVALID', 'A column name is empty or holds a NUL character.');
  return `"${name.replace(/"/g, '""')}"`;
}

const sqlCache = new Map<string, string>();
function cached(key: string, build: () => string): string {
  let sql = sqlCache.get(key);
  if (sql === undefined) {
    if (sqlCache.size > 1000) sqlCache.clear();
    sqlCache.set(key, (sql = build()));
  }
  return sql;
}

export function upsertSql(table: string, columns: string[], keys: string[]): string {
  return cached(`u\0${table}\0${columns.join('\0')}\0${keys.join('\0')}`, () => {
    const cols = columns.map(quoteColumn).join(', ');
    const updates = columns.filter((c) => !keys.includes(c)).map((c) => `${quoteColumn(c)} = EXCLUDED.${quoteColumn(c)}`);
    return `INSERT INTO ${table} (${cols}) SELECT ${cols} FROM jsonb_populate_record(NULL::${table}, $1::jsonb)
            ON CONFLICT (${keys.map(quoteColumn).join(', ')}) ${updates.length ? `DO UPDATE SET ${updates.join(', ')}` : 'DO NOTHING'}`;
  });
}

export function deleteSql(table: string, keys: string[]): string {
  return cached(`d\0${table}\0${keys.join('\0')}`, () =>
    `DELETE FROM ${table} AS t USING jsonb_populate_record(NULL::${table}, $1::jsonb) AS k WHERE ${keys.map((c) => `t.${quoteColumn(c)} = k.${quoteColumn(c)}`).join(' AND ')}`,
  );
}

/** A batch entry the set-based path can take: no truncate, a key, and a row unless it is a delete. */
function fitsSetBased(entry: BatchEntry): boolean {
  const { change } = entry;
  return change.op !== 'truncate' && change.key !== null && (change.op === 'delete' || change.row !== null);
}

/** Upsert of many rows with the same columns (distinct keys: one per key in a batch). */
export function upsertManySql(table: string, columns: string[], keys: string[]): string {
  return cached(`U\0${table}\0${columns.join('\0')}\0${keys.join('\0')}`, () => {
    const cols = columns.map(quoteColumn).join(', ');
    const updates = columns.filter((c) => !keys.includes(c)).map((c) => `${quoteColumn(c)} = EXCLUDED.${quoteColumn(c)}`);
    return `INSERT INTO ${table} (${cols}) SELECT ${cols} FROM jsonb_populate_recordset(NULL::${table}, $1::jsonb)
            ON CONFLICT (${keys.map(quoteColumn).join(', ')}) ${updates.length ? `DO UPDATE SET ${updates.join(', ')}` : 'DO NOTHING'}`;
  });
}

export function deleteManySql(table: string, keys: string[]): string {
  return cached(`D\0${table}\0${keys.join('\0')}`, () =>
    `DELETE FROM ${table} AS t USING jsonb_populate_recordset(NULL::${table}, $1::jsonb) AS k WHERE ${keys.map((c) => `t.${quoteColumn(c)} = k.${quoteColumn(c)}`).join(' AND ')}`,
  );
}

/** Deletes every row of the table except the keys in `keep` (changes applied after the truncate). */
function clearSql(table: string, keep: unknown[]): string {
  if (keep.length === 0) return `DELETE FROM ${table}`;
  const keys = Object.keys(keep[0] as RowImage);
  const match = keys.map((c) => `k.${quoteColumn(c)} = t.${quoteColumn(c)}`).join(' AND ');
  return `DELETE FROM ${table} AS t WHERE NOT EXISTS (SELECT 1 FROM jsonb_populate_recordset(NULL::${table}, $1::jsonb) AS k WHERE ${match})`;
}

function unavailable(name: string, what: string, cause: unknown): OutboxError {
  return new OutboxError('TARGET_UNAVAILABLE', `Target "${name}": ${what} (${scrubValues(describeError(cause))}); the batch will be retried.`, { cause, retryable: true, context: { target: name } });
}

/** What `target init` needs to know about a target table. */
async function describePostgresTable(client: pg.ClientBase, name: string): Promise<TableShape> {
  const table = resolveTable(name);
  const found = await client.query<{ oid: number | null }>('SELECT to_regclass($1)::oid AS oid', [table.sql]);
  const oid = found.rows[0]?.oid;
  if (!oid) return { exists: false, columns: [], uniqueKeys: [] };
  const columns = await client.query<{ name: string }>('SELECT attname AS name FROM pg_attribute WHERE attrelid = $1 AND attnum > 0 AND NOT attisdropped ORDER BY attnum', [oid]);
  const unique = await client.query<{ cols: string[] }>(
    `SELECT array_agg(a.attname::text ORDER BY a.attname) AS cols
       FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
      WHERE i.indrelid = $1 AND i.indisunique AND i.indisvalid AND i.indpred IS NULL AND i.indexprs IS NULL
      GROUP BY i.indexrelid`,
    [oid],
  );
  return { exists: true, columns: columns.rows.map((r) => r.name), uniqueKeys: unique.rows.map((r) => r.cols) };
}
