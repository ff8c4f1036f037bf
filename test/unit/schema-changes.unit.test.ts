import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/index.js';
import type { ChangeData, SchemaChange } from '../../src/wire/envelope.js';
import { baseAttributes } from '../../src/wire/attributes.js';
import { decideShare, policyWarnings, targetShare } from '../../src/share/target-share.js';
import { buildTransformer } from '../../src/targets/transform/index.js';
import { isWidening, parseSourceType, targetColumnType } from '../../src/targets/schema/column-types.js';
import { decideSchemaChange, describeSchemaChange, shapeRow, type TableSchemaState } from '../../src/targets/schema/decide.js';
import { mapSchemaChange } from '../../src/targets/schema/map-change.js';
import { mysqlStatements } from '../../src/targets/mysql/ddl.js';
import { pgStatements } from '../../src/targets/postgres/ddl.js';
import { haltMessage } from '../../src/targets/schema/row-shaper.js';
import { compileTablePlan } from '../../src/targets/transform/plan.js';
import type { TargetChange, TargetSchemaChange } from '../../src/targets/types.js';
import { withUserTransforms } from '../../src/targets/user-transform.js';
import { webhookBody } from '../../src/targets/http/body.js';

const pg = (type: string) => targetColumnType({ dialect: 'postgres', type }, 'postgres').sql;
const my = (type: string) => targetColumnType({ dialect: 'postgres', type }, 'mysql').sql;
const msPg = (type: string) => targetColumnType({ dialect: 'sqlserver', type }, 'postgres').sql;
const msMy = (type: string) => targetColumnType({ dialect: 'sqlserver', type }, 'mysql').sql;

