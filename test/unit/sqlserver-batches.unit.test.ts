import { describe, expect, it } from 'vitest';
import { listMigrations, fillPlaceholders } from '../../src/sql/files.js';
import { splitBatches } from '../../src/source/sqlserver/batches.js';

const texts = (script: string) => splitBatches(script).map((b) => b.text.trim());

describe('splitBatches (SQL Server GO separator)', () => {
  it('splits on GO lines, in any case, with spaces and a trailing comment', () => {
    expect(texts('SELECT 1\nGO\nSELECT 2\n  go  \nSELECT 3\nGo -- done\nSELECT 4')).toEqual(['SELECT 1', 'SELECT 2', 'SELECT 3', 'SELECT 4']);
  });

  it('repeats a batch for GO n', () => {
    expect(texts('INSERT INTO t DEFAULT VALUES\nGO 3\nSELECT 1')).toEqual(['INSERT INTO t DEFAULT VALUES', 'INSERT INTO t DEFAULT VALUES', 'INSERT INTO t DEFAULT VALUES', 'SELECT 1']);
  });

  it('handles CRLF line ends', () => {
    expect(texts('SELECT 1\r\nGO\r\nSELECT 2\r\n')).toEqual(['SELECT 1', 'SELECT 2']);
  });

  it('does not split on GO inside a string literal, including one with escaped quotes', () => {
    const script = "SELECT 'it''s\nGO\nstill a string'\nGO\nSELECT 2";
    expect(texts(script)).toEqual(["SELECT 'it''s\nGO\nstill a string'", 'SELECT 2']);
  });

  it('does not split on GO inside block comments, nested ones too', () => {
    const script = 'SELECT 1 /* outer /* inner */\nGO\nstill comment */\nGO\nSELECT 2';
    expect(texts(script)).toEqual(['SELECT 1 /* outer /* inner */\nGO\nstill comment */', 'SELECT 2']);
  });

  it('does not split on GO inside bracket or double-quoted identifiers', () => {
    expect(texts('SELECT 1 AS [a\nGO\n]]b]\nGO\nSELECT 2')).toEqual(['SELECT 1 AS [a\nGO\n]]b]', 'SELECT 2']);
    expect(texts('SELECT 1 AS "a\nGO\nb"\nGO\nSELECT 2')).toEqual(['SELECT 1 AS "a\nGO\nb"', 'SELECT 2']);
  });

  it('ignores GO in a line comment and words that only start with GO', () => {
    expect(texts('SELECT 1 -- GO\nGOTO label\nGO\nSELECT 2')).toEqual(['SELECT 1 -- GO\nGOTO label', 'SELECT 2']);
  });

  it('a quote inside a line comment does not open a string', () => {
    expect(texts("SELECT 1 -- don't\nGO\nSELECT 2")).toEqual(["SELECT 1 -- don't", 'SELECT 2']);
  });

  it('drops batches holding only comments and blank lines, and reports start lines', () => {
    const batches = splitBatches('-- header\n\nGO\nSELECT 1\nGO\n/* nothing */\nGO\n\nSELECT 2\n');
    expect(batches.map((b) => b.text.trim())).toEqual(['SELECT 1', 'SELECT 2']);
    expect(batches.map((b) => b.line)).toEqual([4, 8]);
  });

  it('splits every released SQL Server migration into batches with no GO left and no placeholder unfilled outside comments', () => {
    const files = listMigrations('sqlserver');
    expect(files.map((f) => f.version)).toEqual([1, 2, 3]);
    for (const file of files) {
      const batches = splitBatches(fillPlaceholders(file.text, { schema: '[outbox]' }, 'sqlserver'));
      expect(batches.length).toBeGreaterThan(1);
      for (const b of batches) {
        expect(b.text).not.toMatch(/^\s*GO\s*$/im);
        expect(b.text.replace(/--.*$/gm, '').replace(/'(?:[^']|'')*'/g, "''")).not.toContain('{{');
      }
    }
  });
});
