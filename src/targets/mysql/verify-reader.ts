import { createHash } from 'node:crypto';
import mysql, { type RowDataPacket } from 'mysql2';
import type { RowImage } from '../../wire/envelope.js';
import { OutboxError, describeError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import type { ChunkDigest, Divergence, KeyFilter, TargetReader, TargetTableSpec } from '../base/verify-reader.js';
import { databaseOf, quoteColumnMysql, resolveTable } from './sql.js';
import { toMysqlValue } from './values.js';
import { attributeText, mysqlColumn, reportKeyValue, sourceCanonical, targetCanonical, type FractionRule, type MysqlColumn } from './verify-values.js';

/**
 * Reads a MySQL/MariaDB target for verify. PostgreSQL and MariaDB cannot render a value as the same
 * text, so the comparison happens here: the target rows of a range are streamed out of the target
 * (never all held), and each value of both sides is turned into one canonical text per target column
 * type (verify-values.ts: what the MySQL writer would store for a source value, and what the
 * column holds). A chunk's digest is the count and the sum of per-row md5s (order-free, so the two
 * databases' key orders need not agree); a diff holds the chunk's source rows by key and streams the
 * target's rows against them. Memory stays bounded by the chunk size (plus the keys found).
 */
export async function openMysqlTargetReader(url: string, spec: TargetTableSpec, logger: Logger): Promise<TargetReader> {
  const table = resolveTable(undefined, spec.table, databaseOf(url));
  // The callback connection streams a range's rows; its promise wrapper runs everything else.
  const streaming = mysql.createConnection({ uri: url, timezone: 'Z', dateStrings: true, supportBigNumbers: true, bigNumberStrings: true, charset: 'utf8mb4' });
  streaming.on('error', (err: unknown) => logger.warn({ err: describeError(err) }, 'target connection failed'));
  const conn = streaming.promise();
  try {
    await conn.connect();
  } catch (err) {
    conn.destroy();
    throw new OutboxError('TARGET_UNAVAILABLE', `Cannot connect to the target database of ${spec.table} (${describeError(err)}). Check its URL variable and that it is up.`, { cause: err, retryable: true });
  }
  const fail = async (error: OutboxError): Promise<never> => {
    await conn.end().catch(() => undefined);
    throw error;
  };
  // TIMESTAMP columns are read in UTC, as the writer's sessions write them.
  await conn.query(`SET time_zone = '+00:00'`);
  const [server] = await conn.query<RowDataPacket[]>('SELECT VERSION() AS version, @@SESSION.sql_mode AS mode');
  const fractions: FractionRule = /mariadb/i.test(String(server[0]?.version)) || /TIME_TRUNCATE_FRACTIONAL/i.test(String(server[0]?.mode)) ? 'truncate' : 'round';
  const [described] = await conn.query<RowDataPacket[]>(
    `SELECT COLUMN_NAME AS name, DATA_TYPE AS dataType, COLUMN_TYPE AS columnType, NUMERIC_PRECISION AS numericPrecision, NUMERIC_SCALE AS numericScale,
            DATETIME_PRECISION AS datetimePrecision, CHARACTER_OCTET_LENGTH AS octetLength
       FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION`,
    [table.database, table.table],
  );
  if (described.length === 0) {
    return fail(new OutboxError('TABLE_NOT_FOUND', `Target table ${table.qualified} does not exist in the target database. Start the consumer (it checks its tables), or create the table, then verify again.`, { context: { table: table.qualified } }));
  }
  // MariaDB's JSON is a LONGTEXT with a json_valid check; the result metadata marks it (MariaDB 10.5+).
  const [, fields] = await conn.query<RowDataPacket[]>(`SELECT * FROM ${table.sql} LIMIT 0`);
  const jsonColumns = new Set(fields.filter((f) => f.extendedFormat === 'json').map((f) => f.name));
  const num = (v: unknown) => (v === null || v === undefined ? null : Number(v));
  const columns = new Map<string, MysqlColumn>(
    described.map((r) => [
      String(r.name),
      mysqlColumn({ name: String(r.name), dataType: String(r.dataType), columnType: String(r.columnType), numericPrecision: num(r.numericPrecision), numericScale: num(r.numericScale), datetimePrecision: num(r.datetimePrecision), octetLength: num(r.octetLength), json: jsonColumns.has(String(r.name)) }),
    ]),
  );
  const missingKeys = spec.keyColumns.filter((k) => !columns.has(k));
  if (missingKeys.length > 0) {
    return fail(new OutboxError('COLUMN_NOT_FOUND', `Target table ${table.qualified} has no key column ${missingKeys.join(', ')}. Check the mapping's renames.`, { context: { table: table.qualified } }));
  }
  const compared = spec.columns.filter((c) => columns.has(c));
  const absent = spec.columns.filter((c) => !columns.has(c));
  if (absent.length > 0) logger.warn({ table: table.qualified, columns: absent }, 'target table lacks mapped columns; they are not compared');
  const keyCols = spec.keyColumns.map((c) => columns.get(c)!);
  const comparedCols = compared.map((c) => columns.get(c)!);
  const attrs = spec.attributeColumns.filter((a) => columns.has(a.target));

  // One select of keys, compared columns and attribute columns (each once), rows as arrays.
  const selected = [...new Set([...spec.keyColumns, ...compared, ...attrs.map((a) => a.target)])];
  const position = new Map(selected.map((c, i) => [c, i]));
  const selectList = selected.map((c) => selectOf(columns.get(c)!)).join(', ');

  const source = (row: RowImage): CanonicalRow => ({
    key: JSON.stringify(keyCols.map((c) => sourceCanonical(row[c.name], c, fractions))),
    values: comparedCols.map((c) => sourceCanonical(row[c.name], c, fractions)),
  });
  const target = (row: unknown[]): CanonicalRow => ({
    key: JSON.stringify(keyCols.map((c) => targetCanonical(row[position.get(c.name)!], c))),
    values: comparedCols.map((c) => targetCanonical(row[position.get(c.name)!], c)),
  });
  const reportKey = (canonicalKey: string): RowImage => {
    const parts = JSON.parse(canonicalKey) as (string | null)[];
    return Object.fromEntries(keyCols.map((c, i) => [c.name, reportKeyValue(parts[i] ?? null, c)]));
  };

  /** Streams the target's rows that match the filter, canonicalised, to `each`. */
  async function readTarget(filter: KeyFilter, each: (row: CanonicalRow, raw: unknown[]) => void): Promise<void> {
    const where = whereOf(filter, keyCols);
    if (where === null) return;
    const stream = streaming.query({ sql: `SELECT ${selectList} FROM ${table.sql} WHERE ${where.sql}`, values: where.params, rowsAsArray: true }).stream({ highWaterMark: 500 });
    for await (const raw of stream as AsyncIterable<unknown[]>) each(target(raw), raw);
  }

  return {
    comparedColumns: compared,
    async digest(rows: RowImage[], filter: KeyFilter): Promise<ChunkDigest> {
      const s = new RowDigest();
      for (const row of rows) s.add(source(row));
      const t = new RowDigest();
      await readTarget(filter, (row) => t.add(row));
      return { sourceCount: s.count, targetCount: t.count, equal: s.count === t.count && s.sum === t.sum };
    },
    async diff(rows: RowImage[], filter: KeyFilter): Promise<Divergence[]> {
      const pending = new Map<string, CanonicalRow>();
      for (const row of rows) {
        const c = source(row);
        pending.set(c.key, c);
      }
      const found: Divergence[] = [];
      await readTarget(filter, (t, raw) => {
        const s = pending.get(t.key);
        if (!s) {
          const attributes = Object.fromEntries(attrs.map((a) => [a.source, attributeText(raw[position.get(a.target)!])])) as Record<string, string>;
          found.push({ kind: 'extra', key: reportKey(t.key), columns: [], attributes: attrs.length ? attributes : null });
          return;
        }
        pending.delete(t.key);
        const changed = compared.filter((_, i) => s.values[i] !== t.values[i]);
        if (changed.length > 0) found.push({ kind: 'different', key: reportKey(t.key), columns: changed, attributes: null });
      });
      for (const s of pending.values()) found.push({ kind: 'missing', key: reportKey(s.key), columns: [], attributes: null });
      return found;
    },
    async close() {
      await conn.end().catch(() => undefined);
    },
  };
}

interface CanonicalRow {
  /** JSON array of the key columns' canonical texts. */
  key: string;
  values: (string | null)[];
}

/** Count and order-free hash of canonical rows: the sum of each row's md5, modulo 2^128. */
class RowDigest {
  count = 0;
  sum = 0n;

  add(row: CanonicalRow): void {
    this.count += 1;
    const md5 = createHash('md5').update(row.key).update('\n').update(JSON.stringify(row.values)).digest('hex');
    this.sum = (this.sum + BigInt(`0x${md5}`)) & ((1n << 128n) - 1n);
  }
}

/**
 * The SQL condition of a key filter. A bound is a key image (the transformed source key); each value
 * is sent as the writer sends it and cast to its column's type, so numbers compare as numbers (not as
 * doubles) and the key's index is used. A composite range is spelled out as ORs for the range optimizer.
 */
function whereOf(filter: KeyFilter, keys: MysqlColumn[]): { sql: string; params: unknown[] } | null {
  const params: unknown[] = [];
  const value = (image: RowImage, c: MysqlColumn): string => {
    params.push(toMysqlValue(image[c.name], c.dataType));
    return castOf(c);
  };
  const col = (c: MysqlColumn) => quoteColumnMysql(c.name);
  if ('keys' in filter) {
    if (filter.keys.length === 0) return null;
    if (keys.length === 1) return { sql: `${col(keys[0]!)} IN (${filter.keys.map((k) => value(k, keys[0]!)).join(', ')})`, params };
    const tuples = filter.keys.map((k) => `(${keys.map((c) => value(k, c)).join(', ')})`);
    return { sql: `(${keys.map(col).join(', ')}) IN (${tuples.join(', ')})`, params };
  }
  const compare = (image: RowImage, op: '>' | '<='): string => {
    // (k1, k2, …) op (v1, v2, …) as: k1 > v1 OR (k1 = v1 AND (k2 > v2 OR …)), the last one with op.
    const build = (i: number): string => {
      const c = keys[i]!;
      if (i === keys.length - 1) return `${col(c)} ${op} ${value(image, c)}`;
      const strict = op === '>' ? '>' : '<';
      return `(${col(c)} ${strict} ${value(image, c)} OR (${col(c)} = ${value(image, c)} AND ${build(i + 1)}))`;
    };
    return build(0);
  };
  const parts: string[] = [];
  if (filter.after) parts.push(compare(filter.after, '>'));
  if (filter.upTo) parts.push(compare(filter.upTo, '<='));
  return { sql: parts.length ? parts.join(' AND ') : 'TRUE', params };
}

/**
 * How a column is read. MariaDB's result-set text of a DOUBLE is not always the stored value (90.33333333333333
 * comes out as 90.33333333333331) and a FLOAT's has 6 digits; CAST(… AS CHAR) of a double is exact.
 */
function selectOf(c: MysqlColumn): string {
  if (c.kind === 'double') return `CAST(${quoteColumnMysql(c.name)} AS CHAR)`;
  if (c.kind === 'float') return `CAST(${quoteColumnMysql(c.name)} + 0e0 AS CHAR)`;
  return quoteColumnMysql(c.name);
}

/** A placeholder typed like the column, for exact comparisons. */
function castOf(c: MysqlColumn): string {
  switch (c.kind) {
    case 'integer':
      return c.unsigned ? 'CAST(? AS UNSIGNED)' : 'CAST(? AS SIGNED)';
    case 'decimal':
      return `CAST(? AS DECIMAL(${c.precision ?? 65}, ${c.scale}))`;
    case 'datetime':
      return `CAST(? AS DATETIME(${c.scale}))`;
    case 'date':
      return 'CAST(? AS DATE)';
    case 'float':
    case 'double':
      return 'CAST(? AS DOUBLE)';
    default:
      return '?';
  }
}
