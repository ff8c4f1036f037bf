import { readdirSync, readFileSync } from 'node:fs';
import { join, posix, relative, resolve } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

/**
 * The dependency rule between layers (docs/architecture.md, "Layers"), checked on the real import
 * statements of src/: static imports, `export … from`, `import('…')` calls and `import('…')` types,
 * parsed by TypeScript (so an import in a comment or a string does not count).
 *
 * - base (wire, sql, errors, logger, sleep, listeners, breaker, config, observability, aws, share)
 *   imports only base;
 * - the source interface (the files directly in source/) imports base; only source/index.ts loads
 *   a dialect;
 * - a dialect (source/postgres, source/sqlserver) imports base, the source interface and itself;
 * - targets/ imports base and targets/;
 * - a stage (relay, consumer, subscriptions, backfill, verify) imports base, the source's public
 *   surface, the consumer the target writer interface (targets/types.ts), backfill and verify the
 *   targets' public surface (targets/index.ts, targets/types.ts, targets/<kind>/index.ts,
 *   targets/transform/index.ts); no stage imports another stage;
 * - only cli/, demo/ and console/ compose: they may import anything.
 */

const SRC = resolve(import.meta.dirname, '../../src');

const BASE = new Set(['wire', 'sql', 'errors', 'logger', 'sleep', 'listeners', 'breaker', 'config', 'observability', 'aws', 'share']);
const STAGES = new Set(['relay', 'consumer', 'subscriptions', 'backfill', 'verify']);
const COMPOSITION = new Set(['cli', 'demo', 'console']);
const DIALECTS = new Set(['postgres', 'sqlserver']);

/** What a stage may import of source/ (the adapter interface; dialects stay behind it). */
const SOURCE_SURFACE = new Set(['source/types.ts', 'source/capabilities.ts', 'source/outbox-store.ts']);
/** What backfill and verify may import of targets/. */
const TARGET_SURFACE = /^targets\/(index|types)\.ts$|^targets\/[a-z]+\/index\.ts$/;

/**
 * Imports the rule allows by name, each with its reason. Keep this list short: an entry is a
 * composition that has not moved to cli/ yet.
 */
const ALLOWED: Record<string, string> = {
  'relay/start.ts -> source/index.ts': 'the relay process opens the source the config names, like a command does',
};

type Layer = 'base' | 'source' | 'dialect' | 'targets' | 'stage' | 'composition';

interface Place {
  layer: Layer;
  /** The folder (or base module) a file belongs to: imports inside one unit are free. */
  unit: string;
}

/** The layer of a file, by its path under src/ (posix, with .ts). */
function placeOf(file: string): Place {
  const parts = file.split('/');
  const top = parts.length === 1 ? parts[0]!.replace(/\.ts$/, '') : parts[0]!;
  if (BASE.has(top)) return { layer: 'base', unit: top };
  if (STAGES.has(top)) return { layer: 'stage', unit: top };
  if (COMPOSITION.has(top)) return { layer: 'composition', unit: top };
  if (top === 'targets') return { layer: 'targets', unit: 'targets' };
  if (top === 'source') return parts.length > 2 && DIALECTS.has(parts[1]!) ? { layer: 'dialect', unit: `source/${parts[1]}` } : { layer: 'source', unit: 'source' };
  throw new Error(`src/${file} is in no layer: add its folder to test/unit/architecture.unit.test.ts and docs/architecture.md`);
}

/** Why an import of `to` from `from` (paths under src/) breaks the rule, or null when it is allowed. */
function violation(from: string, to: string): string | null {
  const a = placeOf(from);
  const b = placeOf(to);
  if (a.unit === b.unit || ALLOWED[`${from} -> ${to}`]) return null;
  if (b.layer === 'base') return null;
  switch (a.layer) {
    case 'composition':
      return null;
    case 'base':
      return `base module ${a.unit} imports ${b.layer} ${b.unit}: the base imports no stage`;
    case 'source':
      return from === 'source/index.ts' && b.layer === 'dialect' ? null : `the source interface imports ${b.layer} ${b.unit}`;
    case 'dialect':
      return b.layer === 'source' ? null : `dialect ${a.unit} imports ${b.layer} ${b.unit}: a dialect imports only the base and the source interface`;
    case 'targets':
      return `targets/ imports ${b.layer} ${b.unit}: targets import only the base`;
    case 'stage':
      if (b.layer === 'source' && SOURCE_SURFACE.has(to)) return null;
      if (b.layer === 'targets' && a.unit === 'consumer' && to === 'targets/types.ts') return null;
      if (b.layer === 'targets' && (a.unit === 'backfill' || a.unit === 'verify') && TARGET_SURFACE.test(to)) return null;
      return `stage ${a.unit} imports ${to}: a stage imports the base, the source interface and (backfill, verify) the targets' public surface`;
  }
}

