import { sleep } from '../../sleep.js';

/**
 * What a DynamoDB error means for one write:
 *   stale      ConditionalCheckFailedException: the item holds this change or a newer one;
 *   throttled  the table or account is over its capacity (ProvisionedThroughputExceeded,
 *              ThrottlingException, RequestLimitExceeded…): try again after a backoff;
 *   permanent  the write itself is wrong (ValidationException: item over 400 KB, an empty key, a
 *              bad number; the table does not exist): the change goes to the DLQ with the reason;
 *   unavailable anything else (network down, credentials, access denied): the batch fails, is
 *              retried from SQS, and counts toward the target's breaker.
 * 5xx answers and a connection the server reset or closed under a request (a kept-alive socket
 * DynamoDB closed, "socket hang up", a timeout) count as throttled: the same call is tried again after
 * a backoff, as the SDK's own retry strategy would (it is off for these clients, see below).
 */
export type ErrorClass = 'stale' | 'throttled' | 'permanent' | 'unavailable';

const THROTTLING = new Set(['ProvisionedThroughputExceededException', 'ThrottlingException', 'RequestLimitExceeded', 'Throttling', 'TooManyRequestsException', 'LimitExceededException']);
const PERMANENT = new Set(['ValidationException', 'ResourceNotFoundException', 'ItemCollectionSizeLimitExceededException', 'SerializationException']);
const TRANSIENT = new Set(['InternalServerError', 'InternalFailure', 'ServiceUnavailable', 'TransactionConflictException', 'RequestTimeout', 'RequestTimeoutException', 'TimeoutError']);
const RESET_CODES = new Set(['ECONNRESET', 'EPIPE', 'ETIMEDOUT']);

export function classify(err: unknown): ErrorClass {
  const name = (err as { name?: unknown }).name;
  if (name === 'ConditionalCheckFailedException') return 'stale';
  if (typeof name === 'string' && THROTTLING.has(name)) return 'throttled';
  if (typeof name === 'string' && TRANSIENT.has(name)) return 'throttled';
  if (typeof name === 'string' && PERMANENT.has(name)) return 'permanent';
  const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  if (status === 429 || (status !== undefined && status >= 500)) return 'throttled';
  const code = (err as { code?: unknown }).code;
  if ((typeof code === 'string' && RESET_CODES.has(code)) || /socket hang up/i.test(String((err as { message?: unknown }).message))) return 'throttled';
  return 'unavailable';
}

export interface RetryStats {
  /** Throttled (or transiently failed) attempts that were retried. */
  retries: number;
}

/**
 * Runs one call, retrying throttling and transient server errors with full-jitter exponential
 * backoff (base 25 ms, at most 2 s a wait) up to `maxAttempts` attempts; other errors and the last
 * attempt's error are thrown as they are. The SDK's own retries are off for these clients
 * (maxAttempts 1), so each throttled attempt is seen and counted here.
 */
export async function withThrottlingRetry<T>(call: () => Promise<T>, maxAttempts: number, stats: RetryStats, signal?: AbortSignal): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (err) {
      if (classify(err) !== 'throttled' || attempt >= maxAttempts) throw err;
      stats.retries += 1;
      const cap = Math.min(2_000, 25 * 2 ** (attempt - 1));
      // Aborted while waiting: no further attempt, the throttling error stands.
      if (!(await sleep(Math.random() * cap, signal))) throw err;
    }
  }
}

/** An error's message with quoted values removed, for a DLQ reason (DynamoDB's messages rarely hold values, but may). */
export function reasonOf(err: unknown): string {
  const e = err as { name?: string; message?: string };
  const message = (e.message ?? String(err)).replace(/"[^"]*"/g, '"…"').replace(/\s+/g, ' ').slice(0, 300);
  return `${e.name ?? 'Error'}: ${message}`;
}
