import type pg from 'pg';
import type { DdlStep } from './decide.js';

/**
 * DDL for schema changes at a PostgreSQL target. Every column name is quoted here, every type comes
 * from the mapping table (column-types.ts), and the table is already quoted SQL. Each step checks the
 * table first, so running a change twice (a duplicate message after a crash) changes nothing.
 */
export function quotePgColumn(name: string): string {
  if (name.length === 0 || name.includes('\0')) throw new Error('a column name of a schema change is empty or holds a NUL character');
  return `"${name.replace(/"/g, '""')}"`;
}

export interface PgColumn {
  nullable: boolean;
}

export async function describePgColumns(client: pg.ClientBase, tableSql: string): Promise<Map<string, PgColumn> | undefined> {
  const found = await client.query<{ oid: number | null }>('SELECT to_regclass($1)::oid AS oid', [tableSql]);
  const oid = found.rows[0]?.oid;
  if (!oid) return undefined;
  const { rows } = await client.query<{ name: string; notnull: boolean }>('SELECT attname AS name, attnotnull AS notnull FROM pg_attribute WHERE attrelid = $1 AND attnum > 0 AND NOT attisdropped', [oid]);
  return new Map(rows.map((r) => [r.name, { nullable: !r.notnull }]));
}

/** The statements for the steps against the table's current columns; throws (with a message naming the column) when a step cannot be done. */
export function pgStatements(tableSql: string, steps: DdlStep[], current: Map<string, PgColumn>): string[] {
  const columns = new Map(current);
  const out: string[] = [];
  for (const step of steps) {
    switch (step.kind) {
      case 'add':
        if (!columns.has(step.column)) out.push(`ALTER TABLE ${tableSql} ADD COLUMN ${quotePgColumn(step.column)} ${step.type.sql}`);
        columns.set(step.column, { nullable: true });
        break;
      case 'drop':
        if (columns.has(step.column)) out.push(`ALTER TABLE ${tableSql} DROP COLUMN ${quotePgColumn(step.column)}`);
        columns.delete(step.column);
        break;
      case 'keep':
        if (columns.get(step.column)?.nullable === false) out.push(`ALTER TABLE ${tableSql} ALTER COLUMN ${quotePgColumn(step.column)} DROP NOT NULL`);
        if (columns.has(step.column)) columns.set(step.column, { nullable: true });
        break;
      case 'rename': {
        const hasFrom = columns.has(step.from);
        const hasTo = columns.has(step.to);
        if (hasFrom && hasTo) throw new Error(`the target table has both "${step.from}" and "${step.to}", so "${step.from}" cannot be renamed; drop or rename one by hand`);
        if (!hasFrom && !hasTo) throw new Error(`the target table has no column "${step.from}" to rename to "${step.to}"; add "${step.to}" by hand`);
        if (hasFrom) {
          out.push(`ALTER TABLE ${tableSql} RENAME COLUMN ${quotePgColumn(step.from)} TO ${quotePgColumn(step.to)}`);
          columns.set(step.to, columns.get(step.from)!);
          columns.delete(step.from);
        }
        break;
      }
      case 'alter':
        if (!columns.has(step.column)) throw new Error(`the target table has no column "${step.column}" to change to ${step.type.sql}`);
        out.push(`ALTER TABLE ${tableSql} ALTER COLUMN ${quotePgColumn(step.column)} TYPE ${step.type.sql} USING ${quotePgColumn(step.column)}::${step.type.sql}`);
        break;
    }
  }
  return out;
}
