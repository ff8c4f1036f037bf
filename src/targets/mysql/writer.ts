import mysql, { type Pool, type PoolConnection } from 'mysql2/promise';
import type { RowDataPacket } from 'mysql2';
import type { RowImage } from '../../wire/envelope.js';
import { describeError } from '../../errors.js';
import { fitsSetBased, planByTable, storeScope, type BatchEntry, type TablePlan } from '../base/batch.js';
import type { TableShape } from '../base/check.js';
import { scrubValues, type RowError } from '../base/errors.js';
import { SqlTargetWriter, type DdlOutcome, type FillStep, type SqlWriterOptions } from '../base/sql-writer.js';
import type { DdlStep } from '../schema/decide.js';
import type { ApplyOutcome, TargetChange, TargetSchemaItem } from '../types.js';
import { describeMysqlColumns, mysqlStatements } from './ddl.js';
import { classifyMysqlError, isDdlRefusal, isMysqlConnectionLost, isMysqlLockConflict, isPermanentMysqlError } from './errors.js';
import { clearStatement, databaseOf, deleteKeysStatement, deleteStatement, fillStatement, resolveTable, upsertManyStatement, upsertStatement, type ResolvedTable } from './sql.js';
import { RoundTrip } from './round-trip.js';
import { toMysqlRow, toMysqlValue } from './values.js';
import { MysqlVersionStore } from './version-store.js';

/**
 * MySQL / MariaDB target, following the shared apply rules (src/targets/base/sql-writer.ts): a batch
 * is one transaction, each change a savepoint, the version store guards every key. MySQL DDL commits
 * by itself: a schema change is claimed and recorded under a named lock, and each DDL step checks the
 * table first.
 */
export type MysqlWriterOptions = SqlWriterOptions;

export class MysqlTargetWriter extends SqlTargetWriter<PoolConnection> {
  readonly kind = 'mysql' as const;
  readonly appliesTogether = true;
  protected readonly store: MysqlVersionStore;
  private readonly pool: Pool;
  private readonly database: string | undefined;
  private readonly prepared = new WeakSet<object>();
  private readonly columnTypes = new Map<string, Map<string, string>>();

  constructor(options: MysqlWriterOptions) {
    super(options, 'mysql');
    this.database = databaseOf(options.url);
    this.pool = mysql.createPool({
      uri: options.url,
      connectionLimit: options.poolSize ?? 2,
      timezone: 'Z',
      dateStrings: true,
      supportBigNumbers: true,
      bigNumberStrings: true,
      charset: 'utf8mb4',
      // The fast path sends its statements in few round trips (round-trip.ts). Safe here because no
      // value is ever part of the SQL text this writer builds: values are `?` parameters that mysql2
      // escapes, for the utf8mb4 connection charset and with backslash escapes on (connect() makes
      // sure of it); identifiers are validated and quoted. The setting is this writer's pool only.
      multipleStatements: true,
    });
    this.store = new MysqlVersionStore(options.target.stateSchema, storeScope(options.name, options.target));
  }

  async close(): Promise<void> {
    await this.pool.end();
  }

  /**
   * A pooled connection set up once: UTC session time zone, READ COMMITTED, backslash escapes on
   * (a server whose sql_mode has NO_BACKSLASH_ESCAPES would read mysql2's escaped values differently),
   * and the target's lockWaitTimeoutSec as the session's innodb_lock_wait_timeout.
   */
  protected async connect(): Promise<PoolConnection> {
    const conn = await this.pool.getConnection();
    const core = (conn as unknown as { connection: object }).connection;
    if (!this.prepared.has(core)) {
      const lockWaitTimeoutSec = this.options.target.lockWaitTimeoutSec;
      await conn.query(
        `SET time_zone = '+00:00'; SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED; SET SESSION sql_mode = REPLACE(@@SESSION.sql_mode, 'NO_BACKSLASH_ESCAPES', '')${lockWaitTimeoutSec !== undefined ? '; SET SESSION innodb_lock_wait_timeout = ?' : ''}`,
        lockWaitTimeoutSec !== undefined ? [lockWaitTimeoutSec] : [],
      );
      this.prepared.add(core);
    }
    return conn;
  }

  protected release(conn: PoolConnection, broken: boolean): void {
    if (broken) conn.destroy();
    else conn.release();
  }

  private resolve(name: string): ResolvedTable {
    return resolveTable(this.options.name, name, this.database);
  }

  protected qualified(table: string): string {
    return this.resolve(table).qualified;
  }

