import type { RowImage } from '../../wire/envelope.js';

/**
 * From the capture's JSON encoding to values mysql2 sends exactly, driven by the target column type:
 * timestamps with an offset become UTC DATETIME text (the session runs at time_zone '+00:00', and
 * MariaDB does not read offsets), "\x…" hex becomes a Buffer for binary columns, JSON goes as text;
 * numeric and int8 stay strings (DECIMAL and BIGINT read them exactly).
 */
const DATETIME_TYPES = new Set(['datetime', 'timestamp']);
const BINARY_TYPES = new Set(['binary', 'varbinary', 'tinyblob', 'blob', 'mediumblob', 'longblob']);
const ISO_DATETIME = /^(\d{4}-\d{2}-\d{2})[T ](\d{2}):(\d{2}):(\d{2})(\.\d+)?(Z|[+-]\d{2}(?::?\d{2})?)?$/i;
const HEX = /^\\x((?:[0-9a-f]{2})*)$/i;

export function toMysqlValue(value: unknown, dataType: string | undefined): unknown {
  if (value === null || value === undefined) return null;
  const type = dataType?.toLowerCase();
  if (type === 'json') return JSON.stringify(value);
  if (typeof value === 'string') {
    if (type && DATETIME_TYPES.has(type)) return toUtcDatetime(value);
    if (type && BINARY_TYPES.has(type)) {
      const hex = HEX.exec(value);
      if (hex) return Buffer.from(hex[1]!, 'hex');
    }
    return value;
  }
  if (typeof value === 'object') return JSON.stringify(value);
  return value;
}

/** "2024-03-05T12:11:12.123456+02:00" → "2024-03-05 10:11:12.123456"; text without an offset is kept as wall-clock time. */
export function toUtcDatetime(text: string): string {
  const m = ISO_DATETIME.exec(text);
  if (!m) return text;
  const [, date, hh, mm, ss, fraction = '', zone] = m;
  const frac = fraction.slice(0, 7);
  if (!zone) return `${date} ${hh}:${mm}:${ss}${frac}`;
  let offsetMinutes = 0;
  if (zone.toUpperCase() !== 'Z') {
    const sign = zone.startsWith('-') ? -1 : 1;
    const digits = zone.slice(1).replace(':', '');
    offsetMinutes = sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2, 4) || '0'));
  }
  const utc = Date.parse(`${date}T${hh}:${mm}:${ss}Z`) - offsetMinutes * 60_000;
  if (!Number.isFinite(utc)) return text;
  const iso = new Date(utc).toISOString();
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)}${frac}`;
}

export function toMysqlRow(row: RowImage, types: ReadonlyMap<string, string>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [column, value] of Object.entries(row)) out[column] = toMysqlValue(value, types.get(column));
  return out;
}
