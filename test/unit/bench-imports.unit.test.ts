import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { readImports, resolveSpecifier, sourceFiles } from '../helpers/imports.js';

/**
 * The benchmarks run with tsx, outside a test run, and share test/helpers with the tests: a helper
 * that imports vitest at run time (`expect`, `vi`) makes every bench that reaches it fail at start
 * ("Vitest failed to access its internal state"). Type-only imports are erased and allowed.
 */

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Whether the statement a reference is on imports values (not `import type` / `export type`). */
function runtimeReference(text: string, line: number): boolean {
  const statement = text.split('\n')[line - 1] ?? '';
  return !/^\s*(import|export)\s+type\b/.test(statement);
}

/** For each file that reaches vitest at run time, the chain of imports from it. */
function vitestChains(entries: string[], read: (path: string) => string | undefined): string[] {
  const found: string[] = [];
  for (const entry of entries) {
    const seen = new Set<string>();
    const stack: string[][] = [[entry]];
    while (stack.length > 0) {
      const chain = stack.pop()!;
      const path = chain.at(-1)!;
      if (seen.has(path)) continue;
      seen.add(path);
      const text = read(path);
      if (text === undefined) continue;
      for (const ref of readImports(text)) {
        if (!runtimeReference(text, ref.line)) continue;
        if (ref.specifier === 'vitest' || ref.specifier.startsWith('vitest/')) {
          found.push(`${[...chain].join(' → ')}:${ref.line} imports ${ref.specifier}`);
          break;
        }
        const next = resolveSpecifier(path, ref.specifier);
        if (next !== null) stack.push([...chain, next]);
      }
    }
  }
  return found;
}

const readRepoFile = (path: string) => (existsSync(join(ROOT, path)) ? readFileSync(join(ROOT, path), 'utf8') : undefined);

describe('the benchmarks run outside vitest', () => {
  it('no bench reaches a run-time import of vitest through the helpers it shares with the tests', { timeout: 60_000 }, () => {
    const entries = sourceFiles(ROOT, 'bench').map((f) => f.path);
    expect(entries.length).toBeGreaterThan(10);
    expect(vitestChains(entries, readRepoFile)).toEqual([]);
  });

  it('finds a chain through a helper, and allows type-only imports', () => {
    const files: Record<string, string> = {
      'bench/a.ts': "import { drain } from '../test/helpers/source.js';\nimport type { X } from '../test/helpers/types.js';",
      'test/helpers/source.ts': "import type { Mock } from 'vitest';\nimport { waitFor } from './wait.js';",
      'test/helpers/wait.ts': "import { expect } from 'vitest';",
      'test/helpers/types.ts': "import { vi } from 'vitest';",
    };
    expect(vitestChains(['bench/a.ts'], (p) => files[p])).toEqual(['bench/a.ts → test/helpers/source.ts → test/helpers/wait.ts:1 imports vitest']);
    files['test/helpers/wait.ts'] = "export const waitFor = () => undefined;";
    expect(vitestChains(['bench/a.ts'], (p) => files[p])).toEqual([]);
  });
});
