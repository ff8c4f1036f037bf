import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { readImports, resolveSpecifier, sourceFiles } from '../helpers/imports.js';

/**
 * The dependency rules of src/, checked on the real import statements of every file (static,
 * type-only, export-from, dynamic import() and import types), found by the TypeScript compiler's
 * pre-processor (test/helpers/imports.ts).
 */

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The dialect folders: every folder directly under src/source (postgres, sqlserver). */
const DIALECTS = readdirSync(join(ROOT, 'src', 'source'), { withFileTypes: true })
  .filter((e) => e.isDirectory())
  .map((e) => e.name);

/** The one file outside the dialect folders that may load them: the factory that opens an adapter. */
const ADAPTER_FACTORY = 'src/source/index.ts';

function dialectOf(path: string, dialects: string[]): string | null {
  const m = /^src\/source\/([^/]+)\//.exec(path);
  return m && dialects.includes(m[1]!) ? m[1]! : null;
}

/**
 * Imports of a dialect folder from outside it: everything but the dialect's own files and the
 * adapter factory speaks the SourceAdapter port (src/source/types.ts) instead.
 */
function dialectBoundaryViolations(files: { path: string; text: string }[], dialects: string[]): string[] {
  const found: string[] = [];
  for (const file of files) {
    const own = dialectOf(file.path, dialects);
    for (const ref of readImports(file.text)) {
      const target = resolveSpecifier(file.path, ref.specifier);
      const reached = target === null ? null : dialectOf(target, dialects);
      if (reached !== null && reached !== own && file.path !== ADAPTER_FACTORY) found.push(`${file.path}:${ref.line} imports ${ref.specifier}`);
    }
  }
  return found;
}

describe('the source dialect boundary', () => {
  it('has the dialect folders it is about', () => {
    expect(DIALECTS).toEqual(expect.arrayContaining(['postgres', 'sqlserver']));
  });

  it('no file outside src/source/<dialect>/ imports a dialect folder (the adapter factory aside)', { timeout: 60_000 }, () => {
    expect(dialectBoundaryViolations(sourceFiles(ROOT, 'src'), DIALECTS)).toEqual([]);
  });

  it('catches static, type-only, re-exported, dynamic and type-position imports of a dialect, and only those', () => {
    const files = [
      {
        path: 'src/backfill/index.ts',
        text: [
          "import { quotedTable } from '../source/postgres/track.js';",
          "import type { Pool } from '../source/sqlserver/pool.js';",
          "export { PostgresSource } from '../source/postgres/adapter.js';",
          'export async function open() {',
          "  const { SqlServerOutboxStore } = await import('../source/sqlserver/relay-store.js');",
          '  return SqlServerOutboxStore;',
          '}',
          "export type Store = import('../source/postgres/relay-store.js').PostgresOutboxStore;",
          // Not imports: a comment, a string, the port and a package.
          "// import { x } from '../source/postgres/track.js';",
          "export const note = \"import { y } from '../source/postgres/track.js'\";",
          "import type { SourceAdapter } from '../source/types.js';",
          "import pg from 'pg';",
        ].join('\n'),
      },
      { path: 'src/source/sqlserver/track.ts', text: "import { quoteLiteral } from '../postgres/capture-sql.js';\nimport { createPool } from './pool.js';" },
      { path: 'src/source/postgres/backfill.ts', text: "import { quotedTable } from './track.js';\nimport type { BackfillRequest } from '../capabilities.js';" },
      { path: 'src/source/index.ts', text: "const { PostgresSource } = await import('./postgres/adapter.js');" },
    ];
    expect(dialectBoundaryViolations(files, ['postgres', 'sqlserver'])).toEqual([
      'src/backfill/index.ts:1 imports ../source/postgres/track.js',
      'src/backfill/index.ts:2 imports ../source/sqlserver/pool.js',
      'src/backfill/index.ts:3 imports ../source/postgres/adapter.js',
      'src/backfill/index.ts:5 imports ../source/sqlserver/relay-store.js',
      'src/backfill/index.ts:8 imports ../source/postgres/relay-store.js',
      'src/source/sqlserver/track.ts:1 imports ../postgres/capture-sql.js',
    ]);
  });
});
