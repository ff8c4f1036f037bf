import type { Config } from '../config/index.js';
import { describeError, isOutboxError } from '../errors.js';

/**
 * Turns what a driver or the AWS SDK throws into a message that names the setting to look at and
 * what to do: `connect ECONNREFUSED 127.0.0.1:5999` becomes "cannot reach the source database at
 * 127.0.0.1:5999 — is it running? (source.url)". The endpoint is found by comparing the address in
 * the error with the ones the config names; an error the command knows came from the source (see
 * markOrigin) is attributed to it even when it carries no address (a refused login).
 */
export interface Endpoint {
  /** "the source database", "Redis", "target \"warehouse\"", … */
  what: string;
  /** The setting (and variable) that holds it. */
  setting: string;
  host: string;
  port: number;
}

export type Origin = 'source';

const origins = new WeakMap<object, Origin>();

/** Records that err came from talking to the source database. Returns err. */
export function markOrigin<T>(err: T, origin: Origin): T {
  if (err !== null && typeof err === 'object' && !origins.has(err)) origins.set(err, origin);
  return err;
}

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT', 'ECONNRESET', 'EPIPE', 'ESOCKET']);
const DEFAULT_PORTS: Record<string, number> = { 'postgres:': 5432, 'postgresql:': 5432, 'mssql:': 1433, 'sqlserver:': 1433, 'mysql:': 3306, 'mariadb:': 3306, 'redis:': 6379, 'rediss:': 6379, 'http:': 80, 'https:': 443 };
const LOOPBACK = new Set(['localhost', '127.0.0.1', '::1', '[::1]', '0.0.0.0']);

/** The endpoints a config names: the source, Redis nodes, the AWS endpoint, each target whose URL variable is set. */
export function configuredEndpoints(config: Config): Endpoint[] {
  const endpoints: Endpoint[] = [];
  const add = (url: string | undefined, what: string, setting: string) => {
    const parsed = parseUrl(url);
    if (parsed) endpoints.push({ what, setting, ...parsed });
  };
  add(config.source.url, 'the source database', 'source.url / OUTBOX_SOURCE_URL');
  for (const url of config.redis.urls) add(url, 'Redis', 'redis.urls / OUTBOX_REDIS_URL');
  add(config.aws.endpoint, 'the AWS endpoint (SNS, SQS, S3)', 'aws.endpoint / AWS_ENDPOINT_URL');
  for (const [name, target] of Object.entries(config.targets)) {
    let url: string | undefined;
    try {
      url = config.targetSecrets(name).url;
    } catch {
      continue;
    }
    add(url, `target "${name}"`, `targets.${name}.urlEnv / ${target.urlEnv}`);
  }
  return endpoints;
}

function parseUrl(url: string | undefined): { host: string; port: number } | undefined {
  if (!url) return undefined;
  try {
    const parsed = new URL(url);
    const port = parsed.port ? Number(parsed.port) : DEFAULT_PORTS[parsed.protocol];
    if (!parsed.hostname || port === undefined) return undefined;
    return { host: parsed.hostname.replace(/^\[|\]$/g, ''), port };
  } catch {
    return undefined;
  }
}

interface NetworkFailure {
  code: string;
  host?: string;
  port?: number;
}

/** The network failure inside err (itself, its cause, the first of an AggregateError, a driver's wrapped error), if any. */
export function networkFailure(err: unknown, depth = 0): NetworkFailure | undefined {
  if (err === null || typeof err !== 'object' || depth > 4) return undefined;
  const e = err as { code?: unknown; address?: unknown; hostname?: unknown; port?: unknown; message?: unknown; cause?: unknown; errors?: unknown; originalError?: unknown };
  const message = typeof e.message === 'string' ? e.message : '';
  const code = typeof e.code === 'string' ? e.code : undefined;
  if (code && NETWORK_CODES.has(code)) {
    const fromMessage = /(?:connect|to) (?:\S+ )?\[?([\w.:-]+?)\]?:(\d+)/.exec(message);
    const host = typeof e.address === 'string' ? e.address : typeof e.hostname === 'string' ? e.hostname : fromMessage?.[1];
    const port = typeof e.port === 'number' ? e.port : fromMessage ? Number(fromMessage[2]) : undefined;
    if (host !== undefined) return { code, host, ...(port !== undefined ? { port } : {}) };
    // an AggregateError (one error per address tried) carries the address in its first error
    const inner = [e.cause, Array.isArray(e.errors) ? e.errors[0] : undefined, e.originalError].map((x) => networkFailure(x, depth + 1)).find((x) => x?.host !== undefined);
    if (inner) return { ...inner, code };
    if (code !== 'ESOCKET') return { code, ...(port !== undefined ? { port } : {}) };
  }
  if (/timeout expired|connection timeout/i.test(message)) return { code: 'ETIMEDOUT' };
  for (const inner of [e.cause, Array.isArray(e.errors) ? e.errors[0] : undefined, e.originalError]) {
    const found = networkFailure(inner, depth + 1);
    if (found) return found;
  }
  return undefined;
}

