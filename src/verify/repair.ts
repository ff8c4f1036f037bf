import type pg from 'pg';
import type { RowImage } from '../envelope.js';
import type { Logger } from '../logger.js';
import { runtimeSql } from '../sql/files.js';
import { quoteIdent } from '../sql/identifiers.js';
import { quoteCatalogIdent, quoteLiteral } from '../source/postgres/capture-sql.js';
import { quotedTable } from '../source/postgres/track.js';
import { CAPTURE_SETTINGS_SQL, keyImage, keyIn, snapshotSql, type SnapshotTable } from '../backfill/snapshot-sql.js';

/**
 * Repair re-emits the *current* source state of divergent keys into the outbox, so it flows through
 * the normal relay and consumers while replication goes on:
 * - a key the source has gets a snapshot event, read FOR SHARE exactly like a backfill batch (so it
 *   is never older in content and newer in seq than a live change);
 * - a key the source does not have gets a delete event. A row that does not exist cannot be locked,
 *   so an insert of that key could be in flight with a smaller seq than our delete. After the delete
 *   commits we wait until every transaction that had an xid then has ended, and snapshot any of those
 *   keys that exist by now: the snapshot's seq is larger than the delete's.
 */
export interface RepairKey {
  /** Source key image (source column names). */
  key: RowImage;
  /** Attribute texts for the delete event's message attributes (from the target row), if known. */
  attributes: Record<string, string> | null;
}

export interface RepairResult {
  snapshots: number;
  deletes: number;
}

const BATCH = 500;

export async function emitRepairs(pool: pg.Pool, schema: string, spec: SnapshotTable, keys: RepairKey[], logger: Logger, options: { horizonTimeoutMs?: number } = {}): Promise<RepairResult> {
  const result: RepairResult = { snapshots: 0, deletes: 0 };
  for (let i = 0; i < keys.length; i += BATCH) {
    const part = keys.slice(i, i + BATCH);
    const { snapshots, deleted } = await inTransaction(pool, async (client) => {
      const snap = await client.query<{ rows: number }>(snapshotSql(schema, spec, keyIn(spec, '$1')), [JSON.stringify(part.map((k) => k.key))]);
      const del = await client.query<{ key: RowImage }>(deleteSql(schema, spec), [JSON.stringify(part)]);
      return { snapshots: snap.rows[0]!.rows, deleted: del.rows.map((r) => r.key) };
    });
    result.snapshots += snapshots;
    result.deletes += deleted.length;
    if (deleted.length > 0) {
      await waitForOlderTransactions(pool, options.horizonTimeoutMs ?? 300_000, logger);
      const late = await inTransaction(pool, async (client) => (await client.query<{ rows: number }>(snapshotSql(schema, spec, keyIn(spec, '$1')), [JSON.stringify(deleted)])).rows[0]!.rows);
      if (late > 0) logger.info({ keys: late }, 'keys inserted while their delete was emitted were snapshotted again');
      result.snapshots += late;
    }
  }
  return result;
}

function deleteSql(schema: string, spec: SnapshotTable): string {
  return runtimeSql('postgres', 'verify_repair_deletes', {
    schema: quoteIdent(schema, 'Outbox schema'),
    table: quotedTable(spec.table),
    table_schema: quoteLiteral(spec.table.schema),
    table_name: quoteLiteral(spec.table.table),
    key_values: spec.keyColumns.map((c) => `(x.key ->> ${quoteLiteral(c.name)})::${c.formatted} AS ${quoteCatalogIdent(c.name)}`).join(', '),
    key_image: keyImage(spec),
    match: spec.keyColumns.map((c) => `t.${quoteCatalogIdent(c.name)} = n.${quoteCatalogIdent(c.name)}`).join(' AND '),
  });
}

async function inTransaction<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN ISOLATION LEVEL READ COMMITTED');
    await client.query(CAPTURE_SETTINGS_SQL);
    const value = await fn(client);
    await client.query('COMMIT');
    return value;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}

/** Waits until every transaction that held an xid when this is called has committed or rolled back. */
async function waitForOlderTransactions(pool: pg.Pool, timeoutMs: number, logger: Logger): Promise<void> {
  const horizon = (await pool.query<{ x: string }>('SELECT pg_snapshot_xmax(pg_current_snapshot())::text AS x')).rows[0]!.x;
  const deadline = Date.now() + timeoutMs;
  let delay = 10;
  for (;;) {
    const res = await pool.query<{ done: boolean }>('SELECT pg_snapshot_xmin(pg_current_snapshot()) >= $1::xid8 AS done', [horizon]);
    if (res.rows[0]!.done) return;
    if (Date.now() > deadline) {
      logger.warn({ waitedMs: timeoutMs }, 'an old transaction is still open; keys inserted by it after their repair delete are corrected by its own insert events only if their seq is larger — run verify again after it ends');
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, delay));
    delay = Math.min(delay * 2, 500);
  }
}
