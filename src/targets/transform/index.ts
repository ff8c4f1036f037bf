import { tableMappingSchema, type TargetConfig, type TargetSecrets } from '../../config/index.js';
import type { ChangeData, RowImage } from '../../wire/envelope.js';
import { ConfigError, OutboxError } from '../../errors.js';
import type { TargetChange } from '../types.js';
import { encryptValue, hashValue } from './crypto.js';
import { mapSchemaChange } from '../schema/map-change.js';
import { compileTablePlan, keyProblems, protectionsOf, type ColumnRule, type TablePlan } from './plan.js';
import { convertValue, kindOf, maskValue, textOf, ValueError } from './values.js';

export { decryptValue, encryptValue, hashValue, ENCRYPTED_PREFIX, type KeysById } from './crypto.js';
export { maskValue, convertValue, type Conversion, type MaskRule } from './values.js';
export { compileTablePlan, type TablePlan } from './plan.js';

export interface ChangeMeta {
  messageId: string;
  eventId: string;
  /** When the change was written in the source (CloudEvents time). */
  time: string;
}

export type Transformer = (data: ChangeData, meta: ChangeMeta) => TargetChange;

export interface TransformerOptions {
  /** Source key columns per source table ("schema.table"), when known: mistakes on keys are then refused at start. */
  keyColumns?: Readonly<Record<string, readonly string[]>>;
}

/**
 * Compiles a target's mappings into one function from a change to what the target writer applies.
 * Throws ConfigError (CONFIG_INVALID) listing every mapping problem; the returned function throws
 * OutboxError TRANSFORM_FAILED naming target, table and column (never a value) for a change it
 * cannot map, which the consumer sends to the DLQ.
 */
