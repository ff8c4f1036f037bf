import { OutboxError } from '../errors.js';
import type { PublishConfig, TargetConfig } from '../config/index.js';
import { isValidAttributeName } from '../wire/attributes.js';
import { CHANGE_OPERATIONS, SCHEMA_OPERATION, TABLE_OPERATIONS } from '../wire/operations.js';

/**
 * The SNS filter policy of a target's subscription: built from its tables, operations and `where`
 * conditions (MessageAttributes scope, matching the attributes the relay sets), or the raw
 * `filterPolicy` the config gives. Either way it is checked against the SNS limits here, before any
 * AWS call, so a bad policy fails with a message naming the target and the setting to change.
 */
export type FilterPolicy = Record<string, unknown>;

/** SNS limits on one subscription's filter policy. */
export const FILTER_POLICY_LIMITS = {
  maxKeys: 5,
  maxCombinations: 150,
  maxBytes: 256 * 1024,
  /** Numeric matching works on values in ±1,000,000,000 with at most 5 decimal places. */
  maxNumeric: 1_000_000_000,
} as const;

const OPERATORS = new Set(['exists', 'prefix', 'suffix', 'anything-but', 'numeric', 'equals-ignore-case', 'cidr']);
const NUMERIC_OPERATORS = new Set(['=', '<', '<=', '>', '>=']);
const ALL_OPERATIONS = CHANGE_OPERATIONS;

/** The message attributes that are not row attribute columns: conditions on them do not split a table into shares. */
const EVENT_ATTRIBUTES = new Set(['source', 'table', 'operation']);

/** Which attribute columns go out as Number, per table (publish.numberAttributes). */
export type NumberAttributes = PublishConfig['numberAttributes'];

export interface TargetFilterPolicy {
  policy: FilterPolicy;
  /** Where the policy came from, for messages and dry runs. */
  origin: 'built' | 'raw';
  /** Product of value-array lengths (summed over $or branches), as SNS counts it. */
  combinations: number;
  bytes: number;
}

/** Builds (or takes) and validates a target's filter policy. Throws FILTER_POLICY_INVALID listing every problem. */
export function targetFilterPolicy(name: string, target: TargetConfig, numberAttributes: NumberAttributes = {}): TargetFilterPolicy {
  const origin = target.filterPolicy ? 'raw' : 'built';
  const policy = target.filterPolicy ?? buildFilterPolicy(target, numberAttributes);
  const setting = origin === 'raw' ? `targets.${name}.filterPolicy` : `targets.${name}.tables / operations / where`;
  const problems = checkFilterPolicy(policy);
  if (problems.length > 0) {
    throw new OutboxError(
      'FILTER_POLICY_INVALID',
      `Target "${name}" has an SNS filter policy that SNS would refuse (${setting}):\n` +
        problems.map((p) => `  - ${p}`).join('\n') +
        `\nChange ${setting} and run again; nothing was sent to AWS.`,
      { context: { target: name, origin, problems } },
    );
  }
  return { policy, origin, combinations: countCombinations(policy), bytes: policySize(policy) };
}

/**
 * The policy for the attributes the relay publishes: `table` (schema.table), `operation`, and one
 * key per attribute column in `where`, matched as text — or as numbers for a column published as a
 * Number attribute (publish.numberAttributes; both when the target's tables disagree). An
 * operations list naming all operations adds no key; a shorter one also lists `schema`. With `where`,
 * table-wide events (a truncate, a schema change) carry no attribute values, so they get a `$or`
 * branch of their own:
 *   {"table": [...], "$or": [{"tenant_id": ["1", "2"]}, {"operation": ["truncate", "schema"]}]}
 */
export function buildFilterPolicy(target: Pick<TargetConfig, 'tables' | 'operations' | 'where'>, numberAttributes: NumberAttributes = {}): FilterPolicy {
  const policy: FilterPolicy = { table: unique(target.tables) };
  const operations = unique(target.operations);
  const where = Object.entries(target.where);
  if (where.length === 0) {
    if (!ALL_OPERATIONS.every((op) => operations.includes(op))) policy.operation = [...operations, SCHEMA_OPERATION];
    return policy;
  }
  const tableOps: string[] = [...operations.filter((op) => TABLE_OPERATIONS.includes(op)), SCHEMA_OPERATION];
  const rowOps = operations.filter((op) => !TABLE_OPERATIONS.includes(op));
  if (rowOps.length === 0) return { ...policy, operation: tableOps };
  const rows: FilterPolicy = {};
  // Table-wide events never carry the `where` attributes, so they need no operation condition here.
  if (!ALL_OPERATIONS.filter((op) => !TABLE_OPERATIONS.includes(op)).every((op) => rowOps.includes(op))) rows.operation = rowOps;
  for (const [column, values] of where) rows[column] = whereValues(column, values, target.tables, numberAttributes);
  return { ...policy, $or: [rows, { operation: tableOps }] };
}

