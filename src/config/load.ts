import { readFileSync, existsSync } from 'node:fs';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import type { core } from 'zod';
import { ConfigError, OutboxError } from '../errors.js';
import { crossCheck, type Problem } from './cross-checks.js';
import { configSchema, type RawConfig, type TargetConfig } from './schema.js';

type ZodIssue = core.$ZodIssue;

export const DEFAULT_CONFIG_FILE = './outbox.config.yaml';

/** Where the settings came from when there is no config file, for messages. */
const NO_FILE = 'the environment (no config file)';

/** Environment variables the product reads, besides those a config names (target URLs, keys), and the setting each overrides. */
export const ENVIRONMENT = {
  OUTBOX_SOURCE_URL: 'source.url',
  OUTBOX_SCHEMA: 'source.schema',
  OUTBOX_SOURCE_NAME: 'source.name',
  OUTBOX_REDIS_URL: 'redis.urls',
  OUTBOX_LOG_LEVEL: 'log.level',
  OUTBOX_METRICS_HOST: 'metrics.host',
  AWS_REGION: 'aws.region',
  AWS_ENDPOINT_URL: 'aws.endpoint',
} as const;

export interface TargetSecrets {
  /** Empty for a dynamodb target without urlEnv (the SDK chain gives the endpoint). */
  url: string;
  httpSecret?: string;
  encryptionKey?: Buffer;
  hashSalt?: string;
}

export interface Config extends RawConfig {
  /** Where the config came from, for messages. */
  origin: string;
  /** Secrets a target needs, read from the environment variables the config names. */
  targetSecrets(name: string): TargetSecrets;
}

export interface LoadOptions {
  file?: string;
  /** Whether a missing file is fine (all settings then come from the environment). */
  allowMissingFile?: boolean;
  env?: NodeJS.ProcessEnv;
}

export function loadConfig(options: LoadOptions = {}): Config {
  const env = options.env ?? process.env;
  const file = options.file ?? DEFAULT_CONFIG_FILE;
  let doc: unknown = {};
  if (existsSync(file)) {
    try {
      doc = parseYaml(readFileSync(file, 'utf8')) ?? {};
    } catch (err) {
      const where = err instanceof YAMLParseError && err.linePos ? ` (line ${err.linePos[0].line})` : '';
      throw new ConfigError([`the file is not valid YAML${where}: ${(err as Error).message.split('\n')[0]}`], file);
    }
    if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new ConfigError(['the top level must be a mapping of settings'], file);
  } else if (!(options.allowMissingFile ?? options.file === undefined)) {
    throw new OutboxError('CONFIG_NOT_FOUND', `Config file ${file} does not exist. Copy outbox.config.example.yaml there, or pass --config FILE.`, { context: { file } });
  }
  return parseConfig(doc as Record<string, unknown>, env, existsSync(file) ? file : NO_FILE);
}

/** Validates a config object after applying environment overrides. Throws ConfigError listing every problem, each setting once. */
export function parseConfig(doc: Record<string, unknown>, env: NodeJS.ProcessEnv = process.env, origin = 'config'): Config {
  const { merged, fromEnv } = applyEnvironment(structuredClone(doc), env);
  const checked = validate(merged);
  const problems = [...checked.problems, ...crossCheck(merged, env)];
  if (problems.length > 0 || !checked.data) throw new ConfigError(describeProblems(problems, merged, fromEnv, origin), origin);
  const raw = checked.data;
  return Object.assign(raw, {
    origin,
    targetSecrets: (name: string) => readTargetSecrets(raw, name, env),
  });
}

/** Applies the environment overrides; remembers which settings came from which variable, for messages. */
function applyEnvironment(doc: Record<string, unknown>, env: NodeJS.ProcessEnv): { merged: Record<string, unknown>; fromEnv: Map<string, string> } {
  const fromEnv = new Map<string, string>();
  for (const [variable, setting] of Object.entries(ENVIRONMENT)) {
    const value = env[variable];
    if (!value) continue;
    const [section, key] = setting.split('.') as [string, string];
    const current = doc[section];
    const target = current !== null && typeof current === 'object' && !Array.isArray(current) ? (current as Record<string, unknown>) : (doc[section] = {});
    (target as Record<string, unknown>)[key] = variable === 'OUTBOX_REDIS_URL' ? value.split(',').map((s) => s.trim()).filter(Boolean) : value;
    fromEnv.set(setting, variable);
  }
  if (doc.source === undefined || doc.source === null) doc.source = {};
  return { merged: doc, fromEnv };
}

/**
 * The schema's problems. A record key that is not a valid name (a target called "bad name") stops
 * the schema from looking at its value, so such keys are renamed to a placeholder and the document
 * checked again: the value's own problems are reported in the same pass, under the original name.
 */
