import { existsSync, statSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { TargetConfig } from '../config/index.js';
import type { ChangeData, RowImage } from '../wire/envelope.js';
import { ConfigError, OutboxError, describeError } from '../errors.js';
import type { ChangeMeta, Transformer } from './transform/index.js';
import type { TargetChange } from './types.js';
import { unfill } from './schema/decide.js';

/**
 * User-code transforms (docs/transforms.md): a table mapping may name a module
 * (`transform: ./transforms/orders.js`, relative to the config file) whose exported function gets
 * each change after the built-in transforms (rename, mask, hash, encrypt, convert) and returns what
 * the target writes: a row, several rows (possibly for other tables), or nothing. It runs before the
 * apply, in the consumer, synchronously. A thrown error sends that message to the DLQ with the
 * error's message. Modules are loaded once, at start; a bad path or export stops the start.
 */

/** What the function receives: the change after the mapping. */
export interface UserTransformInput {
  op: 'insert' | 'update' | 'delete' | 'snapshot';
  /** The source table, "schema.table". */
  sourceTable: string;
  /** The target table the mapping names. */
  table: string;
  /** Decimal string; the version every row returned is written with. */
  seq: string;
  /** Key columns after the mapping. */
  key: RowImage;
  /** The row after the mapping; null for a delete. */
  row: RowImage | null;
  eventId: string;
  /** When the change was written in the source (ISO 8601). */
  time: string;
}

/** One row the function returns. */
export interface UserTransformRow {
  /** Target table; default: the mapping's table. */
  table?: string;
  /** The row's key at the target (for DynamoDB: the item key columns). */
  key: RowImage;
  /** The row to write (with its key columns); omit it, or set delete, to delete. */
  row?: RowImage | null;
  /** Delete the row (or the part) at this key. */
  delete?: boolean;
  /** DynamoDB: write the row at this attribute path of the item (one or two names) under its own version. */
  part?: string[];
  /** DynamoDB: update the item's attributes instead of replacing the item (parts are kept). */
  merge?: boolean;
}

export type UserTransform = (change: UserTransformInput) => UserTransformRow | UserTransformRow[] | null | undefined;

export type ChangeOutput = TargetChange | TargetChange[] | null;

/** The functions of a target's mappings, by source table. Throws ConfigError naming each bad setting. */
export async function loadUserTransforms(targetName: string, target: TargetConfig, configOrigin?: string): Promise<Map<string, UserTransform>> {
  const base = configOrigin && existsSync(configOrigin) && statSync(configOrigin).isFile() ? dirname(resolve(configOrigin)) : process.cwd();
  const loaded = new Map<string, Promise<UserTransform | string>>();
  const out = new Map<string, UserTransform>();
  const problems: string[] = [];
  for (const sourceTable of target.tables) {
    const path = target.mapping[sourceTable]?.transform;
    if (!path) continue;
    const setting = `targets.${targetName}.mapping["${sourceTable}"].transform`;
    const file = isAbsolute(path) ? path : resolve(base, path);
    if (!existsSync(file) || !statSync(file).isFile()) {
      problems.push(`${setting}: ${file} is not a file (relative paths are read from the config file's folder, ${base})`);
      continue;
    }
    if (!loaded.has(file)) loaded.set(file, importTransform(file));
    const fn = await loaded.get(file)!;
    if (typeof fn === 'string') problems.push(`${setting}: ${fn}`);
    else out.set(sourceTable, fn);
  }
  if (problems.length > 0) throw new ConfigError(problems, `targets.${targetName}`);
  return out;
}

async function importTransform(file: string): Promise<UserTransform | string> {
  let module: Record<string, unknown>;
  try {
    module = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  } catch (err) {
    const ts = /\.m?ts$/.test(file) ? ' (a TypeScript module needs a Node that strips types, 22.18 or later, or compile it to .js with tsc)' : '';
    return `cannot load ${file}${ts}: ${describeError(err)}`;
  }
  const fn = typeof module.transform === 'function' ? module.transform : module.default;
  if (typeof fn !== 'function') return `${file} exports no function: export one as \`transform\` or as the default export`;
  return fn as UserTransform;
}

/**
 * The built-in transformer followed by the user functions. Returns what the consumer applies: a
 * change, several, or null (nothing to write; the message is acknowledged).
 */
export function withUserTransforms(targetName: string, transform: Transformer, functions: ReadonlyMap<string, UserTransform>, target: Pick<TargetConfig, 'kind' | 'mapping'>): (data: ChangeData, meta: ChangeMeta) => ChangeOutput {
  return (data, meta) => {
    // DynamoDB is schemaless: a change of the source table's shape needs no work there (docs/dynamodb.md).
    if (data.op === 'schema' && target.kind === 'dynamodb') return null;
    const change = transform(data, meta);
    const fn = functions.get(change.sourceTable);
    if (fn && change.op === 'schema') return withoutExisting(change, target.mapping[change.sourceTable]?.transform ?? '');
    if (!fn || change.op === 'truncate' || change.op === 'schema' || change.key === null) return change;
    const fail = (message: string, cause?: unknown) =>
      new OutboxError('TRANSFORM_FAILED', `Target "${targetName}", table ${change.sourceTable}: the transform ${target.mapping[change.sourceTable]?.transform ?? ''} ${message}`, { cause, context: { target: targetName, table: change.sourceTable } });
    let result: ReturnType<UserTransform>;
    try {
      result = fn({ op: change.op, sourceTable: change.sourceTable, table: change.table, seq: change.seq, key: { ...change.key }, row: change.row ? { ...change.row } : null, eventId: change.eventId, time: change.time });
    } catch (err) {
      throw fail(`threw: ${err instanceof Error ? err.message : String(err)}`, err);
    }
    if (result === null || result === undefined) return null;
    if (typeof (result as { then?: unknown }).then === 'function') throw fail('returned a promise; the function must return its rows directly (synchronously)');
    const rows = Array.isArray(result) ? result : [result];
    if (rows.length === 0) return null;
    return rows.map((r, i) => {
      const where = rows.length > 1 ? ` (row ${i + 1})` : '';
      if (r === null || typeof r !== 'object' || Array.isArray(r)) throw fail(`returned something that is not a row object${where}`);
      if (r.key === null || typeof r.key !== 'object' || Array.isArray(r.key) || Object.keys(r.key).length === 0) throw fail(`returned a row without a key object${where}`);
      const remove = r.delete === true || r.row === null || r.row === undefined;
      if (!remove && (typeof r.row !== 'object' || Array.isArray(r.row))) throw fail(`returned a row that is not an object${where}`);
      if (r.table !== undefined && (typeof r.table !== 'string' || r.table.length === 0)) throw fail(`returned a table that is not a name${where}`);
      if (r.part !== undefined && (!Array.isArray(r.part) || r.part.length < 1 || r.part.length > 2 || r.part.some((p) => typeof p !== 'string' || p.length === 0))) {
        throw fail(`returned a part that is not one or two non-empty names${where}`);
      }
      if ((r.part || r.merge) && target.kind !== 'dynamodb') throw fail(`returned part or merge, which only a dynamodb target writes${where}`);
      const out: TargetChange = {
        messageId: change.messageId,
        eventId: change.eventId,
        time: change.time,
        sourceTable: change.sourceTable,
        seq: change.seq,
        table: r.table ?? change.table,
        op: remove ? 'delete' : change.op === 'delete' ? 'update' : change.op,
        key: r.key,
        row: remove ? null : (r.row as RowImage),
      };
      if (r.part) out.part = r.part;
      if (r.merge) out.merge = true;
      return out;
    });
  };
}

/** The transform a consumer of this target runs: the mapping, then the user functions (loaded once here). */
export async function buildTargetTransform(targetName: string, target: TargetConfig, transform: Transformer, configOrigin?: string): Promise<(data: ChangeData, meta: ChangeMeta) => ChangeOutput> {
  return withUserTransforms(targetName, transform, await loadUserTransforms(targetName, target, configOrigin), target);
}

/**
 * User code maps whole changes, not one column: the value an added column has in the rows that
 * existed before cannot be put through it, so the target adds the column empty and says so.
 */
function withoutExisting(change: TargetChange, module: string): TargetChange {
  if (!change.schemaChange?.items.some((i) => i.kind === 'add_column' && i.existing !== undefined)) return change;
  const items = unfill(change.schemaChange.items, `the table is mapped through user code (${module}), which maps whole changes, not one column's value`);
  return { ...change, schemaChange: { ...change.schemaChange, items } };
}
