import type pg from 'pg';
import { describeError, OutboxError } from '../../errors.js';
import type { RowImage } from '../../wire/envelope.js';
import type { Logger } from '../../logger.js';
import { formatTableName, quoteIdent } from '../../sql/identifiers.js';
import { withTransaction } from '../../sql/pg-transaction.js';
import { DEFAULT_BATCH_SIZE, type BackfillRequest, type BackfillResult } from '../capabilities.js';
import { backfillRunningError, describeLockHolder, tryLockBackfill, unlockBackfill } from './backfill-lock.js';
import * as tracker from './backfill-tracker.js';
import { requireInstalled } from './require-installed.js';
import { CAPTURE_SETTINGS_SQL, keyAfter, keyAtMost, loadSnapshotTable, nextBoundSql, snapshotSql, type SnapshotTable } from './snapshot-sql.js';
import { quotedTable } from './track.js';

/*
 * Why a snapshot event never carries older content with a newer seq than a live change
 * (docs/backfill.md).
 *
 * The table is tracked before the backfill starts, so every committed change of a row also has a
 * live event. A batch is one READ COMMITTED transaction running one statement,
 *   INSERT INTO events SELECT …, nextval(event_seq) … FROM (SELECT … WHERE key in range FOR SHARE)
 * so the seq of a row's snapshot (s) is drawn after the batch holds a share lock on that row
 * version. event_seq has CACHE 1, so seq order is the real-time order in which nextval ran.
 *
 * - A writer W that changed the row earlier holds its row lock (FOR UPDATE / FOR NO KEY UPDATE,
 *   both conflict with FOR SHARE) from its change until its commit, and its statement-level AFTER
 *   trigger draws W's seq inside that span. Our lock is granted only after W commits, and READ
 *   COMMITTED then re-reads the newest version (EvalPlanQual) — W's content. So seq(W) < s and
 *   the snapshot carries W's content (or newer): right. If W deleted the row or moved its key out
 *   of the range, the re-check drops it and no snapshot is written; W's own delete event stands.
 *   If W rolled back, it wrote no event and we read the old content: right.
 * - A writer W' that changes the row later must wait for our share lock, i.e. for our commit; its
 *   trigger runs after its change, so s < seq(W'): the live change wins at the target.
 * - A row inserted into a range the batch has not reached yet is read by that batch (as above). One
 *   inserted into a range already done, or not yet committed when the batch reads (invisible to our
 *   statement's snapshot, not locked), gets no snapshot: its insert event carries it.
 * - TRUNCATE takes ACCESS EXCLUSIVE, which conflicts with our ROW SHARE table lock: a batch is wholly
 *   before or after it.
 * REPEATABLE READ would make FOR SHARE fail on a concurrently updated row instead of re-reading it,
 * so batches run explicitly at READ COMMITTED, whatever the database default is.
 *
 * The batch's key range is fixed before its transaction by a lock-free keyset probe (the key of the
 * Nth row after the cursor); the locking statement re-checks the range, so rows whose key moved
 * during the wait are handled by their own delete + insert events, never skipped by the cursor.
 */

/** A backfill on the adapter's pool and outbox schema (unquoted). */
export interface BackfillOptions extends BackfillRequest {
  pool: pg.Pool;
  schema: string;
}

const TRANSIENT_SQLSTATES = new Set(['40001', '40P01', '55P03']);

export async function backfillTable(options: BackfillOptions): Promise<BackfillResult> {
  const { pool, schema, table, logger } = options;
  const q = quoteIdent(schema, 'Outbox schema');
  const name = formatTableName(table);
  const log = logger.child({ component: 'backfill', table: name });
  await requireInstalled(pool, schema);
  const client = await pool.connect();
  let locked = false;
  try {
    locked = await tryLockBackfill(client, schema, table);
    if (!locked) {
      const run = await tracker.latestRun(pool, q, table);
      const progress = run && run.status !== 'COMPLETED' ? ` (run ${run.runId}: ${run.batchesDone} batches, ${run.rowsDone} rows done)` : '';
      throw backfillRunningError(table, await describeLockHolder(pool, schema, table), progress);
    }
    const spec = await loadSnapshotTable(client, schema, table);
    return { ...(await walk(client, q, spec, options, log)), table: name };
  } finally {
    if (locked) await unlockBackfill(client, schema, table).catch(() => undefined);
    client.release();
  }
}

