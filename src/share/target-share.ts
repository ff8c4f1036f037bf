import type { Config, TargetConfig } from '../config/index.js';
import type { ChangeData } from '../wire/envelope.js';
import { OutboxError } from '../errors.js';
import { isRowFiltered, targetFilterPolicy, type FilterPolicy } from './filter-policy.js';
import { baseAttributes, columnAttribute, isReservedAttribute } from '../wire/attributes.js';
import { matchesFilterPolicy, type WireAttribute, type WireAttributes } from './match.js';

/**
 * A target's share: the rows of its tables its filter policy takes (docs/targets.md, "Shares"). One
 * definition, the SNS filter policy itself evaluated in process, serves the three places that need
 * it: the consumer (does a moved row stay in this share?), verify (which source rows should the
 * target hold?) and subscribe (does a raw policy let truncates through?).
 */
export interface TargetShare {
  target: string;
  policy: FilterPolicy;
  /** The policy keeps only some rows of a table (conditions on attribute columns). */
  rowFiltered: boolean;
  /** Whether SNS delivers a message with these attributes to the target. */
  takes(attributes: WireAttributes): boolean;
  /**
   * Whether a row belongs to the share: a message about it, with the row's attribute columns
   * (without operation and changed), reaches the target as an insert, update or snapshot.
   */
  holds(attributes: WireAttributes): boolean;
}

const UPSERTS = ['insert', 'update', 'snapshot'] as const;

export function targetShare(name: string, target: TargetConfig, numberAttributes: Config['publish']['numberAttributes'] = {}): TargetShare {
  const { policy } = targetFilterPolicy(name, target, numberAttributes);
  const takes = (attributes: WireAttributes) => matchesFilterPolicy(policy, attributes);
  return {
    target: name,
    policy,
    rowFiltered: isRowFiltered(policy),
    takes,
    holds: (attributes) => UPSERTS.some((op) => takes({ ...attributes, operation: { DataType: 'String', StringValue: op } })),
  };
}

/** What a change means for one target, given its share: apply it as it is, apply it as a delete, or skip it. */
export type ShareDecision = 'apply' | 'delete' | 'skip';

export interface MessageContext {
  /** The envelope's `source` (outbox-relay:<name>). */
  source: string;
  /** The message attributes SQS delivered, when it did. */
  attributes?: WireAttributes;
}

/**
 * The rule for the messages of a share move (docs/targets.md, "Shares"):
 * - the new side (the row arrives in this share) and every ordinary change: apply;
 * - the old side (the row was in this share): if this target's policy also takes the new attribute
 *   values, the row stays — apply it as the update it is (the new side arrives too, with the same
 *   seq, and one of the two is stale); otherwise the row leaves: a delete of the key, or nothing for
 *   a target whose operations do not include delete (it keeps rows that leave, as it keeps rows the
 *   source deletes).
 * An update from a relay older than share moves carries [old, new] as a String.Array attribute
 * instead; it is judged the same way on its new values.
 */
export function decideShare(share: TargetShare, operations: readonly string[], data: ChangeData, message: MessageContext): ShareDecision {
  const after = newSideAttributes(data, message);
  if (after === undefined || share.takes(after)) return 'apply';
  return operations.includes('delete') ? 'delete' : 'skip';
}

/** The attributes the new side of a move carries, or undefined when the message is not an old side. */
function newSideAttributes(data: ChangeData, message: MessageContext): WireAttributes | undefined {
  if (data.move) {
    if (data.move.side !== 'old') return undefined;
    const attributes: Record<string, WireAttribute> = baseAttributes(message.source.replace(/^outbox-relay:/, ''), `${data.schema}.${data.table}`, data.op, data.changed);
    for (const [column, value] of Object.entries(data.move.new)) attributes[column] = columnAttribute(value);
    return attributes;
  }
  const received = message.attributes;
  if (!received || (data.op !== 'update' && data.op !== 'snapshot')) return undefined;
  let moved = false;
  const attributes: Record<string, WireAttribute> = {};
  for (const [name, value] of Object.entries(received)) {
    if (!value) continue;
    if (value.DataType === 'String.Array' && !isReservedAttribute(name)) {
      moved = true;
      const last = lastElement(value.StringValue);
      if (last !== undefined) attributes[name] = { DataType: 'String', StringValue: last };
    } else attributes[name] = value;
  }
  return moved ? attributes : undefined;
}