function whereValues(column: string, values: readonly (string | number)[], tables: readonly string[], numberAttributes: NumberAttributes): (string | number)[] {
  const asNumber = tables.filter((t) => numberAttributes[t]?.includes(column)).length;
  const out: (string | number)[] = [];
  if (asNumber < tables.length) out.push(...unique(values.map(String)));
  if (asNumber > 0) out.push(...unique(values.map(Number)));
  return out;
}

/**
 * Whether a policy splits tables into shares by row attribute columns (any key but source, table and
 * operation, $or branches included). Such a target holds part of each table: a truncate deletes only
 * its share of the rows, and verify compares only its share.
 */
export function isRowFiltered(policy: FilterPolicy): boolean {
  return Object.entries(policy).some(([key, value]) => (key === '$or' ? Array.isArray(value) && value.some((b) => b !== null && typeof b === 'object' && isRowFiltered(b as FilterPolicy)) : !EVENT_ATTRIBUTES.has(key)));
}

/** Every way the policy breaks SNS rules (MessageAttributes scope); [] when SNS would accept it. */
export function checkFilterPolicy(policy: unknown): string[] {
  if (policy === null || typeof policy !== 'object' || Array.isArray(policy)) return ['the policy must be a JSON object of attribute name → list of conditions'];
  const problems: string[] = [];
  const entries = Object.entries(policy as FilterPolicy);
  if (entries.length === 0) return ['the policy is empty; remove filterPolicy to receive every message of the topic, or give conditions'];
  const bytes = policySize(policy as FilterPolicy);
  if (bytes > FILTER_POLICY_LIMITS.maxBytes) problems.push(`the policy is ${bytes} bytes; SNS allows at most ${FILTER_POLICY_LIMITS.maxBytes}`);

  for (const branch of branches(policy as FilterPolicy, problems)) {
    const keys = Object.keys(branch);
    const where = branch === policy ? '' : ' (in a $or branch, counting the keys around it)';
    if (keys.length > FILTER_POLICY_LIMITS.maxKeys) {
      problems.push(`it has ${keys.length} keys (${keys.join(', ')})${where}; SNS allows at most ${FILTER_POLICY_LIMITS.maxKeys}: drop conditions or split the target`);
    }
    for (const [key, conditions] of Object.entries(branch)) problems.push(...checkKey(key, conditions));
  }
  const combinations = countCombinations(policy as FilterPolicy);
  if (combinations > FILTER_POLICY_LIMITS.maxCombinations) {
    problems.push(`it has ${combinations} value combinations (the product of the value-list lengths); SNS allows at most ${FILTER_POLICY_LIMITS.maxCombinations}: list fewer tables, operations or values, use a prefix condition, or split the target`);
  }
  return [...new Set(problems)];
}

/** SNS counts combinations per $or branch (with the keys around it) and adds the branches up. */
export function countCombinations(policy: FilterPolicy): number {
  return branches(policy, []).reduce((sum, branch) => sum + Object.values(branch).reduce<number>((product, c) => product * (Array.isArray(c) ? Math.max(c.length, 1) : 1), 1), 0);
}

export function policySize(policy: FilterPolicy): number {
  return Buffer.byteLength(JSON.stringify(policy), 'utf8');
}

/** One line for listings: `table=public.orders,public.items operation=insert,update tenant_id=1`. */
export function summarizeFilterPolicy(policy: FilterPolicy | undefined): string {
  if (!policy || Object.keys(policy).length === 0) return '(everything)';
  return Object.entries(policy)
    .map(([key, conditions]) => (key === '$or' ? `$or(${Array.isArray(conditions) ? conditions.length : '?'} branches)` : `${key}=${(Array.isArray(conditions) ? conditions : [conditions]).map(showCondition).join(',')}`))
    .join(' ');
}

function showCondition(condition: unknown): string {
  return typeof condition === 'string' ? condition : JSON.stringify(condition);
}

/** The AND-groups the policy stands for: itself, or one per $or branch merged with the keys around it. */
function branches(policy: FilterPolicy, problems: string[]): FilterPolicy[] {
  if (!('$or' in policy)) return [policy];
  const { $or: or, ...rest } = policy;
  if (!Array.isArray(or) || or.length < 2 || or.some((b) => b === null || typeof b !== 'object' || Array.isArray(b))) {
    problems.push('"$or" must be a list of at least two objects of conditions');
    return [rest];
  }
  return (or as FilterPolicy[]).flatMap((branch) => branches({ ...rest, ...branch }, problems));
}

