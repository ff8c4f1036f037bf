import { createHash } from 'node:crypto';
import { OutboxError } from '../../errors.js';
import { readRuntimeSql, runtimeSql } from '../../sql/files.js';
import { compileTemplate } from '../../sql/template.js';
import type { ColumnInfo } from './catalog.js';

/**
 * Builds the SQL of a table's capture trigger from its catalog description. Catalog names are
 * bracket-quoted with "]" doubled; names typed by a user were validated before they got here.
 *
 * Value encoding in images — the same as PostgreSQL (docs/encoding.md), built by hand with
 * STRING_ESCAPE rather than FOR JSON (which turns dots in names into nesting, bigint into lossy
 * numbers, binary into base64 and keeps the writer's offset):
 *   bit → true/false; tinyint, smallint, int → numbers; float, real → numbers (17/9 significant
 *   digits, lossless); bigint, decimal, numeric → strings; money, smallmoney → strings with 4
 *   decimals; char/varchar/nchar/nvarchar, xml, sql_variant → strings; uniqueidentifier → lower-case
 *   string; date → "YYYY-MM-DD"; time → "hh:mm:ss[.fffffff]"; datetime, smalldatetime, datetime2 →
 *   ISO 8601 without offset; datetimeoffset → ISO 8601 in UTC ending "+00:00"; binary, varbinary,
 *   rowversion → "\x…" lower-case hex; hierarchyid, geography, geometry → their ToString() text;
 *   json → nested JSON. text, ntext and image cannot be read in an AFTER trigger: exclude them.
 */
export interface CaptureSpec {
  outboxSchema: string;
  tableSchema: string;
  tableName: string;
  keyColumns: string[];
  captured: ColumnInfo[];
  attributes: string[];
}

export function quoteCatalogIdent(name: string): string {
  return `[${name.replace(/]/g, ']]')}]`;
}

export function quoteLiteral(text: string): string {
  return `N'${text.replace(/'/g, "''")}'`;
}

function objectHash(tableSchema: string, tableName: string): string {
  return createHash('sha256').update(`${tableSchema}.${tableName}`).digest('hex').slice(0, 8);
}

/** Stable, collision-safe trigger name (SQL Server names are ≤ 128 characters). The trigger lives in the table's schema. */
export function captureTriggerName(tableSchema: string, tableName: string): string {
  return `outbox_capture_${objectHash(tableSchema, tableName)}_${tableName}`.slice(0, 128);
}

/** The TRUNCATE guard table of a tracked table, in the outbox schema. */
export function truncateGuardName(tableSchema: string, tableName: string): string {
  return `truncate_guard_${objectHash(tableSchema, tableName)}_${tableName}`.slice(0, 128);
}

type JsonKind = 'number' | 'bool' | 'plain' | 'escaped' | 'hex' | 'raw';

interface Encoding {
  kind: JsonKind;
  /** The value as nvarchar text (NULL for NULL). */
  text: (ref: string) => string;
}

const number = (text: (ref: string) => string): Encoding => ({ kind: 'number', text });
const plain = (text: (ref: string) => string): Encoding => ({ kind: 'plain', text });
const escaped = (text: (ref: string) => string): Encoding => ({ kind: 'escaped', text });

const INT_TYPES = new Set(['tinyint', 'smallint', 'int']);
const STRING_TYPES = new Set(['char', 'varchar', 'nchar', 'nvarchar']);
const DATETIME_TYPES = new Set(['datetime', 'smalldatetime', 'datetime2']);
const BINARY_TYPES = new Set(['binary', 'varbinary', 'timestamp']);
const CLR_TEXT_TYPES = new Set(['hierarchyid', 'geography', 'geometry']);

