import mssql from 'mssql';
import { OutboxError } from '../../errors.js';
import { formatTableName, type TableName } from '../../sql/identifiers.js';
import type { Queryable } from './pool.js';

export interface ColumnInfo {
  name: string;
  /** sys.columns.column_id: stable across sp_rename (absent where no catalog was read). */
  columnId?: number;
  /** Base system type (alias types resolved), e.g. bigint, decimal, nvarchar, datetimeoffset, geography. */
  typeName: string;
  /** Bytes (-1 for max), as sys.columns.max_length. */
  maxLength: number;
  precision: number;
  scale: number;
  /** Collation of a character column, else null. */
  collation: string | null;
  nullable: boolean;
  computed: boolean;
}

export interface TableInfo {
  objectId: number;
  columns: ColumnInfo[];
  primaryKey: string[];
  /** Key columns (in key order) of each unique index or constraint, the primary key included. */
  uniqueKeys: string[][];
}

const TABLE_SQL = `
SELECT o.object_id AS object_id, o.type AS type
  FROM sys.objects o JOIN sys.schemas s ON s.schema_id = o.schema_id
 WHERE s.name = @schema AND o.name = @table`;

const COLUMNS_SQL = `
SELECT c.column_id, c.name AS name,
       CASE WHEN t.is_assembly_type = 1 THEN t.name ELSE TYPE_NAME(c.system_type_id) END AS type_name,
       c.max_length, c.precision, c.scale, c.collation_name, c.is_nullable, c.is_computed
  FROM sys.columns c JOIN sys.types t ON t.user_type_id = c.user_type_id
 WHERE c.object_id = @object_id
 ORDER BY c.column_id`;

const UNIQUE_KEYS_SQL = `
SELECT i.index_id, i.is_primary_key, c.name AS column_name
  FROM sys.indexes i
  JOIN sys.index_columns ic ON ic.object_id = i.object_id AND ic.index_id = i.index_id AND ic.is_included_column = 0
  JOIN sys.columns c ON c.object_id = ic.object_id AND c.column_id = ic.column_id
 WHERE i.object_id = @object_id AND i.is_unique = 1 AND i.has_filter = 0 AND i.is_disabled = 0
 ORDER BY i.index_id, ic.key_ordinal`;

/** Reads a table's columns, primary key and unique keys, or fails naming the table. */
export async function describeTable(db: Queryable, table: TableName): Promise<TableInfo> {
  const found = await db
    .request()
    .input('schema', mssql.NVarChar(128), table.schema)
    .input('table', mssql.NVarChar(128), table.table)
    .query<{ object_id: number; type: string }>(TABLE_SQL);
  const row = found.recordset[0];
  if (!row || row.type.trim() !== 'U') {
    throw new OutboxError(
      'TABLE_NOT_FOUND',
      `Table ${formatTableName(table)} does not exist in the source database${row ? ' (it is not a user table)' : ''}. Check the name and its schema.`,
      { context: { table: formatTableName(table) } },
    );
  }
  const columns = await db
    .request()
    .input('object_id', mssql.Int, row.object_id)
    .query<{ column_id: number; name: string; type_name: string; max_length: number; precision: number; scale: number; collation_name: string | null; is_nullable: boolean; is_computed: boolean }>(COLUMNS_SQL);
  const keys = await db.request().input('object_id', mssql.Int, row.object_id).query<{ index_id: number; is_primary_key: boolean; column_name: string }>(UNIQUE_KEYS_SQL);
  const byIndex = new Map<number, { primary: boolean; columns: string[] }>();
  for (const k of keys.recordset) {
    const entry = byIndex.get(k.index_id) ?? { primary: k.is_primary_key, columns: [] };
    entry.columns.push(k.column_name);
    byIndex.set(k.index_id, entry);
  }
  return {
    objectId: row.object_id,
    columns: columns.recordset.map((c) => ({
      name: c.name,
      columnId: c.column_id,
      typeName: c.type_name,
      maxLength: c.max_length,
      precision: c.precision,
      scale: c.scale,
      collation: c.collation_name,
      nullable: c.is_nullable,
      computed: c.is_computed,
    })),
    primaryKey: [...byIndex.values()].find((e) => e.primary)?.columns ?? [],
    uniqueKeys: [...byIndex.values()].map((e) => e.columns),
  };
}
