import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PACKAGE_ROOT, fillPlaceholders, listMigrations } from '../../src/sql/files.js';
import { compileTemplate, fillTemplate, type TemplateDialect } from '../../src/sql/template.js';

const fill = (text: string, params: Record<string, string>, dialect: TemplateDialect = 'sqlserver') => fillTemplate(compileTemplate(text, dialect), params);

/** A catalog name a hostile user could create: every quote and comment marker, a newline, unicode. */
const HOSTILE = "x\n; DROP TABLE t; -- */ ' \" ] [ ` {{schema}} ü 名";

describe('SQL templates: placeholders are filled only where the template has code', () => {
  it('leaves placeholders in -- and nested /* */ comments as written, in both dialects', () => {
    for (const dialect of ['postgres', 'sqlserver'] as const) {
      const text = '-- Params: {{name}} the name\n/* outer /* {{name}} */ still {{name}} */\nSELECT {{name}};';
      expect(fill(text, { name: HOSTILE }, dialect)).toBe(`-- Params: {{name}} the name\n/* outer /* {{name}} */ still {{name}} */\nSELECT ${HOSTILE};`);
    }
  });

  it('a value never changes how the rest of the template is read (no second pass, no lexer state carried)', () => {
    const text = 'SELECT {{a}} -- {{b}}\n, {{b}}';
    expect(fill(text, { a: "'--", b: '{{a}}' })).toBe("SELECT '-- -- {{b}}\n, {{a}}");
  });

  it('fills inside literals only values that cannot end them, and names the placeholder otherwise', () => {
    expect(fill("nextval('{{schema}}.event_seq')", { schema: '"outbox"' }, 'postgres')).toBe(`nextval('"outbox".event_seq')`);
    expect(() => fill("nextval('{{schema}}.seq')", { schema: "x'); DROP TABLE t; --" }, 'postgres')).toThrow(/\{\{schema\}\} stands inside a string/);
    expect(() => fill("SELECT E'{{v}}'", { v: 'a\\' }, 'postgres')).toThrow(/escape string/);
    expect(fill("SELECT E'\\'{{v}}'", { v: 'ok' }, 'postgres')).toBe("SELECT E'\\'ok'");
    expect(() => fill('SELECT "{{v}}"', { v: 'a"b' }, 'postgres')).toThrow(/quoted identifier/);
    expect(() => fill('SELECT [{{v}}]', { v: 'a]b' })).toThrow(/bracket identifier/);
    // In PostgreSQL, [ is not a quote.
    expect(fill('SELECT a[{{i}}]', { i: '1' }, 'postgres')).toBe('SELECT a[1]');
  });

  it('reads quotes doubled inside literals, and comment markers inside literals, as literal text', () => {
    const text = "SELECT N'it''s -- not a comment', [a]]--b], \"c\"\"--d\", {{v}} -- {{v}}";
    expect(fill(text, { v: '1' })).toBe("SELECT N'it''s -- not a comment', [a]]--b], \"c\"\"--d\", 1 -- {{v}}");
  });

  it('fills placeholders in a PostgreSQL dollar-quoted body (code) but not in its comments', () => {
    const text = 'CREATE FUNCTION f() RETURNS int AS $fn$\nBEGIN -- {{x}}\n  RETURN {{x}};\nEND\n$fn$ LANGUAGE plpgsql;';
    expect(fill(text, { x: '42' }, 'postgres')).toBe('CREATE FUNCTION f() RETURNS int AS $fn$\nBEGIN -- {{x}}\n  RETURN 42;\nEND\n$fn$ LANGUAGE plpgsql;');
  });

  it('fails on a placeholder without a value, naming it', () => {
    expect(() => fill('SELECT {{missing}}', {})).toThrow(/\{\{missing\}\} has no value/);
  });

  it('every shipped template and migration has a placeholder outside comments only where code or a plain name literal stands', () => {
    const files: { dialect: TemplateDialect; path: string; text: string }[] = [];
    for (const dialect of ['postgres', 'sqlserver'] as const) {
      for (const m of listMigrations(dialect)) files.push({ dialect, path: `sql/${dialect}/${m.name}`, text: m.text });
      const dir = join(PACKAGE_ROOT, 'sql', dialect, 'runtime');
      for (const f of readdirSync(dir).filter((n) => n.endsWith('.sql'))) files.push({ dialect, path: `sql/${dialect}/runtime/${f}`, text: readFileSync(join(dir, f), 'utf8') });
    }
    expect(files.length).toBeGreaterThan(30);
    for (const file of files) {
      const parts = compileTemplate(file.text, file.dialect);
      const places = parts.flatMap((p) => ('placeholder' in p ? [`${p.placeholder}@${p.place}`] : []));
      // The only placeholder inside a literal is the validated schema name in nextval('…').
      expect(places.filter((p) => !p.endsWith('@code') && p !== 'schema@string'), file.path).toEqual([]);
      // Whatever the values, nothing fills a comment: a header keeps its {{names}} as written.
      // A placeholder that also stands in a literal gets a plain value (its literal would refuse HOSTILE).
      const inLiteral = new Set(parts.flatMap((p) => ('placeholder' in p && p.place !== 'code' ? [p.placeholder] : [])));
      const values = Object.fromEntries(parts.flatMap((p) => ('placeholder' in p ? [[p.placeholder, inLiteral.has(p.placeholder) ? 'v' : HOSTILE]] : [])));
      const lines = new Set(fill(file.text, values, file.dialect).split('\n'));
      for (const line of file.text.split('\n').filter((l) => /^\s*--/.test(l))) expect(lines.has(line), `${file.path}: ${line}`).toBe(true);
    }
  });

  it('fillPlaceholders (migrations) follows the same rules', () => {
    expect(fillPlaceholders('-- {{schema}}\nCREATE TABLE {{schema}}.t (i int);', { schema: '[outbox]' }, 'sqlserver')).toBe('-- {{schema}}\nCREATE TABLE [outbox].t (i int);');
  });
});
