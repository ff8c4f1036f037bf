/**
 * The T-SQL parse gate (test/helpers/tsql.ts): every shipped SQL Server batch and every generated
 * trigger parses with the real grammar, as exactly the statement it is meant to be. One file, so the
 * parser warms up once.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { PACKAGE_ROOT, fillPlaceholders, listMigrations, readRuntimeSql, runtimeSql } from '../../src/sql/files.js';
import type { ColumnInfo } from '../../src/source/sqlserver/catalog.js';
import {
  buildCaptureTrigger,
  buildDdlTrigger,
  buildTruncateGuard,
  captureTemplateForDatabase,
  captureTriggerParams,
  captureTriggerName,
  truncateGuardName,
} from '../../src/source/sqlserver/capture-sql.js';
import { splitBatches } from '../../src/source/sqlserver/batches.js';
import { parseTsql } from '../helpers/tsql.js';

function col(name: string, typeName: string, extra: Partial<ColumnInfo> = {}): ColumnInfo {
  return { name, typeName, maxLength: 8, precision: 0, scale: 0, collation: null, nullable: true, computed: false, ...extra };
}

/** Names a catalog may hold: a newline, quotes, comment markers, brackets, a placeholder, unicode. */
const HOSTILE_NAMES = [
  'line\nbreak',
  "it's",
  'dq"uote',
  'dash -- dash',
  'end */ comment',
  'open /* comment',
  'br]acket',
  '[bracketed]',
  '{{schema}}',
  'ünïcödé 名前 🚀',
  "x\n; DROP TABLE dbo.t; --",
  'GO',
];

/** Every type the capture encodes. */
const ALL_TYPES: ColumnInfo[] = [
  col('bit_c', 'bit'),
  col('tiny_c', 'tinyint'),
  col('small_c', 'smallint'),
  col('int_c', 'int'),
  col('big_c', 'bigint'),
  col('dec_c', 'decimal', { precision: 20, scale: 4 }),
  col('num_c', 'numeric', { precision: 10, scale: 2 }),
  col('money_c', 'money'),
  col('smallmoney_c', 'smallmoney'),
  col('float_c', 'float'),
  col('real_c', 'real'),
  col('char_c', 'char', { maxLength: 10, collation: 'Latin1_General_CI_AS' }),
  col('varchar_c', 'varchar', { maxLength: -1 }),
  col('nchar_c', 'nchar', { maxLength: 20 }),
  col('nvarchar_c', 'nvarchar', { maxLength: 80 }),
  col('uid_c', 'uniqueidentifier'),
  col('date_c', 'date'),
  col('time_c', 'time', { scale: 7 }),
  col('datetime_c', 'datetime'),
  col('smalldatetime_c', 'smalldatetime'),
  col('datetime2_c', 'datetime2', { scale: 3 }),
  col('dto_c', 'datetimeoffset', { scale: 7 }),
  col('binary_c', 'binary', { maxLength: 16 }),
  col('varbinary_c', 'varbinary', { maxLength: -1 }),
  col('rv_c', 'timestamp'),
  col('xml_c', 'xml'),
  col('variant_c', 'sql_variant'),
  col('hier_c', 'hierarchyid'),
  col('geog_c', 'geography'),
  col('geom_c', 'geometry'),
  col('json_c', 'json'),
];

function trigger(tableName: string, captured: ColumnInfo[], keyColumns: string[], attributes: string[]): string {
  return buildCaptureTrigger({ outboxSchema: 'outbox', tableSchema: 'dbo', tableName, keyColumns, captured, attributes }, '[outbox]', captureTriggerName('dbo', tableName));
}

function expectStatements(sql: string, statements: string[], what: string): void {
  const batches = splitBatches(sql);
  expect(batches, what).toHaveLength(1);
  const parsed = parseTsql(batches[0]!.text);
  expect(parsed.errors, what).toEqual([]);
  expect(parsed.statements, what).toEqual(statements);
}

/** The header comment lines of a runtime file, exactly as written (nothing was filled into them). */
function expectHeaderIntact(sql: string, file: string): void {
  const header = readRuntimeSql('sqlserver', file).split('\n').filter((l) => l.startsWith('--'));
  expect(sql.split('\n').slice(0, header.length)).toEqual(header);
}

