import type { TargetConfig } from '../../config/index.js';
import { OutboxError, describeError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import { decideSchemaChange, describeSchemaChange, unfill, type DdlStep } from '../schema/decide.js';
import type { TargetType } from '../schema/column-types.js';
import { haltMessage, RowShaper } from '../schema/row-shaper.js';
import type { ApplyOutcome, SchemaChangeAdmin, SchemaChangeRecord, SchemaChangeStatus, TargetChange, TargetSchemaItem, TargetWriter } from '../types.js';
import { applyChangeByChange, checkSeq, orderEntries, type BatchEntry } from './batch.js';
import { checkTables, type InitOptions, type TableShape } from './check.js';
import { storeMissing, unavailable, type RowError } from './errors.js';
import type { VersionStore } from './version-store.js';

/**
 * The apply rules every database target follows, whatever its dialect (src/targets/postgres/,
 * src/targets/mysql/ give the SQL):
 *
 * - A batch: schema changes first, each on its own and in seq order; then the row changes, shaped
 *   against what the target table now has (rows whose schema change has not arrived wait); then the
 *   rows in one transaction, version-guarded per key (the newest seq wins, duplicates are stale).
 * - Savepoint isolation: when the dialect's fast path cannot take a batch (a truncate, a row the
 *   target refuses), each change runs in its own savepoint, so a refused row is rejected alone and
 *   its batch-mates commit.
 * - Errors: the dialect sorts a row's error into wait, reject or retry (its errors.ts); anything
 *   else fails the batch, which is retried (nothing of it is deleted from the queue). A deadlock or
 *   lock wait timeout the server ended the row transaction with (lockConflict) runs that transaction
 *   again at once, up to LOCK_ATTEMPTS times, before it fails the batch: concurrent writer calls
 *   (queue.applyConcurrency) and consumer replicas take their locks in one order, but a truncate's
 *   exclusive lock or the target table's own locks can still cross them.
 * - The version store is created on first use when missing; tombstones are purged now and then.
 */
const PURGE_EVERY_MS = 10 * 60_000;
/** Tries of a batch's row transaction when the server ends it with a deadlock or a lock wait timeout. */
const LOCK_ATTEMPTS = 3;

export interface SqlWriterOptions {
  name: string;
  target: TargetConfig;
  url: string;
  logger: Logger;
  poolSize?: number;
}

export abstract class SqlTargetWriter<C> implements TargetWriter, SchemaChangeAdmin {
  abstract readonly kind: 'postgres' | 'mysql';
  protected abstract readonly store: VersionStore<C>;
  protected readonly log: Logger;
  protected readonly shaper: RowShaper;
  private storeReady = false;
  private lastPurge = 0;

  protected constructor(
    protected readonly options: SqlWriterOptions,
    kind: 'postgres' | 'mysql',
  ) {
    this.log = options.logger.child({ component: 'target', target: options.name, kind });
    this.shaper = new RowShaper(options.target.schemaChanges);
  }

  /** A connection of the pool, set up for the writer. */
  protected abstract connect(): Promise<C>;
  /** Gives the connection back; a broken one (the batch failed under it) is discarded. */
  protected abstract release(conn: C, broken: boolean): void;
  abstract close(): Promise<void>;
  /** A target table as the version store names it. */
  protected abstract qualified(table: string): string;
  protected abstract describeTable(conn: C, table: string): Promise<TableShape>;
  /** The target table's columns now (for the row shaper); undefined when it does not exist. */
  protected abstract currentColumns(conn: C, entry: BatchEntry): Promise<ReadonlySet<string> | undefined>;
  /** Runs work in one transaction: committed when it resolves, rolled back when it throws. */
  protected abstract inTransaction<T>(conn: C, work: () => Promise<T>): Promise<T>;
  /** Where a schema change is claimed, decided and recorded (a transaction, or a lock where DDL commits by itself). */
  protected abstract inSchemaChange<T>(conn: C, work: () => Promise<T>): Promise<T>;
  /**
   * Runs the DDL of the steps on the table; returns why the target must stop, if it must, and the
   * fill steps' columns the DDL gave their value already (`filled`: no UPDATE follows for those).
   */
  protected abstract runDdl(conn: C, entry: BatchEntry, steps: DdlStep[]): Promise<DdlOutcome>;
  /**
   * Gives the rows the target had before the change the value of each fill step (an added column's
   * value at the source for the rows that existed then), then records the change with `record`; a
   * fill the target refuses is left out (warned, and recorded without its value). The rows filled
   * are those still NULL in the column whose key has no version at or after the change's seq, so a
   * row a change written after the schema change put there is never overwritten (see the dialects).
   */
  protected abstract fillAndRecord(conn: C, entry: BatchEntry, fills: FillStep[], items: TargetSchemaItem[], record: (items: TargetSchemaItem[]) => Promise<void>): Promise<void>;
  /** The row changes of a batch, in one transaction (see applyEach for the careful path). */
  protected abstract applyRows(conn: C, rows: BatchEntry[], count: number): Promise<ApplyOutcome[]>;
  protected abstract savepoint(conn: C, verb: 'SAVEPOINT' | 'ROLLBACK TO SAVEPOINT' | 'RELEASE SAVEPOINT'): Promise<void>;
  /** A truncate of the change's table (a filtered target's share, or the whole table but what came after). */
  protected abstract truncate(conn: C, entry: BatchEntry): Promise<void>;
  /** The version guard for one key: whether the change is newer than what the target has (it then records it). */
  protected abstract advance(conn: C, entry: BatchEntry): Promise<boolean>;
  /** Writes one upsert or delete; returns a reason when the change must be rejected before it runs. */
  protected abstract write(conn: C, entry: BatchEntry): Promise<string | undefined>;
  protected abstract classify(err: unknown, change: TargetChange): RowError | undefined;
  /** A deadlock or lock wait timeout: the row transaction was rolled back (or is, by the writer) and may run again. */
  protected abstract lockConflict(err: unknown): boolean;
  /** The connection the error came on is gone (closed by the server or the network), by the dialect's errors. */
  protected abstract connectionLost(err: unknown): boolean;
  /** Row transactions run again after a lockConflict, and batches after a lost connection; the consumer counts their growth (outbox_consumer_target_retries_total). */
  readonly stats = { retries: 0 };
  /** What the writer caches of a table is stale (its columns changed). */
  protected forget(table: string): void {
    this.shaper.forget(table);
  }

  /** Creates the version store and checks the mapped tables; returns the problems found (empty = ready). */
  async init(initOptions: InitOptions = {}): Promise<string[]> {
    return this.withConnection(async (conn) => {
      await this.store.create(conn);
      this.storeReady = true;
      return checkTables(this.options.target, initOptions, (name) => this.describeTable(conn, name));
    });
  }

  /**
   * One batch on one pooled connection. When the connection turns out to be gone (connectionLost: a
   * server that closed it while it sat idle in the pool, a backend terminated, a failover), the
   * batch runs once more on a new one at once, rather than failing and coming back only after the
   * queue's visibility timeout: nothing of it committed, or it all did and its COMMIT's reply was
   * lost, and then the version guard finds every change there already (stale, a duplicate).
   */
  async apply(changes: TargetChange[]): Promise<ApplyOutcome[]> {
    if (changes.length === 0) return [];
    checkSeq(changes);
    for (let attempt = 1; ; attempt++) {
      let conn: C;
      try {
        conn = await this.connect();
      } catch (err) {
        throw unavailable(this.options.name, 'cannot connect', err);
      }
      let broken = false;
      try {
        await this.ensureStore(conn);
        const outcomes = await this.applyBatch(conn, changes);
        await this.maybePurge(conn);
        return outcomes;
      } catch (err) {
        broken = true;
        // the driver's error, or the cause of an OutboxError a step made of it
        if (attempt === 1 && (this.connectionLost(err) || this.connectionLost((err as { cause?: unknown }).cause))) {
          this.stats.retries += 1;
          this.log.info({ err: describeError(err) }, 'the target connection was gone; running the batch again on a new one');
          continue;
        }
        if (err instanceof OutboxError) throw err;
        throw unavailable(this.options.name, 'the batch did not commit', err);
      } finally {
        this.release(conn, broken);
      }
    }
  }

  async schemaChanges(statuses: SchemaChangeStatus[]): Promise<SchemaChangeRecord[]> {
    return this.withConnection(async (conn) => ((await this.store.exists(conn)) ? this.store.schemaChanges(conn, statuses) : []));
  }

  async resumeSchemaChanges(): Promise<SchemaChangeRecord[]> {
    return this.withConnection(async (conn) => ((await this.store.exists(conn)) ? this.store.resumeHalts(conn) : []));
  }

  protected async withConnection<T>(work: (conn: C) => Promise<T>): Promise<T> {
    const conn = await this.connect();
    try {
      return await work(conn);
    } finally {
      this.release(conn, false);
    }
  }

  private async ensureStore(conn: C): Promise<void> {
    if (this.storeReady) return;
    if (!(await this.store.exists(conn))) {
      try {
        await this.store.create(conn);
      } catch (err) {
        throw storeMissing(this.options.name, this.options.target.stateSchema, err);
      }
    }
    this.storeReady = true;
  }

  /**
   * Schema changes first (each on its own, in seq order), then the row changes shaped against what
   * the target now has (src/targets/schema/row-shaper.ts): rows that must wait for a schema change
   * are left out with a wait outcome.
   */
  private async applyBatch(conn: C, changes: TargetChange[]): Promise<ApplyOutcome[]> {
    const all = orderEntries(changes, (t) => this.qualified(t));
    const outcomes: ApplyOutcome[] = new Array(changes.length);
    const schemaEntries = all.filter((e) => e.change.op === 'schema').sort((a, b) => (a.seq < b.seq ? -1 : a.seq > b.seq ? 1 : 0));
    for (const entry of schemaEntries) outcomes[entry.index] = await this.applySchemaChange(conn, entry);
    const rows = await this.shaper.shape(all.filter((e) => e.change.op !== 'schema'), outcomes, {
      state: (table) => this.store.schemaState(conn, table),
      columns: (entry) => this.currentColumns(conn, entry),
    });
    if (rows.length === 0) return outcomes;
    const applied = await this.applyRowsRetried(conn, rows, changes.length);
    for (const entry of rows) outcomes[entry.index] = applied[entry.index]!;
    return outcomes;
  }

  /**
   * applyRows, run again when the server ended its transaction on a deadlock or lock wait timeout:
   * nothing of it committed (both paths roll back on any error), and the call holds no lock of it
   * any more, so the other transaction goes on and the next try waits for it, then reads what it
   * committed (the version guard decides as for any change that meets a newer one).
   */
  private async applyRowsRetried(conn: C, rows: BatchEntry[], count: number): Promise<ApplyOutcome[]> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.applyRows(conn, rows, count);
      } catch (err) {
        if (attempt >= LOCK_ATTEMPTS || !this.lockConflict(err)) throw err;
        this.stats.retries += 1;
        this.log.info({ attempt, err: describeError(err) }, 'the target ended the batch\'s transaction on a lock conflict; running it again');
      }
    }
  }

  /** One schema change by targets.<name>.schemaChanges: claimed, decided, applied or halted, and recorded. */
  private async applySchemaChange(conn: C, entry: BatchEntry): Promise<ApplyOutcome> {
    const { change } = entry;
    const schemaChange = change.schemaChange ?? { dialect: 'postgres', items: [] };
    const log = { table: change.sourceTable, targetTable: entry.table, seq: change.seq };
    try {
      const outcome = await this.inSchemaChange(conn, async (): Promise<ApplyOutcome> => {
        const claimed = await this.store.claimSchemaChange(conn, entry.table, change.seq, change.sourceTable);
        if (claimed.status === 'applied' || claimed.status === 'ignored') return { status: 'stale' };
        if (claimed.status === 'resumed') return { status: 'applied' };
        const halt = async (reason: string): Promise<ApplyOutcome> => {
          const message = haltMessage(this.options.name, change.sourceTable, change.seq, schemaChange, reason);
          await this.store.recordSchemaChange(conn, entry.table, change.seq, 'halted', schemaChange.items, message);
          return { status: 'halt', reason: message };
        };
        const decision = decideSchemaChange(this.options.target, this.kind, schemaChange);
        if (decision.action === 'ignore') {
          await this.store.recordSchemaChange(conn, entry.table, change.seq, 'ignored', schemaChange.items, null);
          return { status: 'applied' };
        }
        if (decision.action === 'halt') return halt(decision.reason);
        const ran = await this.runDdl(conn, entry, decision.steps);
        if (ran.problem !== undefined) return halt(ran.problem);
        const filled = new Set(ran.filled);
        const fills = decision.steps.filter((s): s is FillStep => s.kind === 'fill' && !filled.has(s.column));
        for (const item of schemaChange.items) {
          if (item.kind === 'add_column' && item.unfilled !== undefined) this.log.warn({ ...log, column: item.column, reason: item.unfilled }, unfilledMessage(this.options.name, change.sourceTable, item.column, item.unfilled));
        }
        await this.fillAndRecord(conn, entry, fills, schemaChange.items, (items) => this.store.recordSchemaChange(conn, entry.table, change.seq, 'applied', items, null));
        this.log.info({ ...log, statements: ran.statements, filled: [...filled, ...fills.map((f) => f.column)], change: describeSchemaChange(schemaChange) }, 'schema change applied at the target');
        return { status: 'applied' };
      });
      if (outcome.status === 'halt') this.log.error({ ...log, reason: outcome.reason }, 'target halted at a schema change');
      return outcome;
    } finally {
      this.forget(entry.table);
    }
  }

  /**
   * The fill steps the ADD COLUMN itself can do, with the added column's type: a column this change
   * adds (the target has no such column, `columns`, and no other step of the change names it) with a
   * value for the existing rows. The dialect adds it with the value as its DEFAULT, which the database
   * keeps for the rows there already without writing them (an UPDATE would write every row, under the
   * ALTER's lock at PostgreSQL, under the table's truncation record at MariaDB), then drops the DEFAULT.
   * None when a row of the table was written by a change at or after this one (`newer`): no row can
   * hold a column the target does not have, so without such rows every row there gets the value, as
   * the UPDATE would give it.
   */
  protected async fillsByDefault(steps: DdlStep[], columns: ReadonlyMap<string, unknown>, newer: () => Promise<unknown[]>): Promise<{ column: string; type: TargetType; value: unknown }[]> {
    const named = (step: DdlStep, column: string) => (step.kind === 'rename' ? step.from === column || step.to === column : step.kind !== 'fill' && step.column === column);
    const found: { column: string; type: TargetType; value: unknown }[] = [];
    for (const fill of steps) {
      if (fill.kind !== 'fill' || fill.value === null || columns.has(fill.column)) continue;
      const adds = steps.filter((s) => named(s, fill.column));
      if (adds.length === 1 && adds[0]!.kind === 'add') found.push({ column: fill.column, type: adds[0]!.type, value: fill.value });
    }
    if (found.length === 0 || (await newer()).length > 0) return [];
    return found;
  }

  /**
   * Runs each fill step in a savepoint of the transaction under way (the dialect's `fill`); a fill
   * the target refuses (`permanent`) is rolled back and warned about, and the items come back with its
   * value taken out (unfilled), so the change is recorded without it and later rows are not given it.
   */
  protected async runFills(conn: C, entry: BatchEntry, fills: FillStep[], items: TargetSchemaItem[], fill: (step: FillStep) => Promise<unknown>, permanent: (err: unknown) => boolean): Promise<TargetSchemaItem[]> {
    let recorded = items;
    for (const step of fills) {
      await this.savepoint(conn, 'SAVEPOINT');
      try {
        await fill(step);
        await this.savepoint(conn, 'RELEASE SAVEPOINT');
      } catch (err) {
        if (!permanent(err)) throw err;
        await this.savepoint(conn, 'ROLLBACK TO SAVEPOINT');
        await this.savepoint(conn, 'RELEASE SAVEPOINT');
        const reason = `the target refused the value (${describeError(err).replace(/\s+/g, ' ').slice(0, 200)})`;
        this.log.warn({ table: entry.change.sourceTable, targetTable: entry.table, seq: entry.change.seq, column: step.column, reason }, unfilledMessage(this.options.name, entry.change.sourceTable, step.column, reason));
        recorded = unfill(recorded, reason, step.column);
      }
    }
    return recorded;
  }

  /** The careful path: each change in its own savepoint, so a refused row is rejected alone. */
  protected async applyEach(conn: C, entries: BatchEntry[], count: number): Promise<ApplyOutcome[]> {
    return this.inTransaction(conn, () =>
      applyChangeByChange(this.options.target, entries, count, {
        lockTable: (table, exclusive) => this.store.lockTable(conn, table, exclusive),
        applyOne: (entry) => this.applyOne(conn, entry),
      }),
    );
  }

  /** One change inside its own savepoint: errors of the version store fail the batch, errors of the row reject the change. */
  private async applyOne(conn: C, entry: BatchEntry): Promise<ApplyOutcome> {
    const { change } = entry;
    await this.savepoint(conn, 'SAVEPOINT');
    if (change.op === 'truncate') {
      try {
        await this.truncate(conn, entry);
      } catch (err) {
        return this.rejectOrThrow(conn, err, entry);
      }
      await this.savepoint(conn, 'RELEASE SAVEPOINT');
      return { status: 'applied' };
    }
    if (change.key === null) return this.reject(conn, 'the change has no key');
    if (change.op !== 'delete' && change.row === null) return this.reject(conn, `the ${change.op} change has no row`);
    if (!(await this.advance(conn, entry))) {
      await this.savepoint(conn, 'RELEASE SAVEPOINT');
      return { status: 'stale' };
    }
    try {
      const refused = await this.write(conn, entry);
      if (refused !== undefined) return this.reject(conn, refused);
    } catch (err) {
      return this.rejectOrThrow(conn, err, entry);
    }
    await this.savepoint(conn, 'RELEASE SAVEPOINT');
    return { status: 'applied' };
  }

  private async rejectOrThrow(conn: C, err: unknown, entry: BatchEntry): Promise<ApplyOutcome> {
    const { change } = entry;
    const sorted = this.classify(err, change);
    if (!sorted) throw err;
    if (sorted.kind === 'wait') {
      // The table changed under the batch (a schema change applied by another consumer, or by hand), or
      // a widening alter_type has not arrived yet: the row waits (bounded by the consumer) instead of failing.
      this.forget(entry.table);
      await this.savepoint(conn, 'ROLLBACK TO SAVEPOINT');
      await this.savepoint(conn, 'RELEASE SAVEPOINT');
      return { status: 'wait', reason: sorted.reason };
    }
    this.log.warn({ table: change.table, seq: change.seq, code: sorted.code }, 'change rejected by the target');
    return this.reject(conn, sorted.reason);
  }

  private async reject(conn: C, reason: string): Promise<ApplyOutcome> {
    await this.savepoint(conn, 'ROLLBACK TO SAVEPOINT');
    await this.savepoint(conn, 'RELEASE SAVEPOINT');
    return { status: 'rejected', reason };
  }

  private async maybePurge(conn: C): Promise<void> {
    if (Date.now() - this.lastPurge < PURGE_EVERY_MS) return;
    this.lastPurge = Date.now();
    try {
      const purged = await this.store.purgeTombstones(conn, this.options.target.tombstoneRetentionHours);
      if (purged > 0) this.log.info({ purged, retentionHours: this.options.target.tombstoneRetentionHours }, 'purged old tombstones');
    } catch (err) {
      this.log.warn({ err: describeError(err) }, 'tombstone purge failed; will try again later');
    }
  }
}

export type FillStep = Extract<DdlStep, { kind: 'fill' }>;

/** What runDdl did: why the target must stop (problem), the statements run, the added columns it gave their value. */
export interface DdlOutcome {
  problem?: string;
  statements: number;
  filled?: string[];
}

/** Why the rows that existed before keep the column empty, and what brings their values (names only, never values). */
function unfilledMessage(target: string, sourceTable: string, column: string, reason: string): string {
  return `column "${column}" was added to the target's table of ${sourceTable} empty: the source's rows that existed before hold a value without a captured change, and ${reason}. Run outbox verify ${target} --table ${sourceTable} --repair once the schema change is applied`;
}
