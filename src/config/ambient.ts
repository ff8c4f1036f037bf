import { existsSync, readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { ConfigError } from '../errors.js';
import { DEFAULT_CONFIG_FILE } from './load.js';

/**
 * The settings a self-contained command (`outbox demo`) borrows when it builds its own config: where
 * Redis and AWS are (from the config file when there is one, overridden by OUTBOX_REDIS_URL,
 * AWS_REGION and AWS_ENDPOINT_URL) and OUTBOX_LOG_LEVEL. The source, outbox schema and targets are
 * the command's own, so OUTBOX_SOURCE_URL and OUTBOX_SCHEMA are deliberately not read here.
 */
export interface AmbientSettings {
  /** The config file's redis section, as written (validated later with the rest). */
  redis?: Record<string, unknown>;
  aws: { region?: string; endpoint?: string };
  logLevel?: string;
}

export function readAmbientSettings(file: string | undefined, env: NodeJS.ProcessEnv = process.env): AmbientSettings {
  const path = file ?? DEFAULT_CONFIG_FILE;
  let doc: Record<string, unknown> = {};
  if (existsSync(path)) {
    try {
      const parsed: unknown = parseYaml(readFileSync(path, 'utf8'));
      if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) doc = parsed as Record<string, unknown>;
    } catch (err) {
      throw new ConfigError([`the file is not valid YAML: ${(err as Error).message.split('\n')[0]}`], path);
    }
  }
  const section = (key: string) => (doc[key] && typeof doc[key] === 'object' ? { ...(doc[key] as Record<string, unknown>) } : undefined);
  const redis = section('redis');
  const aws = (section('aws') ?? {}) as AmbientSettings['aws'];
  const settings: AmbientSettings = { aws };
  if (env.OUTBOX_REDIS_URL) settings.redis = { ...redis, urls: env.OUTBOX_REDIS_URL.split(',').map((s) => s.trim()).filter(Boolean) };
  else if (redis) settings.redis = redis;
  if (env.AWS_REGION) aws.region = env.AWS_REGION;
  if (env.AWS_ENDPOINT_URL) aws.endpoint = env.AWS_ENDPOINT_URL;
  if (env.OUTBOX_LOG_LEVEL) settings.logLevel = env.OUTBOX_LOG_LEVEL;
  return settings;
}
