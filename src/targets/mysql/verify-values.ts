import { canonicalJson } from '../../wire/envelope.js';
import { toMysqlValue, toUtcDatetime } from './values.js';

/**
 * Canonical text of a value for one MySQL/MariaDB column, for verify. The same function reads both
 * sides: a transformed source value (the capture encoding, as the MySQL writer receives it) is turned
 * into what the column would store, and a value read back from the column into the same text, so equal
 * values compare equal across PostgreSQL and MariaDB: DECIMAL at the column's scale without trailing
 * zeros, integers and booleans (TINYINT(1)) as digits, DATETIME/TIMESTAMP in UTC at the column's
 * fractional precision, bytes as hex, JSON canonically (sorted keys, no whitespace), text exactly.
 * NULL is null. Nothing here is ever logged.
 */
export type ColumnKind = 'integer' | 'decimal' | 'float' | 'double' | 'datetime' | 'date' | 'time' | 'binary' | 'json' | 'bit' | 'char' | 'text';

export interface MysqlColumn {
  name: string;
  /** information_schema DATA_TYPE, lower case. */
  dataType: string;
  kind: ColumnKind;
  unsigned: boolean;
  precision: number | null;
  /** DECIMAL scale, or fractional seconds digits of DATETIME/TIMESTAMP/TIME. */
  scale: number;
  /** Byte length of BINARY(n) (right-padded with zero bytes), else null. */
  fixedBytes: number | null;
}

/** A column as information_schema.COLUMNS describes it; `json` also for MariaDB's JSON (a LONGTEXT the server marks as json). */

export interface DescribedColumn {
  name: string;
  dataType: string;
  columnType: string;
  numericPrecision: number | null;
  numericScale: number | null;
  datetimePrecision: number | null;
  octetLength: number | null;
  json: boolean;
}

const KINDS: Record<string, ColumnKind> = {
  tinyint: 'integer', smallint: 'integer', mediumint: 'integer', int: 'integer', integer: 'integer', bigint: 'integer', year: 'integer',
  decimal: 'decimal', numeric: 'decimal',
  float: 'float', double: 'double', real: 'double',
  datetime: 'datetime', timestamp: 'datetime', date: 'date', time: 'time',
  binary: 'binary', varbinary: 'binary', tinyblob: 'binary', blob: 'binary', mediumblob: 'binary', longblob: 'binary',
  json: 'json', bit: 'bit', char: 'char',
};

export function mysqlColumn(d: DescribedColumn): MysqlColumn {
  const dataType = d.dataType.toLowerCase();
  const kind = d.json ? 'json' : (KINDS[dataType] ?? 'text');
  return {
    name: d.name,
    dataType,
    kind,
    unsigned: /\bunsigned\b/i.test(d.columnType),
    precision: d.numericPrecision,
    scale: kind === 'decimal' ? (d.numericScale ?? 0) : (d.datetimePrecision ?? 0),
    fixedBytes: dataType === 'binary' ? d.octetLength : null,
  };
}

/** How the server stores more fractional seconds than a column holds: MariaDB truncates, MySQL rounds (unless TIME_TRUNCATE_FRACTIONAL). */
export type FractionRule = 'truncate' | 'round';

/** The canonical text of a transformed source value as the column would store it. */
export function sourceCanonical(value: unknown, col: MysqlColumn, fractions: FractionRule): string | null {
  if (value === null || value === undefined) return null;
  switch (col.kind) {
    case 'integer':
      if (typeof value === 'boolean') return value ? '1' : '0';
      return roundDecimal(scalarText(value), 0, 'round') ?? scalarText(value);
    case 'decimal':
      if (typeof value === 'boolean') return value ? '1' : '0';
      return roundDecimal(scalarText(value), col.scale, 'round') ?? scalarText(value);
    case 'float':
    case 'double': {
      if (typeof value === 'boolean') return value ? '1' : '0';
      const n = Number(scalarText(value));
      if (!Number.isFinite(n) || (typeof value === 'string' && value.trim() === '')) return scalarText(value);
      return floatText(col.kind === 'float' ? Math.fround(n) : n);
    }
    case 'datetime':
      return typeof value === 'string' ? (datetimeText(toUtcDatetime(value), col.scale, fractions) ?? value) : scalarText(value);
    case 'date': {
      const text = scalarText(value);
      return /^\d{4}-\d{2}-\d{2}(?:$|[T ])/.test(text) ? text.slice(0, 10) : text;
    }
    case 'time':
      return timeText(scalarText(value), col.scale) ?? scalarText(value);
    case 'binary':
      return padBytes(bytesHex(toMysqlValue(value, col.dataType)), col.fixedBytes);
    case 'json': {
      // What the writer sends: JSON text for a JSON column, a string as it is for MariaDB's JSON (LONGTEXT).
      const sent = toMysqlValue(value, col.dataType);
      return typeof sent === 'string' ? jsonText(sent) : canonicalJson(value);
    }
    case 'bit':
      return typeof value === 'boolean' ? (value ? '1' : '0') : scalarText(value);
    case 'char':
      return trimPad(scalarText(value));
    case 'text':
      return scalarText(value);
  }
}