describe('type mapping (docs/schema-changes.md)', () => {
  it('maps PostgreSQL source types to PostgreSQL and MariaDB', () => {
    const table: [string, string, string][] = [
      ['smallint', 'smallint', 'SMALLINT'],
      ['integer', 'integer', 'INT'],
      ['bigint', 'bigint', 'BIGINT'],
      ['numeric(10,2)', 'numeric(10,2)', 'DECIMAL(10,2)'],
      ['numeric', 'numeric', 'DECIMAL(65,30)'],
      ['real', 'real', 'FLOAT'],
      ['double precision', 'double precision', 'DOUBLE'],
      ['boolean', 'boolean', 'BOOLEAN'],
      ['character varying(40)', 'varchar(40)', 'VARCHAR(40)'],
      ['character varying(20000)', 'varchar(20000)', 'LONGTEXT'],
      ['character varying', 'text', 'LONGTEXT'],
      ['character(3)', 'char(3)', 'CHAR(3)'],
      ['text', 'text', 'LONGTEXT'],
      ['date', 'date', 'DATE'],
      ['timestamp(3) without time zone', 'timestamp(3)', 'DATETIME(3)'],
      ['timestamp with time zone', 'timestamptz(6)', 'DATETIME(6)'],
      ['time without time zone', 'time', 'TIME(6)'],
      ['uuid', 'uuid', 'CHAR(36)'],
      ['jsonb', 'jsonb', 'JSON'],
      ['bytea', 'bytea', 'LONGBLOB'],
      ['integer[]', 'integer[]', 'JSON'],
      ['inet', 'text', 'LONGTEXT'],
    ];
    for (const [source, pgType, myType] of table) {
      expect([source, pg(source)]).toEqual([source, pgType]);
      expect([source, my(source)]).toEqual([source, myType]);
    }
  });

  it('maps SQL Server source types to PostgreSQL and MariaDB', () => {
    const table: [string, string, string][] = [
      ['bit', 'boolean', 'BOOLEAN'],
      ['tinyint', 'smallint', 'TINYINT UNSIGNED'],
      ['int', 'integer', 'INT'],
      ['decimal(18,4)', 'numeric(18,4)', 'DECIMAL(18,4)'],
      ['money', 'numeric(19,4)', 'DECIMAL(19,4)'],
      ['float', 'double precision', 'DOUBLE'],
      ['nvarchar(40)', 'varchar(40)', 'VARCHAR(40)'],
      ['nvarchar(max)', 'text', 'LONGTEXT'],
      ['nchar(2)', 'char(2)', 'CHAR(2)'],
      ['datetime2(7)', 'timestamp(6)', 'DATETIME(6)'],
      ['datetimeoffset', 'timestamptz(6)', 'DATETIME(6)'],
      ['uniqueidentifier', 'uuid', 'CHAR(36)'],
      ['varbinary(max)', 'bytea', 'LONGBLOB'],
      ['xml', 'text', 'LONGTEXT'],
      ['sql_variant', 'text', 'LONGTEXT'],
    ];
    for (const [source, pgType, myType] of table) {
      expect([source, msPg(source)]).toEqual([source, pgType]);
      expect([source, msMy(source)]).toEqual([source, myType]);
    }
  });

  it('gives a column whose values the mapping rewrites the type of what it writes', () => {
    expect(targetColumnType({ dialect: 'postgres', type: 'integer', output: 'text' }, 'postgres').sql).toBe('text');
    expect(targetColumnType({ dialect: 'postgres', type: 'text', output: 'double' }, 'mysql').sql).toBe('DOUBLE');
    expect(targetColumnType({ dialect: 'sqlserver', type: 'datetime2', output: 'bigint' }, 'postgres').sql).toBe('bigint');
  });

  it('never lets a catalog type reach DDL as it came', () => {
    for (const hostile of ['text; DROP TABLE x', 'integer) --', 'varchar(10); --', "numeric(1,'a')", 'int\n; drop', 'character varying(99999999)']) {
      expect(parseSourceType(hostile)).toBeUndefined();
      expect(pg(hostile)).toBe('text');
      expect(my(hostile)).toBe('LONGTEXT');
    }
  });

  it('says which alter_type is a widening', () => {
    const t = (type: string, target: 'postgres' | 'mysql' = 'postgres') => targetColumnType({ dialect: 'postgres', type }, target);
    expect(isWidening(t('integer'), t('bigint'))).toBe(true);
    expect(isWidening(t('bigint'), t('integer'))).toBe(false);
    expect(isWidening(t('integer'), t('numeric(12,2)'))).toBe(true);
    expect(isWidening(t('integer'), t('numeric(10,2)'))).toBe(false);
    expect(isWidening(t('numeric(10,2)'), t('numeric(12,3)'))).toBe(true);
    expect(isWidening(t('numeric(10,2)'), t('numeric(10,3)'))).toBe(false);
    expect(isWidening(t('character varying(10)'), t('character varying(40)'))).toBe(true);
    expect(isWidening(t('character varying(40)'), t('character varying(10)'))).toBe(false);
    expect(isWidening(t('character varying(40)'), t('text'))).toBe(true);
    expect(isWidening(t('real'), t('double precision'))).toBe(true);
    expect(isWidening(t('text'), t('integer'))).toBe(false);
    expect(isWidening(t('timestamp without time zone'), t('timestamp with time zone'))).toBe(false);
  });
});

const target = (overrides: Record<string, unknown> = {}, mapping: Record<string, unknown> = {}) =>
  parseConfig(
    { source: { url: 'postgres://x@h/db' }, targets: { wh: { kind: 'postgres', urlEnv: 'WH_URL', tables: ['public.items'], hashSaltEnv: 'SALT', mapping: { 'public.items': mapping }, ...overrides } } },
    { WH_URL: 'postgres://t@h/db', SALT: 's' },
  ).targets.wh!;

function mapped(change: Omit<SchemaChange, 'dialect' | 'before' | 'after'>, mapping: Record<string, unknown> = {}): TargetSchemaChange {
  const t = target({}, mapping);
  const { plan } = compileTablePlan({ targetName: 'wh', sourceTable: 'public.items', mapping: t.mapping['public.items']!, target: t, secrets: { hashSalt: 's' } });
  return mapSchemaChange(plan, { dialect: 'postgres', before: null, after: null, ...change }, { at: 'targets.wh.mapping.public.items', target: 'wh' });
}

