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

/**
 * The statements for the steps against the table's current columns; throws (with a message naming the
 * column) when a step cannot be done. `defaults` gives added columns the value the table's existing
 * rows get (a SQL literal, from addedValueLiteral): the column is added with it as its DEFAULT, which
 * PostgreSQL keeps for the rows there already without writing them, and the DEFAULT is dropped right
 * after, so the column ends as a plain nullable one, as without a value.
 */
export function pgStatements(tableSql: string, steps: DdlStep[], current: Map<string, PgColumn>, defaults: ReadonlyMap<string, string> = new Map()): string[] {
  return planDdl(tableSql, steps, current, {
    quote: quoteColumn,
    add: (column, type) => {
      const literal = defaults.get(column);
      const added = { clause: `ADD COLUMN ${quoteColumn(column)} ${type.sql}`, column: { nullable: true } };
      return literal === undefined ? added : { ...added, clause: `${added.clause} DEFAULT ${literal}::${type.sql}`, then: `ALTER COLUMN ${quoteColumn(column)} DROP DEFAULT` };
    },
    keep: (column) => ({ clause: `ALTER COLUMN ${quoteColumn(column)} DROP NOT NULL`, column: { nullable: true } }),
    alter: (column, type, existing) => ({ clause: `ALTER COLUMN ${quoteColumn(column)} TYPE ${type.sql} USING ${quoteColumn(column)}::${type.sql}`, column: existing }),
  }).statements;
}

/**
 * An added column's value for the existing rows as a SQL literal of `typeSql`: the JSON value read
 * as an upserted row's value is (jsonb_to_record, the conversion jsonb_populate_record makes), then
 * printed and quoted by the server. Throws the server's error when the value does not fit the type.
 */
export async function addedValueLiteral(client: pg.ClientBase, typeSql: string, value: unknown): Promise<string> {
  const { rows } = await client.query<{ literal: string }>(`SELECT quote_literal(x.v::text) AS literal FROM jsonb_to_record($1::jsonb) AS x(v ${typeSql})`, [JSON.stringify({ v: value })]);
  return rows[0]!.literal;
}