function lastElement(text: string | undefined): string | undefined {
  try {
    const list = JSON.parse(text ?? '') as unknown;
    const last = Array.isArray(list) ? list.at(-1) : undefined;
    return typeof last === 'string' ? last : undefined;
  } catch {
    return undefined;
  }
}

/**
 * What a target's filter policy would silently miss, for subscribe to warn about: the truncates and
 * schema changes of a table it subscribes to (a raw policy without a branch for them), and conditions whose type cannot
 * match the attribute's (numbers against a String attribute, strings against a Number one: real SNS
 * matches neither, the emulator is more lenient).
 */
export function policyWarnings(share: TargetShare, target: TargetConfig, sourceName: string, numberAttributes: Config['publish']['numberAttributes'] = {}): string[] {
  const warnings: string[] = [];
  if (target.operations.includes('truncate')) {
    for (const table of target.tables.filter((t) => !share.takes(baseAttributes(sourceName, t, 'truncate', null)))) {
      warnings.push(`the filter policy drops the truncates of ${table} (a truncate carries only source, table and operation): add a branch such as {"$or": [{…your conditions…}, {"operation": ["truncate"]}]}, or remove truncate from targets.${share.target}.operations`);
    }
  }
  if (target.schemaChanges !== 'ignore') {
    for (const table of target.tables.filter((t) => !share.takes(baseAttributes(sourceName, t, 'schema', null)))) {
      warnings.push(`the filter policy drops the schema changes of ${table} (a schema change carries only source, table and operation "schema"), so rows with new columns would wait for a change that never comes: add a branch such as {"$or": [{…your conditions…}, {"operation": ["schema"]}]}, or set targets.${share.target}.schemaChanges to ignore`);
    }
  }
  const numberIn = (column: string) => target.tables.some((t) => numberAttributes[t]?.includes(column));
  for (const [column, conditions] of policyConditions(share.policy)) {
    if (isReservedAttribute(column)) continue;
    const numeric = conditions.some((c) => typeof c === 'number' || (c !== null && typeof c === 'object' && 'numeric' in c));
    const textual = conditions.some((c) => typeof c === 'string' || (c !== null && typeof c === 'object' && ['prefix', 'suffix', 'equals-ignore-case', 'cidr'].some((op) => op in c)));
    if (numeric && !numberIn(column)) warnings.push(`"${column}" has numeric conditions, but it is sent as a String attribute, which SNS does not compare as a number: list it in publish.numberAttributes for ${target.tables.join(', ')}`);
    if (textual && numberIn(column) && target.tables.every((t) => numberAttributes[t]?.includes(column))) warnings.push(`"${column}" is sent as a Number attribute (publish.numberAttributes), which string conditions do not match: give numbers`);
  }
  return [...new Set(warnings)];
}

/** Every key of a policy with its conditions, $or branches included. */
function policyConditions(policy: FilterPolicy): [string, unknown[]][] {
  return Object.entries(policy).flatMap(([key, value]): [string, unknown[]][] => {
    if (key === '$or') return Array.isArray(value) ? value.flatMap((b) => (b && typeof b === 'object' ? policyConditions(b as FilterPolicy) : [])) : [];
    return [[key, Array.isArray(value) ? value : [value]]];
  });
}

/** Refuses a share verify cannot judge: conditions on `changed` select changes, not rows. */
export function assertRowShare(share: TargetShare): void {
  const keys = (policy: FilterPolicy): string[] =>
    Object.entries(policy).flatMap(([key, value]) => (key === '$or' && Array.isArray(value) ? value.flatMap((b) => (b && typeof b === 'object' ? keys(b as FilterPolicy) : [])) : [key]));
  if (keys(share.policy).includes('changed')) {
    throw new OutboxError('VERIFY_UNSUPPORTED', `Target "${share.target}" filters on the changed columns ("changed" in its filter policy), which selects changes rather than rows: its tables have no share that verify could compare. Verify a target whose policy filters on table, operation and attribute columns.`, { context: { target: share.target } });
  }
}
