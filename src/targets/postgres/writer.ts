import pg from 'pg';
import { describeError } from '../../errors.js';
import { fitsSetBased, planByTable, storeScope, type BatchEntry, type TablePlan } from '../base/batch.js';
import type { TableShape } from '../base/check.js';
import { scrubValues, type RowError } from '../base/errors.js';
import { SqlTargetWriter, type DdlOutcome, type FillStep, type SqlWriterOptions } from '../base/sql-writer.js';
import type { DdlStep } from '../schema/decide.js';
import type { ApplyOutcome, TargetChange, TargetSchemaItem } from '../types.js';
import { addedValueLiteral, describePgColumns, pgStatements } from './ddl.js';
import { classifyPgError, isPermanentPgError, isPgConnectionLost, isPgLockConflict } from './errors.js';
import { clearSql, deleteKeysSql, deleteSql, fillSql, resolveTable, upsertAppliedSql, upsertSql } from './sql.js';
import { inTransaction } from './transaction.js';
import { PostgresVersionStore } from './version-store.js';

/**
 * PostgreSQL target, following the shared apply rules (src/targets/base/sql-writer.ts). A batch is
 * applied set-based when it can (one version-guard statement, one upsert or delete per table and
 * column set); a batch with a truncate or a row the target refuses goes change by change, each in a
 * savepoint. PostgreSQL DDL is transactional, so a schema change is one transaction.
 */
export type PostgresWriterOptions = SqlWriterOptions;

/** The outcomes of the set-based path, one object each for all its changes (outcomes are read, never changed). */
const APPLIED: ApplyOutcome = Object.freeze({ status: 'applied' });
const STALE: ApplyOutcome = Object.freeze({ status: 'stale' });

export class PostgresTargetWriter extends SqlTargetWriter<pg.PoolClient> {
  readonly kind = 'postgres' as const;
  readonly appliesTogether = true;
  protected readonly store: PostgresVersionStore;
  private readonly pool: pg.Pool;
  private readonly onClientError = new WeakMap<pg.PoolClient, (err: Error) => void>();

  constructor(options: PostgresWriterOptions) {
    super(options, 'postgres');
    const lockWaitTimeoutSec = options.target.lockWaitTimeoutSec;
    // lock_timeout is a startup parameter of each connection: the writer's sessions only.
    this.pool = new pg.Pool({ connectionString: options.url, max: options.poolSize ?? 2, ...(lockWaitTimeoutSec !== undefined ? { lock_timeout: lockWaitTimeoutSec * 1000 } : {}) });
    this.pool.on('error', (err) => this.log.warn({ err: describeError(err) }, 'idle target connection failed'));
    this.store = new PostgresVersionStore(options.target.stateSchema, storeScope(options.name, options.target));
  }

  async close(): Promise<void> {
    await this.pool.end();
  }

  protected async connect(): Promise<pg.PoolClient> {
    const client = await this.pool.connect();
    // A checked-out client whose connection drops emits 'error' besides failing its query: listen, or the process dies.
    const onError = (err: Error) => this.log.warn({ err: describeError(err) }, 'target connection lost');
    client.on('error', onError);
    this.onClientError.set(client, onError);
    return client;
  }

  protected release(client: pg.PoolClient, broken: boolean): void {
    const onError = this.onClientError.get(client);
    if (onError) client.off('error', onError);
    client.release(broken || undefined);
  }

  protected qualified(table: string): string {
    return resolveTable(table).qualified;
  }

  protected describeTable(client: pg.PoolClient, name: string): Promise<TableShape> {
    return describePostgresTable(client, name);
  }

  protected async currentColumns(client: pg.PoolClient, entry: BatchEntry): Promise<ReadonlySet<string> | undefined> {
    const columns = await describePgColumns(client, resolveTable(entry.change.table).sql);
    return columns && new Set(columns.keys());
  }

  protected inTransaction<T>(client: pg.PoolClient, work: () => Promise<T>): Promise<T> {
    return inTransaction(client, work);
  }

  /** PostgreSQL DDL is transactional: claim, DDL and record commit together. */
  protected inSchemaChange<T>(client: pg.PoolClient, work: () => Promise<T>): Promise<T> {
    return inTransaction(client, work);
  }

