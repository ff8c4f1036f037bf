import type pg from 'pg';
import { runtimeSql } from '../../sql/files.js';
import { quoteIdent, quoteLiteral } from '../../sql/identifiers.js';
import type { BackfillStatus, SourceStatus } from '../types.js';
import { readMigrationState } from './migrate.js';
import { readDrift } from './doctor.js';
import { listTrackedTables } from './track.js';

/** Tracked tables, backlog, the oldest unpublished change and the leader, for `outbox status`. */
export async function readStatus(pool: pg.Pool, schema: string): Promise<SourceStatus> {
  const q = quoteIdent(schema, 'Outbox schema');
  const migration = await readMigrationState(pool, schema);
  const installed = migration.databaseVersion > 0;
  const tracked = installed ? await listTrackedTables(pool, schema) : [];
  const backlogRows = installed && migration.databaseVersion >= 2 ? (await pool.query(runtimeSql('postgres', 'backlog', { schema: q }))).rows : [];
  const leaderRow = installed && migration.databaseVersion >= 2 ? (await pool.query(`SELECT leader_id, epoch::text, leader_since FROM ${q}.relay_state`)).rows[0] : undefined;
  const backfills = installed && migration.databaseVersion >= 3 ? await readBackfills(pool, q, schema) : new Map<string, BackfillStatus>();
  const oldestTx = await oldestOpenTransactionAge(pool);
  const drift = installed && migration.databaseVersion >= 4 ? await readDrift(pool, q) : new Map<string, string[]>();
  const perTable = new Map(backlogRows.map((r) => [`${r.table_schema}.${r.table_name}`, r]));
  const ages = backlogRows.map((r) => Number(r.oldest_age_seconds));
  return {
    schema,
    migration,
    tables: tracked.map((t) => ({
      ...t,
      backlog: perTable.get(`${t.table.schema}.${t.table.table}`)?.backlog ?? 0,
      backfill: backfills.get(`${t.table.schema}.${t.table.table}`) ?? null,
      drift: drift.get(`${t.table.schema}.${t.table.table}`) ?? [],
    })),
    backlog: backlogRows.reduce((sum, r) => sum + Number(r.backlog), 0),
    oldestUnpublishedAgeSeconds: ages.length ? Math.max(...ages) : null,
    oldestOpenTransactionAgeSeconds: oldestTx,
    leader: { id: leaderRow?.leader_id ?? null, epoch: leaderRow?.epoch ?? '0', since: leaderRow?.leader_since ?? null },
  };
}

/** Age of the oldest transaction that holds an xid: it is what holds the publish horizon back. */
export async function oldestOpenTransactionAge(db: pg.Pool | pg.ClientBase): Promise<number | null> {
  const res = await db.query<{ age: number | null }>(
    // clock_timestamp(), not now(): now() is this statement's start, and a transaction that began after it would read as a negative age
    `SELECT extract(epoch FROM clock_timestamp() - min(xact_start))::float8 AS age
       FROM pg_catalog.pg_stat_activity
      WHERE backend_xid IS NOT NULL AND pid <> pg_backend_pid()`,
  );
  const age = res.rows[0]?.age ?? null;
  return age === null ? null : Math.max(0, age);
}

/** The latest backfill run per table (sql/postgres/runtime/backfill_status.sql). */
async function readBackfills(pool: pg.Pool, q: string, schema: string): Promise<Map<string, BackfillStatus>> {
  const res = await pool.query(runtimeSql('postgres', 'backfill_status', { schema: q, schema_literal: quoteLiteral(schema) }));
  return new Map(
    res.rows.map((r) => [
      `${r.table_schema}.${r.table_name}`,
      {
        runId: r.run_id,
        status: r.status,
        rowsDone: Number(r.rows_done),
        rowsEstimate: r.rows_estimate === null ? null : Number(r.rows_estimate),
        batchesDone: r.batches_done,
        startedAt: r.started_at,
        updatedAt: r.updated_at,
        finishedAt: r.finished_at,
        remarks: r.remarks,
        running: r.running,
      },
    ]),
  );
}
