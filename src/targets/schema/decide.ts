import type { TargetConfig } from '../../config/index.js';
import type { RowImage } from '../../wire/envelope.js';
import type { TargetSchemaChange, TargetSchemaItem } from '../types.js';
import { isWidening, targetColumnType, type TargetDialect, type TargetType } from './column-types.js';

/**
 * What a database target does with a schema change and with the row changes around it; pure, so the
 * PostgreSQL and MariaDB writers follow the same rules (docs/schema-changes.md, "At the targets").
 *
 * A schema change becomes DDL steps (apply), a record only (ignore), or a halt with the reason (stop,
 * or something apply cannot do safely). A row change is shaped against the table's applied schema
 * changes and the columns the target has: renames the target applied after the row was written are
 * followed, columns the target dropped later are left out, and a column the target does not have yet
 * makes the row wait for its schema change (or, under ignore, is left out).
 */
export type DdlStep =
  | { kind: 'add'; column: string; type: TargetType }
  | { kind: 'drop'; column: string }
  /** droppedColumns keep: the column stays with its values and accepts NULL for rows written without it. */
  | { kind: 'keep'; column: string }
  | { kind: 'rename'; from: string; to: string }
  | { kind: 'alter'; column: string; type: TargetType }
  /**
   * After an add: the target's rows that existed before the change get the value the source's rows
   * hold without a captured change (`ADD COLUMN … DEFAULT …`; docs/schema-changes.md). Not DDL: each
   * writer runs it as an UPDATE of the rows still NULL with the value as a bound parameter.
   */
  | { kind: 'fill'; column: string; value: unknown };

export type SchemaDecision = { action: 'apply'; steps: DdlStep[] } | { action: 'ignore' } | { action: 'halt'; reason: string };

export function decideSchemaChange(target: Pick<TargetConfig, 'schemaChanges' | 'droppedColumns'>, dialect: TargetDialect, change: TargetSchemaChange): SchemaDecision {
  if (target.schemaChanges === 'ignore') return { action: 'ignore' };
  if (target.schemaChanges === 'stop') return { action: 'halt', reason: 'schemaChanges is stop' };
  const steps: DdlStep[] = [];
  for (const item of change.items) {
    switch (item.kind) {
      case 'refuse':
        return { action: 'halt', reason: item.reason };
      case 'add_column':
        steps.push({ kind: 'add', column: item.column, type: targetColumnType(item.type, dialect) });
        if (item.existing !== undefined) steps.push({ kind: 'fill', column: item.column, value: item.existing });
        break;
      case 'drop_column':
        steps.push(target.droppedColumns === 'drop' ? { kind: 'drop', column: item.column } : { kind: 'keep', column: item.column });
        break;
      case 'rename_column':
        steps.push({ kind: 'rename', from: item.from, to: item.column });
        break;
      case 'alter_type': {
        const from = targetColumnType(item.from, dialect);
        const to = targetColumnType(item.to, dialect);
        if (from.sql === to.sql) break;
        if (!isWidening(from, to)) {
          return { action: 'halt', reason: `column "${item.column}" changed type from ${item.from.type} to ${item.to.type}; at this target that is ${from.sql} → ${to.sql}, which is not a widening (values could fail or change), so it is not altered automatically. ALTER the column by hand` };
        }
        steps.push({ kind: 'alter', column: item.column, type: to });
        break;
      }
    }
  }
  return { action: 'apply', steps };
}

/**
 * The items with the added columns' `existing` values taken out and the reason recorded as `unfilled`:
 * the target adds those columns empty (a value the target refused, or a mapping that cannot map one
 * column's value). `column` limits it to one added column; without it every added column with a value.
 */
export function unfill(items: TargetSchemaItem[], reason: string, column?: string): TargetSchemaItem[] {
  return items.map((item) => {
    if (item.kind !== 'add_column' || item.existing === undefined || (column !== undefined && item.column !== column)) return item;
    const { existing: _, ...rest } = item;
    return { ...rest, unfilled: reason };
  });
}

/** One line per change for logs and halt messages; names only, never values. */
export function describeSchemaChange(change: TargetSchemaChange): string {
  if (change.items.length === 0) return 'no change for this target (the mapping does not write the columns concerned)';
  return change.items.map(describeItem).join('; ');
}

