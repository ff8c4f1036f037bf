import mssql from 'mssql';
import { OutboxError } from '../../errors.js';
import type { Logger } from '../../logger.js';

export type Pool = mssql.ConnectionPool;
export type Transaction = mssql.Transaction;
/** Anything a request can be made on: the pool (any connection) or a transaction (its connection). */
export type Queryable = mssql.ConnectionPool | mssql.Transaction;

export interface PoolOptions {
  url: string;
  max?: number;
  applicationName?: string;
  logger: Logger;
}

const BOOLEAN_PARAMS = new Set(['encrypt', 'trustServerCertificate']);
const NUMBER_PARAMS = new Set(['connectTimeout', 'requestTimeout']);
const STRING_PARAMS = new Set(['instanceName', 'domain']);

/**
 * The source URL as a driver config. Two forms are accepted:
 *  - `mssql://user:password@host:1433/database?encrypt=false` (also `sqlserver://`); user and password
 *    percent-encoded; parameters encrypt, trustServerCertificate, instanceName, domain, connectTimeout
 *    and requestTimeout (milliseconds);
 *  - an ADO-style string, `Server=host,1433;Database=db;User Id=…;Password=…;Encrypt=false`.
 * Errors never repeat the password.
 */
export function parseConnectionConfig(url: string): mssql.config {
  const trimmed = url.trim();
  if (/^(mssql|sqlserver):\/\//i.test(trimmed)) return parseUrl(trimmed);
  if (/^[A-Za-z ]+=/.test(trimmed) && trimmed.includes(';')) {
    try {
      return mssql.ConnectionPool.parseConnectionString(trimmed);
    } catch (err) {
      throw new OutboxError('CONFIG_INVALID', `source.url is not a valid SQL Server connection string (${(err as Error).message}). Use "Server=host,1433;Database=db;User Id=user;Password=…" or mssql://user:password@host:1433/db.`, {
        cause: err,
        context: { setting: 'source.url' },
      });
    }
  }
  throw new OutboxError(
    'CONFIG_INVALID',
    'source.url for a SQL Server source must be mssql://user:password@host:1433/database?encrypt=false or an ADO-style "Server=…;Database=…;User Id=…;Password=…" string.',
    { context: { setting: 'source.url' } },
  );
}

function parseUrl(text: string): mssql.config {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new OutboxError('CONFIG_INVALID', 'source.url is not a valid URL. Write it as mssql://user:password@host:1433/database (percent-encode special characters in the password).', {
      context: { setting: 'source.url' },
    });
  }
  const database = decodeURIComponent(url.pathname.replace(/^\//, ''));
  if (!url.hostname || !database || database.includes('/')) {
    throw new OutboxError('CONFIG_INVALID', 'source.url must name a host and one database: mssql://user:password@host:1433/database.', { context: { setting: 'source.url', host: url.hostname } });
  }
  const options: NonNullable<mssql.config['options']> = { encrypt: true, trustServerCertificate: false };
  const config: mssql.config = {
    server: url.hostname.replace(/^\[|\]$/g, ''),
    port: url.port ? Number(url.port) : 1433,
    database,
    options,
  };
  if (url.username) config.user = decodeURIComponent(url.username);
  if (url.password) config.password = decodeURIComponent(url.password);
  for (const [name, value] of url.searchParams) {
    if (BOOLEAN_PARAMS.has(name)) {
      if (value !== 'true' && value !== 'false') throw badParam(name, 'true or false');
      (options as Record<string, unknown>)[name] = value === 'true';
    } else if (NUMBER_PARAMS.has(name)) {
      const ms = Number(value);
      if (!Number.isInteger(ms) || ms <= 0) throw badParam(name, 'a positive number of milliseconds');
      if (name === 'connectTimeout') config.connectionTimeout = ms;
      else config.requestTimeout = ms;
    } else if (STRING_PARAMS.has(name)) {
      if (name === 'domain') config.domain = value;
      else options.instanceName = value;
    } else {
      throw new OutboxError(
        'CONFIG_INVALID',
        `source.url has an unknown parameter "${name}". Known: ${[...BOOLEAN_PARAMS, ...NUMBER_PARAMS, ...STRING_PARAMS].join(', ')}; or give an ADO-style connection string.`,
        { context: { setting: 'source.url', parameter: name } },
      );
    }
  }
  return config;
}

function badParam(name: string, expected: string): OutboxError {
  return new OutboxError('CONFIG_INVALID', `source.url parameter "${name}" must be ${expected}.`, { context: { setting: 'source.url', parameter: name } });
}

/**
 * A connection pool with an error listener. It connects on first use (connect()), so constructing a
 * source never touches the network. Requests default to 60 s: a migration may wait for its lock.
 */
export function createPool(options: PoolOptions): mssql.ConnectionPool {
  const config = parseConnectionConfig(options.url);
  const pool = new mssql.ConnectionPool({
    ...config,
    connectionTimeout: config.connectionTimeout ?? 15_000,
    requestTimeout: config.requestTimeout ?? 60_000,
    pool: { ...config.pool, max: options.max ?? 5, min: 0 },
    options: { ...config.options, appName: options.applicationName ?? 'outbox-relay' },
  });
  pool.on('error', (err: Error) => options.logger.warn({ err: err.message }, 'SQL Server connection failed; it will be replaced'));
  return pool;
}

/**
 * Runs fn in one transaction on one connection. XACT_ABORT makes any error roll the whole
 * transaction back on the server, whatever the statement; rollback here is then a no-op.
 */
export async function withTransaction<T>(pool: mssql.ConnectionPool, fn: (tx: mssql.Transaction) => Promise<T>): Promise<T> {
  const tx = new mssql.Transaction(pool);
  await tx.begin();
  try {
    await tx.request().batch('SET XACT_ABORT ON');
    const result = await fn(tx);
    await tx.commit();
    return result;
  } catch (err) {
    await tx.rollback().catch(() => undefined);
    throw err;
  }
}

/**
 * Takes an exclusive application lock owned by the transaction (released at commit or rollback), the
 * SQL Server twin of pg_advisory_xact_lock. Fails, retryable, when it is not granted in time.
 */
export async function acquireAppLock(tx: mssql.Transaction, resource: string, timeoutMs = 30_000): Promise<void> {
  const res = await tx
    .request()
    .input('resource', mssql.NVarChar(255), resource)
    .input('timeout', mssql.Int, timeoutMs)
    .query<{ result: number }>(
      `DECLARE @result int;
       EXEC @result = sp_getapplock @Resource = @resource, @LockMode = 'Exclusive', @LockOwner = 'Transaction', @LockTimeout = @timeout;
       SELECT @result AS result;`,
    );
  const result = res.recordset[0]?.result ?? -999;
  if (result < 0) {
    throw new OutboxError('SOURCE_LOCK_TIMEOUT', `Another outbox-relay process holds the lock "${resource}" (sp_getapplock returned ${result}). Wait for it to finish and run the command again.`, {
      context: { resource, result },
      retryable: true,
    });
  }
}
