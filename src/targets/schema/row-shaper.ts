import type { TargetConfig } from '../../config/index.js';
import type { BatchEntry } from '../base/batch.js';
import type { ApplyOutcome, TargetSchemaChange } from '../types.js';
import { describeSchemaChange, shapeRow, type TableSchemaState } from './decide.js';

/**
 * A database writer's view of schema changes for its row changes: the recorded schema changes and
 * the columns of each target table, cached until the writer applies a schema change or a row has to
 * wait (then both are read again, since another consumer or `outbox target resume` may have moved on).
 */
export interface ShapeLoader {
  /** The table's recorded schema changes (version store). */
  state(table: string): Promise<TableSchemaState>;
  /** The target table's columns now; undefined when the table does not exist. */
  columns(entry: BatchEntry): Promise<ReadonlySet<string> | undefined>;
}

export class RowShaper {
  private readonly states = new Map<string, TableSchemaState>();
  private readonly columns = new Map<string, ReadonlySet<string> | undefined>();

  constructor(private readonly policy: TargetConfig['schemaChanges']) {}

  forget(table: string): void {
    this.states.delete(table);
    this.columns.delete(table);
  }

  /**
   * Shapes the rows of the batch's upserts; returns the entries to apply (rows replaced by their shaped
   * version) and sets a wait outcome for the others.
   */
  async shape(entries: BatchEntry[], outcomes: ApplyOutcome[], load: ShapeLoader): Promise<BatchEntry[]> {
    const out: BatchEntry[] = [];
    for (const entry of entries) {
      const { change } = entry;
      if (change.op === 'truncate' || change.op === 'delete' || change.row === null) {
        out.push(entry);
        continue;
      }
      let state = this.states.get(entry.table);
      if (!state) this.states.set(entry.table, (state = await load.state(entry.table)));
      if (!this.columns.has(entry.table)) this.columns.set(entry.table, await load.columns(entry));
      const columns = this.columns.get(entry.table);
      if (!columns) {
        out.push(entry); // no table: the writer rejects the change as before
        continue;
      }
      const shaped = shapeRow(state, this.policy, entry.seq, change.row, columns);
      if ('wait' in shaped) {
        outcomes[entry.index] = { status: 'wait', reason: `${change.table}: ${shaped.wait}` };
        this.forget(entry.table);
        continue;
      }
      out.push(shaped.row === change.row ? entry : { ...entry, change: { ...change, row: shaped.row } });
    }
    return out;
  }
}

/** The message of a halt: what changed, why the target stopped, and how to go on. */
export function haltMessage(target: string, sourceTable: string, seq: string, change: TargetSchemaChange, reason: string): string {
  const what = describeSchemaChange(change);
  const fix = reason === 'schemaChanges is stop' ? 'Apply the change at the target by hand' : reason;
  return `Target "${target}" stopped at a schema change of ${sourceTable} (seq ${seq}: ${what}) because ${reason === 'schemaChanges is stop' ? `targets.${target}.schemaChanges is stop` : 'it cannot apply it safely'}. ${fix}, then run \`outbox target resume ${target}\` (or set targets.${target}.schemaChanges to apply or ignore and restart the consumer). Its messages wait in the queue.`;
}
