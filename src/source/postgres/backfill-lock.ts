import type pg from 'pg';
import { OutboxError } from '../../errors.js';
import { formatTableName, type TableName } from '../../sql/identifiers.js';

/**
 * One backfill per table at a time: a session-level advisory lock held by the backfill's own
 * connection for the whole run. A crash (even kill -9) closes the connection, which releases it.
 */
function lockKey(outboxSchema: string, table: TableName): [string, string] {
  return ['outbox-relay:backfill', `${outboxSchema}:${formatTableName(table)}`];
}

export async function tryLockBackfill(client: pg.ClientBase, outboxSchema: string, table: TableName): Promise<boolean> {
  const res = await client.query<{ locked: boolean }>('SELECT pg_try_advisory_lock(hashtext($1), hashtext($2)) AS locked', lockKey(outboxSchema, table));
  return res.rows[0]!.locked;
}

export async function unlockBackfill(client: pg.ClientBase, outboxSchema: string, table: TableName): Promise<void> {
  await client.query('SELECT pg_advisory_unlock(hashtext($1), hashtext($2))', lockKey(outboxSchema, table));
}

/** Who holds the lock (for the message): the backend pid, its application and since when. */
export async function describeLockHolder(db: pg.Pool | pg.ClientBase, outboxSchema: string, table: TableName): Promise<string> {
  const res = await db.query<{ pid: number; application_name: string; backend_start: Date; client_addr: string | null }>(
    `SELECT a.pid, a.application_name, a.backend_start, a.client_addr::text
       FROM pg_catalog.pg_locks l JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid
      WHERE l.locktype = 'advisory' AND l.granted
        AND l.classid = hashtext($1)::oid AND l.objid = hashtext($2)::oid AND l.objsubid = 2`,
    lockKey(outboxSchema, table),
  );
  const h = res.rows[0];
  return h ? `PostgreSQL backend ${h.pid} (${h.application_name || 'no application name'}${h.client_addr ? ` from ${h.client_addr}` : ''}, connected ${h.backend_start.toISOString()})` : 'another session';
}

export function backfillRunningError(table: TableName, holder: string, progress: string): OutboxError {
  const name = formatTableName(table);
  return new OutboxError(
    'BACKFILL_RUNNING',
    `A backfill of ${name} is already running in ${holder}${progress}. Only one backfill per table runs at a time: wait for it (outbox status shows its progress), or stop that process and run this again — it resumes where that one stopped.`,
    { context: { table: name }, retryable: true },
  );
}
