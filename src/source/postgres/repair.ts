import type pg from 'pg';
import type { RowImage } from '../../wire/envelope.js';
import type { Logger } from '../../logger.js';
import { sleep } from '../../sleep.js';
import { runtimeSql } from '../../sql/files.js';
import { withTransaction } from '../../sql/pg-transaction.js';
import { quoteCatalogIdent, quoteIdent, quoteLiteral } from '../../sql/identifiers.js';
import type { RepairKey, RepairResult } from '../capabilities.js';
import { CAPTURE_SETTINGS_SQL, attributesImage, keyImage, keyIn, rowImage, snapshotSql, type SnapshotTable } from './snapshot-sql.js';
import { quotedTable } from './track.js';

const BATCH = 500;

/**
 * Repair re-emits the *current* source state of divergent keys into the outbox, so it flows through
 * the normal relay and consumers while replication goes on:
 * - a key the target misses or holds differently gets a snapshot event, read FOR SHARE exactly like
 *   a backfill batch (so it is never older in content and newer in seq than a live change);
 * - a key the target holds but should not (evict) and the source has — outside the target's share:
 *   a missed move — gets a snapshot whose attribute values are [the target row's, the current]
 *   where they differ, so the relay publishes it as a share move and the target deletes the key;
 * - a key the source does not have gets a delete event with the target row's attribute values (so
 *   filter policies route it to the target). A row that does not exist cannot be locked, so an
 *   insert of that key could be in flight with a smaller seq than our delete. After the delete
 *   commits we wait until every transaction that had an xid then has ended, and snapshot any of those
 *   keys that exist by now: the snapshot's seq is larger than the delete's.
 */
export async function emitRepairs(pool: pg.Pool, schema: string, spec: SnapshotTable, keys: RepairKey[], logger: Logger, options: { horizonTimeoutMs?: number } = {}): Promise<RepairResult> {
  const result: RepairResult = { snapshots: 0, deletes: 0 };
  for (let i = 0; i < keys.length; i += BATCH) {
    const part = keys.slice(i, i + BATCH);
    const upserts = part.filter((k) => !k.evict);
    const evicts = part.filter((k) => k.evict);
    const { snapshots, deleted } = await inTransaction(pool, async (client) => {
      let rows = 0;
      if (upserts.length > 0) rows += (await client.query<{ rows: number }>(snapshotSql(schema, spec, keyIn(spec, '$1')), [JSON.stringify(upserts.map((k) => k.key))])).rows[0]!.rows;
      if (evicts.length > 0) rows += (await client.query<{ rows: number }>(moveSql(schema, spec), [JSON.stringify(evicts.map(({ key, attributes }) => ({ key, attributes })))])).rows[0]!.rows;
      const del = await client.query<{ key: RowImage }>(deleteSql(schema, spec), [JSON.stringify(part.map(({ key, attributes }) => ({ key, attributes })))]);
      return { snapshots: rows, deleted: del.rows.map((r) => r.key) };
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

/** The placeholders both repair statements share: the outbox, the table and its key from a JSON key image. */
function repairParams(schema: string, spec: SnapshotTable): Record<string, string> {
  return {
    schema: quoteIdent(schema, 'Outbox schema'),
    table: quotedTable(spec.table),
    table_schema: quoteLiteral(spec.table.schema),
    table_name: quoteLiteral(spec.table.table),
    key_values: spec.keyColumns.map((c) => `(x.key ->> ${quoteLiteral(c.name)})::${c.formatted} AS ${quoteCatalogIdent(c.name)}`).join(', '),
    key_image: keyImage(spec),
  };
}

function deleteSql(schema: string, spec: SnapshotTable): string {
  return runtimeSql('postgres', 'verify_repair_deletes', {
    ...repairParams(schema, spec),
    match: spec.keyColumns.map((c) => `t.${quoteCatalogIdent(c.name)} = n.${quoteCatalogIdent(c.name)}`).join(' AND '),
  });
}

function moveSql(schema: string, spec: SnapshotTable): string {
  const col = (alias: string, name: string) => `${alias}.${quoteCatalogIdent(name)}`;
  return runtimeSql('postgres', 'verify_repair_moves', {
    ...repairParams(schema, spec),
    image: rowImage(spec),
    attrs: attributesImage(spec),
    all_columns: spec.captured.length ? `ARRAY[${spec.captured.map((c) => quoteLiteral(c.name)).join(', ')}]::text[]` : `'{}'::text[]`,
    match: spec.keyColumns.map((c) => `${col('t', c.name)} = ${col('k', c.name)}`).join(' AND '),
    order: spec.keyColumns.map((c) => col('t', c.name)).join(', '),
  });
}

/** One read-committed transaction in the capture settings (snapshot images are rendered as capture renders them). */
function inTransaction<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  return withTransaction(
    pool,
    async (client) => {
      await client.query(CAPTURE_SETTINGS_SQL);
      return fn(client);
    },
    { isolation: 'read committed' },
  );
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
    await sleep(delay);
    delay = Math.min(delay * 2, 500);
  }
}
