import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import type { RowImage } from '../../wire/envelope.js';

/**
 * Column values (as the event encodes them, docs/encoding.md) to DynamoDB attribute values, written
 * with the low-level client so numbers stay decimal text end to end (`N` is a string on the wire):
 * nothing passes through a double.
 *
 *   null                     → NULL
 *   true / false             → BOOL
 *   JSON number              → N (its shortest exact text)
 *   string                   → S, or by attributeTypes: number → N (bigint, numeric: every digit kept),
 *                              binary → B (bytea's "\x…" hex)
 *   JSON object / array      → M / L, recursively (numbers inside as N)
 *
 * A value that cannot be written (a "number" column holding text, NaN) throws a ValueMappingError
 * naming the column, never the value: the change goes to the DLQ with that reason.
 */
export type AttributeType = 'number' | 'binary' | 'string';

export class ValueMappingError extends Error {}

/** Decimal text DynamoDB accepts as a number (it holds up to 38 significant digits). */
const NUMBER_TEXT = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const HEX_BYTES = /^\\x((?:[0-9a-fA-F]{2})*)$/;

export function toAttributeValue(value: unknown, column: string, type?: AttributeType): AttributeValue {
  if (value === null || value === undefined) return { NULL: true };
  if (typeof value === 'boolean') return { BOOL: value };
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new ValueMappingError(`column "${column}": DynamoDB numbers cannot be NaN or infinite`);
    return type === 'string' ? { S: String(value) } : { N: String(value) };
  }
  if (typeof value === 'bigint') return { N: value.toString() };
  if (typeof value === 'string') {
    if (type === 'number') {
      if (!NUMBER_TEXT.test(value)) throw new ValueMappingError(`column "${column}" is typed number (dynamodb.attributeTypes) but holds text that is not a finite decimal number`);
      return { N: value };
    }
    if (type === 'binary') {
      const hex = HEX_BYTES.exec(value);
      if (!hex) throw new ValueMappingError(`column "${column}" is typed binary (dynamodb.attributeTypes) but is not bytea hex text ("\\x…")`);
      return { B: Buffer.from(hex[1]!, 'hex') };
    }
    return { S: value };
  }
  if (Array.isArray(value)) return { L: value.map((v) => toAttributeValue(v, column)) };
  if (typeof value === 'object') return { M: toAttributeMap(value as RowImage, () => undefined, column) };
  throw new ValueMappingError(`column "${column}" holds a ${typeof value}, which has no DynamoDB type`);
}

/** A row (or a JSON object) as a map of attribute values; `typeOf` gives each top-level column's declared type. */
export function toAttributeMap(row: RowImage, typeOf: (column: string) => AttributeType | undefined, within?: string): Record<string, AttributeValue> {
  const out: Record<string, AttributeValue> = {};
  for (const [column, value] of Object.entries(row)) out[column] = toAttributeValue(value, within ?? column, within ? undefined : typeOf(column));
  return out;
}

/**
 * A canonical text of an attribute value, the same for equal values whatever their spelling:
 * numbers normalised (DynamoDB stores `1.50` as `1.5`), maps with sorted keys, binary as hex.
 * Verify compares items by it.
 */
export function canonicalAttribute(value: AttributeValue | undefined): string {
  if (value === undefined) return 'absent';
  if (value.NULL) return 'null';
  if (value.BOOL !== undefined) return value.BOOL ? 'true' : 'false';
  if (value.N !== undefined) return `n:${normalizeNumber(value.N)}`;
  if (value.S !== undefined) return `s:${JSON.stringify(value.S)}`;
  if (value.B !== undefined) return `b:${Buffer.from(value.B).toString('hex')}`;
  if (value.L !== undefined) return `[${value.L.map(canonicalAttribute).join(',')}]`;
  if (value.M !== undefined) {
    return `{${Object.keys(value.M).sort().map((k) => `${JSON.stringify(k)}:${canonicalAttribute(value.M![k])}`).join(',')}}`;
  }
  if (value.SS) return `ss:${JSON.stringify([...value.SS].sort())}`;
  if (value.NS) return `ns:${JSON.stringify(value.NS.map(normalizeNumber).sort())}`;
  if (value.BS) return `bs:${JSON.stringify(value.BS.map((b) => Buffer.from(b).toString('hex')).sort())}`;
  return 'unknown';
}

/** Decimal text without sign of zero, leading zeros, trailing fractional zeros or exponent: `-001.500e1` → `-15`. */
export function normalizeNumber(text: string): string {
  const m = /^([+-]?)(\d*)\.?(\d*)(?:[eE]([+-]?\d+))?$/.exec(text.trim());
  if (!m) return text;
  const negative = m[1] === '-';
  let digits = (m[2] ?? '') + (m[3] ?? '');
  let point = (m[2] ?? '').length + Number(m[4] ?? 0);
  const lead = digits.length - digits.replace(/^0+/, '').length;
  digits = digits.slice(lead);
  point -= lead;
  digits = digits.replace(/0+$/, '');
  if (digits.length === 0) return '0';
  let out: string;
  if (point <= 0) out = `0.${'0'.repeat(-point)}${digits}`;
  else if (point >= digits.length) out = digits + '0'.repeat(point - digits.length);
  else out = `${digits.slice(0, point)}.${digits.slice(point)}`;
  return negative ? `-${out}` : out;
}
