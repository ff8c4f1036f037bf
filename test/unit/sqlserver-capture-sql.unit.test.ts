import { describe, expect, it } from 'vitest';
import type { ColumnInfo } from '../../src/source/sqlserver/catalog.js';
import {
  buildCaptureTrigger,
  buildTruncateGuard,
  captureTemplateForDatabase,
  captureTriggerName,
  columnTypeText,
  compareKind,
  concatAll,
  encodingOf,
  formatColumnType,
  jsonObject,
  keyIsBinary,
  quoteCatalogIdent,
  truncateGuardName,
} from '../../src/source/sqlserver/capture-sql.js';
import { splitBatches } from '../../src/source/sqlserver/batches.js';
import { uniqueKeyOrder } from '../../src/source/sqlserver/track.js';
import { checkDdlTrigger } from '../../src/source/sqlserver/doctor.js';
import { listMigrations } from '../../src/sql/files.js';

function col(name: string, typeName: string, extra: Partial<ColumnInfo> = {}): ColumnInfo {
  return { name, typeName, maxLength: 8, precision: 0, scale: 0, collation: null, nullable: true, computed: false, ...extra };
}

const columns: ColumnInfo[] = [
  col('id', 'bigint', { nullable: false }),
  col('name', 'nvarchar', { maxLength: 200, collation: 'Latin1_General_CI_AS' }),
  col('we]ird name', 'int'),
  col('a.b', 'decimal', { precision: 20, scale: 4 }),
  col("O'Brien", 'datetimeoffset', { scale: 3 }),
  col('born', 'datetime2', { scale: 7 }),
  col('blob', 'varbinary', { maxLength: -1 }),
  col('uid', 'uniqueidentifier'),
  col('active', 'bit'),
  col('ratio', 'float'),
  col('price', 'money'),
  col('tenant_id', 'int'),
];
const secret = col('secret_token', 'nvarchar', { maxLength: 100 });

function trigger(captured = columns, keyColumns = ['id'], attributes = ['tenant_id']) {
  return buildCaptureTrigger({ outboxSchema: 'outbox', tableSchema: 'dbo', tableName: 'customers', keyColumns, captured, attributes }, '[outbox]', captureTriggerName('dbo', 'customers'));
}

/** Parentheses balance outside string literals and bracketed names. */
function balanced(sql: string): boolean {
  let depth = 0;
  let state: 'code' | 'string' | 'bracket' = 'code';
  for (let i = 0; i < sql.length; i++) {
    const ch = sql[i];
    if (state === 'string') {
      if (ch === "'") state = 'code';
    } else if (state === 'bracket') {
      if (ch === ']') {
        if (sql[i + 1] === ']') i++;
        else state = 'code';
      }
    } else if (ch === "'") state = 'string';
    else if (ch === '[') state = 'bracket';
    else if (ch === '(') depth++;
    else if (ch === ')' && --depth < 0) return false;
  }
  return depth === 0 && state === 'code';
}