function describeItem(item: TargetSchemaItem): string {
  switch (item.kind) {
    case 'add_column':
      return `add column "${item.column}" (${item.type.output ? `${item.type.output}, as the mapping writes it` : item.type.type}${item.existing !== undefined ? '; existing rows get the value the source gave them' : ''})`;
    case 'drop_column':
      return `drop column "${item.column}"`;
    case 'rename_column':
      return `rename column "${item.from}" to "${item.column}"`;
    case 'alter_type':
      return `column "${item.column}" from ${item.from.type} to ${item.to.type}`;
    case 'refuse':
      return `${item.change.kind}${item.change.to ? ` to ${item.change.to}` : item.change.column ? ` "${item.change.column}"` : ''}`;
  }
}

/** A schema change the target recorded, as row shaping needs it. */
export interface RecordedChange {
  seq: bigint;
  /** applied: the target ran it; resumed: an operator applied it by hand; ignored: nothing was done. */
  status: 'applied' | 'resumed' | 'ignored';
  items: TargetSchemaItem[];
}

export interface TableSchemaState {
  /** In seq order. */
  recorded: RecordedChange[];
  /** The earliest schema change the target halted on and no one has resumed. */
  halted?: { seq: bigint; reason: string };
}

export type Shaped = { row: RowImage } | { wait: string };

/**
 * The row a change writes, in the target's current shape. `row` is the transformed image, `seq` its
 * source seq, `columns` the target table's columns now.
 */
export function shapeRow(state: TableSchemaState, policy: TargetConfig['schemaChanges'], seq: bigint, row: RowImage, columns: ReadonlySet<string>): Shaped {
  if (state.halted && seq >= state.halted.seq) return { wait: `the table's schema change at seq ${state.halted.seq} is halted (${state.halted.reason})` };
  let out = row;
  // Made only when a later schema change drops or renames a column (rarely: a row is shaped per change).
  let droppedLater: Set<string> | undefined;
  // Columns given the value of rows that existed before their add_column (not in the row as written).
  let filled: Set<string> | undefined;
  for (const change of state.recorded) {
    if (change.seq <= seq || change.status === 'ignored') continue;
    for (const item of change.items) {
      // A row written before a column was added with a value for the rows that existed then (an
      // insert or update that arrives after its schema change): at the source it holds that value.
      if (item.kind === 'add_column' && item.existing !== undefined && !(item.column in out)) {
        out = { ...out, [item.column]: item.existing };
        (filled ??= new Set()).add(item.column);
      }
      if (item.kind === 'rename_column' && item.from in out && !(item.column in out)) {
        const { [item.from]: value, ...rest } = out;
        out = { ...rest, [item.column]: value };
        if (filled?.delete(item.from)) filled.add(item.column);
        (droppedLater ??= new Set()).add(item.from);
      }
      if (item.kind === 'drop_column' || item.kind === 'rename_column') (droppedLater ??= new Set()).add(item.kind === 'drop_column' ? item.column : item.from);
    }
  }
  for (const column of Object.keys(out)) {
    if (columns.has(column)) continue;
    // A filled column the target does not have (dropped, or a resumed change done otherwise) is left out: the row never had it.
    if (droppedLater?.has(column) || policy === 'ignore' || filled?.has(column)) {
      const { [column]: _, ...rest } = out;
      out = rest;
      continue;
    }
    return { wait: `column "${column}" is not at the target yet (a row written after its schema change arrived first)` };
  }
  return { row: out };
}

/** The rows of a table's schema changes (seq order) as row shaping reads them. */
export function toSchemaState(rows: { seq: string; status: string; items: TargetSchemaItem[]; reason: string | null }[]): TableSchemaState {
  const state: TableSchemaState = { recorded: [] };
  for (const r of rows) {
    if (r.status === 'halted') state.halted ??= { seq: BigInt(r.seq), reason: r.reason ?? 'halted' };
    else if (r.status === 'applied' || r.status === 'ignored' || r.status === 'resumed') state.recorded.push({ seq: BigInt(r.seq), status: r.status, items: r.items });
  }
  return state;
}