  protected async runDdl(client: pg.PoolClient, entry: BatchEntry, steps: DdlStep[]): Promise<DdlOutcome> {
    const table = resolveTable(entry.change.table);
    const columns = await describePgColumns(client, table.sql);
    if (!columns) return { problem: `the target table ${entry.table} does not exist; create it by hand`, statements: 0 };
    const defaults = await this.addedDefaults(client, entry, steps, columns);
    let statements: string[];
    try {
      statements = pgStatements(table.sql, steps, columns, defaults);
    } catch (err) {
      return { problem: (err as Error).message, statements: 0 };
    }
    await client.query('SAVEPOINT schema_change');
    try {
      for (const sql of statements) await client.query(sql);
      await client.query('RELEASE SAVEPOINT schema_change');
    } catch (err) {
      if (!isPermanentPgError(err)) throw err;
      await client.query('ROLLBACK TO SAVEPOINT schema_change');
      return { problem: `the target refused the DDL (${scrubValues(describeError(err))}); apply the change by hand`, statements: 0 };
    }
    return { statements: statements.length, filled: [...defaults.keys()] };
  }

  /**
   * The added columns' values as DEFAULT literals (fillsByDefault); a value the server cannot read as
   * the column's type is left to the UPDATE, which refuses it the way it refuses any fill.
   */
  private async addedDefaults(client: pg.PoolClient, entry: BatchEntry, steps: DdlStep[], columns: ReadonlyMap<string, unknown>): Promise<Map<string, string>> {
    const defaults = new Map<string, string>();
    const fills = await this.fillsByDefault(steps, columns, () => this.store.keysNewerThan(client, entry.table, (entry.seq - 1n).toString()));
    for (const fill of fills) {
      await client.query('SAVEPOINT added_value');
      try {
        defaults.set(fill.column, await addedValueLiteral(client, fill.type.sql, fill.value));
        await client.query('RELEASE SAVEPOINT added_value');
      } catch (err) {
        if (!isPermanentPgError(err)) throw err;
        await client.query('ROLLBACK TO SAVEPOINT added_value');
        await client.query('RELEASE SAVEPOINT added_value');
      }
    }
    return defaults;
  }

  /**
   * In the schema change's transaction, after its DDL, for the fills the ADD COLUMN could not do
   * (addedDefaults: the column was there already, or rows of later changes are). What makes the fill give the value only to rows
   * that existed before the change: the ADD COLUMN holds the table's ACCESS EXCLUSIVE lock until the
   * transaction commits, and until then no other session sees the column, so a row that carries it
   * (written after the schema change at the source) waits for it (shapeRow) and is written after the
   * commit, with its own value. Rows the target has that a change at or after the schema change wrote
   * (possible only when the target had the column already) are left out by their versions. A crash
   * rolls DDL, fill and record back together; the retry does all three again.
   */
  protected async fillAndRecord(client: pg.PoolClient, entry: BatchEntry, fills: FillStep[], items: TargetSchemaItem[], record: (items: TargetSchemaItem[]) => Promise<void>): Promise<void> {
    if (fills.length === 0) return record(items);
    const table = resolveTable(entry.change.table).sql;
    const newer = (await this.store.keysNewerThan(client, entry.table, (entry.seq - 1n).toString())) as Record<string, unknown>[];
    const keys = newer.length > 0 ? Object.keys(newer[0]!) : [];
    const fill = (step: FillStep) => client.query(fillSql(table, step.column, keys), [JSON.stringify({ [step.column]: step.value }), ...(keys.length > 0 ? [JSON.stringify(newer)] : [])]);
    await record(await this.runFills(client, entry, fills, items, fill, isPermanentPgError));
  }

  /**
   * The row changes of a batch (no schema changes): one statement per table when it can (the version
   * guard, the upserts and the deletes together; a batch of one table is then one round trip), change
   * by change in savepoints otherwise — a truncate, or a row the target refuses (which fails the
   * statement and everything with it, so the batch runs again change by change, where that row is
   * rejected on its own and the rest commit).
   */
  protected async applyRows(client: pg.PoolClient, entries: BatchEntry[], count: number): Promise<ApplyOutcome[]> {
    const plan = entries.every(fitsSetBased) ? planByTable(entries) : undefined;
    if (plan) {
      try {
        return await this.applyByTable(client, plan, count);
      } catch (err) {
        if (!isPermanentPgError(err)) throw err;
        this.log.debug({ code: (err as { code?: string }).code }, 'set-based apply refused a row; applying the batch change by change');
      }
    }
    return this.applyEach(client, entries, count);
  }

