import type pg from 'pg';
import { OutboxError } from '../../errors.js';
import { runtimeSql } from '../../sql/files.js';
import { captureSettingsSql } from '../../wire/capture-settings.js';
import { formatTableName, quoteCatalogIdent, quoteIdent, quoteLiteral, type TableName } from '../../sql/identifiers.js';
import { jsonObject } from './capture-sql.js';
import { describeTable, type ColumnInfo } from './catalog.js';
import { quotedTable } from './track.js';

/**
 * What backfill and repair need to know about a tracked table to write snapshot events that are
 * byte-identical to what its capture trigger writes: the same columns and the same image expressions
 * (capture-sql's jsonObject), with the key described by type so a key image can bound a range.
 */
export interface SnapshotTable {
  table: TableName;
  keyColumns: ColumnInfo[];
  captured: ColumnInfo[];
  attributes: ColumnInfo[];
}

/** The capture function's session settings; the images depend on them (docs/encoding.md). */
export const CAPTURE_SETTINGS_SQL = captureSettingsSql('transaction');

/** Reads a tracked table's capture spec and its current columns; fails with what to run when they disagree. */
export async function loadSnapshotTable(db: pg.Pool | pg.ClientBase, outboxSchema: string, table: TableName): Promise<SnapshotTable> {
  const q = quoteIdent(outboxSchema, 'Outbox schema');
  const name = formatTableName(table);
  const res = await db.query<{ key_columns: string[]; captured_columns: string[]; attribute_columns: string[]; excluded_attnums: number[] }>(
    `SELECT key_columns, captured_columns, attribute_columns, excluded_attnums FROM ${q}.tracked_tables WHERE table_schema = $1 AND table_name = $2`,
    [table.schema, table.table],
  );
  const tracked = res.rows[0];
  if (!tracked) {
    throw new OutboxError(
      'TABLE_NOT_TRACKED',
      `Table ${name} is not tracked. Run: outbox track ${name} — backfill and verify read tracked tables only (the capture triggers carry the changes made while they run, and a repair goes through them); to verify the target's other tables now, name one with --table.`,
      { context: { table: name } },
    );
  }
  const info = await describeTable(db, table);
  // Capture v2 captures every column but the excluded ones (by attribute number), whatever was
  // added since `outbox track`: a snapshot holds the same columns as a trigger event.
  tracked.captured_columns = info.columns.filter((c) => !tracked.excluded_attnums.includes(c.attnum!)).map((c) => c.name);
  const byName = new Map(info.columns.map((c) => [c.name, c]));
  const pick = (names: string[]) => names.map((n) => byName.get(n));
  const all = [...tracked.key_columns, ...tracked.captured_columns, ...tracked.attribute_columns];
  const gone = [...new Set(all.filter((n) => !byName.has(n)))];
  if (gone.length > 0) {
    throw new OutboxError(
      'COLUMN_NOT_FOUND',
      `Table ${name} no longer has column ${gone.join(', ')}, which its capture was built for. Run: outbox track ${name} (it rebuilds the capture), then run this again.`,
      { context: { table: name, columns: gone } },
    );
  }
  return {
    table,
    keyColumns: pick(tracked.key_columns) as ColumnInfo[],
    captured: pick(tracked.captured_columns) as ColumnInfo[],
    attributes: pick(tracked.attribute_columns) as ColumnInfo[],
  };
}

const col = (alias: string, c: ColumnInfo) => `${alias}.${quoteCatalogIdent(c.name)}`;

/** A key value out of a key image held in a jsonb expression, cast to the column's type. */
function keyValue(image: string, c: ColumnInfo): string {
  return `((${image}) ->> ${quoteLiteral(c.name)})::${c.formatted}`;
}

function keyRow(t: SnapshotTable, alias = 'n'): string {
  return `(${t.keyColumns.map((c) => col(alias, c)).join(', ')})`;
}

/** "key of n > the key image in param" (a row comparison, so a composite key walks its index). */
export function keyAfter(t: SnapshotTable, param: string): string {
  return `${keyRow(t)} > (${t.keyColumns.map((c) => keyValue(`${param}::jsonb`, c)).join(', ')})`;
}

export function keyAtMost(t: SnapshotTable, param: string): string {
  return `${keyRow(t)} <= (${t.keyColumns.map((c) => keyValue(`${param}::jsonb`, c)).join(', ')})`;
}

/** "key of n is one of the key images in the jsonb array param". */
export function keyIn(t: SnapshotTable, param: string): string {
  return `${keyRow(t)} IN (SELECT ${t.keyColumns.map((c) => keyValue('k.value', c)).join(', ')} FROM jsonb_array_elements(${param}::jsonb) k)`;
}

export function keyImage(t: SnapshotTable, alias = 'n'): string {
  return jsonObject(alias, t.keyColumns);
}

export function rowImage(t: SnapshotTable, alias = 'n'): string {
  return jsonObject(alias, t.captured);
}

/** The attribute columns' texts for the message attributes, as the capture writes them (NULL::jsonb without any). */
export function attributesImage(t: SnapshotTable, alias = 'n'): string {
  return t.attributes.length ? jsonObject(alias, t.attributes, true) : 'NULL::jsonb';
}

function order(t: SnapshotTable, direction: 'ASC' | 'DESC' = 'ASC'): string {
  return t.keyColumns.map((c) => `${col('n', c)} ${direction}`).join(', ');
}

/** The statement that finds the next batch's upper bound: $1 batch size, $2 cursor key image (when given). */
export function nextBoundSql(t: SnapshotTable, hasCursor: boolean): string {
  return runtimeSql('postgres', 'backfill_next_bound', {
    table: quotedTable(t.table),
    key_columns: t.keyColumns.map((c) => col('n', c)).join(', '),
    key_image: keyImage(t),
    after: hasCursor ? keyAfter(t, '$2') : 'true',
    order: order(t),
    order_desc: order(t, 'DESC'),
  });
}

/** The statement that writes snapshot events for the rows of t matching where (over alias n). */
export function snapshotSql(outboxSchema: string, t: SnapshotTable, where: string): string {
  return runtimeSql('postgres', 'backfill_snapshot_rows', {
    schema: quoteIdent(outboxSchema, 'Outbox schema'),
    table: quotedTable(t.table),
    table_schema: quoteLiteral(t.table.schema),
    table_name: quoteLiteral(t.table.table),
    key_image: keyImage(t),
    image: rowImage(t),
    attrs: attributesImage(t),
    all_columns: t.captured.length ? `ARRAY[${t.captured.map((c) => quoteLiteral(c.name)).join(', ')}]::text[]` : `'{}'::text[]`,
    where,
    order: order(t),
  });
}
