import mysql, { type Pool, type PoolConnection } from 'mysql2/promise';
import type { RowDataPacket } from 'mysql2';
import type { TargetConfig } from '../config/index.js';
import type { RowImage } from '../wire/envelope.js';
import { OutboxError, describeError } from '../errors.js';
import type { Logger } from '../logger.js';
import { assertIdentifier, quoteIdentMysql } from '../sql/identifiers.js';
import { applyChangeByChange, checkSeq, orderEntries, scrubValues, storeScope, type BatchEntry } from './batch.js';
import { checkTables, type InitOptions, type TableShape } from './check.js';
import { MysqlVersionStore } from './mysql-store.js';
import { decideSchemaChange, describeSchemaChange } from './schema/decide.js';
import { describeMysqlColumns, mysqlStatements } from './schema/mysql-ddl.js';
import { haltMessage, RowShaper } from './schema/row-shaper.js';
import { toMysqlRow, toMysqlValue } from './mysql-values.js';
import type { ApplyOutcome, SchemaChangeRecord, SchemaChangeStatus, TargetChange, TargetWriter } from './types.js';

/**
 * MySQL / MariaDB target, with the semantics of the PostgreSQL one: a batch is one transaction, each
 * change a savepoint, the version store guards every key. "table" means a table of the database in
 * the URL; "db.table" names another database.
 */
const PURGE_EVERY_MS = 10 * 60_000;
/** ER_BAD_FIELD_ERROR: unknown column. */
const ER_BAD_FIELD = 1054;
/** Out of range, data too long: what a row written after a widening alter_type meets before it. */
const VALUE_DOES_NOT_FIT = new Set([1264, 1406]);

export interface MysqlWriterOptions {
  name: string;
  target: TargetConfig;
  url: string;
  logger: Logger;
  poolSize?: number;
}

interface ResolvedTable {
  database: string;
  table: string;
  qualified: string;
  sql: string;
}

export class MysqlTargetWriter implements TargetWriter {
  readonly kind = 'mysql' as const;
  private readonly pool: Pool;
  private readonly store: MysqlVersionStore;
  private readonly shaper: RowShaper;
  private readonly log: Logger;
  private readonly database: string | undefined;
  private readonly prepared = new WeakSet<object>();
  private readonly columnTypes = new Map<string, Map<string, string>>();
  private storeReady = false;
  private lastPurge = 0;

