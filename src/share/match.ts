import { BlockList, isIP } from 'node:net';

/**
 * An SNS subscription filter policy evaluated in process, with the semantics SNS documents for the
 * MessageAttributes scope, so the product can ask "does this target's policy take this message?"
 * without AWS: the consumer for the old side of a share move, verify for a row's share, subscribe
 * for a raw policy that would drop truncates (docs/targets.md, "Shares").
 *
 * - Keys are ANDed; a key's conditions are ORed; `$or` holds alternative groups of keys, ANDed with
 *   the keys around it (nested `$or` too).
 * - A String attribute is one string value; a String.Array attribute holds each element (strings,
 *   numbers, booleans as "true"/"false"); a Number attribute is one numeric value. Binary attributes
 *   are ignored, as SNS ignores them. A condition holds when it holds for any value.
 * - Strings (exact, prefix, suffix, equals-ignore-case, cidr) match string values only; numbers
 *   (exact, numeric ranges) match numeric values only — on real SNS, a String attribute "5" does
 *   not match `5` or `{"numeric": ["=", 5]}` (the emulator is more lenient), so numeric columns are
 *   published as Number (publish.numberAttributes).
 * - Numbers compare with 5 digits after the decimal point, the accuracy SNS keeps.
 * - `anything-but` holds for a present attribute that has a value none of its entries match;
 *   `exists` tests presence.
 */
export interface WireAttribute {
  DataType?: string;
  StringValue?: string;
}

export type WireAttributes = Readonly<Record<string, WireAttribute | undefined>>;

type Value = { kind: 'string'; text: string } | { kind: 'number'; n: number };

export function matchesFilterPolicy(policy: unknown, attributes: WireAttributes): boolean {
  if (policy === null || typeof policy !== 'object' || Array.isArray(policy)) return false;
  for (const [key, conditions] of Object.entries(policy as Record<string, unknown>)) {
    if (key === '$or') {
      if (!Array.isArray(conditions) || !conditions.some((group) => matchesFilterPolicy(group, attributes))) return false;
    } else if (!matchesKey(conditions, attributes[key])) return false;
  }
  return true;
}

function matchesKey(conditions: unknown, attribute: WireAttribute | undefined): boolean {
  const values = valuesOf(attribute);
  const list = Array.isArray(conditions) ? conditions : [conditions];
  return list.some((condition) => matchesCondition(condition, values));
}

/** The values an attribute holds for matching; undefined when it is absent (or Binary). */
function valuesOf(attribute: WireAttribute | undefined): Value[] | undefined {
  if (!attribute || attribute.StringValue === undefined) return undefined;
  const type = attribute.DataType ?? 'String';
  const text = attribute.StringValue;
  if (type === 'Number' || type.startsWith('Number.')) {
    const n = toNumber(text);
    return n === undefined ? [] : [{ kind: 'number', n }];
  }
  if (type === 'String.Array') {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      return [];
    }
    if (!Array.isArray(parsed)) return [];
    return parsed.flatMap((v): Value[] => {
      if (typeof v === 'string') return [{ kind: 'string', text: v }];
      if (typeof v === 'number') return [{ kind: 'number', n: round(v) }];
      if (typeof v === 'boolean') return [{ kind: 'string', text: String(v) }];
      return [];
    });
  }
  if (type === 'String' || type.startsWith('String.')) return [{ kind: 'string', text }];
  return undefined;
}

function matchesCondition(condition: unknown, values: Value[] | undefined): boolean {
  if (typeof condition === 'string') return some(values, (v) => v.kind === 'string' && v.text === condition);
  if (typeof condition === 'number') return some(values, (v) => v.kind === 'number' && v.n === round(condition));
  if (condition === null || typeof condition !== 'object' || Array.isArray(condition)) return false;
  const [op, arg] = Object.entries(condition)[0] ?? [];
  switch (op) {
    case 'exists':
      return arg === true ? values !== undefined : arg === false ? values === undefined : false;
    case 'prefix':
      return typeof arg === 'string' && some(values, (v) => v.kind === 'string' && v.text.startsWith(arg));
    case 'suffix':
      return typeof arg === 'string' && some(values, (v) => v.kind === 'string' && v.text.endsWith(arg));
    case 'equals-ignore-case':
      return typeof arg === 'string' && some(values, (v) => v.kind === 'string' && sameIgnoringCase(v.text, arg));
    case 'cidr':
      return typeof arg === 'string' && some(values, (v) => v.kind === 'string' && inCidr(v.text, arg));
    case 'numeric':
      return Array.isArray(arg) && some(values, (v) => v.kind === 'number' && inRange(v.n, arg));
    case 'anything-but':
      return values !== undefined && values.some((v) => !excludedBy(arg, v));
    default:
      return false;
  }
}

function some(values: Value[] | undefined, test: (v: Value) => boolean): boolean {
  return values !== undefined && values.some(test);
}

/** Whether an anything-but argument (a value, a list of values, or a prefix/suffix/equals-ignore-case object) names the value. */
function excludedBy(arg: unknown, value: Value): boolean {
  if (Array.isArray(arg)) return arg.some((a) => excludedBy(a, value));
  if (typeof arg === 'string') return value.kind === 'string' && value.text === arg;
  if (typeof arg === 'number') return value.kind === 'number' && value.n === round(arg);
  if (arg !== null && typeof arg === 'object' && value.kind === 'string') {
    const [op, inner] = Object.entries(arg)[0] ?? [];
    if (typeof inner !== 'string') return false;
    if (op === 'prefix') return value.text.startsWith(inner);
    if (op === 'suffix') return value.text.endsWith(inner);
    if (op === 'equals-ignore-case') return sameIgnoringCase(value.text, inner);
  }
  return false;
}

function inRange(n: number, spec: unknown[]): boolean {
  for (let i = 0; i + 1 < spec.length; i += 2) {
    const op = spec[i];
    const bound = spec[i + 1];
    if (typeof bound !== 'number') return false;
    const b = round(bound);
    const ok = op === '=' ? n === b : op === '<' ? n < b : op === '<=' ? n <= b : op === '>' ? n > b : op === '>=' ? n >= b : false;
    if (!ok) return false;
  }
  return spec.length >= 2;
}

function sameIgnoringCase(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}

function inCidr(address: string, block: string): boolean {
  const [base, bits] = block.split('/');
  const family = isIP(base ?? '');
  if (family === 0 || isIP(address) !== family || bits === undefined || !/^\d{1,3}$/.test(bits)) return false;
  const type = family === 4 ? 'ipv4' : 'ipv6';
  try {
    const list = new BlockList();
    list.addSubnet(base!, Number(bits), type);
    return list.check(address, type);
  } catch {
    return false;
  }
}

/** A Number attribute's value: decimal or exponent notation; undefined when it is not a number. */
function toNumber(text: string): number | undefined {
  if (!/^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$/.test(text)) return undefined;
  const n = Number(text);
  return Number.isFinite(n) ? round(n) : undefined;
}

/** SNS keeps 5 digits after the decimal point. */
function round(n: number): number {
  return Math.round(n * 1e5) / 1e5;
}
