import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createHash } from 'node:crypto';
import { compileTemplate, fillTemplate, type TemplatePart } from './template.js';

/** The package root: the nearest folder above this module that holds package.json and sql/. */
function findRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'sql'))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error('outbox-relay: cannot find the package folder that holds sql/');
    dir = up;
  }
}

export const PACKAGE_ROOT = findRoot();

export type Dialect = 'postgres' | 'sqlserver';

export interface MigrationFile {
  version: number;
  name: string;
  /** sha256 of the file as released, before placeholders are filled. */
  checksum: string;
  text: string;
}

const MIGRATION_NAME = /^(\d{6})_([a-z0-9_]+)\.sql$/;

/** The numbered migration files of a dialect, in order. */
export function listMigrations(dialect: Dialect): MigrationFile[] {
  const dir = join(PACKAGE_ROOT, 'sql', dialect);
  return readdirSync(dir)
    .map((file) => ({ file, match: MIGRATION_NAME.exec(file) }))
    .filter((f): f is { file: string; match: RegExpExecArray } => f.match !== null)
    .map(({ file, match }) => {
      const text = readFileSync(join(dir, file), 'utf8');
      return { version: Number(match[1]), name: match[2]!, checksum: sha256(text), text };
    })
    .sort((a, b) => a.version - b.version);
}

/** A runtime SQL file (sql/<dialect>/runtime/<name>.sql) with its placeholders filled (src/sql/template.ts). */
const runtimeCache = new Map<string, TemplatePart[]>();
export function runtimeSql(dialect: Dialect, name: string, params: Record<string, string> = {}): string {
  const key = `${dialect}/${name}`;
  let parts = runtimeCache.get(key);
  if (parts === undefined) {
    parts = compileTemplate(readRuntimeSql(dialect, name), dialect);
    runtimeCache.set(key, parts);
  }
  return fillTemplate(parts, params, `sql/${dialect}/runtime/${name}.sql`);
}

/** A runtime SQL file as written, placeholders and all. */
export function readRuntimeSql(dialect: Dialect, name: string): string {
  return readFileSync(join(PACKAGE_ROOT, 'sql', dialect, 'runtime', `${name}.sql`), 'utf8');
}

/**
 * Replaces {{name}} placeholders where the text has code — never inside comments (see
 * src/sql/template.ts). Values must already be validated and quoted by the caller.
 */
export function fillPlaceholders(text: string, params: Record<string, string>, dialect: Dialect): string {
  return fillTemplate(compileTemplate(text, dialect), params);
}

export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