beforeAll(() => {
  // The first parse builds the grammar's DFA cache (≈ 1.5 s); every later one reuses it.
  parseTsql('SELECT 1;');
}, 120_000);

describe('T-SQL parse gate: shipped batches', { timeout: 120_000 }, () => {
  // One test per batch: a long synchronous parse must not starve the test worker's event loop.
  const batches = listMigrations('sqlserver').flatMap((file) =>
    splitBatches(fillPlaceholders(file.text, { schema: '[outbox]' }, 'sqlserver')).map((batch) => ({ where: `${file.name} line ${batch.line}`, text: batch.text })),
  );
  let allowListed = 0;
  it.each(batches)('migration batch $where parses as one statement', ({ where, text }) => {
    const parsed = parseTsql(text);
    expect(parsed.errors, where).toEqual([]);
    expect(parsed.statements, where).toHaveLength(1);
    allowListed += parsed.allowListed;
  });

  it('only NEXT VALUE FOR (the outbox seq default) was allow-listed in the migrations', () => {
    expect(batches.length).toBeGreaterThan(20);
    expect(allowListed).toBe(1);
  });

  it('every runtime query parses', () => {
    const generated = new Set(['capture_trigger', 'truncate_guard', 'ddl_trigger']);
    const files = readdirSync(join(PACKAGE_ROOT, 'sql', 'sqlserver', 'runtime')).map((f) => f.replace(/\.sql$/, '')).filter((f) => !generated.has(f));
    expect(files.length).toBeGreaterThan(8);
    for (const file of files) {
      const sql = runtimeSql('sqlserver', file, { schema: '[outbox]', schema_literal: "N'outbox'" });
      const parsed = parseTsql(sql);
      expect(parsed.errors, file).toEqual([]);
      expect(parsed.statements.length, file).toBeGreaterThan(0);
    }
  }, 30_000);

  it('the DDL trigger is one CREATE TRIGGER ON DATABASE', () => {
    const sql = buildDdlTrigger('outbox', '[outbox]');
    expectStatements(sql, ['create_or_alter_trigger'], 'ddl trigger');
    expect(parseTsql(sql).allowListed).toBe(2);
    expect(sql).toMatch(/CREATE OR ALTER TRIGGER \[outbox_ddl_outbox\] ON DATABASE\nWITH EXECUTE AS SELF\nAFTER ALTER_TABLE, RENAME, DROP_TABLE/);
    expectHeaderIntact(sql, 'ddl_trigger');
  });
});

