/**
 * The type a column added by a schema change gets at a database target, from the type the source
 * catalog spells (PostgreSQL or SQL Server) and what the target's mapping does to the column's values
 * (a masked, hashed or encrypted column holds text; a converted one the conversion's output). The
 * table is in docs/schema-changes.md ("Type mapping"); anything not in it becomes text, which every
 * value of the capture's JSON encoding fits.
 *
 * A source type reaches DDL only through this table: the parsed name must be one it knows and the
 * sizes are digits, so nothing from the catalog is spliced into SQL as it came.
 */
export type SourceDialect = 'postgres' | 'sqlserver';
export type TargetDialect = 'postgres' | 'mysql';

/** What a transform writes into the column instead of the source value. */
export type ValueOutput = 'text' | 'double' | 'boolean' | 'bigint';

export type TypeFamily = 'int' | 'numeric' | 'float' | 'bool' | 'varchar' | 'char' | 'text' | 'date' | 'timestamp' | 'timestamptz' | 'time' | 'uuid' | 'json' | 'binary' | 'other';

export interface TargetType {
  /** The type as it goes into ADD COLUMN / ALTER. */
  sql: string;
  family: TypeFamily;
  /** int: bytes (2, 4, 8; 1 for MariaDB TINYINT); varchar/char: length; float: 4 or 8. */
  size?: number;
  precision?: number;
  scale?: number;
  /** The source type was not in the table and the column holds text. */
  fallback?: boolean;
}

export interface ColumnType {
  dialect: SourceDialect;
  /** As the source catalog spells it. */
  type: string;
  output?: ValueOutput;
}

interface ParsedType {
  name: string;
  args: (number | 'max')[];
  array: boolean;
  timeZone: boolean;
}

/** `character varying(40)`, `numeric(10,2)`, `timestamp(3) with time zone`, `nvarchar(max)`, `integer[]`. */
export function parseSourceType(type: string): ParsedType | undefined {
  let text = type.trim().toLowerCase().replace(/\s+/g, ' ');
  const timeZone = / with time zone$/.test(text);
  text = text.replace(/ with(out)? time zone$/, '');
  const match = /^([a-z][a-z0-9_ ]*?) ?(?:\(([0-9a-z, ]+)\))?((?:\[\])*)$/.exec(text);
  if (!match) return undefined;
  const args = match[2] === undefined ? [] : match[2].split(',').map((a) => a.trim());
  if (!args.every((a) => /^\d{1,5}$/.test(a) || a === 'max')) return undefined;
  return { name: match[1]!, args: args.map((a) => (a === 'max' ? 'max' : Number(a))), array: match[3] !== '', timeZone };
}

const PG_INT: Record<string, number> = { smallint: 2, int2: 2, integer: 4, int: 4, int4: 4, bigint: 8, int8: 8, smallserial: 2, serial: 4, bigserial: 8 };
const MSSQL_INT: Record<string, number> = { tinyint: 1, smallint: 2, int: 4, bigint: 8 };

