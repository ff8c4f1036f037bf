import type pg from 'pg';
import { planDdl, type DdlColumn } from '../base/ddl.js';
import type { DdlStep } from '../schema/decide.js';
import { quoteColumn } from './sql.js';

/** DDL for schema changes at a PostgreSQL target: the shared step walk (src/targets/base/ddl.ts) with PostgreSQL's clauses. */
export type PgColumn = DdlColumn;

export async function describePgColumns(client: pg.ClientBase, tableSql: string): Promise<Map<string, PgColumn> | undefined> {
  const found = await client.query<{ oid: number | null }>('SELECT to_regclass($1)::oid AS oid', [tableSql]);
  const oid = found.rows[0]?.oid;
  if (!oid) return undefined;
  const { rows } = await client.query<{ name: string; notnull: boolean }>('SELECT attname AS name, attnotnull AS notnull FROM pg_attribute WHERE attrelid = $1 AND attnum > 0 AND NOT attisdropped', [oid]);
  return new Map(rows.map((r) => [r.name, { nullable: !r.notnull }]));
}

/** The statements for the steps against the table's current columns; throws (with a message naming the column) when a step cannot be done. */
export function pgStatements(tableSql: string, steps: DdlStep[], current: Map<string, PgColumn>): string[] {
  return planDdl(tableSql, steps, current, {
    quote: quoteColumn,
    add: (column, type) => ({ clause: `ADD COLUMN ${quoteColumn(column)} ${type.sql}`, column: { nullable: true } }),
    keep: (column) => ({ clause: `ALTER COLUMN ${quoteColumn(column)} DROP NOT NULL`, column: { nullable: true } }),
    alter: (column, type, existing) => ({ clause: `ALTER COLUMN ${quoteColumn(column)} TYPE ${type.sql} USING ${quoteColumn(column)}::${type.sql}`, column: existing }),
  }).statements;
}