describe('T-SQL parse gate: generated triggers', { timeout: 120_000 }, () => {
  it('a trigger over every encodable type parses as one CREATE TRIGGER', () => {
    expectStatements(trigger('all_types', [col('id', 'bigint'), ...ALL_TYPES], ['id'], ['int_c', 'nvarchar_c']), ['create_or_alter_trigger'], 'all types');
  });

  it('composite keys of several types, with and without attributes, and a key-only table', () => {
    const cols = [col('tenant', 'int'), col('code', 'nvarchar', { maxLength: 40 }), col('day', 'date'), col('v', 'decimal', { precision: 9, scale: 2 }), col('at', 'datetimeoffset', { scale: 3 })];
    expectStatements(trigger('composite', cols, ['tenant', 'code', 'day'], ['tenant']), ['create_or_alter_trigger'], 'composite key');
    expectStatements(trigger('composite2', cols, ['code', 'tenant'], []), ['create_or_alter_trigger'], 'composite key, no attributes');
    expectStatements(trigger('keys_only', [col('a', 'uniqueidentifier'), col('b', 'varchar', { maxLength: 10 })], ['a', 'b'], []), ['create_or_alter_trigger'], 'key only');
  });

  it('hostile catalog names (table, key, columns, attributes) stay names: one CREATE TRIGGER, header untouched', () => {
    for (const name of HOSTILE_NAMES) {
      const cols = [col(`${name} id`, 'int'), col(name, 'nvarchar', { maxLength: 20 }), col(`${name}2`, 'datetimeoffset', { scale: 3 }), col(`${name}3`, 'xml')];
      const sql = trigger(name, cols, [`${name} id`], [name]);
      expectStatements(sql, ['create_or_alter_trigger'], JSON.stringify(name));
      expectHeaderIntact(sql, 'capture_trigger');
    }
  });

  it('a wide table (120 columns: CONCAT in chunks of 200 arguments) parses', () => {
    const many = [col('id', 'int'), ...Array.from({ length: 120 }, (_, i) => col(`c${i}`, i % 2 ? 'nvarchar' : 'decimal', { maxLength: 40, precision: 12, scale: 2 }))];
    expectStatements(trigger('wide', many, ['id'], []), ['create_or_alter_trigger'], 'wide');
  }, 30_000);

  it('TRUNCATE guards over composite and hostile keys are one CREATE TABLE', () => {
    for (const name of HOSTILE_NAMES) {
      const keys = [col(name, 'nvarchar', { maxLength: 40, collation: 'Latin1_General_CI_AS' }), col(`${name}b`, 'datetime2', { scale: 3 }), col(`${name}c`, 'decimal', { precision: 18, scale: 2 })];
      expectStatements(buildTruncateGuard('[outbox]', truncateGuardName('dbo', name), 'dbo', name, keys), ['create_table'], JSON.stringify(name));
    }
  });

  it('the template the DDL trigger fills (one pass, as its procedure does) gives the same trigger as outbox track', () => {
    for (const name of ['same', ...HOSTILE_NAMES]) {
      const cols = [col('id', 'bigint'), col(name, 'nvarchar', { maxLength: 20 }), col('t', 'int')];
      const spec = { outboxSchema: 'outbox', tableSchema: 'dbo', tableName: name, keyColumns: ['id'], captured: cols, attributes: ['t'] };
      const params = captureTriggerParams(spec, '[outbox]', captureTriggerName('dbo', name));
      const fromTrack = buildCaptureTrigger(spec, '[outbox]', captureTriggerName('dbo', name));
      const fromDatabase = fillOnePass(captureTemplateForDatabase(), params);
      const code = (sql: string) => sql.slice(sql.indexOf('CREATE OR ALTER TRIGGER'));
      expect(code(fromDatabase), JSON.stringify(name)).toBe(code(fromTrack));
    }
  });
});

describe('T-SQL parse gate: it catches what it is there for', { timeout: 120_000 }, () => {
  it('rejects broken batches', () => {
    expect(parseTsql('CREATE OR ALTER TRIGGER [dbo].[x] ON [dbo].[t] AFTER INSERT AS BEGIN SELECT 1 FROM inserted o FULL JOIN JOIN deleted n ON 1 = 1; END').errors).not.toEqual([]);
    expect(parseTsql('CREATE OR ALTER TRIGGER [dbo].[x] ON [dbo].[t] AFTER INSERT AS BEGIN SELECT 1').errors).not.toEqual([]);
    expect(parseTsql('SELECT FROM WHERE').errors).not.toEqual([]);
  });

  it('would have caught placeholders filled inside the comment header: a newline in a name turns into a second statement', () => {
    const name = 'x\nDROP TABLE dbo.victims; --';
    const raw = readRuntimeSql('sqlserver', 'capture_trigger');
    const spec = { outboxSchema: 'outbox', tableSchema: 'dbo', tableName: name, keyColumns: ['id'], captured: [col('id', 'int'), col('v', 'int')], attributes: [] };
    const params = captureTriggerParams(spec, '[outbox]', captureTriggerName('dbo', name));
    // The old filler: every {{name}}, comments included.
    const old = raw.replace(/\{\{(\w+)\}\}/g, (_m, p: string) => params[p]!);
    const parsed = parseTsql(old);
    expect(parsed.statements[0]).not.toBe('create_or_alter_trigger');
    expect(parsed.statements).toContain('drop_table');
  });
});

/** sql/sqlserver/000003_schema_changes.sql's capture_rebuild fill: one pass, left to right, no lexer. */
function fillOnePass(template: string, values: Record<string, string>): string {
  let out = '';
  let pos = 0;
  for (;;) {
    const open = template.indexOf('{{', pos);
    if (open < 0) break;
    const close = template.indexOf('}}', open);
    const value = values[template.slice(open + 2, close)];
    if (value === undefined) throw new Error(`no value for ${template.slice(open, close + 2)}`);
    out += template.slice(pos, open) + value;
    pos = close + 2;
  }
  return out + template.slice(pos);
}
