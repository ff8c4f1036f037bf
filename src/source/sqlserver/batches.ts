/**
 * `GO` is not T-SQL: it is the batch separator of sqlcmd and SSMS. A script is split here, the way
 * sqlcmd does it: a line holding only `GO` (any case), optionally a repeat count and a `--` comment,
 * ends a batch — unless that line lies inside a string literal, a quoted identifier or a block comment.
 * `GO 3` runs the batch before it three times. Statements that must start a batch (CREATE TRIGGER,
 * CREATE VIEW, CREATE PROCEDURE…) rely on this.
 */
export interface SqlBatch {
  text: string;
  /** 1-based line of the script where the batch starts, for error messages. */
  line: number;
}

const GO_LINE = /^[ \t]*go(?:[ \t]+(\d+))?[ \t]*(?:--.*)?$/i;

type State = 'code' | 'string' | 'bracket' | 'dquote' | 'block';

export function splitBatches(script: string): SqlBatch[] {
  const lines = script.split(/\r?\n/);
  const batches: SqlBatch[] = [];
  let current: string[] = [];
  let startLine = 1;
  let hasCode = false;
  let state: State = 'code';
  let depth = 0;

  const flush = (count: number) => {
    if (hasCode) {
      const text = current.join('\n');
      for (let i = 0; i < count; i++) batches.push({ text, line: startLine });
    }
    current = [];
    hasCode = false;
  };

  lines.forEach((line, index) => {
    const go = state === 'code' ? GO_LINE.exec(line) : null;
    if (go) {
      flush(go[1] === undefined ? 1 : Number(go[1]));
      startLine = index + 2;
      return;
    }
    current.push(line);
    for (let i = 0; i < line.length; i++) {
      const ch = line[i]!;
      const next = line[i + 1];
      switch (state) {
        case 'code':
          if (ch === '-' && next === '-') {
            i = line.length;
          } else if (ch === '/' && next === '*') {
            state = 'block';
            depth = 1;
            i++;
          } else if (ch === "'") {
            state = 'string';
            hasCode = true;
          } else if (ch === '[') {
            state = 'bracket';
            hasCode = true;
          } else if (ch === '"') {
            state = 'dquote';
            hasCode = true;
          } else if (!/\s/.test(ch)) {
            hasCode = true;
          }
          break;
        case 'string':
          // '' inside a literal is an escaped quote: the pair leaves and re-enters the literal.
          if (ch === "'") state = 'code';
          break;
        case 'bracket':
          if (ch === ']') {
            if (next === ']') i++;
            else state = 'code';
          }
          break;
        case 'dquote':
          if (ch === '"') {
            if (next === '"') i++;
            else state = 'code';
          }
          break;
        case 'block':
          // T-SQL block comments nest.
          if (ch === '/' && next === '*') {
            depth++;
            i++;
          } else if (ch === '*' && next === '/') {
            depth--;
            i++;
            if (depth === 0) state = 'code';
          }
          break;
      }
    }
  });
  flush(1);
  return batches;
}