/** How a column's value is written into an image, or why it cannot be captured. */
export function encodingOf(col: ColumnInfo): Encoding | { unsupported: string } {
  const t = col.typeName.toLowerCase();
  if (t === 'bit') return { kind: 'bool', text: (r) => `CASE ${r} WHEN 1 THEN N'true' WHEN 0 THEN N'false' END` };
  if (INT_TYPES.has(t)) return number((r) => `CAST(${r} AS nvarchar(11))`);
  if (t === 'float' || t === 'real') return number((r) => `CONVERT(nvarchar(30), ${r}, 3)`);
  if (t === 'bigint') return plain((r) => `CAST(${r} AS nvarchar(20))`);
  if (t === 'decimal' || t === 'numeric') return plain((r) => `CAST(${r} AS nvarchar(50))`);
  if (t === 'money' || t === 'smallmoney') return plain((r) => `CAST(CAST(${r} AS decimal(19, 4)) AS nvarchar(30))`);
  if (STRING_TYPES.has(t)) return escaped((r) => `CAST(${r} AS nvarchar(max))`);
  if (t === 'uniqueidentifier') return plain((r) => `LOWER(CONVERT(nvarchar(36), ${r}))`);
  if (t === 'date') return plain((r) => `CONVERT(nvarchar(10), ${r}, 23)`);
  if (t === 'time') return plain((r) => `CAST(${r} AS nvarchar(16))`);
  if (DATETIME_TYPES.has(t)) return plain((r) => `CONVERT(nvarchar(27), ${r}, 126)`);
  if (t === 'datetimeoffset') return plain((r) => `CONVERT(nvarchar(27), CAST(SWITCHOFFSET(${r}, '+00:00') AS datetime2(${col.scale})), 126) + N'+00:00'`);
  if (BINARY_TYPES.has(t)) return { kind: 'hex', text: (r) => `N'\\x' + LOWER(CONVERT(nvarchar(max), CAST(${r} AS varbinary(max)), 2))` };
  if (t === 'xml') return escaped((r) => `CAST(${r} AS nvarchar(max))`);
  if (t === 'sql_variant') return escaped((r) => `CAST(${r} AS nvarchar(4000))`);
  if (CLR_TEXT_TYPES.has(t)) return escaped((r) => `${r}.ToString()`);
  if (t === 'json') return { kind: 'raw', text: (r) => `CAST(${r} AS nvarchar(max))` };
  if (t === 'text' || t === 'ntext' || t === 'image') {
    return { unsupported: `${t} columns cannot be read in an AFTER trigger; convert the column to ${t === 'image' ? 'varbinary(max)' : t === 'text' ? 'varchar(max)' : 'nvarchar(max)'} or exclude it` };
  }
  return { unsupported: `type ${col.typeName} has no JSON encoding in outbox-relay; exclude the column` };
}

function encoding(col: ColumnInfo): Encoding {
  const e = encodingOf(col);
  if ('unsupported' in e) {
    throw new OutboxError('NOT_SUPPORTED', `Column ${JSON.stringify(col.name)}: ${e.unsupported} (outbox track … --exclude ${col.name}).`, { context: { column: col.name, type: col.typeName } });
  }
  return e;
}

function ref(alias: string, col: ColumnInfo): string {
  return `${alias}.${quoteCatalogIdent(col.name)}`;
}

/** A column's value as a JSON fragment (nvarchar), or NULL when the value is NULL. */
export function jsonValue(alias: string, col: ColumnInfo): string {
  const e = encoding(col);
  const text = e.text(ref(alias, col));
  switch (e.kind) {
    case 'number':
    case 'bool':
    case 'raw':
      return text;
    case 'plain':
      return `N'"' + ${text} + N'"'`;
    case 'hex':
      // The JSON text "\\x0a" is the string \x0a, as PostgreSQL writes a bytea.
      return `N'"\\' + ${text} + N'"'`;
    case 'escaped':
      return `N'"' + STRING_ESCAPE(${text}, 'json') + N'"'`;
  }
}

/** A column's value as JSON string of its text form (attributes), or NULL. */
function jsonText(alias: string, col: ColumnInfo): string {
  const e = encoding(col);
  const text = e.text(ref(alias, col));
  return e.kind === 'plain' || e.kind === 'number' || e.kind === 'bool' ? `N'"' + ${text} + N'"'` : `N'"' + STRING_ESCAPE(${text}, 'json') + N'"'`;
}

