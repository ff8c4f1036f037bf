import type { TargetType } from '../schema/column-types.js';
import type { DdlStep } from '../schema/decide.js';

/**
 * The walk over a schema change's DDL steps that every database target shares: each step is checked
 * against the table's current columns first, so running a change twice (a duplicate message after a
 * crash) changes nothing, and a step that cannot be done throws with a message naming the column.
 * Drop and rename are the same SQL in both dialects; add, keep (make nullable) and alter differ, and
 * each dialect's ddl.ts gives them. The table is already quoted SQL; column names are quoted by the
 * dialect, types come from the mapping table (src/targets/schema/column-types.ts).
 */
export interface DdlColumn {
  nullable: boolean;
}

export interface DdlDialect<C extends DdlColumn> {
  quote(column: string): string;
  /**
   * The clause after ALTER TABLE that adds a nullable column, and the column it makes; `then`, a
   * clause run as its own statement right after it (dropping the DEFAULT an added value came with).
   */
  add(column: string, type: TargetType): { clause: string; column: C; then?: string };
  /** A NOT NULL column the source dropped but the target keeps: the clause that makes it nullable, or a warning when it cannot. */
  keep(column: string, current: C): { clause: string; column: C } | { warning: string };
  /** The clause that changes a column's type. */
  alter(column: string, type: TargetType, current: C): { clause: string; column: C };
}

export interface DdlPlan {
  statements: string[];
  /** Steps done only in part, for the log. */
  warnings: string[];
}

export function planDdl<C extends DdlColumn>(tableSql: string, steps: DdlStep[], current: ReadonlyMap<string, C>, dialect: DdlDialect<C>): DdlPlan {
  const columns = new Map(current);
  const statements: string[] = [];
  const warnings: string[] = [];
  const q = (c: string) => dialect.quote(c);
  for (const step of steps) {
    switch (step.kind) {
      case 'add': {
        const added = dialect.add(step.column, step.type);
        if (!columns.has(step.column)) {
          statements.push(`ALTER TABLE ${tableSql} ${added.clause}`);
          if (added.then !== undefined) statements.push(`ALTER TABLE ${tableSql} ${added.then}`);
        }
        columns.set(step.column, added.column);
        break;
      }
      case 'drop':
        if (columns.has(step.column)) statements.push(`ALTER TABLE ${tableSql} DROP COLUMN ${q(step.column)}`);
        columns.delete(step.column);
        break;
      case 'keep': {
        const column = columns.get(step.column);
        if (!column || column.nullable) break;
        const kept = dialect.keep(step.column, column);
        if ('warning' in kept) warnings.push(kept.warning);
        else {
          statements.push(`ALTER TABLE ${tableSql} ${kept.clause}`);
          columns.set(step.column, kept.column);
        }
        break;
      }
      case 'rename': {
        const hasFrom = columns.has(step.from);
        const hasTo = columns.has(step.to);
        if (hasFrom && hasTo) throw new Error(`the target table has both "${step.from}" and "${step.to}", so "${step.from}" cannot be renamed; drop or rename one by hand`);
        if (!hasFrom && !hasTo) throw new Error(`the target table has no column "${step.from}" to rename to "${step.to}"; add "${step.to}" by hand`);
        if (hasFrom) {
          statements.push(`ALTER TABLE ${tableSql} RENAME COLUMN ${q(step.from)} TO ${q(step.to)}`);
          columns.set(step.to, columns.get(step.from)!);
          columns.delete(step.from);
        }
        break;
      }
      case 'fill':
        // Not DDL: each writer fills the rows after the statements (src/targets/base/sql-writer.ts).
        break;
      case 'alter': {
        const column = columns.get(step.column);
        if (!column) throw new Error(`the target table has no column "${step.column}" to change to ${step.type.sql}`);
        const altered = dialect.alter(step.column, step.type, column);
        statements.push(`ALTER TABLE ${tableSql} ${altered.clause}`);
        columns.set(step.column, altered.column);
        break;
      }
    }
  }
  return { statements, warnings };
}
