import mssql from 'mssql';
import { OutboxError } from '../../errors.js';
import { resolveCaptureColumns } from '../capture-columns.js';
import { assertIdentifier, formatTableName, quoteIdentMssql, type TableName } from '../../sql/identifiers.js';
import type { TrackSpec, TrackedTable } from '../types.js';
import { describeTable, type ColumnInfo, type TableInfo } from './catalog.js';
import { buildCaptureTrigger, buildTruncateGuard, captureTriggerName, encodingOf, quoteCatalogIdent, truncateGuardName } from './capture-sql.js';
import { acquireAppLock, withTransaction, type Pool, type Queryable } from './pool.js';

export { MAX_ATTRIBUTE_COLUMNS } from '../capture-columns.js';

/**
 * Installs (or re-installs, after a column change) the capture trigger of one table, and its TRUNCATE
 * guard when the key columns are those of a unique index. One transaction, under one app lock.
 */
export async function trackTable(pool: Pool, outboxSchema: string, spec: TrackSpec): Promise<TrackedTable> {
  const q = quoteIdentMssql(outboxSchema, 'Outbox schema');
  const name = formatTableName(spec.table);
  const given = {
    exclude: spec.exclude?.map((c) => assertIdentifier(c, `Excluded column of ${name}`)),
    attributes: spec.attributes?.map((c) => assertIdentifier(c, `Attribute column of ${name}`)),
    key: spec.key?.map((c) => assertIdentifier(c, `Key column of ${name}`)),
  };

  return withTransaction(pool, async (tx) => {
    await acquireAppLock(tx, `outbox-relay:track:${outboxSchema}`);
    const info = await describeTable(tx, spec.table);
    // On a re-track, a list the spec leaves undefined keeps what the table was tracked with (as in
    // PostgreSQL): re-running `outbox track t` after ADD COLUMN never starts capturing an excluded column.
    const before = await tx
      .request()
      .input('schema', mssql.NVarChar(128), spec.table.schema)
      .input('table', mssql.NVarChar(128), spec.table.table)
      .query<{ key_columns: string; excluded_columns: string; attribute_columns: string; guard_table: string | null }>(
        `SELECT key_columns, excluded_columns, attribute_columns, guard_table FROM ${q}.tracked_tables WHERE table_schema = @schema AND table_name = @table`,
      );
    const recorded = before.recordset[0];
    const exclude = given.exclude ?? (recorded ? (JSON.parse(recorded.excluded_columns) as string[]) : []);
    const attributes = given.attributes ?? (recorded ? (JSON.parse(recorded.attribute_columns) as string[]) : []);
    const keyOverride = given.key?.length ? given.key : given.key === undefined && recorded ? (JSON.parse(recorded.key_columns) as string[]) : [];
    const keyColumns = resolveCaptureColumns({ name, columns: info.columns.map((c) => c.name), primaryKey: info.primaryKey, exclude, attributes, keyOverride });
    const captured = info.columns.filter((c) => !exclude.includes(c.name));
    checkEncodable(name, captured);

    const triggerName = captureTriggerName(spec.table.schema, spec.table.table);
    await tx.request().batch(buildCaptureTrigger({ outboxSchema, tableSchema: spec.table.schema, tableName: spec.table.table, keyColumns, captured, attributes }, q, triggerName));

    await dropGuard(tx, q, recorded?.guard_table ?? null);
    const guardKey = uniqueKeyOrder(info, keyColumns);
    const guardTable = guardKey ? truncateGuardName(spec.table.schema, spec.table.table) : null;
    if (guardKey && guardTable) {
      const byName = new Map(info.columns.map((c) => [c.name, c]));
      await tx.request().batch(buildTruncateGuard(q, guardTable, spec.table.schema, spec.table.table, guardKey.map((k) => byName.get(k)!)));
    }

    const saved = await tx
      .request()
      .input('schema', mssql.NVarChar(128), spec.table.schema)
      .input('table', mssql.NVarChar(128), spec.table.table)
      .input('keys', mssql.NVarChar(mssql.MAX), JSON.stringify(keyColumns))
      .input('excluded', mssql.NVarChar(mssql.MAX), JSON.stringify(exclude))
      .input('attributes', mssql.NVarChar(mssql.MAX), JSON.stringify(attributes))
      .input('captured', mssql.NVarChar(mssql.MAX), JSON.stringify(captured.map((c) => c.name)))
      .input('trigger', mssql.NVarChar(128), triggerName)
      .input('guard', mssql.NVarChar(128), guardTable)
      .query<TrackedRow>(
        `MERGE ${q}.tracked_tables WITH (HOLDLOCK) AS t
         USING (SELECT @schema AS table_schema, @table AS table_name) AS s
            ON t.table_schema = s.table_schema AND t.table_name = s.table_name
          WHEN MATCHED THEN UPDATE SET key_columns = @keys, excluded_columns = @excluded, attribute_columns = @attributes,
                                       captured_columns = @captured, trigger_name = @trigger, guard_table = @guard
          WHEN NOT MATCHED THEN INSERT (table_schema, table_name, key_columns, excluded_columns, attribute_columns, captured_columns, trigger_name, guard_table)
                                VALUES (@schema, @table, @keys, @excluded, @attributes, @captured, @trigger, @guard)
          OUTPUT inserted.*;`,
      );
    return toTrackedTable(saved.recordset[0]!);
  });
}