  constructor(private readonly options: MysqlWriterOptions) {
    const url = new URL(options.url);
    this.database = decodeURIComponent(url.pathname.replace(/^\//, '')) || undefined;
    this.pool = mysql.createPool({
      uri: options.url,
      connectionLimit: options.poolSize ?? 2,
      timezone: 'Z',
      dateStrings: true,
      supportBigNumbers: true,
      bigNumberStrings: true,
      charset: 'utf8mb4',
    });
    this.log = options.logger.child({ component: 'target', target: options.name, kind: 'mysql' });
    this.store = new MysqlVersionStore(options.target.stateSchema, storeScope(options.name, options.target));
    this.shaper = new RowShaper(options.target.schemaChanges);
  }

  async init(initOptions: InitOptions = {}): Promise<string[]> {
    const conn = await this.connection();
    try {
      await this.store.create(conn);
      this.storeReady = true;
      return await checkTables(this.options.target, initOptions, (name) => this.describe(conn, name));
    } finally {
      conn.release();
    }
  }

  async apply(changes: TargetChange[]): Promise<ApplyOutcome[]> {
    if (changes.length === 0) return [];
    checkSeq(changes);
    let conn: PoolConnection;
    try {
      conn = await this.connection();
    } catch (err) {
      throw unavailable(this.options.name, 'cannot connect', err);
    }
    let broken = false;
    try {
      await this.ensureStore(conn);
      const outcomes = await this.applyInTransaction(conn, changes);
      await this.maybePurge(conn);
      return outcomes;
    } catch (err) {
      broken = true;
      if (err instanceof OutboxError) throw err;
      throw unavailable(this.options.name, 'the batch did not commit', err);
    } finally {
      if (broken) conn.destroy();
      else conn.release();
    }
  }

  async close(): Promise<void> {
    await this.pool.end();
  }

  /** A pooled connection set up once: UTC session time zone, READ COMMITTED. */
  private async connection(): Promise<PoolConnection> {
    const conn = await this.pool.getConnection();
    const core = (conn as unknown as { connection: object }).connection;
    if (!this.prepared.has(core)) {
      await conn.query(`SET time_zone = '+00:00'`);
      await conn.query('SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED');
      this.prepared.add(core);
    }
    return conn;
  }

  private async ensureStore(conn: PoolConnection): Promise<void> {
    if (this.storeReady) return;
    if (!(await this.store.exists(conn))) {
      try {
        await this.store.create(conn);
      } catch (err) {
        throw new OutboxError('TARGET_UNAVAILABLE', `Target "${this.options.name}": the version store ${this.options.target.stateSchema}.versions is missing and could not be created (${describeError(err)}). Run \`outbox target init ${this.options.name}\`.`, { cause: err, retryable: true, context: { target: this.options.name } });
      }
    }
    this.storeReady = true;
  }

  private resolve(name: string): ResolvedTable {
    const parts = name.split('.');
    const database = parts.length === 2 ? parts[0]! : this.database;
    const table = parts.at(-1)!;
    if (!database) throw new OutboxError('CONFIG_INVALID', `Target "${this.options.name}": table "${name}" has no database, and the target URL names none. Write "database.table" in the mapping or add the database to the URL.`);
    assertIdentifier(database, 'Database');
    assertIdentifier(table, 'Table');
    return { database, table, qualified: `${database}.${table}`, sql: `${quoteIdentMysql(database)}.${quoteIdentMysql(table)}` };
  }

  private async types(conn: PoolConnection, t: ResolvedTable): Promise<Map<string, string>> {
    let types = this.columnTypes.get(t.qualified);
    if (!types) {
      const [rows] = await conn.query<RowDataPacket[]>('SELECT COLUMN_NAME AS name, DATA_TYPE AS type FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?', [t.database, t.table]);
      types = new Map(rows.map((r) => [r.name as string, r.type as string]));
      if (types.size > 0) this.columnTypes.set(t.qualified, types);
    }
    return types;
  }

  /** Schema changes first (in seq order), then the row changes shaped against what the target now has (see postgres.ts). */
  private async applyInTransaction(conn: PoolConnection, changes: TargetChange[]): Promise<ApplyOutcome[]> {
    const all = orderEntries(changes, (t) => this.resolve(t).qualified);
    const outcomes: ApplyOutcome[] = new Array(changes.length);
    const schemaEntries = all.filter((e) => e.change.op === 'schema').sort((a, b) => (a.seq < b.seq ? -1 : a.seq > b.seq ? 1 : 0));
    for (const entry of schemaEntries) outcomes[entry.index] = await this.applySchemaChange(conn, entry);
    const rows = await this.shaper.shape(all.filter((e) => e.change.op !== 'schema'), outcomes, {
      state: (table) => this.store.schemaState(conn, table),
      columns: async (entry) => {
        const t = this.resolve(entry.change.table);
        this.columnTypes.delete(t.qualified);
        const types = await this.types(conn, t);
        return types.size > 0 ? new Set(types.keys()) : undefined;
      },
    });
    if (rows.length === 0) return outcomes;
    const applied = await this.applyRows(conn, rows, changes.length);
    for (const entry of rows) outcomes[entry.index] = applied[entry.index]!;
    return outcomes;
  }

  /**
   * One schema change by targets.<name>.schemaChanges. MySQL DDL commits by itself: the change is
   * claimed and recorded under a named lock, and each DDL step checks the table first.
   */
  private async applySchemaChange(conn: PoolConnection, entry: BatchEntry): Promise<ApplyOutcome> {
    const { change } = entry;
    const schemaChange = change.schemaChange ?? { dialect: 'postgres', items: [] };
    const table = this.resolve(change.table);
    const log = { table: change.sourceTable, targetTable: entry.table, seq: change.seq };
    try {
      const outcome = await this.store.withSchemaLock(conn, async (): Promise<ApplyOutcome> => {
        const claimed = await this.store.claimSchemaChange(conn, entry.table, change.seq, change.sourceTable);
        if (claimed.status === 'applied' || claimed.status === 'ignored') return { status: 'stale' };
        if (claimed.status === 'resumed') return { status: 'applied' };
        const decision = decideSchemaChange(this.options.target, 'mysql', schemaChange);
        const halt = async (reason: string): Promise<ApplyOutcome> => {
          const message = haltMessage(this.options.name, change.sourceTable, change.seq, schemaChange, reason);
          await this.store.recordSchemaChange(conn, entry.table, change.seq, 'halted', schemaChange.items, message);
          return { status: 'halt', reason: message };
        };
        if (decision.action === 'ignore') {
          await this.store.recordSchemaChange(conn, entry.table, change.seq, 'ignored', schemaChange.items, null);
          return { status: 'applied' };
        }
        if (decision.action === 'halt') return halt(decision.reason);
        const columns = await describeMysqlColumns(conn, table.database, table.table);
        if (!columns) return halt(`the target table ${entry.table} does not exist; create it by hand`);
        let planned;
        try {
          planned = mysqlStatements(table.sql, decision.steps, columns);
        } catch (err) {
          return halt((err as Error).message);
        }
        for (const warning of planned.warnings) this.log.warn({ ...log, warning }, 'schema change applied in part');
        for (const sql of planned.statements) {
          try {
            await conn.query(sql);
          } catch (err) {
            if (!isPermanentMysqlError(err) && !isDdlRefusal(err)) throw err;
            return halt(`the target refused the DDL (${scrubValues(describeError(err))}); apply the change by hand`);
          }
        }
        await this.store.recordSchemaChange(conn, entry.table, change.seq, 'applied', schemaChange.items, null);
        this.log.info({ ...log, statements: planned.statements.length, change: describeSchemaChange(schemaChange) }, 'schema change applied at the target');
        return { status: 'applied' };
      });
      if (outcome.status === 'halt') this.log.error({ ...log, reason: outcome.reason }, 'target halted at a schema change');
      return outcome;
    } finally {
      this.columnTypes.delete(table.qualified);
      this.shaper.forget(entry.table);
    }
  }

  async schemaChanges(statuses: SchemaChangeStatus[]): Promise<SchemaChangeRecord[]> {
    const conn = await this.connection();
    try {
      return (await this.store.exists(conn)) ? await this.store.schemaChanges(conn, statuses) : [];
    } finally {
      conn.release();
    }
  }

  async resumeSchemaChanges(): Promise<SchemaChangeRecord[]> {
    const conn = await this.connection();
    try {
      return (await this.store.exists(conn)) ? await this.store.resumeHalts(conn) : [];
    } finally {
      conn.release();
    }
  }

  private async applyRows(conn: PoolConnection, entries: BatchEntry[], count: number): Promise<ApplyOutcome[]> {
    await conn.beginTransaction();
    try {
      const outcomes = await applyChangeByChange(this.options.target, entries, count, {
        lockTable: (table, exclusive) => this.store.lockTable(conn, table, exclusive),
        applyOne: (entry) => this.applyOne(conn, entry),
      });
      await conn.commit();
      return outcomes;
    } catch (err) {
      await conn.rollback().catch(() => undefined);
      throw err;
    }
  }

  private async applyOne(conn: PoolConnection, entry: BatchEntry): Promise<ApplyOutcome> {
    const { change } = entry;
    const table = this.resolve(change.table);
    await conn.query('SAVEPOINT change_sp');
    if (change.op === 'truncate') {
      try {
        const types = await this.types(conn, table);
        if (this.store.scope.share) {
          await this.store.truncateShare(conn, entry.table, entry.seq, async (keys) => {
            const statement = deleteKeysStatement(table.sql, keys, types);
            await conn.query(statement.sql, statement.params);
          });
        } else {
          const keep = await this.store.keysNewerThan(conn, entry.table, entry.seq);
          const clear = clearStatement(table.sql, keep as RowImage[], types);
          await conn.query(clear.sql, clear.params);
          await this.store.recordTruncate(conn, entry.table, entry.seq);
        }
      } catch (err) {
        return this.rejectOrThrow(conn, err, change, table);
      }
      await conn.query('RELEASE SAVEPOINT change_sp');
      return { status: 'applied' };
    }
    if (change.key === null) return this.reject(conn, 'the change has no key');
    const isDelete = change.op === 'delete';
    if (!isDelete && change.row === null) return this.reject(conn, `the ${change.op} change has no row`);
    const newer = await this.store.advance(conn, entry.table, entry.keyHash, change.key, entry.seq, isDelete);
    if (!newer) {
      await conn.query('RELEASE SAVEPOINT change_sp');
      return { status: 'stale' };
    }
    try {
      const types = await this.types(conn, table);
      if (types.size === 0) return this.reject(conn, `${change.table}: the table does not exist at the target (run \`outbox target init ${this.options.name}\`)`);
      const statement = isDelete ? deleteStatement(table.sql, toMysqlRow(change.key, types)) : upsertStatement(table.sql, toMysqlRow(change.row!, types), Object.keys(change.key));
      await conn.query(statement.sql, statement.params);
    } catch (err) {
      return this.rejectOrThrow(conn, err, change, table);
    }
    await conn.query('RELEASE SAVEPOINT change_sp');
    return { status: 'applied' };
  }

  private async rejectOrThrow(conn: PoolConnection, err: unknown, change: TargetChange, table: ResolvedTable): Promise<ApplyOutcome> {
    if (!isPermanentMysqlError(err)) throw err;
    const e = err as { errno?: number; sqlState?: string; message: string };
    this.columnTypes.delete(table.qualified);
    const wait = change.op === 'truncate' ? undefined : e.errno === ER_BAD_FIELD ? "the target's columns changed; trying again" : this.options.target.schemaChanges !== 'ignore' && VALUE_DOES_NOT_FIT.has(e.errno ?? 0) ? 'the value does not fit the target column; a type change may be on its way' : undefined;
    if (wait) {
      // See postgres.ts: the row waits (bounded by the consumer) instead of failing.
      this.shaper.forget(table.qualified);
      await conn.query('ROLLBACK TO SAVEPOINT change_sp');
      await conn.query('RELEASE SAVEPOINT change_sp');
      return { status: 'wait', reason: `${change.table}: ${scrubValues(e.message)} (${wait})` };
    }
    this.log.warn({ table: change.table, seq: change.seq, errno: e.errno }, 'change rejected by the target');
    return this.reject(conn, `${change.table}: ${scrubValues(e.message)} (error ${e.errno ?? '?'}, SQLSTATE ${e.sqlState ?? '?'})`);
  }

  private async reject(conn: PoolConnection, reason: string): Promise<ApplyOutcome> {
    await conn.query('ROLLBACK TO SAVEPOINT change_sp');
    await conn.query('RELEASE SAVEPOINT change_sp');
    return { status: 'rejected', reason };
  }

  private async maybePurge(conn: PoolConnection): Promise<void> {
    if (Date.now() - this.lastPurge < PURGE_EVERY_MS) return;
    this.lastPurge = Date.now();
    try {
      const purged = await this.store.purgeTombstones(conn, this.options.target.tombstoneRetentionHours);
      if (purged > 0) this.log.info({ purged, retentionHours: this.options.target.tombstoneRetentionHours }, 'purged old tombstones');
    } catch (err) {
      this.log.warn({ err: describeError(err) }, 'tombstone purge failed; will try again later');
    }
  }

  private async describe(conn: PoolConnection, name: string): Promise<TableShape> {
    const t = this.resolve(name);
    const types = await this.types(conn, t);
    if (types.size === 0) return { exists: false, columns: [], uniqueKeys: [] };
    const [rows] = await conn.query<RowDataPacket[]>(
      'SELECT INDEX_NAME AS idx, COLUMN_NAME AS col FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND NON_UNIQUE = 0 ORDER BY INDEX_NAME, SEQ_IN_INDEX',
      [t.database, t.table],
    );
    const unique = new Map<string, string[]>();
    for (const r of rows) unique.set(r.idx as string, [...(unique.get(r.idx as string) ?? []), r.col as string]);
    return { exists: true, columns: [...types.keys()], uniqueKeys: [...unique.values()] };
  }
}

/** Backtick-quotes a column name as the source spelled it (embedded backticks doubled). */
export function quoteColumnMysql(name: string): string {
  if (name.length === 0 || name.includes('\0')) throw new OutboxError('IDENTIFIER_INVALID', 'A column name is empty or holds a NUL character.');
  return `\`${name.replace(/`/g, '``')}\``;
}

