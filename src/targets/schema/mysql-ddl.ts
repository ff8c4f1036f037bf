import type { PoolConnection } from 'mysql2/promise';
import type { RowDataPacket } from 'mysql2';
import type { DdlStep } from './decide.js';

/**
 * DDL for schema changes at a MySQL/MariaDB target (see postgres-ddl.ts): column names backtick-quoted,
 * types from the mapping table, each step checked against information_schema first. MODIFY needs the
 * whole column type: a kept column is re-declared with the type the catalog reports, which is used
 * only when it is a plain type name with sizes (anything else is left NOT NULL, with a warning).
 */
export function quoteMysqlColumn(name: string): string {
  if (name.length === 0 || name.includes('\0')) throw new Error('a column name of a schema change is empty or holds a NUL character');
  return `\`${name.replace(/`/g, '``')}\``;
}

export interface MysqlColumn {
  nullable: boolean;
  /** COLUMN_TYPE, e.g. varchar(40), int(11), decimal(10,2) unsigned. */
  columnType: string;
}

const PLAIN_COLUMN_TYPE = /^[a-z]+( ?\(\d+(,\d+)?\))?( unsigned)?( zerofill)?$/i;

export async function describeMysqlColumns(conn: PoolConnection, database: string, table: string): Promise<Map<string, MysqlColumn> | undefined> {
  const [rows] = await conn.query<RowDataPacket[]>('SELECT COLUMN_NAME AS name, IS_NULLABLE AS nullable, COLUMN_TYPE AS type FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?', [database, table]);
  if (rows.length === 0) return undefined;
  return new Map(rows.map((r) => [r.name as string, { nullable: r.nullable === 'YES', columnType: String(r.type) }]));
}

export interface MysqlStatements {
  statements: string[];
  /** Steps done only in part, for the log. */
  warnings: string[];
}

export function mysqlStatements(tableSql: string, steps: DdlStep[], current: Map<string, MysqlColumn>): MysqlStatements {
  const columns = new Map(current);
  const statements: string[] = [];
  const warnings: string[] = [];
  for (const step of steps) {
    switch (step.kind) {
      case 'add':
        if (!columns.has(step.column)) statements.push(`ALTER TABLE ${tableSql} ADD COLUMN ${quoteMysqlColumn(step.column)} ${step.type.sql} NULL`);
        columns.set(step.column, { nullable: true, columnType: step.type.sql });
        break;
      case 'drop':
        if (columns.has(step.column)) statements.push(`ALTER TABLE ${tableSql} DROP COLUMN ${quoteMysqlColumn(step.column)}`);
        columns.delete(step.column);
        break;
      case 'keep': {
        const column = columns.get(step.column);
        if (!column || column.nullable) break;
        if (PLAIN_COLUMN_TYPE.test(column.columnType)) {
          statements.push(`ALTER TABLE ${tableSql} MODIFY ${quoteMysqlColumn(step.column)} ${column.columnType} NULL`);
          columns.set(step.column, { ...column, nullable: true });
        } else warnings.push(`column "${step.column}" is kept NOT NULL (its type ${column.columnType.slice(0, 40)} is not re-declared automatically): make it nullable by hand if new rows fail`);
        break;
      }
      case 'rename': {
        const hasFrom = columns.has(step.from);
        const hasTo = columns.has(step.to);
        if (hasFrom && hasTo) throw new Error(`the target table has both "${step.from}" and "${step.to}", so "${step.from}" cannot be renamed; drop or rename one by hand`);
        if (!hasFrom && !hasTo) throw new Error(`the target table has no column "${step.from}" to rename to "${step.to}"; add "${step.to}" by hand`);
        if (hasFrom) {
          statements.push(`ALTER TABLE ${tableSql} RENAME COLUMN ${quoteMysqlColumn(step.from)} TO ${quoteMysqlColumn(step.to)}`);
          columns.set(step.to, columns.get(step.from)!);
          columns.delete(step.from);
        }
        break;
      }
      case 'alter': {
        const column = columns.get(step.column);
        if (!column) throw new Error(`the target table has no column "${step.column}" to change to ${step.type.sql}`);
        statements.push(`ALTER TABLE ${tableSql} MODIFY ${quoteMysqlColumn(step.column)} ${step.type.sql} ${column.nullable ? 'NULL' : 'NOT NULL'}`);
        columns.set(step.column, { nullable: column.nullable, columnType: step.type.sql });
        break;
      }
    }
  }
  return { statements, warnings };
}
