import type pg from 'pg';
import type { ColumnShape } from '../../wire/envelope.js';
import { runtimeSql } from '../../sql/files.js';
import type { ColumnInfo } from './catalog.js';

/**
 * A table's columns as capture v2 sees them (sql/postgres/runtime/table_shape.sql). The attribute
 * number follows a column through a rename; `type` is the catalog's spelling, published in
 * schema-change events; typeName/typeKind pick the value encoding (docs/encoding.md).
 */
export interface ShapeColumn extends ColumnShape {
  attnum: number;
  typeName: string;
  typeKind: string;
}

export interface TableShape {
  relid: string;
  /** The partitioned table a partition belongs to (its own oid when it is not a partition). */
  root: string;
  tableSchema: string;
  tableName: string;
  columns: ShapeColumn[];
}

interface ShapeRow {
  relid: string;
  root: string;
  table_schema: string;
  table_name: string;
  attnum: number;
  name: string;
  type: string;
  nullable: boolean;
  type_name: string;
  type_kind: string;
}

/** The current shapes of tables by oid; a table that no longer exists is absent from the map. */
export async function readShapes(db: pg.Pool | pg.ClientBase, relids: string[]): Promise<Map<string, TableShape>> {
  const shapes = new Map<string, TableShape>();
  if (relids.length === 0) return shapes;
  const res = await db.query<ShapeRow>(runtimeSql('postgres', 'table_shape'), [relids]);
  for (const r of res.rows) {
    let shape = shapes.get(r.relid);
    if (!shape) {
      shape = { relid: r.relid, root: r.root, tableSchema: r.table_schema, tableName: r.table_name, columns: [] };
      shapes.set(r.relid, shape);
    }
    shape.columns.push({ attnum: r.attnum, name: r.name, type: r.type, nullable: r.nullable, typeName: r.type_name, typeKind: r.type_kind });
  }
  return shapes;
}

/** The captured columns of a shape: every column but the excluded ones (by attribute number). */
export function capturedShape(columns: ShapeColumn[], excludedAttnums: readonly number[]): ShapeColumn[] {
  return columns.filter((c) => !excludedAttnums.includes(c.attnum));
}

/** What the value encoding needs to know of a column. */
export function asColumnInfo(c: ShapeColumn): ColumnInfo {
  return { name: c.name, attnum: c.attnum, notNull: !c.nullable, typeName: c.typeName, formatted: c.type, typeKind: c.typeKind };
}

/** The public part of a column, as schema-change events carry it. */
export function publicColumn(c: ShapeColumn): ColumnShape {
  return { name: c.name, type: c.type, nullable: c.nullable };
}