async function walk(client: pg.PoolClient, q: string, spec: SnapshotTable, options: BackfillOptions, log: Logger): Promise<BackfillResult> {
  const { table, schema } = options;
  const name = formatTableName(table);
  const started = Date.now();
  const rowsCounter = options.metrics?.counter('outbox_backfill_rows_total', 'Snapshot events backfill wrote into the outbox, by table.', ['table']);
  const batchCounter = options.metrics?.counter('outbox_backfill_batches_total', 'Backfill batches, by table and status (completed, or failed and retried).', ['table', 'status']);

  let run = await tracker.latestRun(client, q, table);
  let resumedAtBatch: number | null = null;
  let retried = 0;
  if (run?.status === 'COMPLETED' && !options.restart) {
    log.info({ runId: run.runId }, 'backfill already completed; nothing to do');
    return result('already-completed', run, 0, 0, null, 0, started);
  }
  if (run && run.status !== 'COMPLETED' && !options.restart) {
    const resumed = await tracker.resumeRun(client, q, run, options.batchSize ?? run.batchSize);
    run = resumed.run;
    const last = await tracker.lastBatch(client, q, run.runId);
    resumedAtBatch = last ? (last.status === 'COMPLETED' ? last.batchNo + 1 : last.batchNo) : 1;
    log.info({ runId: run.runId, batch: resumedAtBatch, interrupted: resumed.interrupted, rowsDone: run.rowsDone }, 'resuming backfill');
  } else {
    if (run && run.status !== 'COMPLETED') await tracker.abandonRun(client, q, run.runId, 'abandoned: a new run was started with --restart');
    const estimate = await tracker.estimateRows(client, quotedTable(table));
    run = await tracker.startRun(client, q, table, options.batchSize ?? DEFAULT_BATCH_SIZE, estimate);
    log.info({ runId: run.runId, batchSize: run.batchSize, rowsEstimate: estimate }, 'backfill started');
  }
  await tracker.setMode(client, q, table, 'backfilling');

  const maxAttempts = options.maxAttempts ?? 3;
  let rowsThisRun = 0;
  let batchesThisRun = 0;
  for (;;) {
    if (options.signal?.aborted) {
      log.info({ runId: run.runId, rowsDone: run.rowsDone }, 'backfill stopped; run it again to resume');
      return result('stopped', run, rowsThisRun, batchesThisRun, resumedAtBatch, retried, started);
    }
    const last = await tracker.lastBatch(client, q, run.runId);
    let batch: { runId: string; batchNo: number; fromKey: RowImage | null; toKey: RowImage; batchSize: number };
    let attempt: number;
    if (last?.status === 'FAILED') {
      // The batch that failed (or was interrupted) is done again over the same range.
      batch = { runId: run.runId, batchNo: last.batchNo, fromKey: last.fromKey, toKey: last.toKey, batchSize: last.batchSize };
      attempt = await tracker.retryBatch(client, q, run.runId, last.batchNo);
      retried += 1;
      log.info({ batch: batch.batchNo, attempt }, 'retrying failed batch');
    } else {
      const toKey = await nextBound(client, spec, run.lastKey, run.batchSize);
      if (toKey === null) break;
      batch = { runId: run.runId, batchNo: (last?.batchNo ?? 0) + 1, fromKey: run.lastKey, toKey, batchSize: run.batchSize };
      await tracker.beginBatch(client, q, table, batch);
      attempt = 1;
    }
    try {
      const written = await writeBatch(client, q, schema, spec, batch);
      run = written.run;
      rowsThisRun += written.rows;
      batchesThisRun += 1;
      rowsCounter?.inc({ table: name }, written.rows);
      batchCounter?.inc({ table: name, status: 'completed' });
      log.debug({ batch: batch.batchNo, rows: written.rows }, 'batch completed');
      options.onProgress?.({ table: name, runId: run.runId, batchNo: batch.batchNo, batchRows: written.rows, rowsDone: run.rowsDone, rowsEstimate: run.rowsEstimate, batchesDone: run.batchesDone });
    } catch (err) {
      const code = (err as { code?: string }).code;
      const transient = code !== undefined && TRANSIENT_SQLSTATES.has(code) && attempt < maxAttempts;
      batchCounter?.inc({ table: name, status: 'failed' });
      await tracker.failBatch(client, q, run.runId, batch.batchNo, describeError(err), !transient);
      log.warn({ batch: batch.batchNo, attempt, err: describeError(err), willRetry: transient }, 'batch failed');
      if (transient) continue;
      throw new OutboxError(
        'BACKFILL_FAILED',
        `Backfill of ${name} failed in batch ${batch.batchNo} (keys after ${JSON.stringify(batch.fromKey)} up to ${JSON.stringify(batch.toKey)}): ${describeError(err)}. ` +
          `The batch is recorded as FAILED and wrote nothing. Fix the cause and run outbox backfill ${name} again: it retries this batch and goes on.`,
        { cause: err, context: { table: name, runId: run.runId, batch: batch.batchNo }, retryable: code !== undefined && TRANSIENT_SQLSTATES.has(code) },
      );
    }
  }

  const finishing = run;
  run = await withTransaction(client, (tx) => tracker.finishRun(tx, q, finishing, table));
  log.info({ runId: run.runId, rows: run.rowsDone, batches: run.batchesDone, ms: Date.now() - started }, 'backfill completed; table is in incremental mode');
  return result('completed', run, rowsThisRun, batchesThisRun, resumedAtBatch, retried, started);
}

