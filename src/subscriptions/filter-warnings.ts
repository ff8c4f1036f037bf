import type { TargetConfig } from '../config/index.js';
import { isReservedAttribute } from '../wire/attributes.js';
import type { FilterPolicy } from '../share/filter-policy.js';

/**
 * What a filter policy SNS accepts can still get wrong: conditions on an attribute the relay never
 * sets, so the target receives nothing it filters on, silently. This check compares the policy with
 * the tracked tables' attribute columns, read from the source; `outbox subscribe` (and --dry-run)
 * prints its warnings beside the plan's own (src/share/target-share.ts policyWarnings: truncates the
 * policy drops, numeric conditions on String attributes).
 */
export interface FilterWarningInput {
  target: string;
  config: Pick<TargetConfig, 'tables' | 'operations' | 'filterPolicy'>;
  policy: FilterPolicy;
  /** source.name: the `source` attribute of every message. */
  sourceName: string;
  /** Attribute columns per tracked table (schema.table); undefined when the source could not be read. */
  tracked?: Map<string, string[]>;
}

export function filterPolicyWarnings(input: FilterWarningInput): string[] {
  const warnings: string[] = [];
  const { target, config, policy, tracked } = input;
  const setting = config.filterPolicy ? `targets.${target}.filterPolicy` : `targets.${target}.where`;

  if (tracked) {
    for (const table of config.tables) {
      if (!tracked.has(table)) warnings.push(`${table} is not tracked, so no change of it is published: run outbox track ${table}`);
    }
    for (const key of conditionKeys(policy)) {
      if (isReservedAttribute(key.name) || key.onlyAbsent) continue;
      const trackedTables = config.tables.filter((t) => tracked.has(t));
      const lacking = trackedTables.filter((t) => !tracked.get(t)!.includes(key.name));
      if (lacking.length === 0) continue;
      const known = trackedTables.map((t) => `${t}: ${tracked.get(t)!.join(', ') || 'none'}`).join('; ');
      warnings.push(
        lacking.length === trackedTables.length
          ? `filter key "${key.name}" (${setting}) is not an attribute column of any table of this target (attribute columns — ${known}): no message carries it, so this target receives nothing it filters on. Run outbox track <table> --attributes …,${key.name}, or change the filter.`
          : `filter key "${key.name}" (${setting}) is not an attribute column of ${lacking.join(', ')}: changes of ${lacking.length === 1 ? 'that table' : 'those tables'} never match it. Track ${lacking.length === 1 ? 'it' : 'them'} with --attributes …,${key.name}, or change the filter.`,
      );
    }
  }

  return warnings;
}

/** Every attribute a policy puts conditions on ($or branches included); onlyAbsent when all its conditions are {"exists": false}. */
function conditionKeys(policy: FilterPolicy): { name: string; onlyAbsent: boolean }[] {
  const found = new Map<string, boolean>();
  const visit = (p: FilterPolicy) => {
    for (const [name, conditions] of Object.entries(p)) {
      if (name === '$or') {
        if (Array.isArray(conditions)) for (const branch of conditions) if (branch && typeof branch === 'object') visit(branch as FilterPolicy);
        continue;
      }
      const list = Array.isArray(conditions) ? conditions : [conditions];
      const absent = list.length > 0 && list.every((c) => c !== null && typeof c === 'object' && (c as { exists?: unknown }).exists === false);
      found.set(name, (found.get(name) ?? true) && absent);
    }
  };
  visit(policy);
  return [...found].map(([name, onlyAbsent]) => ({ name, onlyAbsent }));
}