  /**
   * The fast path: per table, one statement advances the versions of all keys (the newest change per
   * key; older ones in the batch are stale) and writes the rows of those that advanced. Tables in lock
   * order, in one transaction when there are several. Same outcomes as applyEach when no row is refused.
   */
  private async applyByTable(client: pg.PoolClient, plan: TablePlan[], count: number): Promise<ApplyOutcome[]> {
    const outcomes: ApplyOutcome[] = new Array(count);
    for (const t of plan) await this.store.prepareTable(client, t.table);
    const run = async () => {
      for (const t of plan) {
        for (const e of t.stale) outcomes[e.index] = STALE;
        const sql = resolveTable(t.entries[0]!.change.table).sql;
        const keys = Object.keys(t.entries[0]!.change.key!);
        const advanced = await this.store.advanceAndWrite(client, t.table, t.entries, t.columns ? [upsertAppliedSql(sql, t.columns, keys)] : []);
        // The deletes run as a statement of their own, after the version guard. In the guard's
        // statement they would read its snapshot, taken before it waited for another consumer's
        // version of the same key: a row that consumer inserted and committed meanwhile is not in
        // that snapshot, so it would stay, although the delete is newer (test/int/target-db.int.test.ts).
        const deletes = t.entries.filter((e, i) => e.change.op === 'delete' && advanced[i]).map((e) => e.change.key);
        if (deletes.length > 0) await client.query(deleteKeysSql(sql, keys), [JSON.stringify(deletes)]);
        t.entries.forEach((e, i) => (outcomes[e.index] = advanced[i] ? APPLIED : STALE));
      }
      return outcomes;
    };
    // One transaction whenever a guard and its deletes are two statements, or there are several tables.
    const hasDeletes = plan.some((t) => t.entries.some((e) => e.change.op === 'delete'));
    return plan.length === 1 && !hasDeletes ? run() : inTransaction(client, run);
  }

  protected async savepoint(client: pg.PoolClient, verb: 'SAVEPOINT' | 'ROLLBACK TO SAVEPOINT' | 'RELEASE SAVEPOINT'): Promise<void> {
    await client.query(`${verb} change`);
  }

  protected async truncate(client: pg.PoolClient, entry: BatchEntry): Promise<void> {
    const table = resolveTable(entry.change.table);
    if (this.store.scope.share) await this.store.truncateShare(client, entry.table, table.sql, entry.change.seq);
    else {
      const keep = await this.store.keysNewerThan(client, entry.table, entry.change.seq);
      await client.query(clearSql(table.sql, keep), keep.length ? [JSON.stringify(keep)] : []);
      await this.store.recordTruncate(client, entry.table, entry.change.seq);
    }
  }

  protected advance(client: pg.PoolClient, entry: BatchEntry): Promise<boolean> {
    const { change } = entry;
    return this.store.advance(client, entry.table, entry.keyHash, change.key, change.seq, change.op === 'delete');
  }

  protected async write(client: pg.PoolClient, entry: BatchEntry): Promise<undefined> {
    const { change } = entry;
    const table = resolveTable(change.table).sql;
    if (change.op === 'delete') await client.query(deleteSql(table, Object.keys(change.key!)), [JSON.stringify(change.key)]);
    else await client.query(upsertSql(table, Object.keys(change.row!), Object.keys(change.key!)), [JSON.stringify(change.row)]);
    return undefined;
  }

  protected classify(err: unknown, change: TargetChange): RowError | undefined {
    return classifyPgError(err, change, this.options.target.schemaChanges);
  }

  protected lockConflict(err: unknown): boolean {
    return isPgLockConflict(err);
  }

  protected connectionLost(err: unknown): boolean {
    return isPgConnectionLost(err);
  }
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
