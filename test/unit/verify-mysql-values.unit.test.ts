import { describe, expect, it } from 'vitest';
import { mysqlColumn, roundDecimal, sourceCanonical, targetCanonical, type DescribedColumn } from '../../src/targets/mysql/verify-values.js';

/** Canonical texts for verify against MySQL/MariaDB: a source value and the stored value must meet. */
const col = (dataType: string, extra: Partial<DescribedColumn> = {}) =>
  mysqlColumn({ name: 'c', dataType, columnType: dataType, numericPrecision: null, numericScale: null, datetimePrecision: null, octetLength: null, json: false, ...extra });

describe('verify: canonical MySQL values', () => {
  it('rounds decimals to the column scale, half away from zero, without trailing zeros', () => {
    expect(roundDecimal('1.500000', 6, 'round')).toBe('1.5');
    expect(roundDecimal('1.2345675', 6, 'round')).toBe('1.234568');
    expect(roundDecimal('-1.2345675', 6, 'round')).toBe('-1.234568');
    expect(roundDecimal('-0.0000001', 6, 'round')).toBe('0');
    expect(roundDecimal('00012.000', 2, 'round')).toBe('12');
    expect(roundDecimal('1e21', 0, 'round')).toBe('1000000000000000000000');
    expect(roundDecimal('1.5e-7', 6, 'round')).toBe('0');
    expect(roundDecimal('123456789012345678901234567890.123456789', 6, 'round')).toBe('123456789012345678901234567890.123457');
    expect(roundDecimal('NaN', 2, 'round')).toBeNull();
    const dec = col('decimal', { numericPrecision: 20, numericScale: 6 });
    expect(sourceCanonical('3000.000', dec, 'truncate')).toBe(targetCanonical('3000.000000', dec));
    expect(sourceCanonical('3000.000001', dec, 'truncate')).not.toBe(targetCanonical('3000.000000', dec));
  });

  it('reads integers, bigints and booleans (TINYINT(1)) as digits', () => {
    const int = col('tinyint');
    expect(sourceCanonical(true, int, 'truncate')).toBe(targetCanonical(1, int));
    expect(sourceCanonical(false, int, 'truncate')).toBe(targetCanonical(0, int));
    const big = col('bigint');
    expect(sourceCanonical('9007199254740993', big, 'truncate')).toBe(targetCanonical('9007199254740993', big));
    expect(sourceCanonical('9007199254740993', big, 'truncate')).not.toBe(targetCanonical('9007199254740992', big));
  });

  it('puts timestamps in UTC at the column precision: MariaDB truncates, MySQL rounds', () => {
    const dt6 = col('datetime', { datetimePrecision: 6 });
    expect(sourceCanonical('2024-03-05T12:11:12.123456+02:00', dt6, 'truncate')).toBe(targetCanonical('2024-03-05 10:11:12.123456', dt6));
    expect(sourceCanonical('2024-03-05T12:11:12+00:00', dt6, 'truncate')).toBe(targetCanonical('2024-03-05 12:11:12.000000', dt6));
    expect(sourceCanonical('2024-03-05T12:11:12.123456', dt6, 'truncate')).not.toBe(targetCanonical('2024-03-05 12:11:12.123457', dt6));
    const dt0 = col('datetime', { datetimePrecision: 0 });
    expect(sourceCanonical('2024-12-31T23:59:59.7+00:00', dt0, 'truncate')).toBe('2024-12-31 23:59:59');
    expect(sourceCanonical('2024-12-31T23:59:59.7+00:00', dt0, 'round')).toBe('2025-01-01 00:00:00');
    expect(sourceCanonical('2024-02-29', col('date'), 'truncate')).toBe(targetCanonical('2024-02-29', col('date')));
  });

  it('compares bytes as hex (BINARY(n) zero-padded), JSON by content, CHAR without pad, text exactly, doubles and floats by value', () => {
    expect(sourceCanonical('\\x00ff', col('blob'), 'truncate')).toBe(targetCanonical(Buffer.from([0, 255]), col('blob')));
    expect(sourceCanonical('\\x01', col('binary', { octetLength: 4 }), 'truncate')).toBe(targetCanonical(Buffer.from([1, 0, 0, 0]), col('binary')));
    const json = col('longtext', { json: true });
    expect(sourceCanonical({ b: 1, a: [1.5, 'ü'] }, json, 'truncate')).toBe(targetCanonical('{ "a": [1.50, "\\u00fc"],  "b": 1 }', json));
    expect(sourceCanonical({ b: 1 }, json, 'truncate')).not.toBe(targetCanonical('{"b": 2}', json));
    expect(sourceCanonical('ab  ', col('char'), 'truncate')).toBe(targetCanonical('ab', col('char')));
    expect(sourceCanonical('ab  ', col('varchar'), 'truncate')).not.toBe(targetCanonical('ab', col('varchar')));
    expect(sourceCanonical('e\u0301', col('text'), 'truncate')).not.toBe(targetCanonical('é', col('text')));
    expect(sourceCanonical(1.2345678, col('float'), 'truncate')).toBe(targetCanonical('1.2345677614212036', col('float')));
    expect(sourceCanonical(-0, col('double'), 'truncate')).toBe(targetCanonical('0', col('double')));
    expect(sourceCanonical(null, col('double'), 'truncate')).toBeNull();
  });
});