function validate(doc: Record<string, unknown>): { data?: RawConfig; problems: Problem[] } {
  const problems: Problem[] = [];
  const originals = new Map<string, string>();
  const original = (path: PropertyKey[]) => path.map((p) => (typeof p === 'string' ? (originals.get(p) ?? p) : Number(p)));
  let current = doc;
  for (let round = 0; round < 5; round++) {
    const result = configSchema.safeParse(current);
    if (result.success) return { data: originals.size === 0 ? result.data : undefined, problems };
    const keys = result.error.issues.filter((i) => i.code === 'invalid_key');
    if (keys.length === 0 || round === 4) {
      problems.push(...result.error.issues.filter((i) => i.code !== 'invalid_key').map((issue) => issueProblem(issue, original(issue.path), doc)));
      return { problems };
    }
    current = structuredClone(current);
    for (const issue of keys) {
      const path = issue.path.map((p) => (typeof p === 'symbol' ? String(p) : p));
      const key = String(path[path.length - 1]);
      const inner = 'issues' in issue ? (issue.issues as { message: string; pattern?: unknown }[])[0] : undefined;
      problems.push({ path: original(path), message: `the name ${JSON.stringify(originals.get(key) ?? key)} ${inner?.message ?? 'is not allowed here'}`, bare: true });
      const parent = valueAt(current, path.slice(0, -1)) as Record<string, unknown>;
      const placeholder = String(inner?.pattern ?? '').includes('\\.') ? `outbox_placeholder.key_${originals.size}` : `outbox_placeholder_key_${originals.size}`;
      originals.set(placeholder, originals.get(key) ?? key);
      parent[placeholder] = parent[key];
      delete parent[key];
    }
  }
  return { problems };
}

function issueProblem(issue: ZodIssue, path: (string | number)[], doc: Record<string, unknown>): Problem {
  if (issue.code === 'unrecognized_keys') {
    return { path, message: `unknown setting${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => JSON.stringify(k)).join(', ')}`, bare: true };
  }
  return { path, message: issue.message, value: valueAt(doc, path) };
}

/** One line per setting: "path (from VARIABLE): what is wrong (got value)", problems of one setting joined. */
function describeProblems(problems: Problem[], doc: Record<string, unknown>, fromEnv: Map<string, string>, origin: string): string[] {
  const bySetting = new Map<string, string[]>();
  for (const problem of problems) {
    const setting = formatPath(problem.path);
    const variable = fromEnv.get(setting);
    const name = variable ? `${setting} (from ${variable})` : setting;
    let text: string;
    if (setting === 'source.url' && valueAt(doc, problem.path) === undefined) {
      text = `OUTBOX_SOURCE_URL is not set and ${origin === NO_FILE ? `there is no config file (${DEFAULT_CONFIG_FILE})` : `${origin} gives no source.url`}: set OUTBOX_SOURCE_URL to the source database URL, e.g. postgres://user@host:5432/db (or mssql://… with source.dialect: sqlserver)`;
    } else {
      text = problem.bare ? problem.message : `${problem.message} (${problem.value === undefined ? 'missing' : `got ${showValue(problem.value)}`})`;
    }
    const list = bySetting.get(name) ?? [];
    if (!list.includes(text)) list.push(text);
    bySetting.set(name, list);
  }
  return [...bySetting].map(([name, texts]) => `${name}: ${texts.join('; ')}`);
}

/** `targets.shop.mapping["public.orders"].mask.card`: names that are not plain words are bracketed. */
export function formatPath(path: readonly (string | number)[]): string {
  if (path.length === 0) return '(top level)';
  return path.map((part, i) => (typeof part === 'number' || /^\d+$/.test(part) ? `${i ? '.' : ''}${part}` : /^[A-Za-z_][A-Za-z0-9_]*$/.test(part) ? `${i ? '.' : ''}${part}` : `[${JSON.stringify(part)}]`)).join('');
}

function valueAt(doc: unknown, path: readonly PropertyKey[]): unknown {
  let cur: unknown = doc;
  for (const part of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[part];
  }
  return cur;
}

/** A value for a message: credentials in URLs hidden, long values cut. */
function showValue(value: unknown): string {
  const text = JSON.stringify(value).replace(/\/\/[^@/"\s]*@/g, '//***@');
  return text.length > 120 ? `${text.slice(0, 117)}...` : text;
}

function readTargetSecrets(cfg: RawConfig, name: string, env: NodeJS.ProcessEnv): TargetSecrets {
  const target: TargetConfig | undefined = cfg.targets[name];
  if (!target) {
    const known = Object.keys(cfg.targets);
    throw new OutboxError('TARGET_NOT_FOUND', `Target "${name}" is not in the config. Known targets: ${known.length ? known.join(', ') : '(none)'}.`, { context: { target: name } });
  }
  const missing = (variable: string, what: string) =>
    new OutboxError('CONFIG_INVALID', `Target "${name}" needs ${what} in the environment variable ${variable}, which is not set.`, { context: { target: name, variable } });
  const url = target.urlEnv === undefined ? '' : env[target.urlEnv];
  if (!url && target.urlEnv !== undefined) throw missing(target.urlEnv, target.kind === 'dynamodb' ? 'its endpoint URL' : 'its URL');
  const secrets: TargetSecrets = { url: url ?? '' };
  if (target.http?.secretEnv) {
    const secret = env[target.http.secretEnv];
    if (!secret) throw missing(target.http.secretEnv, 'its signing secret');
    secrets.httpSecret = secret;
  }
  if (target.encryption) {
    const key = env[target.encryption.keyEnv];
    if (!key) throw missing(target.encryption.keyEnv, 'its encryption key');
    secrets.encryptionKey = Buffer.from(key, 'base64');
  }
  if (target.hashSaltEnv) {
    const salt = env[target.hashSaltEnv];
    if (!salt) throw missing(target.hashSaltEnv, 'its hash salt');
    secrets.hashSalt = salt;
  }
  return secrets;
}
