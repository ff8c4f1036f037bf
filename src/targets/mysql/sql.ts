import type { RowImage } from '../../wire/envelope.js';
import { OutboxError } from '../../errors.js';
import { assertIdentifier, quoteIdentMysql } from '../../sql/identifiers.js';
import { toMysqlValue } from './values.js';

/**
 * The SQL the MySQL/MariaDB target writes rows with: statements with `?` parameters, values already
 * turned into what mysql2 sends exactly (values.ts). "table" means a table of the database in the
 * URL; "db.table" names another database.
 */
export interface ResolvedTable {
  database: string;
  table: string;
  /** "database.table", as the version store names it. */
  qualified: string;
  /** Quoted for SQL. */
  sql: string;
}

/** "table" in the URL's database, or "database.table"; `target` names the target in the error (verify has none to name). */
export function resolveTable(target: string | undefined, name: string, defaultDatabase: string | undefined): ResolvedTable {
  const parts = name.split('.');
  const database = parts.length === 2 ? parts[0]! : defaultDatabase;
  const table = parts.at(-1)!;
  if (!database) throw new OutboxError('CONFIG_INVALID', `${target === undefined ? 'Target table' : `Target "${target}": table`} "${name}" has no database, and the target URL names none. Write "database.table" in the mapping or add the database to the URL.`);
  assertIdentifier(database, 'Database');
  assertIdentifier(table, 'Table');
  return { database, table, qualified: `${database}.${table}`, sql: `${quoteIdentMysql(database)}.${quoteIdentMysql(table)}` };
}

/** The database a MySQL URL names (its path), if any. */
export function databaseOf(url: string): string | undefined {
  return decodeURIComponent(new URL(url).pathname.replace(/^\//, '')) || undefined;
}

/** Backtick-quotes a column name as the source spelled it (embedded backticks doubled). */
export function quoteColumnMysql(name: string): string {
  if (name.length === 0 || name.includes('\0')) throw new OutboxError('IDENTIFIER_INVALID', 'A column name is empty or holds a NUL character.');
  return `\`${name.replace(/`/g, '``')}\``;
}

export interface Statement {
  sql: string;
  params: unknown[];
}

/** INSERT … ON DUPLICATE KEY UPDATE. VALUES(col) is understood by MariaDB and (deprecated but working) MySQL 8. */
export function upsertStatement(table: string, row: Record<string, unknown>, keys: string[]): Statement {
  return upsertManyStatement(table, [row], keys);
}

/** The upsert of many rows with the same columns (distinct keys) in one statement. */
export function upsertManyStatement(table: string, rows: Record<string, unknown>[], keys: string[]): Statement {
  const columns = Object.keys(rows[0]!);
  const updates = columns.filter((c) => !keys.includes(c)).map((c) => `${quoteColumnMysql(c)} = VALUES(${quoteColumnMysql(c)})`);
  const noop = `${quoteColumnMysql(keys[0]!)} = ${quoteColumnMysql(keys[0]!)}`;
  const tuple = `(${columns.map(() => '?').join(', ')})`;
  return {
    sql: `INSERT INTO ${table} (${columns.map(quoteColumnMysql).join(', ')}) VALUES ${rows.map(() => tuple).join(', ')} ON DUPLICATE KEY UPDATE ${updates.length ? updates.join(', ') : noop}`,
    params: rows.flatMap((row) => columns.map((c) => row[c])),
  };
}

export function deleteStatement(table: string, key: Record<string, unknown>): Statement {
  const columns = Object.keys(key);
  return { sql: `DELETE FROM ${table} WHERE ${columns.map((c) => `${quoteColumnMysql(c)} = ?`).join(' AND ')}`, params: columns.map((c) => key[c]) };
}

/** `(a, b) IN ((?, ?), …)` (or NOT IN) over key images, typed by the table's columns. */
function keysIn(keys: RowImage[], types: ReadonlyMap<string, string>, not: boolean): Statement {
  const columns = Object.keys(keys[0]!);
  const tuple = `(${columns.map(() => '?').join(', ')})`;
  return {
    sql: `(${columns.map(quoteColumnMysql).join(', ')}) ${not ? 'NOT IN' : 'IN'} (${keys.map(() => tuple).join(', ')})`,
    params: keys.flatMap((k) => columns.map((c) => toMysqlValue(k[c], types.get(c)))),
  };
}

/** Deletes the rows of the given keys (a page of a share truncate). */
export function deleteKeysStatement(table: string, keys: RowImage[], types: ReadonlyMap<string, string>): Statement {
  const where = keysIn(keys, types, false);
  return { sql: `DELETE FROM ${table} WHERE ${where.sql}`, params: where.params };
}

/** Deletes all rows except the keys in `keep` (changes applied after a late truncate). */
export function clearStatement(table: string, keep: RowImage[], types: ReadonlyMap<string, string>): Statement {
  if (keep.length === 0) return { sql: `DELETE FROM ${table}`, params: [] };
  const where = keysIn(keep, types, true);
  return { sql: `DELETE FROM ${table} WHERE ${where.sql}`, params: where.params };
}

/**
 * The fill of an added column (a fill step of src/targets/schema/decide.ts): the rows still NULL in
 * the column get `value` (already in mysql2's value encoding), except those of the keys in `newer`
 * (rows a change at or after the schema change wrote).
 */
export function fillStatement(table: string, column: string, value: unknown, newer: RowImage[], types: ReadonlyMap<string, string>): Statement {
  const c = quoteColumnMysql(column);
  const except = newer.length > 0 ? keysIn(newer, types, true) : undefined;
  return { sql: `UPDATE ${table} SET ${c} = ? WHERE ${c} IS NULL${except ? ` AND ${except.sql}` : ''}`, params: [value, ...(except?.params ?? [])] };
}