async function nextBound(client: pg.ClientBase, spec: SnapshotTable, cursor: RowImage | null, batchSize: number): Promise<RowImage | null> {
  const params: unknown[] = cursor === null ? [batchSize] : [batchSize, JSON.stringify(cursor)];
  const res = await client.query<{ to_key: RowImage }>(nextBoundSql(spec, cursor !== null), params);
  return res.rows[0]?.to_key ?? null;
}

/** One batch, one transaction: snapshot events for the range and the tracker's COMPLETED commit together. */
async function writeBatch(
  client: pg.ClientBase,
  q: string,
  schema: string,
  spec: SnapshotTable,
  batch: { runId: string; batchNo: number; fromKey: RowImage | null; toKey: RowImage },
): Promise<{ rows: number; run: tracker.BackfillRun }> {
  const where = batch.fromKey === null ? keyAtMost(spec, '$1') : `${keyAfter(spec, '$2')} AND ${keyAtMost(spec, '$1')}`;
  const params = batch.fromKey === null ? [JSON.stringify(batch.toKey)] : [JSON.stringify(batch.toKey), JSON.stringify(batch.fromKey)];
  return withTransaction(
    client,
    async (tx) => {
      await tx.query(CAPTURE_SETTINGS_SQL);
      const res = await tx.query<{ rows: number; first_seq: string | null; last_seq: string | null }>(snapshotSql(schema, spec, where), params);
      const w = res.rows[0]!;
      const run = await tracker.completeBatch(tx, q, batch, { rows: w.rows, firstSeq: w.first_seq, lastSeq: w.last_seq });
      return { rows: w.rows, run };
    },
    { isolation: 'read committed' },
  );
}

function result(
  status: BackfillResult['status'],
  run: tracker.BackfillRun,
  rowsThisRun: number,
  batchesThisRun: number,
  resumedAtBatch: number | null,
  retriedBatches: number,
  started: number,
): BackfillResult {
  return {
    status,
    table: '',  // set by runBackfill
    runId: run.runId,
    rows: run.rowsDone,
    batches: run.batchesDone,
    rowsThisRun,
    batchesThisRun,
    resumedAtBatch,
    retriedBatches,
    elapsedMs: Date.now() - started,
    finishedAt: run.finishedAt,
  };
}