function sameHost(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase() || (LOOPBACK.has(a) && LOOPBACK.has(b));
}

function describeNetwork(failure: NetworkFailure, endpoints: Endpoint[], origin: Origin | undefined): string {
  let matches = endpoints.filter((e) => (failure.port === undefined || e.port === failure.port) && (failure.host === undefined || sameHost(e.host, failure.host)));
  if (failure.host === undefined && failure.port === undefined) matches = [];
  if (matches.length === 0 && origin === 'source') matches = endpoints.filter((e) => e.what === 'the source database');
  if (matches.length === 0 && failure.host && /\.amazonaws\.com$/i.test(failure.host)) {
    matches = [{ what: 'AWS', setting: 'aws.region / AWS_REGION, and the network', host: failure.host, port: failure.port ?? 443 }];
  }
  const where = failure.host !== undefined ? `${failure.host}${failure.port !== undefined ? `:${failure.port}` : ''}` : matches[0] ? `${matches[0].host}:${matches[0].port}` : undefined;
  const what = matches.length ? [...new Set(matches.map((m) => m.what))].join(' or ') : where ? undefined : 'a server';
  const settings = [...new Set(matches.map((m) => m.setting))].join('; ');
  const subject = `${what ?? ''}${what && where ? ' at ' : ''}${where ?? ''}`;
  const hint = settings ? ` (${settings})` : ' (check the host and port in the config and the environment)';
  switch (failure.code) {
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `cannot resolve the host of ${subject} — is the host name right?${hint}`;
    case 'ETIMEDOUT':
      return `${subject} did not answer in time — is it running, and can this machine reach it?${hint}`;
    case 'ECONNRESET':
    case 'EPIPE':
      return `${subject} closed the connection — is it the right port, and does it accept this client (TLS, firewall)?${hint}`;
    default:
      return `cannot reach ${subject} — is it running?${hint}`;
  }
}

/** PostgreSQL and SQL Server refusing the login or the database: the fix is in the URL. */
function describeLoginFailure(err: unknown): string | undefined {
  const e = err as { code?: unknown; number?: unknown; message?: unknown };
  const message = typeof e.message === 'string' ? e.message : '';
  const pgLogin = typeof e.code === 'string' && /^(28000|28P01|3D000)$/.test(e.code);
  const mssqlLogin = e.code === 'ELOGIN';
  if (!pgLogin && !mssqlLogin) return undefined;
  return `the source database refused the connection: ${message} — check the user, password and database name in source.url (OUTBOX_SOURCE_URL)`;
}

/** The message to print for a failed command. */
export function explainError(err: unknown, config?: Config): string {
  if (isOutboxError(err)) {
    const failure = err.cause === undefined ? undefined : networkFailure(err.cause);
    return failure && config ? `${err.message} (${describeNetwork(failure, configuredEndpoints(config), origins.get(err))})` : err.message;
  }
  const message = describeError(err);
  if (message === 'Region is missing') return 'AWS region not set: set AWS_REGION or aws.region (or a region in the AWS profile that AWS_PROFILE names)';
  if (message.startsWith('Region not accepted')) return `AWS region not valid (${message}): set AWS_REGION or aws.region to a region such as eu-west-1`;
  if ((err as { name?: unknown } | null)?.name === 'CredentialsProviderError') {
    return 'AWS credentials not found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE, or run where an IAM role provides them';
  }
  const origin = err !== null && typeof err === 'object' ? origins.get(err) : undefined;
  const failure = networkFailure(err);
  if (failure) return describeNetwork(failure, config ? configuredEndpoints(config) : [], origin);
  if (origin === 'source') {
    const login = describeLoginFailure(err);
    if (login) return login;
  }
  return message || String((err as { code?: unknown } | null)?.code ?? err);
}
