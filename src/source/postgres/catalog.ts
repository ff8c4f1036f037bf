import type pg from 'pg';
import { OutboxError } from '../../errors.js';
import { formatTableName, type TableName } from '../../sql/identifiers.js';

export interface ColumnInfo {
  name: string;
  /** pg_attribute.attnum: stays with the column through a rename. */
  attnum?: number;
  /** Whether the column is NOT NULL. */
  notNull?: boolean;
  /** Base type name (domains resolved), e.g. int8, numeric, _numeric, timestamptz. */
  typeName: string;
  /** Full type as written, for messages. */
  formatted: string;
  /** pg_type.typtype of the base type: b base, e enum, c composite, r range, m multirange, p pseudo. */
  typeKind: string;
}

export interface TableInfo {
  oid: number;
  kind: 'table' | 'partitioned';
  columns: ColumnInfo[];
  primaryKey: string[];
}

const TABLE_SQL = `
SELECT c.oid::int AS oid, c.relkind
  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = $1 AND c.relname = $2`;

const COLUMNS_SQL = `
SELECT a.attname AS name, a.attnum::int AS attnum, a.attnotnull AS not_null,
       format_type(a.atttypid, a.atttypmod) AS formatted,
       bt.typname AS type_name,
       bt.typtype AS type_kind
  FROM pg_catalog.pg_attribute a
  JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
  JOIN pg_catalog.pg_type bt ON bt.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END
 WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped
 ORDER BY a.attnum`;

const PRIMARY_KEY_SQL = `
SELECT a.attname AS name
  FROM pg_catalog.pg_index i
  JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord) ON true
  JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
 WHERE i.indrelid = $1 AND i.indisprimary
 ORDER BY k.ord`;

/** Reads a table's columns and primary key, or fails naming the table. */
export async function describeTable(db: pg.Pool | pg.ClientBase, table: TableName): Promise<TableInfo> {
  const found = await db.query<{ oid: number; relkind: string }>(TABLE_SQL, [table.schema, table.table]);
  const row = found.rows[0];
  if (!row || !['r', 'p'].includes(row.relkind)) {
    throw new OutboxError(
      'TABLE_NOT_FOUND',
      `Table ${formatTableName(table)} does not exist in the source database${row ? ' (it is not a table)' : ''}. Check the name and its schema; names are case-sensitive.`,
      { context: { table: formatTableName(table) } },
    );
  }
  const columns = await db.query<{ name: string; attnum: number; not_null: boolean; formatted: string; type_name: string; type_kind: string }>(COLUMNS_SQL, [row.oid]);
  const pk = await db.query<{ name: string }>(PRIMARY_KEY_SQL, [row.oid]);
  return {
    oid: row.oid,
    kind: row.relkind === 'p' ? 'partitioned' : 'table',
    columns: columns.rows.map((c) => ({ name: c.name, attnum: c.attnum, notNull: c.not_null, typeName: c.type_name, formatted: c.formatted, typeKind: c.type_kind })),
    primaryKey: pk.rows.map((r) => r.name),
  };
}