describe('SQL Server capture trigger SQL', () => {
  const sql = trigger();
  const body = sql.slice(sql.indexOf('CREATE OR ALTER TRIGGER'));

  it('is one batch that starts with CREATE OR ALTER TRIGGER on the table, for insert, update and delete', () => {
    const batches = splitBatches(sql);
    expect(batches).toHaveLength(1);
    expect(batches[0]!.text.replace(/^(\s*--.*\n)*/, '')).toMatch(/^CREATE OR ALTER TRIGGER \[dbo\]\.\[outbox_capture_[0-9a-f]{8}_customers\] ON \[dbo\]\.\[customers\]\nAFTER INSERT, UPDATE, DELETE/);
    expect(body).not.toContain('{{');
    expect(balanced(body)).toBe(true);
  });

  it('is set-based: one INSERT … SELECT from deleted FULL JOIN inserted on the key', () => {
    expect(body.match(/INSERT INTO \[outbox\]\.events/g)).toHaveLength(1);
    expect(body).toContain('FROM deleted o FULL JOIN inserted n ON o.[id] = n.[id]');
    expect(body).toContain("CASE WHEN o.[id] IS NULL THEN 'insert' WHEN n.[id] IS NULL THEN 'delete' ELSE 'update' END");
    expect(body).toMatch(/WHERE o\.\[id\] IS NULL OR n\.\[id\] IS NULL OR \(NOT EXISTS/);
  });

  it('joins string keys on their binary form', () => {
    const s = trigger([col('code', 'nvarchar', { maxLength: 40 }), col('v', 'int')], ['code'], []);
    expect(s).toContain('ON CAST(o.[code] AS varbinary(1700)) = CAST(n.[code] AS varbinary(1700))');
  });

  it('bracket-quotes odd catalog names and writes JSON keys as escaped literals (dots are not nesting)', () => {
    expect(quoteCatalogIdent('we]ird name')).toBe('[we]]ird name]');
    expect(body).toContain('n.[we]]ird name]');
    expect(body).toContain(`N',"we]ird name":'`);
    expect(body).toContain(`N',"a.b":'`);
    expect(body).toContain(`n.[O'Brien]`);
    expect(body).toContain(`N',"O''Brien":'`);
  });

  it('never mentions an excluded column', () => {
    const withSecret = trigger(columns, ['id'], ['tenant_id']);
    expect(withSecret).not.toContain('secret_token');
    const all = trigger([...columns, secret]);
    expect(all).toContain('secret_token');
  });

  it('encodes values like PostgreSQL: bigint/decimal/money as strings, UTC offsets, hex binary, lower-case uuid', () => {
    expect(body).toContain(`N'"' + CAST(n.[id] AS nvarchar(20)) + N'"'`);
    expect(body).toContain(`N'"' + CAST(n.[a.b] AS nvarchar(50)) + N'"'`);
    expect(body).toContain(`CAST(CAST(n.[price] AS decimal(19, 4)) AS nvarchar(30))`);
    expect(body).toContain(`CONVERT(nvarchar(27), CAST(SWITCHOFFSET(n.[O'Brien], '+00:00') AS datetime2(3)), 126) + N'+00:00'`);
    expect(body).toContain(`CONVERT(nvarchar(27), n.[born], 126)`);
    expect(body).toContain(`N'"\\' + N'\\x' + LOWER(CONVERT(nvarchar(max), CAST(n.[blob] AS varbinary(max)), 2)) + N'"'`);
    expect(body).toContain(`LOWER(CONVERT(nvarchar(36), n.[uid]))`);
    expect(body).toContain(`CASE n.[active] WHEN 1 THEN N'true' WHEN 0 THEN N'false' END`);
    expect(body).toContain(`CONVERT(nvarchar(30), n.[ratio], 3)`);
    expect(body).toContain(`STRING_ESCAPE(CAST(n.[name] AS nvarchar(max)), 'json')`);
    expect(body).toContain(`ISNULL(CAST(n.[we]]ird name] AS nvarchar(11)), N'null')`);
    expect(body).not.toMatch(/FOR JSON/);
  });

  it('writes attribute values as JSON text, and a typed NULL when the table has none', () => {
    expect(body).toContain(`CAST(N'{"tenant_id":' AS nvarchar(max))`);
    expect(body).toContain(`N'"' + CAST(n.[tenant_id] AS nvarchar(11)) + N'"'`);
    const none = trigger(columns, ['id'], []);
    expect(none).toContain('ELSE CAST(NULL AS nvarchar(max)) END');
  });

  it('gives an update whose attribute value changed [old, new], like the PostgreSQL capture', () => {
    expect(body).toContain('ELSE CONCAT(');
    expect(body).toMatch(/CASE WHEN NOT EXISTS \(SELECT o\.\[tenant_id\] INTERSECT SELECT n\.\[tenant_id\]\) THEN CONCAT\(N'\[', ISNULL\(N'"' \+ CAST\(o\.\[tenant_id\]/);
    expect(body).toContain("WHEN o.[id] IS NULL THEN CONCAT(CAST(N'{\"tenant_id\":'");
  });

  it('detects changes NULL-safely, and by binary form where "=" forgives (collations, float -0)', () => {
    expect(body).toContain('NOT EXISTS (SELECT o.[we]]ird name] INTERSECT SELECT n.[we]]ird name])');
    expect(body).toContain('NOT EXISTS (SELECT CAST(o.[name] AS varbinary(max)) INTERSECT SELECT CAST(n.[name] AS varbinary(max)))');
    expect(body).toContain('NOT EXISTS (SELECT CAST(o.[ratio] AS varbinary(max)) INTERSECT SELECT CAST(n.[ratio] AS varbinary(max)))');
    // the key is not a "changed" column
    expect(body).not.toContain('SELECT o.[id] INTERSECT');
    expect(body).toContain(`THEN N',"name"' END`);
  });

  it('lists every captured column for an insert', () => {
    expect(body).toContain(`N'["id","name","we]ird name","a.b","O''Brien","born","blob","uid","active","ratio","price","tenant_id"]'`);
  });

  it('a table with only key columns writes an empty changed list and never reports an update', () => {
    const s = trigger([col('id', 'int')], ['id'], []);
    expect(s).toContain(`OR 1 = 0;`);
    expect(s).toContain(`ELSE N'[]' END`);
  });

  it('refuses columns that have no encoding (text/ntext/image, unknown types)', () => {
    expect(encodingOf(col('notes', 'text'))).toEqual({ unsupported: expect.stringContaining('varchar(max)') });
    expect(encodingOf(col('pic', 'image'))).toEqual({ unsupported: expect.stringContaining('varbinary(max)') });
    expect(encodingOf(col('v', 'vector'))).toEqual({ unsupported: expect.stringContaining('exclude') });
    expect(() => trigger([col('id', 'int'), col('notes', 'ntext')], ['id'], [])).toThrow(/notes/);
  });

  it('builds JSON objects with CONCAT in chunks, as nvarchar(max) (no 4000-character truncation)', () => {
    expect(jsonObject('n', [])).toBe(`CAST(N'{}' AS nvarchar(max))`);
    expect(concatAll(["N'a'"])).toBe(`CONCAT(CAST(N'a' AS nvarchar(max)), N'')`);
    const many = Array.from({ length: 300 }, (_, i) => col(`c${i}`, 'int'));
    const obj = jsonObject('n', many);
    expect(obj.startsWith('CONCAT(CONCAT(CAST(')).toBe(true);
    expect(balanced(obj)).toBe(true);
    for (const match of obj.matchAll(/CONCAT\(/g)) expect(match).toBeTruthy();
  });
});

describe('SQL Server TRUNCATE guard', () => {
  it('is an empty table in the outbox schema whose foreign key references the unique key', () => {
    const key = [col('tenant', 'int'), col('code', 'nvarchar', { maxLength: 40, collation: 'Latin1_General_CI_AS' })];
    const sql = buildTruncateGuard('[outbox]', truncateGuardName('dbo', 'items'), 'dbo', 'items', key);
    expect(sql).toMatch(/CREATE TABLE \[outbox\]\.\[truncate_guard_[0-9a-f]{8}_items\] \(/);
    expect(sql).toContain('[tenant] [int] NULL, [code] nvarchar(20) COLLATE Latin1_General_CI_AS NULL');
    expect(sql).toMatch(/CONSTRAINT \[FK_truncate_guard_[0-9a-f]{8}_items\] FOREIGN KEY \(\[tenant\], \[code\]\) REFERENCES \[dbo\]\.\[items\] \(\[tenant\], \[code\]\)/);
    expect(splitBatches(sql)).toHaveLength(1);
  });

  it('formats column types from the catalog', () => {
    expect(formatColumnType(col('a', 'varchar', { maxLength: -1 }))).toBe('varchar(max)');
    expect(formatColumnType(col('a', 'nchar', { maxLength: 20 }))).toBe('nchar(10)');
    expect(formatColumnType(col('a', 'decimal', { precision: 18, scale: 2 }))).toBe('decimal(18, 2)');
    expect(formatColumnType(col('a', 'datetime2', { scale: 3 }))).toBe('datetime2(3)');
    expect(formatColumnType(col('a', 'timestamp'))).toBe('binary(8)');
    expect(formatColumnType(col('a', 'uniqueidentifier'))).toBe('[uniqueidentifier]');
  });

  it('is only possible when the key columns are exactly those of a unique index, in its order', () => {
    const info = { uniqueKeys: [['id'], ['tenant', 'code']] };
    expect(uniqueKeyOrder(info, ['id'])).toEqual(['id']);
    expect(uniqueKeyOrder(info, ['code', 'tenant'])).toEqual(['tenant', 'code']);
    expect(uniqueKeyOrder(info, ['code'])).toBeNull();
  });

  it('names stay within 128 characters and differ per table', () => {
    const long = 'x'.repeat(128);
    expect(captureTriggerName('dbo', long).length).toBe(128);
    expect(truncateGuardName('dbo', long).length).toBe(128);
    expect(captureTriggerName('a', 't')).not.toBe(captureTriggerName('b', 't'));
  });
});

describe('SQL Server capture rebuilt by the DDL trigger (migration 000003)', () => {
  const migration = listMigrations('sqlserver').find((m) => m.version === 3)!.text;
  const rows = [...migration.matchAll(/\(N'(\w+)', '(\w+)', '(\w+)', ([01]), N'((?:[^']|'')*)'\)/g)].map((m) => ({
    type: m[1]!,
    kind: m[2]!,
    compare: m[3]!,
    keyBinary: m[4] === '1',
    expr: m[5]!.replace(/''/g, "'"),
  }));

  it('encodes every type exactly as outbox track does (capture_encodings = encodingOf, compareKind, keyIsBinary)', () => {
    expect(rows.length).toBe(31);
    for (const row of rows) {
      const c = col('x', row.type, { scale: 5 });
      const e = encodingOf(c);
      if ('unsupported' in e) throw new Error(`${row.type} has no encoding in capture-sql.ts`);
      expect(row.kind, row.type).toBe(e.kind);
      expect(row.expr.replace('{s}', '5').replace('{r}', 'REF'), row.type).toBe(e.text('REF'));
      expect(row.compare, row.type).toBe(compareKind(row.type));
      expect(row.keyBinary, row.type).toBe(keyIsBinary(row.type));
    }
  });

  it('knows no type that capture-sql.ts refuses, and refuses none it encodes', () => {
    const known = new Set(rows.map((r) => r.type));
    for (const t of ['text', 'ntext', 'image', 'vector']) expect(known.has(t)).toBe(false);
    for (const t of ['bit', 'int', 'nvarchar', 'datetimeoffset', 'geography', 'json', 'timestamp']) expect(known.has(t)).toBe(true);
  });

  it('spells types for schema-change events as docs/schema-changes.md does', () => {
    expect(columnTypeText(col('a', 'nvarchar', { maxLength: 80 }))).toBe('nvarchar(40)');
    expect(columnTypeText(col('a', 'nvarchar', { maxLength: -1 }))).toBe('nvarchar(max)');
    expect(columnTypeText(col('a', 'varbinary', { maxLength: 16 }))).toBe('varbinary(16)');
    expect(columnTypeText(col('a', 'decimal', { precision: 10, scale: 2 }))).toBe('decimal(10,2)');
    expect(columnTypeText(col('a', 'datetime2', { scale: 3 }))).toBe('datetime2(3)');
    expect(columnTypeText(col('a', 'int'))).toBe('int');
  });

  it('the template stored for the DDL trigger has placeholders in code only, and no "{{" in its comments', () => {
    const template = captureTemplateForDatabase();
    const code = template.slice(template.indexOf('CREATE OR ALTER TRIGGER'));
    const header = template.slice(0, template.indexOf('CREATE OR ALTER TRIGGER'));
    expect(header).not.toContain('{{');
    expect(header).toContain('{ {trigger}}');
    expect(code).toContain('{{trigger}}');
  });

  it('doctor warns when the database DDL trigger is missing or disabled', () => {
    expect(checkDdlTrigger('outbox', { is_disabled: false })).toBeNull();
    expect(checkDdlTrigger('outbox', undefined)).toMatchObject({ severity: 'warning', check: 'schema-changes', message: expect.stringContaining('outbox_ddl_outbox is missing') });
    expect(checkDdlTrigger('outbox', { is_disabled: true })?.message).toContain('is disabled');
  });
});
