import { OutboxError } from '../errors.js';

/**
 * Identifiers that come from config or the command line are never spliced into SQL raw: they must
 * match this plain-identifier pattern, and are then double-quoted.
 */
export const IDENTIFIER_PATTERN = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;
export const QUALIFIED_TABLE_PATTERN = /^[A-Za-z_][A-Za-z0-9_]{0,62}\.[A-Za-z_][A-Za-z0-9_]{0,62}$/;

export function assertIdentifier(value: string, what: string): string {
  if (!IDENTIFIER_PATTERN.test(value)) {
    throw new OutboxError(
      'IDENTIFIER_INVALID',
      `${what} ${JSON.stringify(value)} is not a plain SQL identifier (letters, digits and _, starting with a letter or _, at most 63 characters). Rename it or pick another.`,
      { context: { what, value } },
    );
  }
  return value;
}

/** PostgreSQL / ANSI quoting of an identifier that has already been validated. */
export function quoteIdent(value: string, what = 'identifier'): string {
  return `"${assertIdentifier(value, what)}"`;
}

/**
 * PostgreSQL quoting of a name read from the catalog (any text, so not validated): embedded double
 * quotes are doubled. Names typed by a user go through quoteIdent instead.
 */
export function quoteCatalogIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** A PostgreSQL string literal (standard_conforming_strings on): embedded single quotes are doubled. */
export function quoteLiteral(text: string): string {
  return `'${text.replace(/'/g, "''")}'`;
}

/** SQL Server quoting of a validated identifier. */
export function quoteIdentMssql(value: string, what = 'identifier'): string {
  return `[${assertIdentifier(value, what)}]`;
}

/** MySQL / MariaDB quoting of a validated identifier. */
export function quoteIdentMysql(value: string, what = 'identifier'): string {
  return `\`${assertIdentifier(value, what)}\``;
}

export interface TableName {
  schema: string;
  table: string;
}

/** Parses "schema.table" (or "table", with a default schema) and validates both parts. */
export function parseTableName(value: string, defaultSchema = 'public'): TableName {
  const parts = value.split('.');
  if (parts.length > 2 || parts.some((p) => p.length === 0)) {
    throw new OutboxError('IDENTIFIER_INVALID', `Table ${JSON.stringify(value)} must be written "schema.table" (or "table" for ${defaultSchema}).`, {
      context: { value },
    });
  }
  const [schema, table] = parts.length === 2 ? [parts[0]!, parts[1]!] : [defaultSchema, parts[0]!];
  assertIdentifier(schema, `Schema of table ${JSON.stringify(value)}`);
  assertIdentifier(table, `Table name ${JSON.stringify(value)}`);
  return { schema, table };
}

export function formatTableName(t: TableName): string {
  return `${t.schema}.${t.table}`;
}
