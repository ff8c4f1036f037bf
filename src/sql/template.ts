/**
 * SQL templates: text with {{name}} placeholders that the caller fills with SQL it has already
 * validated and quoted (a `[bracketed]` name, an `N'literal'`, an expression).
 *
 * A placeholder is filled only where the template has code. The template is read with a small lexer
 * of the dialect, once, before any value goes in, so what a value holds can never change how the rest
 * of the template is read:
 *   - in a `--` or (nested) `/* … *\/` comment a placeholder is left as written: a comment header
 *     names its placeholders, and a catalog name holding a newline must not end the comment and
 *     become code;
 *   - inside a string literal or a quoted identifier a placeholder is filled only when its value
 *     cannot end that literal (no quote, and for a PostgreSQL E'…' string no backslash); otherwise
 *     filling fails, naming the placeholder;
 *   - a PostgreSQL dollar-quoted body ($fn$ … $fn$) is code: templates use it for function bodies.
 */
export type TemplateDialect = 'postgres' | 'sqlserver';

/** Where a placeholder stands in its template. */
export type PlaceholderPlace = 'code' | 'string' | 'escape-string' | 'quoted-identifier' | 'bracket-identifier';

export type TemplatePart = { text: string } | { placeholder: string; place: PlaceholderPlace };

const PLACEHOLDER = /^\{\{(\w+)\}\}/;

/** What may not appear in a value filled inside a literal of each kind (it would end the literal). */
const CLOSERS: Record<Exclude<PlaceholderPlace, 'code'>, RegExp> = {
  string: /'/,
  'escape-string': /['\\]/,
  'quoted-identifier': /"/,
  'bracket-identifier': /]/,
};

type State = 'code' | 'line-comment' | 'block-comment' | Exclude<PlaceholderPlace, 'code'>;

/** Splits a template into text and placeholders, each placeholder with the place it stands in. */
export function compileTemplate(text: string, dialect: TemplateDialect): TemplatePart[] {
  const parts: TemplatePart[] = [];
  let state: State = 'code';
  let depth = 0;
  let start = 0;
  const flush = (end: number) => {
    if (end > start) parts.push({ text: text.slice(start, end) });
  };
  let i = 0;
  while (i < text.length) {
    const ch = text[i]!;
    const next = text[i + 1];
    if (ch === '{' && next === '{' && state !== 'line-comment' && state !== 'block-comment') {
      const m = PLACEHOLDER.exec(text.slice(i));
      if (m) {
        flush(i);
        parts.push({ placeholder: m[1]!, place: state });
        i += m[0].length;
        start = i;
        continue;
      }
    }
    switch (state) {
      case 'code':
        if (ch === '-' && next === '-') {
          state = 'line-comment';
          i += 2;
          continue;
        }
        if (ch === '/' && next === '*') {
          state = 'block-comment';
          depth = 1;
          i += 2;
          continue;
        }
        if (ch === "'") {
          // PostgreSQL E'…' strings take backslash escapes; an E that ends a longer word is not a prefix.
          const escape = dialect === 'postgres' && /[eE]/.test(text[i - 1] ?? '') && !/[\w$]/.test(text[i - 2] ?? '');
          state = escape ? 'escape-string' : 'string';
        } else if (ch === '"') {
          state = 'quoted-identifier';
        } else if (ch === '[' && dialect === 'sqlserver') {
          state = 'bracket-identifier';
        }
        i++;
        continue;
      case 'line-comment':
        if (ch === '\n') state = 'code';
        i++;
        continue;
      case 'block-comment':
        // Block comments nest in both dialects.
        if (ch === '/' && next === '*') {
          depth++;
          i += 2;
        } else if (ch === '*' && next === '/') {
          depth--;
          i += 2;
          if (depth === 0) state = 'code';
        } else {
          i++;
        }
        continue;
      case 'string':
        // '' is an escaped quote: the pair leaves and re-enters the literal.
        if (ch === "'") state = 'code';
        i++;
        continue;
      case 'escape-string':
        if (ch === '\\') i += 2;
        else {
          if (ch === "'") state = 'code';
          i++;
        }
        continue;
      case 'quoted-identifier':
        if (ch === '"') state = 'code';
        i++;
        continue;
      case 'bracket-identifier':
        if (ch === ']') {
          if (next === ']') i++;
          else state = 'code';
        }
        i++;
        continue;
    }
  }
  flush(text.length);
  return parts;
}

/** Fills a compiled template. `what` names the template in errors. */
export function fillTemplate(parts: TemplatePart[], params: Record<string, string>, what = 'SQL template'): string {
  let out = '';
  for (const part of parts) {
    if ('text' in part) {
      out += part.text;
      continue;
    }
    const value = params[part.placeholder];
    if (value === undefined) throw new Error(`${what}: placeholder {{${part.placeholder}}} has no value`);
    if (part.place !== 'code' && CLOSERS[part.place].test(value)) {
      throw new Error(`${what}: placeholder {{${part.placeholder}}} stands inside a ${part.place.replace('-', ' ')} and its value would end it; fill it where the template has code`);
    }
    out += value;
  }
  return out;
}
