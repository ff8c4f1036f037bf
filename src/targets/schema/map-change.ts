import type { SchemaChange, SchemaChangeItem } from '../../wire/envelope.js';
import type { Conversion } from '../transform/values.js';
import type { ColumnRule, TablePlan } from '../transform/plan.js';
import type { TargetSchemaChange, TargetSchemaItem } from '../types.js';
import type { ValueOutput } from './column-types.js';

/**
 * A source schema change in one target's terms, through the table's mapping, the way row images go
 * through it (src/targets/transform/index.ts): a column the mapping does not write (excluded, or
 * unknown and dropped) is left out, a renamed column keeps its target name, and a column whose values
 * the mapping rewrites (masked, hashed, encrypted, converted) gets the type of what the transform
 * writes. What the target cannot follow by itself becomes a `refuse` item naming the setting to change.
 */
export interface MapContext {
  /** `targets.<name>.mapping.<table>`, for messages. */
  at: string;
  target: string;
  /**
   * The value a source column's value becomes in a row image (the transformer's own column mapping);
   * throws when the mapping cannot write it. Without it, an added column's `existing` value is not carried.
   */
  mapValue?: (column: string, value: unknown) => unknown;
}

interface Written {
  target: string;
  output?: ValueOutput;
  /** What the mapping does to the values, to compare the two names of a renamed column. */
  treatment: string;
}

export function mapSchemaChange(plan: TablePlan, change: SchemaChange, ctx: MapContext): TargetSchemaChange {
  const keys = new Set(change.key);
  const items: TargetSchemaItem[] = [];
  const after = new Map((change.after ?? []).map((c) => [c.name, c]));
  for (const item of change.changes) items.push(...mapItem(plan, item, keys, after, change.dialect, ctx));
  return { dialect: change.dialect, items };
}

function mapItem(plan: TablePlan, item: SchemaChangeItem, keys: ReadonlySet<string>, after: Map<string, { nullable: boolean; type: string }>, dialect: SchemaChange['dialect'], ctx: MapContext): TargetSchemaItem[] {
  const refuse = (reason: string): TargetSchemaItem[] => [{ kind: 'refuse', change: item, reason }];
  switch (item.kind) {
    case 'rename_table':
      // Published under the new name: a target that lists the new name (and maps it) already follows it.
      if (item.to === plan.sourceTable) return [];
      return refuse(`the source table ${plan.sourceTable} was renamed to ${item.to ?? '?'}; the target's mapping is keyed by the source name. Rename the target table ${plan.targetTable} by hand if wanted, list ${item.to ?? 'the new name'} in targets.${ctx.target}.tables (move its mapping), run \`outbox subscribe ${ctx.target}\``);
    case 'drop_table':
      return refuse(`the source table ${plan.sourceTable} was dropped; drop or keep the target table ${plan.targetTable} by hand, remove the table from targets.${ctx.target}.tables`);
    case 'add_column': {
      const column = item.column ?? '';
      const written = writtenAs(plan, column, keys);
      if (!written) return [];
      const type = item.type ?? after.get(column)?.type ?? 'text';
      return [{ kind: 'add_column', column: written.target, type: { dialect, type, ...(written.output ? { output: written.output } : {}) }, nullable: true, ...existingOf(item, column, ctx) }];
    }
    case 'drop_column': {
      const written = writtenAs(plan, item.column ?? '', keys);
      return written ? [{ kind: 'drop_column', column: written.target }] : [];
    }
    case 'alter_type': {
      const written = writtenAs(plan, item.column ?? '', keys);
      if (!written || written.output) return [];
      return [{ kind: 'alter_type', column: written.target, from: { dialect, type: item.from ?? '' }, to: { dialect, type: item.to ?? '' } }];
    }
    case 'rename_column': {
      const from = item.from ?? '';
      const column = item.column ?? '';
      if (keys.has(column)) {
        return refuse(`key column "${from}" of ${plan.sourceTable} was renamed to "${column}"; the version store identifies rows by their key. Rename the target column by hand, add rename { ${column}: <target name> } to ${ctx.at} if the target keeps the old name`);
      }
      const before = writtenAs(plan, from, keys);
      const now = writtenAs(plan, column, keys);
      if (!before && !now) return [];
      if (!before) {
        return refuse(`column "${from}" of ${plan.sourceTable} is excluded by ${ctx.at}, and its new name "${column}" is not: add "${column}" to ${ctx.at}.exclude (the mapping matches names)`);
      }
      if (!now) return [{ kind: 'drop_column', column: before.target }];
      if (before.treatment !== now.treatment) {
        return refuse(`column "${from}" of ${plan.sourceTable} was renamed to "${column}", and ${ctx.at} treats the two names differently (${before.treatment} / ${now.treatment}): give "${column}" the same rule as "${from}" in the mapping`);
      }
      if (before.target === now.target) return [];
      return [{ kind: 'rename_column', from: before.target, column: now.target }];
    }
  }
}

/**
 * The value the target's existing rows get for an added column: the source's `existing` value
 * mapped like that column of a row image (renamed, masked, hashed, encrypted, converted), or why it
 * cannot be (the column is left empty there, as for a volatile default).
 */
function existingOf(item: SchemaChangeItem, column: string, ctx: MapContext): { existing: unknown } | { unfilled: string } | Record<string, never> {
  if (item.existing === undefined || item.existing === null) return {};
  if (!ctx.mapValue) return { unfilled: 'the target does not map single column values' };
  try {
    const existing = ctx.mapValue(column, item.existing);
    return existing === null || existing === undefined ? {} : { existing };
  } catch (err) {
    return { unfilled: `${ctx.at} cannot write the value of "${column}" (${err instanceof Error ? err.message : String(err)})` };
  }
}

/** The target column a source column is written to, or undefined when the mapping does not write it (mirrors mapImage). */
export function writtenAs(plan: TablePlan, column: string, keys: ReadonlySet<string>): Written | undefined {
  if (plan.excluded.has(column)) return undefined;
  let rule: ColumnRule | undefined = plan.rules.get(column);
  if (rule && plan.hasInclude && !plan.known.has(column) && !keys.has(column)) rule = undefined;
  if (!rule && keys.has(column)) rule = { target: column };
  if (!rule) {
    if (plan.unknownColumns !== 'pass') return undefined;
    rule = { target: column };
  }
  const output = outputOf(rule);
  return { target: rule.target, ...(output ? { output } : {}), treatment: rule.protect ? rule.protect.kind : rule.convert ? `convert ${rule.convert}` : 'copied' };
}

const CONVERSION_OUTPUT: Record<Conversion, ValueOutput> = {
  string: 'text',
  lowercase: 'text',
  uppercase: 'text',
  trim: 'text',
  'iso-date': 'text',
  number: 'double',
  boolean: 'boolean',
  'timestamp-ms': 'bigint',
};

function outputOf(rule: ColumnRule): ValueOutput | undefined {
  if (rule.protect) return 'text';
  return rule.convert ? CONVERSION_OUTPUT[rule.convert] : undefined;
}
