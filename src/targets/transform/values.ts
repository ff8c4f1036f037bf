import { canonicalJson } from '../../wire/envelope.js';

/**
 * Value-level transforms. Each takes one column value (as the capture encodes it: int8/numeric as
 * strings, timestamptz as ISO text, bytea as "\x…" hex, json as nested values) and returns the new
 * value, or throws a ValueError that says why without showing the value. Null stays null everywhere.
 */
export class ValueError extends Error {}

export type Conversion = 'string' | 'number' | 'boolean' | 'timestamp-ms' | 'iso-date' | 'lowercase' | 'uppercase' | 'trim';
export type MaskRule = 'full' | { keepLast: number; char: string };

/** The text a value is masked or hashed as: strings as they are, numbers and booleans as written, JSON canonically. */
export function textOf(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  return canonicalJson(value);
}

/** Replaces every character but the last `keepLast` (counted in code points) with `char`; the length is kept. */
export function maskValue(value: unknown, rule: MaskRule): string {
  const chars = Array.from(textOf(value));
  const keepLast = rule === 'full' ? 0 : rule.keepLast;
  const char = rule === 'full' ? '*' : rule.char;
  const hidden = Math.max(0, chars.length - keepLast);
  return char.repeat(hidden) + chars.slice(hidden).join('');
}

const TRUE_TEXT = new Set(['true', 't', 'yes', 'y', '1', 'on']);
const FALSE_TEXT = new Set(['false', 'f', 'no', 'n', '0', 'off']);

export function convertValue(value: unknown, to: Conversion): unknown {
  switch (to) {
    case 'string':
      return textOf(value);
    case 'number': {
      const n = typeof value === 'number' ? value : typeof value === 'string' && value.trim() !== '' ? Number(value) : NaN;
      if (!Number.isFinite(n)) throw new ValueError(`cannot convert a ${kindOf(value)} to a finite number`);
      return n;
    }
    case 'boolean': {
      if (typeof value === 'boolean') return value;
      const text = typeof value === 'number' || typeof value === 'string' ? String(value).trim().toLowerCase() : undefined;
      if (text !== undefined && TRUE_TEXT.has(text)) return true;
      if (text !== undefined && FALSE_TEXT.has(text)) return false;
      throw new ValueError(`cannot convert a ${kindOf(value)} to a boolean (accepted: true/false, t/f, yes/no, 1/0, on/off)`);
    }
    case 'timestamp-ms':
      return instantOf(value);
    case 'iso-date':
      return new Date(instantOf(value)).toISOString().slice(0, 10);
    case 'lowercase':
    case 'uppercase':
    case 'trim': {
      if (typeof value !== 'string') throw new ValueError(`${to} needs a string, got a ${kindOf(value)}`);
      return to === 'lowercase' ? value.toLowerCase() : to === 'uppercase' ? value.toUpperCase() : value.trim();
    }
  }
}

/** Milliseconds since the epoch from epoch milliseconds (number or digits) or a date/time text with a zone (no zone means UTC). */
function instantOf(value: unknown): number {
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  if (typeof value === 'string') {
    if (/^-?\d+$/.test(value)) return Number(value);
    const withZone = /(Z|[+-]\d{2}(:?\d{2})?)$/i.test(value) || /^\d{4}-\d{2}-\d{2}$/.test(value) ? value : `${value}Z`;
    const ms = Date.parse(withZone.replace(' ', 'T'));
    if (Number.isFinite(ms)) return ms;
  }
  throw new ValueError(`cannot read a ${kindOf(value)} as a point in time (expected ISO 8601 text or epoch milliseconds)`);
}

/** Names a value's JSON type, never its content. */
export function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value === 'object' ? 'object' : typeof value;
}