/** The canonical text of a value read from the column (mysql2 with dateStrings, bigNumberStrings). */
export function targetCanonical(value: unknown, col: MysqlColumn): string | null {
  if (value === null || value === undefined) return null;
  switch (col.kind) {
    case 'integer':
      return scalarText(value);
    case 'decimal':
      return roundDecimal(scalarText(value), col.scale, 'round') ?? scalarText(value);
    case 'float':
    case 'double': {
      const n = Number(scalarText(value));
      return Number.isFinite(n) ? floatText(n) : scalarText(value);
    }
    case 'datetime':
      return datetimeText(scalarText(value), col.scale, 'truncate') ?? scalarText(value);
    case 'date':
      return scalarText(value);
    case 'time':
      return timeText(scalarText(value), col.scale) ?? scalarText(value);
    case 'binary':
      return bytesHex(value);
    case 'json':
      return typeof value === 'string' ? jsonText(value) : canonicalJson(value);
    case 'bit':
      return Buffer.isBuffer(value) ? BigInt(`0x${value.toString('hex') || '0'}`).toString() : scalarText(value);
    case 'char':
      return trimPad(scalarText(value));
    case 'text':
      return scalarText(value);
  }
}

/**
 * A key value as verify reports it (and as the PostgreSQL source casts it back): integers as numbers
 * when exact, binary as "\x…" hex (the capture encoding), everything else as its canonical text.
 */
export function reportKeyValue(canonical: string | null, col: MysqlColumn): unknown {
  if (canonical === null) return null;
  if (col.kind === 'integer') {
    const n = Number(canonical);
    return Number.isSafeInteger(n) ? n : canonical;
  }
  if (col.kind === 'binary') return `\\x${canonical}`;
  return canonical;
}

/** The text of a target value for a message attribute of a repair delete. */
export function attributeText(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  if (Buffer.isBuffer(value)) return `\\x${value.toString('hex')}`;
  return scalarText(value);
}

/** What mysql2 sends for a scalar (numbers as written, booleans as TRUE/FALSE = 1/0), objects as the writer's JSON text. */
function scalarText(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'boolean') return value ? '1' : '0';
  if (typeof value === 'number' || typeof value === 'bigint') return String(value);
  if (Buffer.isBuffer(value)) return value.toString('utf8');
  return JSON.stringify(value);
}

function jsonText(text: string): string {
  try {
    return canonicalJson(JSON.parse(text));
  } catch {
    return `not json: ${text}`;
  }
}

function floatText(n: number): string {
  return Object.is(n, -0) ? '0' : String(n);
}

function trimPad(text: string): string {
  return text.replace(/ +$/, '');
}

function bytesHex(value: unknown): string {
  if (Buffer.isBuffer(value)) return value.toString('hex');
  return Buffer.from(scalarText(value), 'utf8').toString('hex');
}

function padBytes(hex: string, bytes: number | null): string {
  return bytes !== null && hex.length < bytes * 2 ? hex.padEnd(bytes * 2, '0') : hex;
}

const DECIMAL = /^\s*([+-]?)(\d*)(?:\.(\d*))?(?:e([+-]?\d+))?\s*$/i;

/**
 * A decimal number's text rounded to `scale` fractional digits (half away from zero, as DECIMAL and
 * integer columns store it; 'truncate' cuts), without trailing fractional zeros or leading zeros,
 * "-0" as "0". Null when the text is not a finite decimal number (NaN, Infinity, words).
 */
export function roundDecimal(text: string, scale: number, rule: 'round' | 'truncate'): string | null {
  const m = DECIMAL.exec(text);
  if (!m || (m[2] === '' && (m[3] ?? '') === '')) return null;
  const [, sign, int = '', frac = '', exp = '0'] = m;
  // digits * 10^-point
  let digits = `${int}${frac}`.replace(/^0+(?=\d)/, '');
  let point = frac.length - Number(exp);
  if (!Number.isSafeInteger(point) || Math.abs(point) > 10_000) return null;
  if (point < 0) {
    digits += '0'.repeat(-point);
    point = 0;
  }
  let value = BigInt(digits || '0');
  if (point > scale) {
    const divisor = 10n ** BigInt(point - scale);
    const rest = value % divisor;
    value /= divisor;
    if (rule === 'round' && rest * 2n >= divisor) value += 1n;
    point = scale;
  }
  let out = value.toString().padStart(point + 1, '0');
  if (point > 0) out = `${out.slice(0, -point)}.${out.slice(-point)}`.replace(/\.?0+$/, '');
  return value === 0n || sign !== '-' ? out : `-${out}`;
}

const DATETIME = /^(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2})(?:\.(\d*))?$/;

/** "YYYY-MM-DD HH:MM:SS[.f…]" at `fsp` fractional digits (padded), rounded or truncated like the server. */
function datetimeText(text: string, fsp: number, rule: FractionRule): string | null {
  const m = DATETIME.exec(text);
  if (!m) return null;
  const [, date, time, frac = ''] = m;
  if (frac.length <= fsp || rule === 'truncate' || Number(frac[fsp]) < 5) return `${date} ${time}${fraction(frac, fsp)}`;
  // Round up: add one unit of the last kept digit, carrying into the seconds (and the date).
  const micros = BigInt(Date.parse(`${date}T${time}Z`)) * 1000n + BigInt(frac.slice(0, 6).padEnd(6, '0'));
  const unit = 10n ** BigInt(6 - fsp);
  const rounded = (micros / unit + 1n) * unit;
  const iso = new Date(Number(rounded / 1000n)).toISOString();
  const kept = (rounded % 1_000_000n).toString().padStart(6, '0');
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)}${fraction(kept, fsp)}`;
}

const TIME = /^(-?\d{1,3}:\d{2}:\d{2})(?:\.(\d*))?$/;

/** "[-]H:MM:SS[.f…]" at `fsp` digits, truncated (a MySQL server that rounds extra digits of a TIME shows as a difference). */
function timeText(text: string, fsp: number): string | null {
  const m = TIME.exec(text);
  if (!m) return null;
  const [, hms, frac = ''] = m;
  return `${hms}${fraction(frac, fsp)}`;
}

function fraction(digits: string, fsp: number): string {
  return fsp > 0 ? `.${digits.slice(0, fsp).padEnd(fsp, '0')}` : '';
}