describe('a schema change through the target mapping', () => {
  it('names columns as the mapping writes them and leaves out what it does not write', () => {
    const change = mapped(
      { key: ['id'], changes: [{ kind: 'add_column', column: 'email', type: 'text' }, { kind: 'add_column', column: 'ssn', type: 'text' }, { kind: 'add_column', column: 'card', type: 'text' }, { kind: 'rename_column', from: 'nm', column: 'full_name' }, { kind: 'drop_column', column: 'old' }] },
      { exclude: ['ssn'], hash: ['card'], rename: { nm: 'name', full_name: 'name2', old: 'legacy' } },
    );
    expect(change.items).toEqual([
      { kind: 'add_column', column: 'email', type: { dialect: 'postgres', type: 'text' }, nullable: true },
      { kind: 'add_column', column: 'card', type: { dialect: 'postgres', type: 'text', output: 'text' }, nullable: true },
      { kind: 'rename_column', from: 'name', column: 'name2' },
      { kind: 'drop_column', column: 'legacy' },
    ]);
    expect(describeSchemaChange(change)).toBe('add column "email" (text); add column "card" (text, as the mapping writes it); rename column "name" to "name2"; drop column "legacy"');
  });

  it('skips alter_type of a column whose values the mapping rewrites', () => {
    expect(mapped({ key: ['id'], changes: [{ kind: 'alter_type', column: 'card', from: 'integer', to: 'bigint' }] }, { hash: ['card'] }).items).toEqual([]);
  });

  it('refuses what would leak or lose track: a rename out of an exclusion or a protection, a key rename, a table rename or drop', () => {
    const kinds = (change: TargetSchemaChange) => change.items.map((i) => (i.kind === 'refuse' ? i.reason : i.kind));
    expect(kinds(mapped({ key: ['id'], changes: [{ kind: 'rename_column', from: 'ssn', column: 'tax_id' }] }, { exclude: ['ssn'] }))[0]).toContain('add "tax_id" to targets.wh.mapping.public.items.exclude');
    expect(kinds(mapped({ key: ['id'], changes: [{ kind: 'rename_column', from: 'card', column: 'pan' }] }, { hash: ['card'] }))[0]).toContain('treats the two names differently (hash / copied)');
    expect(kinds(mapped({ key: ['uid'], changes: [{ kind: 'rename_column', from: 'id', column: 'uid' }] }))[0]).toContain('key column "id" of public.items was renamed');
    expect(kinds(mapped({ key: ['id'], changes: [{ kind: 'rename_table', from: 'public.items', to: 'public.goods' }] }))[0]).toContain('list public.goods in targets.wh.tables');
    expect(kinds(mapped({ key: [], changes: [{ kind: 'drop_table' }] }))[0]).toContain('was dropped');
  });

  it('follows a table rename published under the new name that the target lists', () => {
    expect(mapped({ key: ['id'], changes: [{ kind: 'rename_table', from: 'public.old_items', to: 'public.items' }] }).items).toEqual([]);
  });

  it('treats a rename to a name the mapping does not write (include) as a drop', () => {
    expect(mapped({ key: ['id'], changes: [{ kind: 'rename_column', from: 'a', column: 'b' }] }, { include: ['a'] }).items).toEqual([{ kind: 'drop_column', column: 'a' }]);
  });
});