/** Every captured column must have a JSON encoding; all problems are listed at once. */
function checkEncodable(name: string, captured: ColumnInfo[]): void {
  const problems = captured.flatMap((c) => {
    const e = encodingOf(c);
    return 'unsupported' in e ? [`"${c.name}": ${e.unsupported}`] : [];
  });
  if (problems.length > 0) {
    throw new OutboxError('NOT_SUPPORTED', `Table ${name} has columns that cannot be captured:\n  - ${problems.join('\n  - ')}\nExclude them: outbox track ${name} --exclude <columns>.`, {
      context: { table: name },
    });
  }
}

/** The key columns in the order of a unique index that has exactly them, or null (no guard possible). */
export function uniqueKeyOrder(info: Pick<TableInfo, 'uniqueKeys'>, keyColumns: string[]): string[] | null {
  const wanted = new Set(keyColumns);
  return info.uniqueKeys.find((k) => k.length === wanted.size && k.every((c) => wanted.has(c))) ?? null;
}

async function dropGuard(db: Queryable, q: string, guardTable: string | null): Promise<void> {
  if (!guardTable) return;
  await db.request().batch(`DROP TABLE IF EXISTS ${q}.${quoteCatalogIdent(guardTable)}`);
}

/** Removes a table's capture trigger and TRUNCATE guard. Events already captured stay in the outbox. */
export async function untrackTable(pool: Pool, outboxSchema: string, table: TableName): Promise<boolean> {
  const q = quoteIdentMssql(outboxSchema, 'Outbox schema');
  return withTransaction(pool, async (tx) => {
    await acquireAppLock(tx, `outbox-relay:track:${outboxSchema}`);
    const row = await tx
      .request()
      .input('schema', mssql.NVarChar(128), table.schema)
      .input('table', mssql.NVarChar(128), table.table)
      .query<{ trigger_name: string; guard_table: string | null }>(
        `DELETE FROM ${q}.tracked_tables OUTPUT deleted.trigger_name, deleted.guard_table WHERE table_schema = @schema AND table_name = @table`,
      );
    const removed = row.recordset[0];
    await dropGuard(tx, q, removed?.guard_table ?? truncateGuardName(table.schema, table.table));
    const trigger = removed?.trigger_name ?? captureTriggerName(table.schema, table.table);
    await tx.request().batch(`DROP TRIGGER IF EXISTS ${quoteCatalogIdent(table.schema)}.${quoteCatalogIdent(trigger)}`);
    return removed !== undefined;
  });
}

export async function listTrackedTables(db: Queryable, outboxSchema: string): Promise<TrackedTable[]> {
  const q = quoteIdentMssql(outboxSchema, 'Outbox schema');
  const res = await db.request().query<TrackedRow>(`SELECT * FROM ${q}.tracked_tables ORDER BY table_schema, table_name`);
  return res.recordset.map(toTrackedTable);
}

interface TrackedRow {
  table_schema: string;
  table_name: string;
  key_columns: string;
  excluded_columns: string;
  attribute_columns: string;
  captured_columns: string;
  trigger_name: string;
  guard_table: string | null;
  mode: TrackedTable['mode'];
  tracked_at: Date;
}

function toTrackedTable(row: TrackedRow): TrackedTable {
  return {
    table: { schema: row.table_schema, table: row.table_name },
    keyColumns: JSON.parse(row.key_columns) as string[],
    excludedColumns: JSON.parse(row.excluded_columns) as string[],
    attributeColumns: JSON.parse(row.attribute_columns) as string[],
    capturedColumns: JSON.parse(row.captured_columns) as string[],
    mode: row.mode,
    trackedAt: row.tracked_at,
  };
}

export type { TableInfo };