/** Every module specifier a file imports, from its syntax tree. */
function importsOf(fileName: string, text: string): string[] {
  const source = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const found: string[] = [];
  const visit = (node: ts.Node): void => {
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) found.push(node.moduleSpecifier.text);
    else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword && node.arguments[0] && ts.isStringLiteralLike(node.arguments[0])) found.push(node.arguments[0].text);
    else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument) && ts.isStringLiteral(node.argument.literal)) found.push(node.argument.literal.text);
    else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference) && ts.isStringLiteral(node.moduleReference.expression)) found.push(node.moduleReference.expression.text);
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

/** The rule's verdicts on one file's text: `from -> to: reason` for each import that breaks it. */
function violationsIn(file: string, text: string): string[] {
  const out: string[] = [];
  for (const specifier of importsOf(file, text)) {
    if (!specifier.startsWith('.')) continue;
    const target = posix.normalize(posix.join(posix.dirname(file), specifier)).replace(/\.js$/, '.ts');
    if (target.startsWith('..')) {
      out.push(`${file} -> ${specifier}: imports from outside src/`);
      continue;
    }
    const reason = violation(file, target);
    if (reason) out.push(`${file} -> ${target}: ${reason}`);
  }
  return out;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts') ? [path] : [];
  });
}

describe('architecture: the dependency rule between layers', () => {
  it('holds for every import in src/', () => {
    const files = sourceFiles(SRC);
    expect(files.length).toBeGreaterThan(100);
    const problems = files.flatMap((path) => violationsIn(relative(SRC, path).split(/[\\/]/).join('/'), readFileSync(path, 'utf8')));
    expect(problems).toEqual([]);
  }, 60_000);

  it('puts every folder of src/ in a layer', () => {
    for (const path of sourceFiles(SRC)) expect(() => placeOf(relative(SRC, path).split(/[\\/]/).join('/'))).not.toThrow();
    expect(() => placeOf('newthing/x.ts')).toThrow(/in no layer/);
  }, 60_000);

  it('finds static, re-exported, dynamic and type-only imports, not imports in comments or strings', () => {
    const text = [
      "import { a } from './a.js';",
      "import type { B } from '../b.js';",
      "export { c } from './c.js';",
      "export * from './d.js';",
      "const e = await import('./e.js');",
      "let f: typeof import('./f.js').F;",
      "// import { g } from './g.js';",
      "const h = \"import { h } from './h.js'\";",
    ].join('\n');
    expect(importsOf('x.ts', text)).toEqual(['./a.js', '../b.js', './c.js', './d.js', './e.js', './f.js']);
  });

  it('fails on imports that run back up a layer', () => {
    const bad: [string, string][] = [
      ['wire/envelope.ts', "import type { WireOperation } from '../source/types.js';"],
      ['logger.ts', "import { main } from './cli/main.js';"],
      ['consumer/decode.ts', "import { isValidAttributeName } from '../relay/publisher/attributes.js';"],
      ['consumer/open.ts', "const { planSubscription } = await import('../subscriptions/subscribe.js');"],
      ['relay/relay.ts', "import { PostgresOutboxStore } from '../source/postgres/relay-store.js';"],
      ['source/postgres/relay-store.ts', "import type { EventPublisher } from '../../relay/types.js';"],
      ['source/postgres/adapter.ts', "import { SqlServerSource } from '../sqlserver/adapter.js';"],
      ['source/types.ts', "import type { OutboxStore } from '../relay/types.js';"],
      ['targets/base/batch.ts', "import { Consumer } from '../../consumer/consumer.js';"],
      ['consumer/consumer.ts', "import { PostgresWriter } from '../targets/postgres/writer.js';"],
      ['verify/run-verify.ts', "import { versionStore } from '../targets/postgres/version-store.js';"],
      ['backfill/index.ts', "export type { X } from '../verify/types.js';"],
    ];
    for (const [file, line] of bad) expect(violationsIn(file, line), `${file}: ${line}`).toHaveLength(1);
  });

  it('lets the allowed imports through', () => {
    const good: [string, string][] = [
      ['relay/relay.ts', "import { sleep } from '../sleep.js';"],
      ['relay/relay.ts', "import type { OutboxStore } from '../source/outbox-store.js';"],
      ['source/postgres/relay-store.ts', "import type { OutboxStore } from '../outbox-store.js';"],
      ['source/index.ts', "const { PostgresSource } = await import('./postgres/adapter.js');"],
      ['consumer/open.ts', "import type { TargetWriter } from '../targets/types.js';"],
      ['verify/target-reader.ts', "const m = await import('../targets/mysql/index.js');"],
      ['targets/postgres/writer.ts', "import { SqlTargetWriter } from '../base/sql-writer.js';"],
      ['demo/run-demo.ts', "import { PostgresSource } from '../source/postgres/adapter.js';"],
      ['cli/commands/consume.ts', "import { openConsumer } from '../../consumer/index.js';"],
    ];
    for (const [file, line] of good) expect(violationsIn(file, line), `${file}: ${line}`).toEqual([]);
  });
});