describe('the schemaChanges policy', () => {
  const change: TargetSchemaChange = {
    dialect: 'postgres',
    items: [
      { kind: 'add_column', column: 'qty', type: { dialect: 'postgres', type: 'integer' }, nullable: true },
      { kind: 'drop_column', column: 'old' },
      { kind: 'alter_type', column: 'n', from: { dialect: 'postgres', type: 'integer' }, to: { dialect: 'postgres', type: 'bigint' } },
    ],
  };

  it('apply: DDL steps; drop or keep per droppedColumns', () => {
    expect(decideSchemaChange(target({ schemaChanges: 'apply' }), 'postgres', change)).toEqual({
      action: 'apply',
      steps: [
        { kind: 'add', column: 'qty', type: expect.objectContaining({ sql: 'integer' }) },
        { kind: 'keep', column: 'old' },
        { kind: 'alter', column: 'n', type: expect.objectContaining({ sql: 'bigint' }) },
      ],
    });
    expect(decideSchemaChange(target({ droppedColumns: 'drop' }), 'mysql', change)).toMatchObject({ action: 'apply', steps: [{ kind: 'add' }, { kind: 'drop', column: 'old' }, { kind: 'alter' }] });
  });

  it('apply halts on a narrowing alter and on a refused item; ignore and stop do what they say', () => {
    const narrowing: TargetSchemaChange = { dialect: 'postgres', items: [{ kind: 'alter_type', column: 'n', from: { dialect: 'postgres', type: 'bigint' }, to: { dialect: 'postgres', type: 'integer' } }] };
    expect(decideSchemaChange(target(), 'postgres', narrowing)).toEqual({ action: 'halt', reason: expect.stringContaining('bigint → integer, which is not a widening') });
    expect(decideSchemaChange(target({ schemaChanges: 'ignore' }), 'postgres', narrowing)).toEqual({ action: 'ignore' });
    expect(decideSchemaChange(target({ schemaChanges: 'stop' }), 'postgres', change)).toEqual({ action: 'halt', reason: 'schemaChanges is stop' });
    const message = haltMessage('wh', 'public.items', '42', change, 'schemaChanges is stop');
    expect(message).toContain('Target "wh" stopped at a schema change of public.items (seq 42: add column "qty" (integer)');
    expect(message).toContain('targets.wh.schemaChanges is stop');
    expect(message).toContain('`outbox target resume wh`');
  });

  it('defaults to apply and keep; refuses stop and droppedColumns on an http target', () => {
    const t = target();
    expect([t.schemaChanges, t.droppedColumns]).toEqual(['apply', 'keep']);
    expect(() => parseConfig({ source: { url: 'postgres://x@h/db' }, targets: { hook: { kind: 'http', urlEnv: 'U', tables: ['public.a'], http: {}, schemaChanges: 'stop', droppedColumns: 'drop' } } }, { U: 'http://h' })).toThrow(
      /targets\.hook\.schemaChanges: is "stop", which an http target cannot hold[\s\S]*targets\.hook\.droppedColumns: applies to PostgreSQL and MySQL targets only/,
    );
    expect(() => target({ schemaChanges: 'sometimes' })).toThrow(/targets\.wh\.schemaChanges/);
  });
});

describe('row shaping', () => {
  const state: TableSchemaState = {
    recorded: [
      { seq: 20n, status: 'applied', items: [{ kind: 'add_column', column: 'qty', type: { dialect: 'postgres', type: 'integer' }, nullable: true }] },
      { seq: 40n, status: 'applied', items: [{ kind: 'rename_column', from: 'name', column: 'label' }] },
      { seq: 60n, status: 'applied', items: [{ kind: 'drop_column', column: 'extra' }] },
    ],
  };
  const columns = new Set(['id', 'label', 'qty']);

  it('follows renames and drops applied after the row was written', () => {
    expect(shapeRow(state, 'apply', 10n, { id: 1, name: 'a', extra: 'x' }, columns)).toEqual({ row: { id: 1, label: 'a' } });
    expect(shapeRow(state, 'apply', 61n, { id: 1, label: 'a', qty: 2 }, columns)).toEqual({ row: { id: 1, label: 'a', qty: 2 } });
  });

  it('makes a row with a column the target lacks wait (apply, stop), or leaves the column out (ignore)', () => {
    expect(shapeRow(state, 'apply', 70n, { id: 1, label: 'a', note: 'n' }, columns)).toEqual({ wait: expect.stringContaining('column "note" is not at the target yet') });
    expect(shapeRow(state, 'stop', 70n, { id: 1, label: 'a', note: 'n' }, columns)).toHaveProperty('wait');
    expect(shapeRow(state, 'ignore', 70n, { id: 1, label: 'a', note: 'n' }, columns)).toEqual({ row: { id: 1, label: 'a' } });
  });

  it('holds rows at or after a halted schema change; older rows pass', () => {
    const halted: TableSchemaState = { recorded: [], halted: { seq: 50n, reason: 'stop' } };
    expect(shapeRow(halted, 'stop', 50n, { id: 1 }, columns)).toEqual({ wait: expect.stringContaining('seq 50 is halted') });
    expect(shapeRow(halted, 'stop', 49n, { id: 1 }, columns)).toEqual({ row: { id: 1 } });
  });
});

