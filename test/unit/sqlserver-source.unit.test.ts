import { describe, expect, it } from 'vitest';
import { isOutboxError } from '../../src/errors.js';
import { silentLogger } from '../../src/logger.js';
import { checkTable, type TriggerRow } from '../../src/source/sqlserver/doctor.js';
import { parseConnectionConfig } from '../../src/source/sqlserver/pool.js';
import { SqlServerSource } from '../../src/source/sqlserver/adapter.js';
import { quoteIdentMssql } from '../../src/sql/identifiers.js';

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return isOutboxError(err) ? err.code : 'not an OutboxError';
  }
  return undefined;
}

describe('SQL Server connection config', () => {
  it('reads an mssql:// URL with percent-encoded credentials and parameters', () => {
    const config = parseConnectionConfig('mssql://app%40corp:p%40ss%3Bword@db.example:14330/sales?encrypt=false&trustServerCertificate=true&requestTimeout=5000');
    expect(config).toMatchObject({ server: 'db.example', port: 14330, database: 'sales', user: 'app@corp', password: 'p@ss;word', requestTimeout: 5000 });
    expect(config.options).toMatchObject({ encrypt: false, trustServerCertificate: true });
  });

  it('defaults to port 1433 and encryption on; accepts sqlserver:// and an instance name', () => {
    const config = parseConnectionConfig('sqlserver://sa:x@localhost/db?instanceName=SQLEXPRESS');
    expect(config).toMatchObject({ server: 'localhost', port: 1433, database: 'db' });
    expect(config.options).toMatchObject({ encrypt: true, instanceName: 'SQLEXPRESS' });
  });

  it('reads an ADO-style connection string', () => {
    const config = parseConnectionConfig('Server=tcp:db.example,1444;Database=sales;User Id=app;Password=secret;Encrypt=false');
    expect(config).toMatchObject({ server: 'db.example', port: 1444, database: 'sales', user: 'app', password: 'secret' });
  });

  it('refuses unknown parameters, bad values and other schemes, without repeating the password', () => {
    for (const url of ['mssql://u:hunter2@h/db?encrypt=yes', 'mssql://u:hunter2@h/db?bogus=1', 'mssql://u:hunter2@h/', 'postgres://u:hunter2@h/db']) {
      try {
        parseConnectionConfig(url);
        expect.unreachable(url);
      } catch (err) {
        expect(isOutboxError(err, 'CONFIG_INVALID')).toBe(true);
        expect((err as Error).message).not.toContain('hunter2');
      }
    }
  });

  it('constructing a source validates the schema and does not connect', async () => {
    expect(code(() => new SqlServerSource({ url: 'mssql://u:p@127.0.0.1:1/db', schema: 'bad name', logger: silentLogger }))).toBe('IDENTIFIER_INVALID');
    const source = new SqlServerSource({ url: 'mssql://u:p@127.0.0.1:1/db', schema: 'outbox', logger: silentLogger });
    expect(source.dialect).toBe('sqlserver');
    await source.close();
  });
});

describe('SQL Server capabilities', () => {
  it('refuses backfill, verify and replay with NOT_SUPPORTED naming the capability and the dialect, without connecting', async () => {
    const source = new SqlServerSource({ url: 'mssql://u:p@127.0.0.1:1/db', schema: 'outbox', logger: silentLogger });
    const table = { schema: 'dbo', table: 'orders' };
    const refusals = await Promise.all([
      source.backfill({ table, logger: silentLogger }).catch((e: unknown) => e),
      source.openTableReader(table).catch((e: unknown) => e),
      source.openReplay().catch((e: unknown) => e),
    ]);
    expect(refusals.map((e) => isOutboxError(e, 'NOT_SUPPORTED'))).toEqual([true, true, true]);
    expect(refusals.map((e) => (e as Error).message)).toEqual(['outbox backfill', 'outbox verify', 'outbox replay'].map((c) => `${c} is not available for SQL Server sources in this version of outbox-relay (source.dialect is "sqlserver").`));
    await source.close();
  });
});

describe('SQL Server identifiers', () => {
  it('bracket-quotes plain identifiers and rejects everything else', () => {
    expect(quoteIdentMssql('outbox')).toBe('[outbox]');
    for (const bad of ['a]b', 'a b', '1abc', 'x;DROP TABLE t', '', 'a'.repeat(64), 'é']) {
      expect(code(() => quoteIdentMssql(bad))).toBe('IDENTIFIER_INVALID');
    }
  });
});