export function buildTransformer(targetName: string, target: TargetConfig, secrets: Pick<TargetSecrets, 'hashSalt' | 'encryptionKey'>, options: TransformerOptions = {}): Transformer {
  const plans = new Map<string, TablePlan>();
  const problems: string[] = [];
  for (const sourceTable of target.tables) {
    const mapping = target.mapping[sourceTable] ?? tableMappingSchema.parse({});
    const compiled = compileTablePlan({ targetName, sourceTable, mapping, target, secrets, keyColumns: options.keyColumns?.[sourceTable] });
    problems.push(...compiled.problems);
    plans.set(sourceTable, compiled.plan);
  }
  if (problems.length > 0) throw new ConfigError(problems, `targets.${targetName}`);
  const columnCtx: ColumnContext = { targetName, salt: secrets.hashSalt ?? '', key: secrets.encryptionKey, keyId: target.encryption?.keyId ?? '' };
  // Per table, the key-column problem of each key column set seen (a change's key columns are the same
  // for every change of a table, so this is worked out once, not per message).
  const keyIssues = new Map<TablePlan, Map<string, string | null>>();
  const keyIssueOf = (sourceTable: string, plan: TablePlan, keyColumns: string[]): string | null => {
    let byColumns = keyIssues.get(plan);
    if (!byColumns) keyIssues.set(plan, (byColumns = new Map()));
    const id = keyColumns.join('\0');
    let issue = byColumns.get(id);
    if (issue === undefined) {
      const protections = protectionsOf(plan);
      issue = keyColumns.flatMap((k) => keyProblems(`targets.${targetName}.mapping.${sourceTable}`, k, plan.excluded, protections))[0] ?? null;
      if (byColumns.size > 100) byColumns.clear();
      byColumns.set(id, issue);
    }
    return issue;
  };

  return (data, meta) => {
    const sourceTable = `${data.schema}.${data.table}`;
    const plan = plans.get(sourceTable);
    const fail = (message: string, context: Record<string, unknown> = {}, cause?: unknown) =>
      new OutboxError('TRANSFORM_FAILED', `Target "${targetName}", table ${sourceTable}: ${message}`, { cause, context: { target: targetName, table: sourceTable, ...context } });
    if (!plan) throw fail(`the table is not listed in targets.${targetName}.tables; fix the subscription filter or add the table`);
    if (!/^\d+$/.test(data.seq)) throw fail('the change has no valid seq (a decimal string is required)');
    const op = data.op;
    const base = { messageId: meta.messageId, eventId: meta.eventId, time: meta.time, sourceTable, table: plan.targetTable, op, seq: data.seq };
    if (op === 'schema') {
      // Mapped like the row images, never through value transforms; the writer applies it by targets.<name>.schemaChanges.
      if (!data.schemaChange) throw fail('the schema-change event has no data.schemaChange');
      return { ...base, key: null, row: null, schemaChange: mapSchemaChange(plan, data.schemaChange, { at: `targets.${targetName}.mapping.${sourceTable}`, target: targetName }) };
    }
    if (data.op === 'truncate') return { ...base, key: null, row: null };

    const keyNames = data.key ? Object.keys(data.key) : [];
    if (keyNames.length === 0) throw fail(`the ${data.op} change has no key`);
    const keyIssue = keyIssueOf(sourceTable, plan, keyNames);
    if (keyIssue) throw fail(keyIssue, { column: keyIssue.match(/"([^"]+)"/)?.[1] });
    const keyColumns = new Set(keyNames);
    const key = mapImage(plan, data.key!, keyColumns, columnCtx, fail);
    if (data.op === 'delete') return { ...base, key, row: null };
    if (!data.after) throw fail(`the ${data.op} change has no after image`);
    return { ...base, key, row: mapImage(plan, data.after, keyColumns, columnCtx, fail) };
  };
}

interface ColumnContext {
  targetName: string;
  salt: string;
  key: Buffer | undefined;
  keyId: string;
}

type Fail = (message: string, context?: Record<string, unknown>, cause?: unknown) => OutboxError;

function mapImage(plan: TablePlan, image: RowImage, keyColumns: ReadonlySet<string>, ctx: ColumnContext, fail: Fail): RowImage {
  const out: RowImage = {};
  const from = new Map<string, string>();
  for (const [column, value] of Object.entries(image)) {
    if (plan.excluded.has(column)) continue;
    let rule: ColumnRule | undefined = plan.rules.get(column);
    if (rule && plan.hasInclude && !plan.known.has(column) && !keyColumns.has(column)) rule = undefined;
    if (!rule && keyColumns.has(column)) rule = { target: column };
    if (!rule) {
      if (plan.unknownColumns === 'drop') continue;
      if (plan.unknownColumns === 'quarantine') {
        throw fail(`column "${column}" is not known to the mapping and unknownColumns is quarantine; add it to the mapping (include, exclude, rename…) and redrive the DLQ`, { column });
      }
      rule = { target: column };
    }
    const earlier = from.get(rule.target);
    if (earlier !== undefined) throw fail(`columns "${earlier}" and "${column}" both map to target column "${rule.target}"; rename one of them`, { column });
    from.set(rule.target, column);
    out[rule.target] = mapValue(rule, column, value, ctx, fail);
  }
  return out;
}

function mapValue(rule: ColumnRule, column: string, value: unknown, ctx: ColumnContext, fail: Fail): unknown {
  if (value === null || value === undefined) return null;
  let v: unknown = value;
  try {
    if (rule.convert) v = convertValue(v, rule.convert);
  } catch (err) {
    if (err instanceof ValueError) throw fail(`column "${column}": convert ${rule.convert}: ${err.message}`, { column });
    throw err;
  }
  switch (rule.protect?.kind) {
    case undefined:
      return v;
    case 'mask':
      return maskValue(v, rule.protect.rule);
    case 'hash':
      return hashValue(textOf(v), ctx.salt);
    case 'encrypt':
      if (!ctx.key) throw fail(`column "${column}" is to be encrypted but no key is configured (${kindOf(v)} value)`, { column });
      return encryptValue(v, ctx.key, ctx.keyId);
  }
}