function checkKey(key: string, conditions: unknown): string[] {
  const problems: string[] = [];
  if (!isValidAttributeName(key)) {
    problems.push(`"${key}" is not a message attribute name (1-256 letters, digits, _ - and ., no leading, trailing or double period, no AWS./Amazon. prefix)`);
  }
  if (!Array.isArray(conditions)) {
    problems.push(`"${key}" must map to a list of conditions, e.g. ["value"] (got ${describe(conditions)}); nested keys only work with FilterPolicyScope MessageBody, which outbox-relay does not use`);
    return problems;
  }
  if (conditions.length === 0) problems.push(`"${key}" has an empty list of conditions; give at least one value`);
  for (const condition of conditions) {
    const problem = checkCondition(condition);
    if (problem) problems.push(`"${key}": ${problem}`);
  }
  return problems;
}

function checkCondition(condition: unknown): string | undefined {
  if (typeof condition === 'string') return undefined;
  if (typeof condition === 'number') return checkNumber(condition);
  if (condition === null || typeof condition !== 'object' || Array.isArray(condition)) {
    return `${describe(condition)} is not a condition; use a string, a number or an operator object such as {"prefix": "abc"}`;
  }
  const ops = Object.keys(condition);
  if (ops.length !== 1) return `an operator object takes exactly one operator (got ${ops.length ? ops.join(', ') : 'none'})`;
  const op = ops[0] as string;
  const value = (condition as Record<string, unknown>)[op];
  if (!OPERATORS.has(op)) return `unknown operator "${op}"; SNS knows ${[...OPERATORS].join(', ')}`;
  switch (op) {
    case 'exists':
      return typeof value === 'boolean' ? undefined : `"exists" takes true or false (got ${describe(value)})`;
    case 'prefix':
    case 'suffix':
    case 'equals-ignore-case':
      return typeof value === 'string' && value.length > 0 ? undefined : `"${op}" takes a non-empty string (got ${describe(value)})`;
    case 'cidr':
      return typeof value === 'string' && /^[0-9a-fA-F:.]+\/\d{1,3}$/.test(value) ? undefined : `"cidr" takes an address block such as "10.0.0.0/24" (got ${describe(value)})`;
    case 'numeric':
      return checkNumeric(value);
    default:
      return checkAnythingBut(value);
  }
}

function checkAnythingBut(value: unknown): string | undefined {
  if (typeof value === 'string') return undefined;
  if (typeof value === 'number') return checkNumber(value);
  if (Array.isArray(value)) {
    if (value.length === 0) return '"anything-but" needs at least one value';
    if (value.some((v) => typeof v !== 'string' && typeof v !== 'number')) return '"anything-but" lists only strings or numbers';
    const kinds = new Set(value.map((v) => typeof v));
    return kinds.size > 1 ? '"anything-but" lists either strings or numbers, not both' : undefined;
  }
  if (value !== null && typeof value === 'object') {
    const keys = Object.keys(value);
    if (keys.length === 1 && ['prefix', 'suffix', 'equals-ignore-case'].includes(keys[0] as string)) {
      const inner = (value as Record<string, unknown>)[keys[0] as string];
      return typeof inner === 'string' && inner.length > 0 ? undefined : `"anything-but".${keys[0]} takes a non-empty string`;
    }
    return '"anything-but" takes a value, a list of values, or {"prefix"|"suffix"|"equals-ignore-case": "…"}';
  }
  return `"anything-but" takes a value or a list of values (got ${describe(value)})`;
}

function checkNumeric(value: unknown): string | undefined {
  if (!Array.isArray(value) || (value.length !== 2 && value.length !== 4)) return '"numeric" takes [op, number] or [">"|">=", low, "<"|"<=", high]';
  for (let i = 0; i < value.length; i += 2) {
    const op: unknown = value[i];
    const n: unknown = value[i + 1];
    if (typeof op !== 'string' || !NUMERIC_OPERATORS.has(op)) return `"numeric" operator ${describe(op)} is unknown; use one of = < <= > >=`;
    if (typeof n !== 'number') return `"numeric" compares with numbers (got ${describe(n)})`;
    const problem = checkNumber(n);
    if (problem) return `"numeric": ${problem}`;
  }
  if (value.length === 4) {
    const [lowOp, low, highOp, high] = value as [string, number, string, number];
    if (!['>', '>='].includes(lowOp) || !['<', '<='].includes(highOp)) return '"numeric" ranges are [">"|">=", low, "<"|"<=", high]';
    if (low >= high) return `"numeric" range is empty (${low} is not below ${high})`;
  }
  return undefined;
}

function checkNumber(n: number): string | undefined {
  if (!Number.isFinite(n) || Math.abs(n) > FILTER_POLICY_LIMITS.maxNumeric) return `${n} is outside the range SNS matches (±${FILTER_POLICY_LIMITS.maxNumeric})`;
  const decimals = (String(n).split('.')[1] ?? '').length;
  return decimals > 5 ? `${n} has more than 5 decimal places, which SNS does not keep` : undefined;
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  const text = JSON.stringify(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

function unique<T>(values: readonly T[]): T[] {
  return [...new Set(values)];
}