describe('DDL at the targets', () => {
  const type = targetColumnType({ dialect: 'postgres', type: 'integer' }, 'postgres');
  it('quotes every identifier and skips what is done already', () => {
    const current = new Map([['a"b', { nullable: false }], ['k', { nullable: false }]]);
    expect(pgStatements('"s"."t"', [{ kind: 'add', column: 'x"; --', type }, { kind: 'add', column: 'k', type }, { kind: 'keep', column: 'a"b' }, { kind: 'rename', from: 'a"b', to: 'c' }, { kind: 'drop', column: 'gone' }], current)).toEqual([
      'ALTER TABLE "s"."t" ADD COLUMN "x""; --" integer',
      'ALTER TABLE "s"."t" ALTER COLUMN "a""b" DROP NOT NULL',
      'ALTER TABLE "s"."t" RENAME COLUMN "a""b" TO "c"',
    ]);
    const mysqlType = targetColumnType({ dialect: 'postgres', type: 'integer' }, 'mysql');
    expect(mysqlStatements('`d`.`t`', [{ kind: 'add', column: 'x`y', type: mysqlType }, { kind: 'keep', column: 'k' }, { kind: 'alter', column: 'k', type: mysqlType }], new Map([['k', { nullable: false, columnType: 'varchar(10)' }]])).statements).toEqual([
      'ALTER TABLE `d`.`t` ADD COLUMN `x``y` INT NULL',
      'ALTER TABLE `d`.`t` MODIFY `k` varchar(10) NULL',
      'ALTER TABLE `d`.`t` MODIFY `k` INT NULL',
    ]);
  });

  it('refuses a rename the table cannot take', () => {
    expect(() => pgStatements('t', [{ kind: 'rename', from: 'a', to: 'b' }], new Map([['a', { nullable: true }], ['b', { nullable: true }]]))).toThrow(/has both "a" and "b"/);
    expect(() => pgStatements('t', [{ kind: 'rename', from: 'a', to: 'b' }], new Map())).toThrow(/has no column "a"/);
  });
});

