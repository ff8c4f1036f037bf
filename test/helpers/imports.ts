import { readdirSync, readFileSync } from 'node:fs';
import { join, posix, relative, sep } from 'node:path';
import ts from 'typescript';

/** One module reference in a source file: static import or export-from, dynamic import(), or import('…') in a type. */
export interface ImportRef {
  /** The specifier as written ('../source/postgres/track.js'). */
  specifier: string;
  line: number;
}

/**
 * Every module reference of a TypeScript file with a literal specifier, found by the compiler's own
 * pre-processor (its scanner: comments and strings that merely look like imports are not references).
 */
export function readImports(text: string): ImportRef[] {
  return ts.preProcessFile(text, true, true).importedFiles.map((f) => ({ specifier: f.fileName, line: text.slice(0, f.pos).split('\n').length }));
}

/** The repository path a relative specifier names from a file ('src/backfill/index.ts' + '../source/x.js' → 'src/source/x.ts'); null for a package. */
export function resolveSpecifier(fromPath: string, specifier: string): string | null {
  if (!specifier.startsWith('.')) return null;
  return posix.normalize(posix.join(posix.dirname(fromPath), specifier)).replace(/\.js$/, '.ts');
}

/** The .ts files under a directory, as repository paths with forward slashes. */
export function sourceFiles(root: string, dir: string): { path: string; text: string }[] {
  const walk = (d: string): string[] =>
    readdirSync(d, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(d, e.name)) : e.name.endsWith('.ts') ? [join(d, e.name)] : []));
  return walk(join(root, dir)).map((f) => ({ path: relative(root, f).split(sep).join('/'), text: readFileSync(f, 'utf8') }));
}