  protected override forget(table: string): void {
    this.columnTypes.delete(table);
    super.forget(table);
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

  protected async currentColumns(conn: PoolConnection, entry: BatchEntry): Promise<ReadonlySet<string> | undefined> {
    const t = this.resolve(entry.change.table);
    this.columnTypes.delete(t.qualified);
    const types = await this.types(conn, t);
    return types.size > 0 ? new Set(types.keys()) : undefined;
  }

  protected async inTransaction<T>(conn: PoolConnection, work: () => Promise<T>): Promise<T> {
    await conn.beginTransaction();
    try {
      const result = await work();
      await conn.commit();
      return result;
    } catch (err) {
      await conn.rollback().catch(() => undefined);
      throw err;
    }
  }

  /**
   * MySQL DDL commits on its own, so a schema change is not one transaction: the store's named lock
   * keeps two consumers from applying it at once (src/targets/mysql/version-store.ts).
   */
  protected inSchemaChange<T>(conn: PoolConnection, work: () => Promise<T>): Promise<T> {
    return this.store.withSchemaLock(conn, work);
  }

  /**
   * The statements commit one by one; each step is skipped when the table shows it done, so a retry
   * runs what is left. An added column with a value for the existing rows is added with it as its
   * DEFAULT (fillsByDefault); when the target refuses that (a value the type cannot hold, or a MySQL
   * that takes no literal DEFAULT for a TEXT or JSON column), the steps run again without, and the
   * fill's UPDATE does it or refuses it the way it refuses any fill.
   */
  protected async runDdl(conn: PoolConnection, entry: BatchEntry, steps: DdlStep[], withDefaults = true): Promise<DdlOutcome> {
    const table = this.resolve(entry.change.table);
    const columns = await describeMysqlColumns(conn, table.database, table.table);
    if (!columns) return { problem: `the target table ${entry.table} does not exist; create it by hand`, statements: 0 };
    const defaults = new Map<string, string>();
    if (withDefaults) {
      for (const fill of await this.fillsByDefault(steps, columns, () => this.store.keysNewerThan(conn, entry.table, entry.seq - 1n))) {
        defaults.set(fill.column, conn.escape(toMysqlValue(fill.value, /^[a-z]+/i.exec(fill.type.sql)?.[0])));
      }
    }
    let planned;
    try {
      planned = mysqlStatements(table.sql, steps, columns, defaults);
    } catch (err) {
      return { problem: (err as Error).message, statements: 0 };
    }
    for (const warning of planned.warnings) this.log.warn({ table: entry.change.sourceTable, targetTable: entry.table, seq: entry.change.seq, warning }, 'schema change applied in part');
    for (const sql of planned.statements) {
      try {
        await conn.query(sql);
      } catch (err) {
        if (!isPermanentMysqlError(err) && !isDdlRefusal(err)) throw err;
        if (defaults.size > 0) return this.runDdl(conn, entry, steps, false);
        return { problem: `the target refused the DDL (${scrubValues(describeError(err))}); apply the change by hand`, statements: 0 };
      }
    }
    return { statements: planned.statements.length, filled: [...defaults.keys()] };
  }

  /**
   * After the DDL, which committed on its own: the fills and the record in one transaction that holds
   * the table's truncation record exclusively. Every row transaction locks that record (shared) before
   * it writes, so a row another consumer writes with the column (a change after the schema change)
   * either committed before — its key's version is at or after the change's seq, and the fill leaves
   * it out — or waits until the fill and the record commit, and is then written with its own value. A
   * crash before that commit leaves the column empty and the change unrecorded: the retry finds the
   * column (the add is skipped) and fills again, rows written meanwhile left out the same way.
   */
  protected async fillAndRecord(conn: PoolConnection, entry: BatchEntry, fills: FillStep[], items: TargetSchemaItem[], record: (items: TargetSchemaItem[]) => Promise<void>): Promise<void> {
    if (fills.length === 0) return record(items);
    const table = this.resolve(entry.change.table);
    this.columnTypes.delete(table.qualified);
    const types = await this.types(conn, table);
    await this.inTransaction(conn, async () => {
      await this.store.lockTable(conn, entry.table, true);
      const newer = (await this.store.keysNewerThan(conn, entry.table, entry.seq - 1n)) as RowImage[];
      const fill = (step: FillStep) => {
        const statement = fillStatement(table.sql, step.column, toMysqlValue(step.value, types.get(step.column)), newer, types);
        return conn.query(statement.sql, statement.params);
      };
      await record(await this.runFills(conn, entry, fills, items, fill, isPermanentMysqlError));
    });
  }

  /**
   * The row changes of a batch (no schema changes): set-based when it can — per table the truncation
   * record and the version rows locked, then the versions advanced, one upsert per column set and one
   * delete, all in one transaction of (tables + 1) round trips — change by change in savepoints
   * otherwise: a truncate, a row the target refuses, or a new key another consumer inserted at the
   * same time (each fails the transaction, which then runs again change by change).
   */
  protected async applyRows(conn: PoolConnection, entries: BatchEntry[], count: number): Promise<ApplyOutcome[]> {
    const plan = entries.every(fitsSetBased) ? planByTable(entries) : undefined;
    if (plan) {
      try {
        return await this.applyByTable(conn, plan, count);
      } catch (err) {
        if (!isPermanentMysqlError(err) && !(err instanceof TableMissing)) throw err;
        this.log.debug({ errno: (err as { errno?: number }).errno }, 'set-based apply refused a row; applying the batch change by change');
      }
    }
    return this.applyEach(conn, entries, count);
  }

  /**
   * The fast path; same outcomes as applyEach when no row is refused. Tables in lock order. The
   * statements go in few round trips (src/targets/mysql/round-trip.ts): START TRANSACTION with the
   * first table's truncation record (locked shared) and version rows (locked for update); once their
   * replies are read, that table's version writes and row writes go with the next table's locks, or
   * with the COMMIT after the last table. A refused row stops its round trip before the COMMIT, and
   * the transaction is rolled back.
   */
  private async applyByTable(conn: PoolConnection, plan: TablePlan[], count: number): Promise<ApplyOutcome[]> {
    const outcomes: ApplyOutcome[] = new Array(count);
    // Column types first (cached after a table's first batch): a missing table goes change by change.
    const tables: { t: TablePlan; table: ResolvedTable; types: Map<string, string> }[] = [];
    for (const t of plan) {
      const table = this.resolve(t.entries[0]!.change.table);
      const types = await this.types(conn, table);
      if (types.size === 0) throw new TableMissing(table.qualified);
      tables.push({ t, table, types });
    }
    const trip = new RoundTrip(conn);
    trip.add({ sql: 'START TRANSACTION', params: [] });
    try {
      for (const { t, table, types } of tables) {
        const fence = this.store.fenceReads(t.table);
        const fenceAt = fence.statements.map((s) => trip.add(s));
        const versionsAt = trip.add(this.store.lockVersions(t.table, t.entries.map((e) => e.keyHash)));
        const results = await trip.send();
        const truncatedAt = fence.seq(fenceAt.map((i) => results[i])) ?? (await this.store.lockTable(conn, t.table, false));
        for (const e of t.stale) outcomes[e.index] = { status: 'stale' };
        const candidates = t.entries.filter((e) => {
          if (e.seq > truncatedAt) return true;
          outcomes[e.index] = { status: 'stale' };
          return false;
        });
        if (candidates.length === 0) continue;
        const guard = this.store.advanceWrites(
          t.table,
          results[versionsAt],
          candidates.map((e) => ({ keyHash: e.keyHash, key: e.change.key, seq: e.seq, deleted: e.change.op === 'delete' })),
        );
        for (const s of guard.statements) trip.add(s);
        const won = candidates.filter((e) => guard.advanced.has(e.keyHash.toString('hex')));
        for (const e of candidates) outcomes[e.index] = { status: guard.advanced.has(e.keyHash.toString('hex')) ? 'applied' : 'stale' };
        if (won.length === 0) continue;
        const keys = Object.keys(won[0]!.change.key!);
        const upserts = won.filter((e) => e.change.op !== 'delete').map((e) => toMysqlRow(e.change.row!, types));
        const deletes = won.filter((e) => e.change.op === 'delete').map((e) => e.change.key!);
        if (upserts.length > 0) trip.add(upsertManyStatement(table.sql, upserts, keys));
        if (deletes.length > 0) trip.add(deleteKeysStatement(table.sql, deletes, types));
      }
      trip.add({ sql: 'COMMIT', params: [] });
      await trip.send();
      return outcomes;
    } catch (err) {
      await conn.query('ROLLBACK').catch(() => undefined);
      throw err;
    }
  }

  protected async savepoint(conn: PoolConnection, verb: 'SAVEPOINT' | 'ROLLBACK TO SAVEPOINT' | 'RELEASE SAVEPOINT'): Promise<void> {
    await conn.query(`${verb} change_sp`);
  }

  protected async truncate(conn: PoolConnection, entry: BatchEntry): Promise<void> {
    const table = this.resolve(entry.change.table);
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
  }

  protected advance(conn: PoolConnection, entry: BatchEntry): Promise<boolean> {
    return this.store.advance(conn, entry.table, entry.keyHash, entry.change.key, entry.seq, entry.change.op === 'delete');
  }

  protected async write(conn: PoolConnection, entry: BatchEntry): Promise<string | undefined> {
    const { change } = entry;
    const table = this.resolve(change.table);
    const types = await this.types(conn, table);
    if (types.size === 0) return `${change.table}: the table does not exist at the target (run \`outbox target init ${this.options.name}\`)`;
    const statement = change.op === 'delete' ? deleteStatement(table.sql, toMysqlRow(change.key!, types)) : upsertStatement(table.sql, toMysqlRow(change.row!, types), Object.keys(change.key!));
    await conn.query(statement.sql, statement.params);
    return undefined;
  }

  protected classify(err: unknown, change: TargetChange): RowError | undefined {
    const sorted = classifyMysqlError(err, change, this.options.target.schemaChanges);
    // A row error may mean the columns changed: read them again next time.
    if (sorted) this.columnTypes.delete(this.resolve(change.table).qualified);
    return sorted;
  }

  protected lockConflict(err: unknown): boolean {
    return isMysqlLockConflict(err);
  }

  protected connectionLost(err: unknown): boolean {
    return isMysqlConnectionLost(err);
  }

  protected async describeTable(conn: PoolConnection, name: string): Promise<TableShape> {
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

/** The set-based path met a table that does not exist: change by change rejects its changes one by one, with the reason. */
class TableMissing extends Error {}
