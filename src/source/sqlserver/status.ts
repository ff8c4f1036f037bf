import { runtimeSql } from '../../sql/files.js';
import { quoteIdentMssql } from '../../sql/identifiers.js';
import type { SourceStatus } from '../types.js';
import { readMigrationState } from './migrate.js';
import type { Pool, Queryable } from './pool.js';
import { listTrackedTables } from './track.js';

interface BacklogRow {
  table_schema: string;
  table_name: string;
  backlog: string | number;
  oldest_age_seconds: string | number;
}

/** Tracked tables, backlog, the oldest unpublished change and the leader, for `outbox status`. */
export async function readStatus(pool: Pool, schema: string): Promise<SourceStatus> {
  const q = quoteIdentMssql(schema, 'Outbox schema');
  const migration = await readMigrationState(pool, schema);
  const installed = migration.databaseVersion > 0;
  const hasRelayState = installed && migration.databaseVersion >= 2;
  const tracked = installed ? await listTrackedTables(pool, schema) : [];
  const backlogRows = hasRelayState ? (await pool.request().query<BacklogRow>(runtimeSql('sqlserver', 'backlog', { schema: q }))).recordset : [];
  const leaderRow = hasRelayState
    ? (await pool.request().query<{ leader_id: string | null; epoch: string; leader_since: Date | null }>(`SELECT leader_id, CAST(epoch AS varchar(20)) AS epoch, leader_since FROM ${q}.relay_state`)).recordset[0]
    : undefined;
  const oldestTx = await oldestOpenTransactionAge(pool);
  const perTable = new Map(backlogRows.map((r) => [`${r.table_schema}.${r.table_name}`, Number(r.backlog)]));
  const ages = backlogRows.map((r) => Number(r.oldest_age_seconds));
  return {
    schema,
    migration,
    tables: tracked.map((t) => ({ ...t, backlog: perTable.get(`${t.table.schema}.${t.table.table}`) ?? 0 })),
    backlog: backlogRows.reduce((sum, r) => sum + Number(r.backlog), 0),
    oldestUnpublishedAgeSeconds: ages.length ? Math.max(...ages) : null,
    oldestOpenTransactionAgeSeconds: oldestTx,
    leader: { id: leaderRow?.leader_id ?? null, epoch: leaderRow?.epoch ?? '0', since: leaderRow?.leader_since ?? null },
  };
}

/**
 * Age of the oldest transaction that has written to this database: it holds MIN_ACTIVE_ROWVERSION()
 * and so the publish horizon back. Null when there is none, or when the login lacks VIEW SERVER STATE.
 */
export async function oldestOpenTransactionAge(db: Queryable): Promise<number | null> {
  try {
    const res = await db.request().query<{ age: string | number | null }>(runtimeSql('sqlserver', 'oldest_transaction'));
    const age = res.recordset[0]?.age;
    return age === null || age === undefined ? null : Number(age);
  } catch {
    return null;
  }
}