/** The source type in the target-neutral terms the table works with. */
function neutral(dialect: SourceDialect, t: ParsedType): Omit<TargetType, 'sql'> {
  const n = t.name;
  const num = (i: number) => (typeof t.args[i] === 'number' ? (t.args[i] as number) : undefined);
  const length = t.args[0] === 'max' ? undefined : num(0);
  if (dialect === 'postgres') {
    if (n in PG_INT) return { family: 'int', size: PG_INT[n]! };
    if (n === 'numeric' || n === 'decimal') return { family: 'numeric', ...(num(0) !== undefined ? { precision: num(0)!, scale: num(1) ?? 0 } : {}) };
    if (n === 'real' || n === 'float4') return { family: 'float', size: 4 };
    if (n === 'double precision' || n === 'float8') return { family: 'float', size: 8 };
    if (n === 'boolean' || n === 'bool') return { family: 'bool' };
    if (n === 'character varying' || n === 'varchar') return length === undefined ? { family: 'text' } : { family: 'varchar', size: length };
    if (n === 'character' || n === 'char' || n === 'bpchar') return { family: 'char', size: length ?? 1 };
    if (n === 'text' || n === 'citext' || n === 'name') return { family: 'text' };
    if (n === 'date') return { family: 'date' };
    if (n === 'timestamp') return { family: t.timeZone ? 'timestamptz' : 'timestamp', ...(num(0) !== undefined ? { precision: num(0)! } : {}) };
    if (n === 'timestamptz') return { family: 'timestamptz', ...(num(0) !== undefined ? { precision: num(0)! } : {}) };
    if (n === 'time' && !t.timeZone) return { family: 'time' };
    if (n === 'uuid') return { family: 'uuid' };
    if (n === 'json' || n === 'jsonb') return { family: 'json' };
    if (n === 'bytea') return { family: 'binary' };
    return { family: 'text', fallback: true };
  }
  if (n in MSSQL_INT) return { family: 'int', size: MSSQL_INT[n]! };
  if (n === 'numeric' || n === 'decimal') return { family: 'numeric', precision: num(0) ?? 18, scale: num(1) ?? 0 };
  if (n === 'money') return { family: 'numeric', precision: 19, scale: 4 };
  if (n === 'smallmoney') return { family: 'numeric', precision: 10, scale: 4 };
  if (n === 'real') return { family: 'float', size: 4 };
  if (n === 'float') return { family: 'float', size: (num(0) ?? 53) <= 24 ? 4 : 8 };
  if (n === 'bit') return { family: 'bool' };
  if (n === 'varchar' || n === 'nvarchar') return length === undefined ? { family: 'text' } : { family: 'varchar', size: length };
  if (n === 'char' || n === 'nchar') return { family: 'char', size: length ?? 1 };
  if (n === 'text' || n === 'ntext' || n === 'xml' || n === 'sysname') return { family: 'text' };
  if (n === 'date') return { family: 'date' };
  if (n === 'datetime' || n === 'smalldatetime') return { family: 'timestamp', precision: 3 };
  if (n === 'datetime2') return { family: 'timestamp', precision: num(0) ?? 7 };
  if (n === 'datetimeoffset') return { family: 'timestamptz', precision: num(0) ?? 7 };
  if (n === 'time') return { family: 'time' };
  if (n === 'uniqueidentifier') return { family: 'uuid' };
  if (n === 'binary' || n === 'varbinary' || n === 'image' || n === 'rowversion' || n === 'timestamp') return { family: 'binary' };
  return { family: 'text', fallback: true };
}

/** MariaDB caps: VARCHAR of utf8mb4 up to 16383 characters, CHAR up to 255, DECIMAL(65,30), fractional seconds 6. */
const MYSQL_VARCHAR_MAX = 16_383;