/**
 * CONCAT of many parts as nvarchar(max). CONCAT takes at most 254 arguments and, with no LOB
 * argument, truncates to 4000 characters: the first part is cast to nvarchar(max) and long lists are
 * concatenated in chunks.
 */
export function concatAll(parts: string[]): string {
  if (parts.length === 0) return `CAST(N'' AS nvarchar(max))`;
  const all = [`CAST(${parts[0]} AS nvarchar(max))`, ...parts.slice(1)];
  const chunks: string[] = [];
  for (let i = 0; i < all.length; i += 200) {
    const chunk = all.slice(i, i + 200);
    chunks.push(chunk.length === 1 ? `CONCAT(${chunk[0]}, N'')` : `CONCAT(${chunk.join(', ')})`);
  }
  return chunks.length === 1 ? chunks[0]! : `CONCAT(${chunks.join(', ')})`;
}

/** A JSON object image of cols of row alias (the capture encoding; backfill and verify reuse it). */
export function jsonObject(alias: string, cols: ColumnInfo[], asText = false): string {
  if (cols.length === 0) return `CAST(N'{}' AS nvarchar(max))`;
  const parts: string[] = [];
  cols.forEach((c, i) => {
    parts.push(quoteLiteral(`${i === 0 ? '{' : ','}${JSON.stringify(c.name)}:`));
    parts.push(`ISNULL(${asText ? jsonText(alias, c) : jsonValue(alias, c)}, N'null')`);
  });
  parts.push(`N'}'`);
  return concatAll(parts);
}

/** Types whose "=" holds only for identical values: a cheap comparison that loses nothing. */
const EQUALS_IS_IDENTITY = new Set([
  'bit', 'tinyint', 'smallint', 'int', 'bigint', 'decimal', 'numeric', 'money', 'smallmoney', 'uniqueidentifier',
  'date', 'time', 'datetime', 'smalldatetime', 'datetime2', 'datetimeoffset', 'binary', 'varbinary', 'timestamp', 'hierarchyid',
]);

/** How an update tells that a value of this type changed (see distinct). */
export function compareKind(typeName: string): 'equals' | 'binary' | 'json' {
  const t = typeName.toLowerCase();
  if (EQUALS_IS_IDENTITY.has(t)) return 'equals';
  if (STRING_TYPES.has(t) || t === 'float' || t === 'real') return 'binary';
  return 'json';
}

/** Whether a key of this type is matched on its binary form (see keyRef). */
export function keyIsBinary(typeName: string): boolean {
  return STRING_TYPES.has(typeName.toLowerCase());
}

/**
 * Whether a column's value changed, NULL-safe (NOT EXISTS … INTERSECT). "=" is not enough for every
 * type: a case- or accent-insensitive collation calls 'a' and 'A' equal, float -0 = 0, and xml,
 * geography or json have no "=" at all. Those compare binary forms, so an update that changes what a
 * target would store is never skipped.
 */
export function distinct(col: ColumnInfo): string {
  const o = ref('o', col);
  const n = ref('n', col);
  const kind = compareKind(col.typeName);
  if (kind === 'equals') return `NOT EXISTS (SELECT ${o} INTERSECT SELECT ${n})`;
  if (kind === 'binary') return `NOT EXISTS (SELECT CAST(${o} AS varbinary(max)) INTERSECT SELECT CAST(${n} AS varbinary(max)))`;
  return `NOT EXISTS (SELECT CAST(${jsonValue('o', col)} AS varbinary(max)) INTERSECT SELECT CAST(${jsonValue('n', col)} AS varbinary(max)))`;
}

/** Key columns are matched on their binary form, so 'abc' → 'ABC' under a case-insensitive collation is a key change. */
function keyRef(alias: string, col: ColumnInfo): string {
  // Index keys are at most 1700 bytes: varbinary(1700) loses nothing and keeps the join hashable.
  return keyIsBinary(col.typeName) ? `CAST(${ref(alias, col)} AS varbinary(1700))` : ref(alias, col);
}

