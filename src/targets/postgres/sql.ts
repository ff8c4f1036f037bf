import { OutboxError } from '../../errors.js';
import type { RowImage } from '../../wire/envelope.js';
import { parseTableName, quoteCatalogIdent, quoteIdent } from '../../sql/identifiers.js';

/**
 * The SQL the PostgreSQL target writes rows with. Values go through jsonb_populate_record(set), so
 * the JSON encoding of the capture (numeric and int8 as text, bytea as \x hex, timestamptz as ISO
 * text, json nested) is cast by the target column types themselves and lands exactly. Table names
 * come from config (plain identifiers, quoted here); column names as the source catalog spelled them.
 */
export interface ResolvedTable {
  /** "schema.table", as the version store names it. */
  qualified: string;
  /** Quoted for SQL. */
  sql: string;
}

/** Names resolve the same way every time (a batch resolves each of its changes' tables): worked out once. Only valid names get here (parseTableName throws on others). */
const resolvedTables = new Map<string, ResolvedTable>();

/** "schema.table" or "table" (schema public). Names come from config, so they are plain identifiers. */
export function resolveTable(name: string): ResolvedTable {
  let resolved = resolvedTables.get(name);
  if (!resolved) {
    const t = parseTableName(name, 'public');
    resolved = { qualified: `${t.schema}.${t.table}`, sql: `${quoteIdent(t.schema)}.${quoteIdent(t.table)}` };
    if (resolvedTables.size > 1000) resolvedTables.clear();
    resolvedTables.set(name, resolved);
  }
  return resolved;
}

/** Quotes a column name as the source catalog spelled it (embedded quotes doubled). */
export function quoteColumn(name: string): string {
  if (name.length === 0 || name.includes('\0')) throw new OutboxError('IDENTIFIER_INVALID', 'A column name is empty or holds a NUL character.');
  return quoteCatalogIdent(name);
}

const sqlCache = new Map<string, string>();
function cached(key: string, build: () => string): string {
  let sql = sqlCache.get(key);
  if (sql === undefined) {
    if (sqlCache.size > 1000) sqlCache.clear();
    sqlCache.set(key, (sql = build()));
  }
  return sql;
}

/** $1 is one row as JSON (`many` false) or an array of rows (`many` true). */
function rowsOf(table: string, many: boolean): string {
  return many ? `jsonb_populate_recordset(NULL::${table}, $1::jsonb)` : `jsonb_populate_record(NULL::${table}, $1::jsonb)`;
}

/** ON CONFLICT on the key: the other columns take the new values (nothing to update when the key is all). */
function onConflict(columns: string[], keys: string[]): string {
  const updates = columns.filter((c) => !keys.includes(c)).map((c) => `${quoteColumn(c)} = EXCLUDED.${quoteColumn(c)}`);
  return `ON CONFLICT (${keys.map(quoteColumn).join(', ')}) ${updates.length ? `DO UPDATE SET ${updates.join(', ')}` : 'DO NOTHING'}`;
}

function keyMatch(a: string, b: string, keys: string[]): string {
  return keys.map((c) => `${a}.${quoteColumn(c)} = ${b}.${quoteColumn(c)}`).join(' AND ');
}

export function upsertSql(table: string, columns: string[], keys: string[]): string {
  return cached(`u\0${table}\0${columns.join('\0')}\0${keys.join('\0')}`, () => {
    const cols = columns.map(quoteColumn).join(', ');
    return `INSERT INTO ${table} (${cols}) SELECT ${cols} FROM ${rowsOf(table, false)} ${onConflict(columns, keys)}`;
  });
}

export function deleteSql(table: string, keys: string[]): string {
  return cached(`d\0${table}\0${keys.join('\0')}`, () => `DELETE FROM ${table} AS t USING ${rowsOf(table, false)} AS k WHERE ${keyMatch('t', 'k', keys)}`);
}

/**
 * The write of PostgresVersionStore.advanceAndWrite: the upserts of the changes that advanced, read
 * from its CTE applied(h, k, r, d). The upserts name one column set. (Deletes are deleteKeysSql.)
 */
export function upsertAppliedSql(table: string, columns: string[], keys: string[]): string {
  return cached(`ua\0${table}\0${columns.join('\0')}\0${keys.join('\0')}`, () => {
    const cols = columns.map(quoteColumn);
    return `INSERT INTO ${table} (${cols.join(', ')}) SELECT ${cols.map((c) => `p.${c}`).join(', ')} FROM applied a, LATERAL jsonb_populate_record(NULL::${table}, a.r) AS p WHERE NOT a.d ${onConflict(columns, keys)}`;
  });
}

/** Deletes the rows of the keys in $1 (a jsonb array of key images). */
export function deleteKeysSql(table: string, keys: string[]): string {
  return cached(`dk\0${table}\0${keys.join('\0')}`, () => `DELETE FROM ${table} AS t USING ${rowsOf(table, true)} AS k WHERE ${keyMatch('t', 'k', keys)}`);
}

/** Deletes every row of the table except the keys in `keep` (changes applied after the truncate). */
export function clearSql(table: string, keep: unknown[]): string {
  if (keep.length === 0) return `DELETE FROM ${table}`;
  const keys = Object.keys(keep[0] as RowImage);
  return `DELETE FROM ${table} AS t WHERE NOT EXISTS (SELECT 1 FROM ${rowsOf(table, true)} AS k WHERE ${keyMatch('k', 't', keys)})`;
}

/**
 * The fill of an added column (a fill step of src/targets/schema/decide.ts): $1 is a one-column row
 * as JSON, cast by the column's type like an upserted row; the rows still NULL in the column get its
 * value, except those of the keys in $2 (a jsonb array of key images, given when `keys` names their
 * columns): rows a change at or after the schema change wrote.
 */
export function fillSql(table: string, column: string, keys: string[]): string {
  const c = quoteColumn(column);
  const newer = keys.length ? ` AND NOT EXISTS (SELECT 1 FROM jsonb_populate_recordset(NULL::${table}, $2::jsonb) AS k WHERE ${keyMatch('k', 't', keys)})` : '';
  return `UPDATE ${table} AS t SET ${c} = v.${c} FROM jsonb_populate_record(NULL::${table}, $1::jsonb) AS v WHERE t.${c} IS NULL${newer}`;
}
