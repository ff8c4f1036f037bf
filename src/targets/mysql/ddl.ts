import type { PoolConnection } from 'mysql2/promise';
import type { RowDataPacket } from 'mysql2';
import { planDdl, type DdlPlan } from '../base/ddl.js';
import type { DdlStep } from '../schema/decide.js';
import { quoteColumnMysql } from './sql.js';

/**
 * DDL for schema changes at a MySQL/MariaDB target: the shared step walk (src/targets/base/ddl.ts)
 * with MySQL's clauses. MODIFY needs the whole column type: a kept column is re-declared with the
 * type the catalog reports, which is used only when it is a plain type name with sizes (anything else
 * is left NOT NULL, with a warning).
 */
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

export type MysqlStatements = DdlPlan;

/**
 * `defaults` gives added columns the value the table's existing rows get (an escaped literal): the
 * column is added with it as its DEFAULT, which MariaDB keeps for the rows there already (an instant
 * ADD COLUMN writes none of them), and the DEFAULT is dropped by the next statement.
 */
export function mysqlStatements(tableSql: string, steps: DdlStep[], current: Map<string, MysqlColumn>, defaults: ReadonlyMap<string, string> = new Map()): MysqlStatements {
  return planDdl(tableSql, steps, current, {
    quote: quoteColumnMysql,
    add: (column, type) => {
      const literal = defaults.get(column);
      const added = { clause: `ADD COLUMN ${quoteColumnMysql(column)} ${type.sql} NULL`, column: { nullable: true, columnType: type.sql } };
      return literal === undefined ? added : { ...added, clause: `${added.clause} DEFAULT ${literal}`, then: `ALTER COLUMN ${quoteColumnMysql(column)} DROP DEFAULT` };
    },
    keep: (column, existing) =>
      PLAIN_COLUMN_TYPE.test(existing.columnType)
        ? { clause: `MODIFY ${quoteColumnMysql(column)} ${existing.columnType} NULL`, column: { ...existing, nullable: true } }
        : { warning: `column "${column}" is kept NOT NULL (its type ${existing.columnType.slice(0, 40)} is not re-declared automatically): make it nullable by hand if new rows fail` },
    alter: (column, type, existing) => ({ clause: `MODIFY ${quoteColumnMysql(column)} ${type.sql} ${existing.nullable ? 'NULL' : 'NOT NULL'}`, column: { nullable: existing.nullable, columnType: type.sql } }),
  });
}
