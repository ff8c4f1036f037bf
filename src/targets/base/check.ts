import { tableMappingSchema, type TargetConfig } from '../../config/index.js';
import type { InitOptions } from '../types.js';

/**
 * The checks of `outbox target init`, the same for every database dialect: each mapped table exists,
 * has a primary key or unique index on its (renamed) key columns for upserts, and has the columns the
 * mapping names. Each problem names the table and column and says what to create.
 */
export type { InitOptions } from '../types.js';

export interface TableShape {
  exists: boolean;
  columns: string[];
  /** Column sets of the primary key and of every plain unique index. */
  uniqueKeys: string[][];
}

export async function checkTables(target: TargetConfig, options: InitOptions, describe: (table: string) => Promise<TableShape>): Promise<string[]> {
  const problems: string[] = [];
  for (const sourceTable of target.tables) {
    const mapping = target.mapping[sourceTable] ?? tableMappingSchema.parse({});
    const table = mapping.table ?? sourceTable;
    const rename = (c: string) => mapping.rename[c] ?? c;
    const keys = options.keyColumns?.[sourceTable]?.map(rename);
    const shape = await describe(table);
    const forSource = table === sourceTable ? '' : ` (mapped from ${sourceTable})`;
    if (!shape.exists) {
      problems.push(`table ${table}${forSource} does not exist: create it with the source's columns after the mapping, and a primary key on (${keys?.join(', ') ?? 'the source key columns'})`);
      continue;
    }
    const wanted = new Set<string>([...(mapping.include ?? []).map(rename), ...Object.values(mapping.rename), ...(keys ?? [])]);
    for (const column of mapping.exclude) wanted.delete(rename(column));
    for (const column of wanted) {
      if (!shape.columns.includes(column)) problems.push(`table ${table}${forSource} has no column "${column}", which the mapping writes: add it (ALTER TABLE ${table} ADD COLUMN ${column} …)`);
    }
    const same = (set: string[], want: string[]) => set.length === want.length && want.every((c) => set.includes(c));
    if (keys && !shape.uniqueKeys.some((set) => same(set, keys))) {
      problems.push(`table ${table}${forSource} needs a primary key or unique index on exactly (${keys.join(', ')}) for upserts: ALTER TABLE ${table} ADD PRIMARY KEY (${keys.join(', ')})`);
    } else if (!keys && shape.uniqueKeys.length === 0) {
      problems.push(`table ${table}${forSource} has no primary key or unique index: add a primary key on the (renamed) source key columns`);
    }
  }
  return problems;
}
