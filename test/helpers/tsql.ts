/**
 * The T-SQL parse gate: no SQL Server engine runs here, so every shipped SQL Server batch and every
 * generated trigger is at least parsed with a real T-SQL grammar (grammars-v4 TSqlParser, from the
 * npm package antlr4ts-sql). SLL prediction: warm parses take tens of milliseconds, LL mode seconds.
 * The parser's DFA cache is static, so one test file pays the first parse's warm-up (≈ 1.5 s) once.
 *
 * The grammar lacks two constructs outbox-relay uses; each, and nothing else, is rewritten before
 * parsing (allowListed counts the rewrites):
 *   - `NEXT VALUE FOR <sequence>` (the outbox's seq default) becomes the literal 0;
 *   - a database DDL trigger on several events (`ON DATABASE … FOR | AFTER ALTER_TABLE, RENAME, …`):
 *     the grammar takes one DDL event and then only DML ones (INSERT, UPDATE, DELETE), so the list is
 *     parsed as its first event; each further event counts once and must be a DDL event name.
 */
import { CharStreams, CommonTokenStream, type ANTLRErrorListener } from 'antlr4ts';
import { PredictionMode } from 'antlr4ts/atn/PredictionMode.js';
import { TSqlLexer } from 'antlr4ts-sql/dist/src/grammar-output/tsql/TSqlLexer.js';
import { TSqlParser } from 'antlr4ts-sql/dist/src/grammar-output/tsql/TSqlParser.js';
import { CaseChangingStream } from 'antlr4ts-sql/dist/src/models/CaseChangingStream.js';

export interface TsqlParse {
  /** Syntax errors, `line:column message` (messages cut to 160 characters). */
  errors: string[];
  /** The batch's top-level statements, by grammar rule (e.g. create_or_alter_dml_trigger, create_table). */
  statements: string[];
  /** How many `NEXT VALUE FOR` constructs were replaced before parsing. */
  allowListed: number;
}

const NAME = String.raw`(?:\[(?:[^\]]|\]\])+\]|[A-Za-z_][\w@$#]*)`;
const NEXT_VALUE_FOR = new RegExp(String.raw`\bNEXT\s+VALUE\s+FOR\s+${NAME}(?:\s*\.\s*${NAME}){0,2}`, 'gi');
const DDL_EVENTS = new Set(['ALTER_TABLE', 'RENAME', 'DROP_TABLE', 'CREATE_TABLE']);
const DDL_EVENT_LIST = /(\bON\s+DATABASE\b(?:\s+WITH\s+EXECUTE\s+AS\s+\w+)?\s+(?:FOR|AFTER)\s+)((?:\w+\s*,\s*)*\w+)(\s+AS\b)/gi;

/** Parses one batch (no GO lines) with the T-SQL grammar. */
export function parseTsql(batch: string): TsqlParse {
  let allowListed = 0;
  const text = batch
    .replace(NEXT_VALUE_FOR, () => {
      allowListed++;
      return '0';
    })
    .replace(DDL_EVENT_LIST, (_m, head: string, events: string, tail: string) => {
      const [first, ...more] = events.split(',').map((e) => e.trim());
      for (const event of more) {
        if (!DDL_EVENTS.has(event.toUpperCase())) throw new Error(`parseTsql: ${event} is not a database DDL event this gate knows`);
        allowListed++;
      }
      return head + first + tail;
    });
  const errors: string[] = [];
  const listener: ANTLRErrorListener<unknown> = {
    syntaxError: (_recognizer, _symbol, line, column, message) => errors.push(`${line}:${column} ${message.slice(0, 160)}`),
  };
  const lexer = new TSqlLexer(new CaseChangingStream(CharStreams.fromString(text), true));
  lexer.removeErrorListeners();
  lexer.addErrorListener(listener);
  const parser = new TSqlParser(new CommonTokenStream(lexer));
  parser.removeErrorListeners();
  parser.addErrorListener(listener);
  parser.interpreter.setPredictionMode(PredictionMode.SLL);
  const tree = parser.tsql_file();
  const statements: string[] = [];
  for (const batchCtx of tree.batch()) {
    const level = batchCtx.batch_level_statement();
    if (level) statements.push(...(level.children ?? []).map((c) => ruleName(parser, c)));
    for (const clause of batchCtx.sql_clauses()) statements.push(...(clause.children ?? []).filter((c) => ruleName(parser, c) !== 'SEMI').map((c) => firstRule(parser, c)));
  }
  return { errors, statements, allowListed };
}

type Node = { ruleContext?: { ruleIndex: number }; childCount?: number; getChild?: (i: number) => Node };

function ruleName(parser: TSqlParser, node: unknown): string {
  const ctx = (node as Node).ruleContext;
  return ctx ? parser.ruleNames[ctx.ruleIndex]! : 'SEMI';
}

/** The most specific rule under a clause that has one child (ddl_clause → create_table). */
function firstRule(parser: TSqlParser, node: unknown): string {
  let n = node as Node;
  while (n.childCount === 1 && n.getChild && (n.getChild(0) as Node).ruleContext) n = n.getChild(0);
  return ruleName(parser, n);
}