describe('subscriptions and schema changes', () => {
  const config = parseConfig(
    {
      source: { url: 'postgres://x@h/db' },
      targets: {
        eu: { kind: 'postgres', urlEnv: 'U', tables: ['public.customers'], where: { tenant_id: ['1'] } },
        raw: { kind: 'postgres', urlEnv: 'U', tables: ['public.customers'], filterPolicy: { table: ['public.customers'], tenant_id: ['1'] } },
        rawIgnore: { kind: 'postgres', urlEnv: 'U', tables: ['public.customers'], schemaChanges: 'ignore', filterPolicy: { table: ['public.customers'], tenant_id: ['1'] } },
      },
    },
    { U: 'postgres://t@h/db' },
  );
  const schemaAttributes = baseAttributes('shop', 'public.customers', 'schema', null);

  it('a where-filtered built policy takes schema changes, and the share rule applies them', () => {
    const share = targetShare('eu', config.targets.eu!);
    expect(share.takes(schemaAttributes)).toBe(true);
    const data: ChangeData = { schema: 'public', table: 'customers', op: 'schema', seq: '9', key: null, schemaChange: { dialect: 'postgres', before: null, after: [], key: ['id'], changes: [] } };
    expect(decideShare(share, config.targets.eu!.operations, data, { source: 'outbox-relay:shop', attributes: schemaAttributes })).toBe('apply');
  });

  it('subscribe warns when a raw policy drops schema changes, unless the target ignores them', () => {
    const warnings = (name: string) => policyWarnings(targetShare(name, config.targets[name]!), config.targets[name]!, 'shop').join('\n');
    expect(warnings('eu')).not.toMatch(/schema changes/);
    expect(warnings('raw')).toMatch(/the filter policy drops the schema changes of public\.customers .*\{"operation": \["schema"\]\}.*targets\.raw\.schemaChanges to ignore/);
    expect(warnings('rawIgnore')).not.toMatch(/schema changes/);
  });

  it('the transform maps a schema change and never runs value transforms on it', () => {
    const t = target({}, { hash: ['card'] });
    const transform = buildTransformer('wh', t, { hashSalt: 's' });
    const change = transform(
      { schema: 'public', table: 'items', op: 'schema', seq: '12', key: null, schemaChange: { dialect: 'postgres', before: null, after: null, key: ['id'], changes: [{ kind: 'add_column', column: 'card', type: 'integer' }] } },
      { messageId: 'm', eventId: 'src:12:schema', time: '2024-01-01T00:00:00Z' },
    );
    expect(change).toMatchObject({ op: 'schema', seq: '12', key: null, row: null, table: 'public.items', schemaChange: { items: [{ kind: 'add_column', column: 'card', type: { output: 'text' } }] } });
    expect(() => transform({ schema: 'public', table: 'items', op: 'schema', seq: '13', key: null }, { messageId: 'm', eventId: 'e', time: 't' })).toThrow(/has no data.schemaChange/);
  });
});