function render(target: TargetDialect, n: Omit<TargetType, 'sql'>, array: boolean): TargetType {
  if (array) return target === 'postgres' ? { ...render(target, n, false), sql: `${render(target, n, false).sql}[]`, family: 'other' } : { family: 'json', sql: 'JSON' };
  const pg = target === 'postgres';
  const p = (v: number | undefined, max: number) => Math.min(v ?? max, max);
  switch (n.family) {
    case 'int':
      if (pg) return { ...n, size: Math.max(n.size!, 2), sql: n.size! >= 8 ? 'bigint' : n.size! >= 4 ? 'integer' : 'smallint' };
      return { ...n, sql: n.size! >= 8 ? 'BIGINT' : n.size! >= 4 ? 'INT' : n.size! >= 2 ? 'SMALLINT' : 'TINYINT UNSIGNED' };
    case 'numeric':
      if (n.precision === undefined) return pg ? { ...n, sql: 'numeric' } : { ...n, precision: 65, scale: 30, sql: 'DECIMAL(65,30)' };
      if (pg) return { ...n, sql: `numeric(${n.precision},${n.scale ?? 0})` };
      return { ...n, precision: p(n.precision, 65), scale: p(n.scale, 30), sql: `DECIMAL(${p(n.precision, 65)},${p(n.scale, 30)})` };
    case 'float':
      return { ...n, sql: n.size === 4 ? (pg ? 'real' : 'FLOAT') : pg ? 'double precision' : 'DOUBLE' };
    case 'bool':
      return { ...n, sql: pg ? 'boolean' : 'BOOLEAN' };
    case 'varchar':
      if (pg) return { ...n, sql: `varchar(${n.size})` };
      return n.size! <= MYSQL_VARCHAR_MAX ? { ...n, sql: `VARCHAR(${n.size})` } : { family: 'text', sql: 'LONGTEXT' };
    case 'char':
      if (pg) return { ...n, sql: `char(${n.size})` };
      return n.size! <= 255 ? { ...n, sql: `CHAR(${n.size})` } : { family: 'varchar', size: n.size!, sql: `VARCHAR(${Math.min(n.size!, MYSQL_VARCHAR_MAX)})` };
    case 'text':
      return { ...n, sql: pg ? 'text' : 'LONGTEXT' };
    case 'date':
      return { ...n, sql: pg ? 'date' : 'DATE' };
    case 'timestamp':
      return { ...n, sql: pg ? `timestamp(${p(n.precision, 6)})` : `DATETIME(${p(n.precision, 6)})` };
    case 'timestamptz':
      // MariaDB has no zoned type: the writer stores UTC (the session runs at time_zone '+00:00').
      return { ...n, sql: pg ? `timestamptz(${p(n.precision, 6)})` : `DATETIME(${p(n.precision, 6)})` };
    case 'time':
      return { ...n, sql: pg ? 'time' : 'TIME(6)' };
    case 'uuid':
      return { ...n, sql: pg ? 'uuid' : 'CHAR(36)' };
    case 'json':
      return { ...n, sql: pg ? 'jsonb' : 'JSON' };
    case 'binary':
      return { ...n, sql: pg ? 'bytea' : 'LONGBLOB' };
    default:
      return { ...n, family: 'text', sql: pg ? 'text' : 'LONGTEXT' };
  }
}

const OUTPUT_TYPES: Record<ValueOutput, Omit<TargetType, 'sql'>> = {
  text: { family: 'text' },
  double: { family: 'float', size: 8 },
  boolean: { family: 'bool' },
  bigint: { family: 'int', size: 8 },
};

/** The target type of a column: from its transform's output when the mapping rewrites its values, else from the source type. */
export function targetColumnType(column: ColumnType, target: TargetDialect): TargetType {
  if (column.output) return render(target, OUTPUT_TYPES[column.output], false);
  const parsed = parseSourceType(column.type);
  if (!parsed) return render(target, { family: 'text', fallback: true }, false);
  return render(target, neutral(column.dialect, parsed), parsed.array);
}

const INT_DIGITS: Record<number, number> = { 1: 3, 2: 5, 4: 10, 8: 19 };

/**
 * Whether ALTER from one target type to the other keeps every value as it is (a widening): the same
 * type; a larger integer; an integer into a numeric with room for its digits; a numeric with at least
 * as many integer and fraction digits; real to double; a longer varchar; varchar or char to text.
 * Anything else (narrowing, or a change of kind) could fail or change values: the target stops on it.
 */
export function isWidening(from: TargetType, to: TargetType): boolean {
  if (from.sql === to.sql) return true;
  if (from.family === 'int' && to.family === 'int') return to.size! >= from.size!;
  if (from.family === 'int' && to.family === 'numeric') return to.precision === undefined || to.precision - (to.scale ?? 0) >= INT_DIGITS[from.size!]!;
  if (from.family === 'numeric' && to.family === 'numeric') {
    if (to.precision === undefined) return true;
    if (from.precision === undefined) return false;
    return (to.scale ?? 0) >= (from.scale ?? 0) && to.precision - (to.scale ?? 0) >= from.precision - (from.scale ?? 0);
  }
  if (from.family === 'float' && to.family === 'float') return to.size! >= from.size!;
  if (from.family === 'varchar' && to.family === 'varchar') return to.size! >= from.size!;
  if ((from.family === 'varchar' || from.family === 'char') && to.family === 'text') return true;
  return false;
}
