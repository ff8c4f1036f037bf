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
  // Per table and key column set: the key-column problem and the key columns as a set (a change's key
  // columns are the same for every change of a table, so this is worked out once, not per message).
  const keyInfos = new Map<TablePlan, Map<string, KeyInfo>>();
  const keyInfoOf = (sourceTable: string, plan: TablePlan, keyNames: string[]): KeyInfo => {
    let byColumns = keyInfos.get(plan);
    if (!byColumns) keyInfos.set(plan, (byColumns = new Map()));
    const id = keyNames.length === 1 ? keyNames[0]! : keyNames.join('\0');
    let info = byColumns.get(id);
    if (info === undefined) {
      const protections = protectionsOf(plan);
      const issue = keyNames.flatMap((k) => keyProblems(`targets.${targetName}.mapping.${sourceTable}`, k, plan.excluded, protections))[0] ?? null;
      if (byColumns.size > 100) byColumns.clear();
      byColumns.set(id, (info = { issue, columns: new Set(keyNames) }));
    }
    return info;
  };
  const identities = new Map<TablePlan, boolean>();
  for (const plan of plans.values()) identities.set(plan, isIdentityPlan(plan));

  return (data, meta) => {
    const sourceTable = `${data.schema}.${data.table}`;
    const plan = plans.get(sourceTable);
    // No closure per change: a failure's error is built where it is thrown (transformFailed).
    if (!plan) throw transformFailed(targetName, sourceTable, `the table is not listed in targets.${targetName}.tables; fix the subscription filter or add the table`);
    if (!/^\d+$/.test(data.seq)) throw transformFailed(targetName, sourceTable, 'the change has no valid seq (a decimal string is required)');
    const op = data.op;
    if (op === 'schema') {
      // Mapped like the row images' names; only an added column's existing value goes through the value transforms (below). The writer applies it by targets.<name>.schemaChanges.
      if (!data.schemaChange) throw transformFailed(targetName, sourceTable, 'the schema-change event has no data.schemaChange');
      // An added column's value for the rows that existed before goes through the same mapping as
      // that column of a row image (mapImage), so the filled rows equal what a change would write.
      const keyColumns = new Set(data.schemaChange.key);
      const fail = failFor(targetName, sourceTable);
      const mapValue = (column: string, value: unknown) => Object.values(mapImage(plan, { [column]: value }, keyColumns, columnCtx, fail))[0];
      const schemaChange = mapSchemaChange(plan, data.schemaChange, { at: `targets.${targetName}.mapping.${sourceTable}`, target: targetName, mapValue });
      return { messageId: meta.messageId, eventId: meta.eventId, time: meta.time, sourceTable, table: plan.targetTable, op, seq: data.seq, key: null, row: null, schemaChange };
    }
    if (op === 'truncate') return { messageId: meta.messageId, eventId: meta.eventId, time: meta.time, sourceTable, table: plan.targetTable, op, seq: data.seq, key: null, row: null };

    const keyNames = data.key ? Object.keys(data.key) : [];
    if (keyNames.length === 0) throw transformFailed(targetName, sourceTable, `the ${op} change has no key`);
    const keyInfo = keyInfoOf(sourceTable, plan, keyNames);
    if (keyInfo.issue) throw transformFailed(targetName, sourceTable, keyInfo.issue, { column: keyInfo.issue.match(/"([^"]+)"/)?.[1] });
    const identity = identities.get(plan) === true;
    const key = mapOrCopy(identity, plan, data.key!, keyInfo.columns, columnCtx, sourceTable);
    if (op === 'delete') return { messageId: meta.messageId, eventId: meta.eventId, time: meta.time, sourceTable, table: plan.targetTable, op, seq: data.seq, key, row: null };
    if (!data.after) throw transformFailed(targetName, sourceTable, `the ${op} change has no after image`);
    return { messageId: meta.messageId, eventId: meta.eventId, time: meta.time, sourceTable, table: plan.targetTable, op, seq: data.seq, key, row: mapOrCopy(identity, plan, data.after, keyInfo.columns, columnCtx, sourceTable) };
  };
}

/** TRANSFORM_FAILED for a change of the table, naming target, table and column (never a value). */
function transformFailed(targetName: string, sourceTable: string, message: string, context: Record<string, unknown> = {}, cause?: unknown): OutboxError {
  return new OutboxError('TRANSFORM_FAILED', `Target "${targetName}", table ${sourceTable}: ${message}`, { cause, context: { target: targetName, table: sourceTable, ...context } });
}

/** An identity plan's image as a copy (isPlainImage), any other through mapImage. */
function mapOrCopy(identity: boolean, plan: TablePlan, image: RowImage, keyColumns: ReadonlySet<string>, ctx: ColumnContext, sourceTable: string): RowImage {
  if (identity && isPlainImage(image)) return { ...image };
  return mapImage(plan, image, keyColumns, ctx, failFor(ctx.targetName, sourceTable));
}

/** mapImage's failure for a change of the table: transformFailed. */
function failFor(targetName: string, sourceTable: string): Fail {
  return (message, context, cause) => transformFailed(targetName, sourceTable, message, context, cause);
}

interface KeyInfo {
  /** Why these key columns cannot be mapped, or null. */
  issue: string | null;
  columns: ReadonlySet<string>;
}

/**
 * Whether a table's mapping leaves every image as it is: no column excluded, renamed, converted or
 * protected, and unknown columns passed. mapImage then returns a copy of the image (a value that is
 * undefined becomes null; see isPlainImage), so such images are copied instead of mapped column by
 * column. Key-column problems are checked before either (keyInfoOf).
 */
export function isIdentityPlan(plan: TablePlan): boolean {
  return plan.excluded.size === 0 && plan.rules.size === 0 && !plan.hasInclude && plan.unknownColumns === 'pass';
}

/**
 * Whether an image is one that mapImage, under an identity plan, would give back as an equal copy:
 * no value is undefined (mapped to null) and no column is named __proto__ (assigning it would set the
 * copy's prototype instead of a column). Images parsed from JSON have no undefined values.
 */
export function isPlainImage(image: RowImage): boolean {
  if (Object.hasOwn(image, '__proto__')) return false;
  for (const column in image) if (image[column] === undefined) return false;
  return true;
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
