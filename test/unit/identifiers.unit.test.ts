import { describe, expect, it } from 'vitest';
import { isOutboxError } from '../../src/errors.js';
import { captureFunctionName } from '../../src/source/postgres/capture-sql.js';
import { assertIdentifier, formatTableName, parseTableName, quoteCatalogIdent, quoteIdent, quoteIdentMssql, quoteIdentMysql, quoteLiteral } from '../../src/sql/identifiers.js';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return isOutboxError(err) ? err.code : `not an OutboxError: ${String(err)}`;
  }
  return undefined;
}

describe('identifiers', () => {
  it('accepts plain identifiers, mixed case included', () => {
    expect(assertIdentifier('orders', 'Table')).toBe('orders');
    expect(assertIdentifier('Orders_2', 'Table')).toBe('Orders_2');
    expect(assertIdentifier('_x', 'Table')).toBe('_x');
    expect(assertIdentifier('a'.repeat(63), 'Table')).toHaveLength(63);
  });

  it.each(['', '1abc', 'a-b', 'bad-name;drop', 'a);drop', 'x" OR "1"="1', 'a b', 'a.b', 'é', 'a'.repeat(64), 'a\u0000b'])('rejects %j', (value) => {
    expect(codeOf(() => assertIdentifier(value, 'Column'))).toBe('IDENTIFIER_INVALID');
    expect(codeOf(() => quoteIdent(value))).toBe('IDENTIFIER_INVALID');
  });

  it('names the bad value and what it was meant to be', () => {
    expect(() => assertIdentifier('a);drop', 'Excluded column of public.t')).toThrow(/Excluded column of public\.t "a\);drop" is not a plain SQL identifier/);
  });

  it('quotes per dialect', () => {
    expect(quoteIdent('Orders')).toBe('"Orders"');
    expect(quoteIdentMssql('Orders')).toBe('[Orders]');
    expect(quoteIdentMysql('Orders')).toBe('`Orders`');
  });

  it('parses schema.table, and table alone in the default schema', () => {
    expect(parseTableName('sales.Orders')).toEqual({ schema: 'sales', table: 'Orders' });
    expect(parseTableName('orders')).toEqual({ schema: 'public', table: 'orders' });
    expect(parseTableName('orders', 'app')).toEqual({ schema: 'app', table: 'orders' });
    expect(formatTableName({ schema: 'sales', table: 'Orders' })).toBe('sales.Orders');
  });

  it.each(['public.x"; drop table y; --', 'a.b.c', '.t', 's.', 'public.t;', 'public."t"', "public.t' --"])('rejects the table name %j', (value) => {
    expect(codeOf(() => parseTableName(value))).toBe('IDENTIFIER_INVALID');
  });

  it('quotes catalog names and literals by doubling quotes', () => {
    expect(quoteCatalogIdent('we"ird')).toBe('"we""ird"');
    expect(quoteLiteral("it's")).toBe("'it''s'");
  });

  it('gives each table a stable capture function name of at most 63 bytes', () => {
    const a = captureFunctionName('public', 'orders');
    expect(a).toBe(captureFunctionName('public', 'orders'));
    expect(a).toMatch(/^capture_[0-9a-f]{8}_orders$/);
    expect(captureFunctionName('sales', 'orders')).not.toBe(a);
    expect(captureFunctionName('public', 'x'.repeat(63)).length).toBeLessThanOrEqual(63);
    expect(captureFunctionName('public', 'x'.repeat(63))).not.toBe(captureFunctionName('other', 'x'.repeat(63)));
  });
});