describe('SQL Server doctor findings', () => {
  const healthy: TriggerRow = {
    table_schema: 'dbo',
    table_name: 'customers',
    trigger_name: 'outbox_capture_x_customers',
    guard_table: 'truncate_guard_x_customers',
    captured_columns: '["id","name"]',
    excluded_columns: '["secret"]',
    table_exists: true,
    trigger_exists: true,
    trigger_disabled: false,
    trigger_events: 3,
    guard_exists: true,
    columns: '[{"name":"id"},{"name":"name"},{"name":"secret"}]',
  };

  it('finds nothing wrong with an intact table', () => {
    expect(checkTable(healthy)).toEqual([]);
  });

  it('reports a disabled trigger as an error and a missing TRUNCATE guard as a warning', () => {
    const findings = checkTable({ ...healthy, trigger_disabled: true, guard_exists: false });
    expect(findings.map((f) => [f.severity, f.check])).toEqual([
      ['error', 'trigger'],
      ['warning', 'truncate'],
    ]);
    expect(checkTable({ ...healthy, guard_table: null, guard_exists: false })[0]!.message).toMatch(/TRUNCATE TABLE is not blocked.*backfill/);
  });

  it('reports added and dropped columns, and a table that is gone', () => {
    const findings = checkTable({ ...healthy, columns: '[{"name":"id"},{"name":"email"},{"name":"secret"}]' });
    expect(findings).toEqual([expect.objectContaining({ severity: 'error', check: 'columns', message: expect.stringContaining('+email, -name') })]);
    expect(checkTable({ ...healthy, table_exists: false })).toEqual([expect.objectContaining({ check: 'table' })]);
  });
});

describe('SQL Server relay rows', () => {
  it('turn into outbox events with parsed JSON and string seq/xid', async () => {
    const { toEvent } = await import('../../src/source/sqlserver/relay-session.js');
    const at = new Date('2024-01-02T10:00:00Z');
    expect(
      toEvent({
        rv: '0x00000000000007D1',
        seq: '9007199254740993',
        xid: '42',
        table_schema: 'dbo',
        table_name: 'customers',
        op: 'update',
        key: '{"id":"1"}',
        before: '{"id":"1","name":"a"}',
        after: '{"id":"1","name":"b"}',
        changed: '["name"]',
        attributes: null,
        changed_at: at,
      }),
    ).toEqual({
      seq: '9007199254740993',
      xid: '42',
      tableSchema: 'dbo',
      tableName: 'customers',
      op: 'update',
      key: { id: '1' },
      before: { id: '1', name: 'a' },
      after: { id: '1', name: 'b' },
      changed: ['name'],
      attributes: null,
      changedAt: at,
    });
  });

  it('a schema-change row becomes an op schema event with its description; one without a description is refused by seq', async () => {
    const { toEvent } = await import('../../src/source/sqlserver/relay-session.js');
    const at = new Date('2024-01-02T10:00:00Z');
    const change = { dialect: 'sqlserver', before: [{ name: 'id', type: 'int', nullable: false }], after: [{ name: 'id', type: 'int', nullable: false }, { name: 'c', type: 'nvarchar(20)', nullable: true }], key: ['id'], changes: [{ kind: 'add_column', column: 'c', type: 'nvarchar(20)' }] };
    const row = { rv: '0x00000000000007D2', seq: '12', xid: '43', table_schema: 'dbo', table_name: 'ddl', op: 'schema' as const, key: null, before: null, after: null, changed: null, attributes: null, changed_at: at };
    expect(toEvent({ ...row, schema_change: JSON.stringify(change) })).toEqual({ seq: '12', xid: '43', tableSchema: 'dbo', tableName: 'ddl', op: 'schema', key: null, before: null, after: null, changed: null, attributes: null, changedAt: at, schemaChange: change });
    expect(() => toEvent({ ...row, schema_change: null })).toThrow(/seq 12 \(dbo\.ddl\) is a schema change without a valid schema_change/);
    expect(toEvent({ ...row, op: 'insert', key: '{"id":1}', after: '{"id":1}', schema_change: null })).not.toHaveProperty('schemaChange');
  });
});