/**
 * Attributes of an update: the new value's text, or [old, new] when it changed — as the PostgreSQL
 * capture does; the relay publishes such an update as two messages (old values, new values), so a
 * target filtered on the column also receives the update that moves a row out of its share.
 */
function updateAttributes(attrs: ColumnInfo[]): string {
  const parts: string[] = [];
  attrs.forEach((c, i) => {
    parts.push(quoteLiteral(`${i === 0 ? '{' : ','}${JSON.stringify(c.name)}:`));
    const oldText = `ISNULL(${jsonText('o', c)}, N'null')`;
    const newText = `ISNULL(${jsonText('n', c)}, N'null')`;
    parts.push(`CASE WHEN ${distinct(c)} THEN CONCAT(N'[', ${oldText}, N',', ${newText}, N']') ELSE ${newText} END`);
  });
  parts.push(`N'}'`);
  return concatAll(parts);
}

export function buildCaptureTrigger(spec: CaptureSpec, quotedOutboxSchema: string, triggerName: string): string {
  return runtimeSql('sqlserver', 'capture_trigger', captureTriggerParams(spec, quotedOutboxSchema, triggerName));
}

/** The values of capture_trigger.sql's placeholders for a table. */
export function captureTriggerParams(spec: CaptureSpec, quotedOutboxSchema: string, triggerName: string): Record<string, string> {
  const byName = new Map(spec.captured.map((c) => [c.name, c]));
  const keys = spec.keyColumns.map((k) => byName.get(k)!);
  const attrs = spec.attributes.map((a) => byName.get(a)!);
  const nonKey = spec.captured.filter((c) => !spec.keyColumns.includes(c.name));
  const nameArray = (names: string[]) => quoteLiteral(JSON.stringify(names));
  const changed = nonKey.length
    ? `N'[' + ISNULL(STUFF(${concatAll(nonKey.map((c) => `CASE WHEN ${distinct(c)} THEN ${quoteLiteral(`,${JSON.stringify(c.name)}`)} END`))}, 1, 1, N''), N'') + N']'`
    : `N'[]'`;
  return {
    trigger: `${quoteCatalogIdent(spec.tableSchema)}.${quoteCatalogIdent(triggerName)}`,
    table: `${quoteCatalogIdent(spec.tableSchema)}.${quoteCatalogIdent(spec.tableName)}`,
    schema: quotedOutboxSchema,
    table_schema: quoteLiteral(spec.tableSchema),
    table_name: quoteLiteral(spec.tableName),
    key_new: jsonObject('n', keys),
    key_old: jsonObject('o', keys),
    image_new: jsonObject('n', spec.captured),
    image_old: jsonObject('o', spec.captured),
    attrs_new: attrs.length ? jsonObject('n', attrs, true) : 'CAST(NULL AS nvarchar(max))',
    attrs_old: attrs.length ? jsonObject('o', attrs, true) : 'CAST(NULL AS nvarchar(max))',
    attrs_update: attrs.length ? updateAttributes(attrs) : 'CAST(NULL AS nvarchar(max))',
    join: keys.map((k) => `${keyRef('o', k)} = ${keyRef('n', k)}`).join(' AND '),
    first_key: quoteCatalogIdent(keys[0]!.name),
    changed,
    any_changed: nonKey.length ? `(${nonKey.map(distinct).join(' OR ')})` : '1 = 0',
    all_columns: nameArray(spec.captured.map((c) => c.name)),
  };
}

