import { readFileSync, existsSync } from 'node:fs';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { type ZodError } from 'zod';
import { ConfigError, OutboxError } from '../errors.js';
import { configSchema, type RawConfig, type TargetConfig } from './schema.js';

export const DEFAULT_CONFIG_FILE = './outbox.config.yaml';

/** Environment variables the product reads, besides those a config names (target URLs, keys). */
export const ENVIRONMENT = {
  OUTBOX_SOURCE_URL: 'source.url',
  OUTBOX_SCHEMA: 'source.schema',
  OUTBOX_SOURCE_NAME: 'source.name',
  OUTBOX_REDIS_URL: 'redis.urls (comma-separated for several nodes)',
  OUTBOX_LOG_LEVEL: 'log.level',
  AWS_REGION: 'aws.region',
  AWS_ENDPOINT_URL: 'aws.endpoint',
} as const;

export interface TargetSecrets {
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
  return parseConfig(doc as Record<string, unknown>, env, existsSync(file) ? file : 'environment');
}

/** Validates a config object after applying environment overrides. Throws ConfigError listing every problem. */
export function parseConfig(doc: Record<string, unknown>, env: NodeJS.ProcessEnv = process.env, origin = 'config'): Config {
  const merged = applyEnvironment(structuredClone(doc), env);
  const result = configSchema.safeParse(merged);
  if (!result.success) throw new ConfigError(formatIssues(result.error, merged), origin);
  const raw = result.data;
  const problems = checkTargetEnvironment(raw, env);
  if (problems.length > 0) throw new ConfigError(problems, origin);
  return Object.assign(raw, {
    origin,
    targetSecrets: (name: string) => readTargetSecrets(raw, name, env),
  });
}

function applyEnvironment(doc: Record<string, unknown>, env: NodeJS.ProcessEnv): Record<string, unknown> {
  const section = (key: string): Record<string, unknown> => {
    const value = doc[key];
    if (value === undefined || value === null) return (doc[key] = {}) as Record<string, unknown>;
    return value as Record<string, unknown>;
  };
  if (env.OUTBOX_SOURCE_URL) section('source').url = env.OUTBOX_SOURCE_URL;
  if (env.OUTBOX_SCHEMA) section('source').schema = env.OUTBOX_SCHEMA;
  if (env.OUTBOX_SOURCE_NAME) section('source').name = env.OUTBOX_SOURCE_NAME;
  if (env.OUTBOX_REDIS_URL) section('redis').urls = env.OUTBOX_REDIS_URL.split(',').map((s) => s.trim()).filter(Boolean);
  if (env.OUTBOX_LOG_LEVEL) section('log').level = env.OUTBOX_LOG_LEVEL;
  if (env.AWS_REGION) section('aws').region = env.AWS_REGION;
  if (env.AWS_ENDPOINT_URL) section('aws').endpoint = env.AWS_ENDPOINT_URL;
  if (doc.source === undefined) doc.source = {};
  return doc;
}

function formatIssues(error: ZodError, doc: Record<string, unknown>): string[] {
  return error.issues.map((issue) => {
    const path = issue.path.map(String).join('.') || '(top level)';
    const value = valueAt(doc, issue.path as (string | number)[]);
    const shown = value === undefined ? 'missing' : `got ${JSON.stringify(redactValue(path, value))}`;
    let message = issue.message;
    if (issue.code === 'unrecognized_keys') message = `unknown setting${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => JSON.stringify(k)).join(', ')}`;
    return issue.code === 'unrecognized_keys' ? `${path}: ${message}` : `${path}: ${message} (${shown})`;
  });
}

function valueAt(doc: unknown, path: (string | number)[]): unknown {
  let cur: unknown = doc;
  for (const part of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string | number, unknown>)[part];
  }
  return cur;
}

/** Connection URLs may hold passwords: show them without credentials. */
function redactValue(path: string, value: unknown): unknown {
  if (typeof value === 'string' && /url/i.test(path)) return value.replace(/\/\/[^@/]*@/, '//***@');
  if (typeof value === 'string' && value.length > 120) return `${value.slice(0, 117)}...`;
  return value;
}

function checkTargetEnvironment(cfg: RawConfig, env: NodeJS.ProcessEnv): string[] {
  const problems: string[] = [];
  for (const [name, target] of Object.entries(cfg.targets)) {
    if (target.encryption && (target.mapping ? Object.values(target.mapping).some((m) => m.encrypt.length > 0) : false)) {
      const key = env[target.encryption.keyEnv];
      if (key !== undefined && Buffer.from(key, 'base64').length !== 32) {
        problems.push(`targets.${name}.encryption.keyEnv: ${target.encryption.keyEnv} must hold a base64-encoded 32-byte key (got ${Buffer.from(key, 'base64').length} bytes)`);
      }
    }
    const needsKey = Object.values(target.mapping).some((m) => m.encrypt.length > 0);
    if (needsKey && !target.encryption) problems.push(`targets.${name}.encryption: is required because a mapping encrypts columns (missing)`);
  }
  return problems;
}

function readTargetSecrets(cfg: RawConfig, name: string, env: NodeJS.ProcessEnv): TargetSecrets {
  const target: TargetConfig | undefined = cfg.targets[name];
  if (!target) {
    const known = Object.keys(cfg.targets);
    throw new OutboxError('TARGET_NOT_FOUND', `Target "${name}" is not in the config. Known targets: ${known.length ? known.join(', ') : '(none)'}.`, { context: { target: name } });
  }
  const missing = (variable: string, what: string) =>
    new OutboxError('CONFIG_INVALID', `Target "${name}" needs ${what} in the environment variable ${variable}, which is not set.`, { context: { target: name, variable } });
  const url = env[target.urlEnv];
  if (!url) throw missing(target.urlEnv, 'its URL');
  const secrets: TargetSecrets = { url };
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
