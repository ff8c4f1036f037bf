import mssql from 'mssql';
import { OutboxError } from '../../errors.js';
import { resolveCaptureColumns } from '../capture-columns.js';
import { assertIdentifier, formatTableName, quoteIdentMssql, type TableName } from '../../sql/identifiers.js';
import type { TrackSpec, TrackedTable } from '../types.js';
import { describeTable, type ColumnInfo, type TableInfo } from './catalog.js';
import {
  buildCaptureTrigger,
  buildDdlTrigger,
  buildTruncateGuard,
  captureTemplateForDatabase,
  captureTriggerName,
  columnTypeText,
  ddlTriggerName,
  encodingOf,
  quoteCatalogIdent,
  quoteLiteral,
  truncateGuardName,
} from './capture-sql.js';
import { acquireAppLock, withTransaction, type Pool, type Queryable } from './pool.js';
import type { Logger } from '../../logger.js';

export { MAX_ATTRIBUTE_COLUMNS } from '../capture-columns.js';

/**
 * Installs (or re-installs, after a column change) the capture trigger of one table, and its TRUNCATE
 * guard when the key columns are those of a unique index. One transaction, under one app lock.
 */
export async function trackTable(pool: Pool, outboxSchema: string, spec: TrackSpec, logger?: Logger): Promise<TrackedTable> {
  const q = quoteIdentMssql(outboxSchema, 'Outbox schema');
  const name = formatTableName(spec.table);
  const given = {
    exclude: spec.exclude?.map((c) => assertIdentifier(c, `Excluded column of ${name}`)),
    attributes: spec.attributes?.map((c) => assertIdentifier(c, `Attribute column of ${name}`)),
    key: spec.key?.map((c) => assertIdentifier(c, `Key column of ${name}`)),
  };

  await installDdlTrigger(pool, outboxSchema, logger);
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

    await recordShape(tx, q, spec.table, info.columns, { exclude, keyColumns, attributes });

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

/**
 * Records every column as the capture trigger was built for it (migration 000003's tracked_columns),
 * and the trigger template: what the DDL trigger needs to rebuild the trigger after ALTER TABLE.
 * Values are literals quoted here; a table has at most 1,024 columns, a VALUES list takes 1,000 rows.
 */
async function recordShape(db: Queryable, q: string, table: TableName, columns: ColumnInfo[], roles: { exclude: string[]; keyColumns: string[]; attributes: string[] }): Promise<void> {
  const where = `table_schema = ${quoteLiteral(table.schema)} AND table_name = ${quoteLiteral(table.table)}`;
  await db.request().batch(`DELETE FROM ${q}.tracked_columns WHERE ${where}`);
  const ordinal = (list: string[], name: string) => (list.includes(name) ? String(list.indexOf(name) + 1) : 'NULL');
  const rows = columns.map(
    (c) =>
      `(${quoteLiteral(table.schema)}, ${quoteLiteral(table.table)}, ${c.columnId ?? 0}, ${quoteLiteral(c.name)}, ${quoteLiteral(c.typeName)}, ${quoteLiteral(columnTypeText(c))}, ` +
      `${c.scale}, ${c.nullable ? 1 : 0}, ${roles.exclude.includes(c.name) ? 1 : 0}, ${ordinal(roles.keyColumns, c.name)}, ${ordinal(roles.attributes, c.name)})`,
  );
  for (let i = 0; i < rows.length; i += 500) {
    await db
      .request()
      .batch(
        `INSERT INTO ${q}.tracked_columns (table_schema, table_name, column_id, name, type_name, type_text, scale, nullable, excluded, key_ordinal, attr_ordinal) VALUES ${rows.slice(i, i + 500).join(', ')}`,
      );
  }
  await db
    .request()
    .input('body', mssql.NVarChar(mssql.MAX), captureTemplateForDatabase())
    .query(
      `MERGE ${q}.capture_template WITH (HOLDLOCK) AS t USING (SELECT CAST(1 AS bit) AS singleton) AS s ON t.singleton = s.singleton
        WHEN MATCHED THEN UPDATE SET body = @body WHEN NOT MATCHED THEN INSERT (singleton, body) VALUES (1, @body);`,
    );
}

/**
 * Creates (or updates) the outbox schema's database DDL trigger (sql/sqlserver/runtime/ddl_trigger.sql),
 * in its own statement: a login without ALTER ANY DATABASE DDL TRIGGER still tracks tables, with a
 * warning here and in `outbox doctor` that schema changes then break capture until `outbox track`.
 */
export async function installDdlTrigger(pool: Pool, outboxSchema: string, logger?: Logger): Promise<boolean> {
  const q = quoteIdentMssql(outboxSchema, 'Outbox schema');
  const res = await pool
    .request()
    .input('ddl', mssql.NVarChar(mssql.MAX), buildDdlTrigger(outboxSchema, q))
    .query<{ error_number: number | null; error_message: string | null }>(
      `BEGIN TRY EXEC sys.sp_executesql @ddl; SELECT CAST(NULL AS int) AS error_number, CAST(NULL AS nvarchar(4000)) AS error_message; END TRY
       BEGIN CATCH SELECT ERROR_NUMBER() AS error_number, ERROR_MESSAGE() AS error_message; END CATCH`,
    );
  const row = res.recordset[0];
  if (row?.error_number == null) return true;
  logger?.warn(
    { trigger: ddlTriggerName(outboxSchema), error: row.error_message },
    'cannot create the database DDL trigger: ALTER TABLE / sp_rename on a tracked table will break capture until `outbox track` is re-run; grant ALTER ANY DATABASE DDL TRIGGER',
  );
  return false;
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
    await tx
      .request()
      .input('schema', mssql.NVarChar(128), table.schema)
      .input('table', mssql.NVarChar(128), table.table)
      .query(`DELETE FROM ${q}.tracked_columns WHERE table_schema = @schema AND table_name = @table`);
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