/** A column's type as written in a CREATE TABLE, from the catalog (for the TRUNCATE guard). */
export function formatColumnType(col: ColumnInfo): string {
  const t = col.typeName.toLowerCase();
  const length = (bytes: number) => (col.maxLength === -1 ? 'max' : String(bytes));
  let type: string;
  if (t === 'char' || t === 'varchar' || t === 'binary' || t === 'varbinary') type = `${t}(${length(col.maxLength)})`;
  else if (t === 'nchar' || t === 'nvarchar') type = `${t}(${length(col.maxLength / 2)})`;
  else if (t === 'decimal' || t === 'numeric') type = `${t}(${col.precision}, ${col.scale})`;
  else if (t === 'datetime2' || t === 'time' || t === 'datetimeoffset') type = `${t}(${col.scale})`;
  else if (t === 'timestamp') type = 'binary(8)';
  else type = quoteCatalogIdent(col.typeName);
  if (col.collation !== null && /^[A-Za-z0-9_]+$/.test(col.collation)) type += ` COLLATE ${col.collation}`;
  return type;
}

/**
 * The TRUNCATE guard: an empty table whose foreign key references the tracked table's unique key.
 * SQL Server refuses TRUNCATE TABLE on a table referenced by a foreign key (error 4712), and no
 * trigger could have captured it. keyColumns must be, in order, the key columns of a unique index.
 */
export function buildTruncateGuard(quotedOutboxSchema: string, guardName: string, tableSchema: string, tableName: string, keyColumns: ColumnInfo[]): string {
  return runtimeSql('sqlserver', 'truncate_guard', {
    guard: `${quotedOutboxSchema}.${quoteCatalogIdent(guardName)}`,
    columns: keyColumns.map((c) => `${quoteCatalogIdent(c.name)} ${formatColumnType(c)} NULL`).join(', '),
    fk: quoteCatalogIdent(`FK_${guardName}`.slice(0, 128)),
    key_list: keyColumns.map((c) => quoteCatalogIdent(c.name)).join(', '),
    table: `${quoteCatalogIdent(tableSchema)}.${quoteCatalogIdent(tableName)}`,
  });
}

/**
 * A column's type as schema-change events spell it (docs/schema-changes.md): `nvarchar(40)`,
 * `varbinary(max)`, `decimal(10,2)`, `datetime2(3)`, else the type name. The DDL trigger's procedure
 * (sql/sqlserver/000003_schema_changes.sql) spells it the same way.
 */
export function columnTypeText(col: ColumnInfo): string {
  const t = col.typeName.toLowerCase();
  const length = (n: number) => (col.maxLength === -1 ? 'max' : String(n));
  if (t === 'char' || t === 'varchar' || t === 'binary' || t === 'varbinary') return `${t}(${length(col.maxLength)})`;
  if (t === 'nchar' || t === 'nvarchar') return `${t}(${length(Math.floor(col.maxLength / 2))})`;
  if (t === 'decimal' || t === 'numeric') return `${t}(${col.precision},${col.scale})`;
  if (t === 'datetime2' || t === 'time' || t === 'datetimeoffset') return `${t}(${col.scale})`;
  return t;
}

/**
 * The capture trigger template as the DDL trigger's procedure fills it: placeholders stand only in
 * code (it fills in one pass, with no lexer), so a "{{" in a comment is written "{ {".
 */
export function captureTemplateForDatabase(): string {
  return compileTemplate(readRuntimeSql('sqlserver', 'capture_trigger'), 'sqlserver')
    .map((p) => {
      if ('text' in p) return p.text.replaceAll('{{', '{ {');
      if (p.place !== 'code') throw new Error(`sql/sqlserver/runtime/capture_trigger.sql: placeholder {{${p.placeholder}}} must stand in code`);
      return `{{${p.placeholder}}}`;
    })
    .join('');
}

/** The name of an outbox schema's database DDL trigger (database triggers are not in a schema). */
export function ddlTriggerName(outboxSchema: string): string {
  return `outbox_ddl_${outboxSchema}`.slice(0, 128);
}

export function buildDdlTrigger(outboxSchema: string, quotedOutboxSchema: string): string {
  return runtimeSql('sqlserver', 'ddl_trigger', {
    trigger: quoteCatalogIdent(ddlTriggerName(outboxSchema)),
    schema: quotedOutboxSchema,
    procedure: quoteLiteral(`${quotedOutboxSchema}.capture_on_ddl`),
  });
}