describe('a column added with a value for the rows that existed before (existing)', () => {
  const meta = { messageId: 'm', eventId: 'src:12:schema', time: '2024-01-01T00:00:00Z' };
  const added = (column: string, existing: unknown): ChangeData => ({
    schema: 'public',
    table: 'items',
    op: 'schema',
    seq: '12',
    key: null,
    schemaChange: { dialect: 'postgres', before: null, after: null, key: ['id'], changes: [{ kind: 'add_column', column, type: 'text', existing }] },
  });
  const row = (column: string, value: unknown): ChangeData => ({ schema: 'public', table: 'items', op: 'update', seq: '13', key: { id: 1 }, after: { id: 1, [column]: value }, changed: [column] });
  const items = (mapping: Record<string, unknown>, column: string, existing: unknown) => {
    const change = buildTransformer('wh', target({}, mapping), { hashSalt: 's' })(added(column, existing), meta);
    return change.schemaChange!.items;
  };

  it('maps the value as the mapping writes that column of a row image: copied, renamed, masked, hashed, converted', () => {
    for (const mapping of [{}, { rename: { status: 'state' } }, { mask: { status: { keepLast: 1 } } }, { hash: ['status'] }, { convert: { status: 'uppercase' } }]) {
      const transform = buildTransformer('wh', target({}, mapping), { hashSalt: 's' });
      const [item] = transform(added('status', 'new'), meta).schemaChange!.items;
      const written = transform(row('status', 'new'), meta).row!;
      const [column] = Object.keys(written).filter((c) => c !== 'id');
      expect(item).toMatchObject({ kind: 'add_column', column, existing: written[column!] });
    }
    expect(items({ rename: { status: 'state' } }, 'status', 'new')[0]).toMatchObject({ column: 'state', existing: 'new' });
    expect(items({ mask: { status: 'full' } }, 'status', 'new')[0]!).not.toMatchObject({ existing: 'new' });
  });

  it('leaves the value out, with the reason, where the mapping cannot write it; a column not written has no item', () => {
    const [converted] = items({ convert: { status: 'number' } }, 'status', 'new');
    expect(converted).not.toHaveProperty('existing');
    expect(converted).toMatchObject({ unfilled: expect.stringContaining('targets.wh.mapping.public.items cannot write the value of "status"') });
    expect(items({ exclude: ['status'] }, 'status', 'new')).toEqual([]);
    expect(items({}, 'status', undefined)[0]).not.toHaveProperty('existing');
  });

  it('a target with a user transform adds the column empty and says why', () => {
    const transform = buildTransformer('wh', target({}, {}), { hashSalt: 's' });
    const withUser = withUserTransforms('wh', transform, new Map([['public.items', () => null]]), { kind: 'postgres', mapping: { 'public.items': { transform: './t.mjs' } } as never });
    const change = withUser(added('status', 'new'), meta) as TargetChange;
    expect(change.schemaChange!.items[0]).not.toHaveProperty('existing');
    expect(change.schemaChange!.items[0]).toMatchObject({ unfilled: expect.stringContaining('user code (./t.mjs)') });
  });

  it('decides an add and a fill; the fill is no DDL', () => {
    const change: TargetSchemaChange = { dialect: 'postgres', items: [{ kind: 'add_column', column: 'status', type: { dialect: 'postgres', type: 'text' }, nullable: true, existing: 'new' }] };
    const decision = decideSchemaChange(target(), 'postgres', change);
    expect(decision).toEqual({ action: 'apply', steps: [{ kind: 'add', column: 'status', type: expect.objectContaining({ sql: 'text' }) }, { kind: 'fill', column: 'status', value: 'new' }] });
    if (decision.action !== 'apply') throw new Error('not applied');
    expect(pgStatements('"public"."items"', decision.steps, new Map([['id', { nullable: false }]]))).toEqual(['ALTER TABLE "public"."items" ADD COLUMN "status" text']);
    expect(describeSchemaChange(change)).toBe('add column "status" (text; existing rows get the value the source gave them)');
    expect(decideSchemaChange(target({ schemaChanges: 'ignore' }), 'postgres', change)).toEqual({ action: 'ignore' });
  });

  it('gives a row written before the change that arrives after it the value, never a row written after', () => {
    const state: TableSchemaState = {
      recorded: [
        { seq: 20n, status: 'applied', items: [{ kind: 'add_column', column: 'status', type: { dialect: 'postgres', type: 'text' }, nullable: true, existing: 'new' }] },
        { seq: 40n, status: 'applied', items: [{ kind: 'rename_column', from: 'status', column: 'state' }] },
      ],
    };
    expect(shapeRow(state, 'apply', 10n, { id: 1 }, new Set(['id', 'state']))).toEqual({ row: { id: 1, state: 'new' } });
    expect(shapeRow(state, 'apply', 30n, { id: 1, status: null }, new Set(['id', 'state']))).toEqual({ row: { id: 1, state: null } });
    expect(shapeRow(state, 'apply', 50n, { id: 1, state: 'x' }, new Set(['id', 'state']))).toEqual({ row: { id: 1, state: 'x' } });
    expect(shapeRow({ recorded: [{ ...state.recorded[0]!, status: 'ignored' }] }, 'ignore', 10n, { id: 1 }, new Set(['id']))).toEqual({ row: { id: 1 } });
    // A column the target does not have is not written, and makes nothing wait.
    expect(shapeRow({ recorded: [state.recorded[0]!] }, 'apply', 10n, { id: 1 }, new Set(['id']))).toEqual({ row: { id: 1 } });
  });
});

describe('an http target receives the value for the rows that existed before', () => {
  it('as `existing` on the add_column item, in the target\'s names, when the source carried one', () => {
    const change: TargetChange = {
      messageId: 'm', eventId: 'src:12:schema', time: 't', sourceTable: 'public.items', table: 'public.items', op: 'schema', seq: '12', key: null, row: null,
      schemaChange: { dialect: 'postgres', items: [{ kind: 'add_column', column: 'state', type: { dialect: 'postgres', type: 'text' }, nullable: true, existing: 'new' }, { kind: 'add_column', column: 'plain', type: { dialect: 'postgres', type: 'integer' }, nullable: true }] },
    };
    expect(JSON.parse(webhookBody(change)).schemaChange.changes).toEqual([
      { kind: 'add_column', column: 'state', type: 'text', nullable: true, existing: 'new' },
      { kind: 'add_column', column: 'plain', type: 'integer', nullable: true },
    ]);
  });
});