interface Statement {
  sql: string;
  params: unknown[];
}

/** INSERT … ON DUPLICATE KEY UPDATE. VALUES(col) is understood by MariaDB and (deprecated but working) MySQL 8. */
export function upsertStatement(table: string, row: Record<string, unknown>, keys: string[]): Statement {
  const columns = Object.keys(row);
  const updates = columns.filter((c) => !keys.includes(c)).map((c) => `${quoteColumnMysql(c)} = VALUES(${quoteColumnMysql(c)})`);
  const noop = `${quoteColumnMysql(keys[0]!)} = ${quoteColumnMysql(keys[0]!)}`;
  return {
    sql: `INSERT INTO ${table} (${columns.map(quoteColumnMysql).join(', ')}) VALUES (${columns.map(() => '?').join(', ')}) ON DUPLICATE KEY UPDATE ${updates.length ? updates.join(', ') : noop}`,
    params: columns.map((c) => row[c]),
  };
}

export function deleteStatement(table: string, key: Record<string, unknown>): Statement {
  const columns = Object.keys(key);
  return { sql: `DELETE FROM ${table} WHERE ${columns.map((c) => `${quoteColumnMysql(c)} = ?`).join(' AND ')}`, params: columns.map((c) => key[c]) };
}

/** Deletes the rows of the given keys (a page of a share truncate). */
function deleteKeysStatement(table: string, keys: RowImage[], types: ReadonlyMap<string, string>): Statement {
  const columns = Object.keys(keys[0]!);
  const tuple = `(${columns.map(() => '?').join(', ')})`;
  return {
    sql: `DELETE FROM ${table} WHERE (${columns.map(quoteColumnMysql).join(', ')}) IN (${keys.map(() => tuple).join(', ')})`,
    params: keys.flatMap((k) => columns.map((c) => toMysqlValue(k[c], types.get(c)))),
  };
}

