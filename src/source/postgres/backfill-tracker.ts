import type pg from 'pg';
import type { TableName } from '../../sql/identifiers.js';
import type { RowImage } from '../../wire/envelope.js';

/**
 * The backfill tracker (sql/postgres/000003_backfill.sql): one run per backfill of a table, one row
 * per batch. Every function takes the quoted outbox schema and a client (or pool) to run on.
 */
export type TrackerStatus = 'IN_PROGRESS' | 'FAILED' | 'COMPLETED';

export interface BackfillRun {
  runId: string;
  status: TrackerStatus;
  batchSize: number;
  rowsEstimate: number | null;
  rowsDone: number;
  batchesDone: number;
  lastKey: RowImage | null;
  startedAt: Date;
  updatedAt: Date;
  finishedAt: Date | null;
  remarks: string | null;
}

export interface BackfillBatch {
  runId: string;
  batchNo: number;
  fromKey: RowImage | null;
  toKey: RowImage;
  batchSize: number;
  rows: number | null;
  status: TrackerStatus;
  attempts: number;
  remarks: string | null;
}

type Db = pg.Pool | pg.ClientBase;

// eslint-disable-next-line @typescript-eslint/no-explicit-any
function toRun(r: any): BackfillRun {
  return {
    runId: String(r.run_id),
    status: r.status,
    batchSize: r.batch_size,
    rowsEstimate: r.rows_estimate === null ? null : Number(r.rows_estimate),
    rowsDone: Number(r.rows_done),
    batchesDone: r.batches_done,
    lastKey: r.last_key,
    startedAt: r.started_at,
    updatedAt: r.updated_at,
    finishedAt: r.finished_at,
    remarks: r.remarks,
  };
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
function toBatch(r: any): BackfillBatch {
  return {
    runId: String(r.run_id),
    batchNo: r.batch_no,
    fromKey: r.from_key,
    toKey: r.to_key,
    batchSize: r.batch_size,
    rows: r.rows,
    status: r.status,
    attempts: r.attempts,
    remarks: r.remarks,
  };
}

export async function latestRun(db: Db, q: string, table: TableName): Promise<BackfillRun | null> {
  const res = await db.query(`SELECT * FROM ${q}.backfill_runs WHERE table_schema = $1 AND table_name = $2 ORDER BY run_id DESC LIMIT 1`, [table.schema, table.table]);
  return res.rows[0] ? toRun(res.rows[0]) : null;
}

export async function startRun(db: Db, q: string, table: TableName, batchSize: number, rowsEstimate: number): Promise<BackfillRun> {
  const res = await db.query(
    `INSERT INTO ${q}.backfill_runs (table_schema, table_name, batch_size, rows_estimate) VALUES ($1, $2, $3, $4) RETURNING *`,
    [table.schema, table.table, batchSize, rowsEstimate],
  );
  return toRun(res.rows[0]);
}

/** Takes up an unfinished run again: IN_PROGRESS batches of a process that died become FAILED (and are retried). */
export async function resumeRun(db: Db, q: string, run: BackfillRun, batchSize: number): Promise<{ run: BackfillRun; interrupted: number }> {
  const interrupted = await db.query(
    `UPDATE ${q}.backfill_batches
        SET status = 'FAILED', finished_at = now(),
            remarks = concat_ws(E'\\n', remarks, format('attempt %s: interrupted (the backfill process ended during this batch; its transaction rolled back)', attempts))
      WHERE run_id = $1 AND status = 'IN_PROGRESS'`,
    [run.runId],
  );
  const res = await db.query(`UPDATE ${q}.backfill_runs SET status = 'IN_PROGRESS', batch_size = $2, updated_at = now() WHERE run_id = $1 RETURNING *`, [run.runId, batchSize]);
  return { run: toRun(res.rows[0]), interrupted: interrupted.rowCount ?? 0 };
}

export async function lastBatch(db: Db, q: string, runId: string): Promise<BackfillBatch | null> {
  const res = await db.query(`SELECT * FROM ${q}.backfill_batches WHERE run_id = $1 ORDER BY batch_no DESC LIMIT 1`, [runId]);
  return res.rows[0] ? toBatch(res.rows[0]) : null;
}

export async function listBatches(db: Db, q: string, runId: string): Promise<BackfillBatch[]> {
  const res = await db.query(`SELECT * FROM ${q}.backfill_batches WHERE run_id = $1 ORDER BY batch_no`, [runId]);
  return res.rows.map(toBatch);
}

/** Records a batch as IN_PROGRESS before its transaction starts (committed on its own, so a crash leaves a trace). */
export async function beginBatch(db: Db, q: string, table: TableName, batch: Omit<BackfillBatch, 'rows' | 'status' | 'attempts' | 'remarks'>): Promise<void> {
  await db.query(
    `INSERT INTO ${q}.backfill_batches (run_id, batch_no, table_schema, table_name, from_key, to_key, batch_size)
     VALUES ($1, $2, $3, $4, $5, $6, $7)`,
    [batch.runId, batch.batchNo, table.schema, table.table, jsonParam(batch.fromKey), jsonParam(batch.toKey), batch.batchSize],
  );
}

/** Marks a FAILED batch IN_PROGRESS again for another attempt; returns the attempt number. */
export async function retryBatch(db: Db, q: string, runId: string, batchNo: number): Promise<number> {
  const res = await db.query<{ attempts: number }>(
    `UPDATE ${q}.backfill_batches SET status = 'IN_PROGRESS', attempts = attempts + 1, started_at = now(), finished_at = NULL
      WHERE run_id = $1 AND batch_no = $2 AND status = 'FAILED' RETURNING attempts`,
    [runId, batchNo],
  );
  return res.rows[0]!.attempts;
}

/** Inside the batch's own transaction: the batch is COMPLETED exactly when its snapshot events commit. */
export async function completeBatch(
  client: pg.ClientBase,
  q: string,
  batch: { runId: string; batchNo: number; toKey: RowImage },
  written: { rows: number; firstSeq: string | null; lastSeq: string | null },
): Promise<BackfillRun> {
  await client.query(
    `UPDATE ${q}.backfill_batches SET status = 'COMPLETED', rows = $3, first_seq = $4, last_seq = $5, finished_at = clock_timestamp()
      WHERE run_id = $1 AND batch_no = $2`,
    [batch.runId, batch.batchNo, written.rows, written.firstSeq, written.lastSeq],
  );
  const res = await client.query(
    `UPDATE ${q}.backfill_runs SET rows_done = rows_done + $2, batches_done = batches_done + 1, last_key = $3, updated_at = clock_timestamp()
      WHERE run_id = $1 RETURNING *`,
    [batch.runId, written.rows, jsonParam(batch.toKey)],
  );
  return toRun(res.rows[0]);
}

export async function failBatch(db: Db, q: string, runId: string, batchNo: number, remark: string, runFailed: boolean): Promise<void> {
  await db.query(
    `UPDATE ${q}.backfill_batches SET status = 'FAILED', finished_at = clock_timestamp(),
            remarks = concat_ws(E'\\n', remarks, format('attempt %s: %s', attempts, $3::text))
      WHERE run_id = $1 AND batch_no = $2`,
    [runId, batchNo, remark],
  );
  if (runFailed) {
    await db.query(`UPDATE ${q}.backfill_runs SET status = 'FAILED', remarks = $2, updated_at = clock_timestamp() WHERE run_id = $1`, [runId, `batch ${batchNo}: ${remark}`]);
  }
}

/** Inside one transaction: the run is COMPLETED and the table back in incremental mode. */
export async function finishRun(client: pg.ClientBase, q: string, run: BackfillRun, table: TableName): Promise<BackfillRun> {
  const res = await client.query(`UPDATE ${q}.backfill_runs SET status = 'COMPLETED', finished_at = clock_timestamp(), updated_at = clock_timestamp() WHERE run_id = $1 RETURNING *`, [
    run.runId,
  ]);
  await setMode(client, q, table, 'incremental');
  return toRun(res.rows[0]);
}

export async function abandonRun(db: Db, q: string, runId: string, remark: string): Promise<void> {
  await db.query(`UPDATE ${q}.backfill_runs SET status = 'FAILED', remarks = $2, updated_at = now() WHERE run_id = $1 AND status <> 'COMPLETED'`, [runId, remark]);
}

export async function setMode(db: Db, q: string, table: TableName, mode: 'incremental' | 'backfilling'): Promise<void> {
  await db.query(`UPDATE ${q}.tracked_tables SET mode = $3 WHERE table_schema = $1 AND table_name = $2`, [table.schema, table.table, mode]);
}

/** Rows in the table: the planner's estimate when it has one, else an exact count. For progress only. */
export async function estimateRows(db: Db, quotedTable: string): Promise<number> {
  const est = await db.query<{ n: number }>(`SELECT reltuples::float8 AS n FROM pg_catalog.pg_class WHERE oid = $1::regclass`, [quotedTable]);
  const n = est.rows[0]?.n ?? -1;
  if (n >= 0) return Math.round(n);
  const exact = await db.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${quotedTable}`);
  return Number(exact.rows[0]!.n);
}

/** jsonb parameters go as JSON text (pg would send a JS array as a PostgreSQL array). */
export function jsonParam(value: unknown): string | null {
  return value === null || value === undefined ? null : JSON.stringify(value);
}
