import type { FilterPolicy } from './filter-policy.js';

/**
 * Whether SNS would deliver a message with these attributes through a filter policy
 * (FilterPolicyScope MessageAttributes), following the SNS matching rules: every key of the policy
 * (of one $or branch) must match; a key matches when any of its conditions does; a message without
 * the attribute matches only `{"exists": false}`; a String.Array attribute matches when any element
 * does. Used to check a policy against the messages the relay will publish (subscribe --dry-run).
 */
export type AttributeValue = string | number | (string | number)[];

export function matchesFilterPolicy(policy: FilterPolicy, attributes: Record<string, AttributeValue | undefined>): boolean {
  const { $or: or, ...keys } = policy;
  const keysMatch = Object.entries(keys).every(([name, conditions]) => matchesKey(conditions, attributes[name]));
  if (!keysMatch) return false;
  if (!Array.isArray(or)) return true;
  return or.some((branch) => branch !== null && typeof branch === 'object' && matchesFilterPolicy(branch as FilterPolicy, attributes));
}

function matchesKey(conditions: unknown, value: AttributeValue | undefined): boolean {
  const list = Array.isArray(conditions) ? conditions : [conditions];
  return list.some((condition) => matchesCondition(condition, value));
}

function matchesCondition(condition: unknown, value: AttributeValue | undefined): boolean {
  if (condition !== null && typeof condition === 'object' && !Array.isArray(condition) && 'exists' in condition) {
    return (condition as { exists: unknown }).exists === (value !== undefined);
  }
  if (value === undefined) return false;
  const values = Array.isArray(value) ? value : [value];
  return values.some((v) => matchesOne(condition, v));
}

function matchesOne(condition: unknown, value: string | number): boolean {
  if (typeof condition === 'string') return typeof value === 'string' && value === condition;
  if (typeof condition === 'number') return Number(value) === condition;
  if (condition === null || typeof condition !== 'object') return false;
  const [op, arg] = Object.entries(condition)[0] ?? [];
  const text = String(value);
  switch (op) {
    case 'prefix':
      return typeof arg === 'string' && text.startsWith(arg);
    case 'suffix':
      return typeof arg === 'string' && text.endsWith(arg);
    case 'equals-ignore-case':
      return typeof arg === 'string' && text.toLowerCase() === arg.toLowerCase();
    case 'anything-but':
      return !anythingButExcludes(arg, value);
    case 'numeric':
      return Array.isArray(arg) && matchesNumeric(arg, Number(value));
    default:
      // cidr and anything unknown: assume it may match (the check is for what surely cannot)
      return true;
  }
}

function anythingButExcludes(arg: unknown, value: string | number): boolean {
  if (Array.isArray(arg)) return arg.some((a) => matchesOne(a, value));
  if (arg !== null && typeof arg === 'object') return matchesOne(arg, value);
  return matchesOne(arg, value);
}

function matchesNumeric(spec: unknown[], n: number): boolean {
  if (!Number.isFinite(n)) return false;
  for (let i = 0; i + 1 < spec.length; i += 2) {
    const bound = Number(spec[i + 1]);
    const ok = { '=': n === bound, '<': n < bound, '<=': n <= bound, '>': n > bound, '>=': n >= bound }[String(spec[i])];
    if (!ok) return false;
  }
  return true;
}