/** Deletes all rows except the keys in `keep` (changes applied after a late truncate). */
function clearStatement(table: string, keep: RowImage[], types: ReadonlyMap<string, string>): Statement {
  if (keep.length === 0) return { sql: `DELETE FROM ${table}`, params: [] };
  const columns = Object.keys(keep[0]!);
  const tuple = `(${columns.map(() => '?').join(', ')})`;
  return {
    sql: `DELETE FROM ${table} WHERE (${columns.map(quoteColumnMysql).join(', ')}) NOT IN (${keep.map(() => tuple).join(', ')})`,
    params: keep.flatMap((k) => columns.map((c) => toMysqlValue(k[c], types.get(c)))),
  };
}

const RETRYABLE_ERRNO = new Set([1205, 1213, 1040, 1053, 1317, 2006, 2013, 1927, 1142, 1143, 1044, 1045, 1227]);
const PERMANENT_ERRNO = new Set([1048, 1054, 1062, 1146, 1264, 1265, 1292, 1364, 1366, 1367, 1406, 1416, 1451, 1452, 3140, 4025, 1690, 1178, 1471]);

/** Errors that belong to one row (data, constraint, unknown column or table); connection loss, deadlocks, lock timeouts and privileges are retryable. */
export function isPermanentMysqlError(err: unknown): boolean {
  const e = err as { errno?: unknown; sqlState?: unknown; fatal?: unknown };
  if (e.fatal === true || typeof e.errno !== 'number') return false;
  if (RETRYABLE_ERRNO.has(e.errno)) return false;
  if (PERMANENT_ERRNO.has(e.errno)) return true;
  return typeof e.sqlState === 'string' && ['22', '23', '42'].includes(e.sqlState.slice(0, 2));
}

function unavailable(name: string, what: string, cause: unknown): OutboxError {
  return new OutboxError('TARGET_UNAVAILABLE', `Target "${name}": ${what} (${scrubValues(describeError(cause))}); the batch will be retried.`, { cause, retryable: true, context: { target: name } });
}

/** DDL errors that belong to the statement (duplicate column, cannot drop, bad type): the target stops on them. */
function isDdlRefusal(err: unknown): boolean {
  const errno = (err as { errno?: unknown }).errno;
  return typeof errno === 'number' && [1060, 1091, 1101, 1118, 1170, 1265, 1406, 4092].includes(errno);
}
