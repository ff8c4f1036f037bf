import { PublishBatchCommand } from '@aws-sdk/client-sns';
import { OutboxError, describeError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import { sleep } from '../../sleep.js';
import { isBreakerOpenError, type SnsCall } from './breaker.js';
import type { PublisherMetrics } from './metrics.js';
import { toBatchEntry, type PreparedMessage } from './prepare.js';

export interface RetryPolicy {
  /** Calls per batch, the first included. */
  attempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 4, baseDelayMs: 100, maxDelayMs: 2_000 };

export interface BatchContext {
  call: SnsCall;
  metrics: PublisherMetrics;
  logger: Logger;
  retry: RetryPolicy;
  signal?: AbortSignal;
  /** True when retrying these messages is pointless (the breaker opened, or an earlier event already failed). */
  stop(pending: readonly PreparedMessage[]): boolean;
  /**
   * Takes a message SNS kept refusing as the sender's fault (an invalid attribute, a malformed
   * entry): retrying cannot help, so it is set aside (quarantined) and counts as acknowledged — the
   * stream must not stall on it. Throws if it cannot be set aside (then the message stays pending).
   */
  reject?(message: PreparedMessage, reason: string): Promise<void>;
}

export type BatchResult =
  | { ok: true }
  | { ok: false; pending: PreparedMessage[]; error: Error; breakerOpen: boolean };

export function breakerOpenError(): OutboxError {
  return new OutboxError('PUBLISH_FAILED', 'The SNS circuit breaker is open after repeated failures: publishing is paused and the backlog waits in the outbox. It retries on its own after relay.breaker.resetTimeoutMs; check SNS reachability and permissions.', { retryable: true });
}

/** Exponential backoff with full jitter. */
export function backoffMs(attempt: number, retry: RetryPolicy): number {
  return Math.round(Math.random() * Math.min(retry.maxDelayMs, retry.baseDelayMs * 2 ** (attempt - 1)));
}

function describeMessage(m: PreparedMessage) {
  return { table: `${m.event.tableSchema}.${m.event.tableName}`, seq: m.event.seq, topic: m.topic.key, ...(m.side ? { side: m.side } : {}) };
}

/**
 * One PublishBatch (≤ 10 entries, ≤ 256 KiB: the caller packed it), retried while it can. Every
 * entry of the reply is checked: only entries listed as Successful are acknowledged, only the others
 * are sent again. A call that fails or times out has an unknown outcome: all its entries are sent
 * again (a duplicate is fine), none is acknowledged.
 */
export async function sendBatch(batch: PreparedMessage[], ctx: BatchContext, onAcknowledged: (message: PreparedMessage) => void): Promise<BatchResult> {
  const topic = batch[0]!.topic;
  let pending = batch;
  let lastError: Error | undefined;
  /** Entries the last reply refused as the sender's fault, by entry id, with SNS's reason. */
  let senderFaults = new Map<string | undefined, string>();
  const fail = (): BatchResult => ({ ok: false, pending, error: lastError ?? new OutboxError('PUBLISH_FAILED', 'publishing was stopped before it finished', { retryable: true }), breakerOpen: false });
  for (let attempt = 1; ; attempt++) {
    if (ctx.signal?.aborted) return fail();
    const timer = ctx.metrics.batchLatency.startTimer({ topic: topic.key });
    try {
      const reply = await ctx.call(new PublishBatchCommand({ TopicArn: topic.arn, PublishBatchRequestEntries: pending.map(toBatchEntry) }), ctx.signal);
      timer();
      const succeeded = new Set((reply.Successful ?? []).map((s) => s.Id));
      senderFaults = new Map((reply.Failed ?? []).filter((f) => f.SenderFault).map((f) => [f.Id, `${f.Code ?? 'unknown code'}: ${f.Message ?? 'no message'}`]));
      const still: PreparedMessage[] = [];
      for (const message of pending) {
        if (succeeded.has(message.entryId)) onAcknowledged(message);
        else still.push(message);
      }
      if (pending.length > still.length) ctx.metrics.published.inc({ topic: topic.key }, pending.length - still.length);
      if (still.length === 0) return { ok: true };
      const failures = reply.Failed ?? [];
      const first = failures[0];
      const firstMessage = still[0]!;
      ctx.metrics.errors.inc({ topic: topic.key, kind: 'entry' }, still.length);
      lastError = new OutboxError(
        'PUBLISH_FAILED',
        `SNS rejected ${still.length} of ${pending.length} entries of a PublishBatch to topic ${topic.key}` +
          (first ? ` (first: ${first.Code ?? 'unknown code'}: ${first.Message ?? 'no message'}${first.SenderFault ? ', sender fault' : ''})` : ' (entries missing from the reply)') +
          `; first unpublished event ${firstMessage.event.tableSchema}.${firstMessage.event.tableName} seq ${firstMessage.event.seq}. They are retried; check the SNS error code.`,
        { context: { ...describeMessage(firstMessage), code: first?.Code }, retryable: !first?.SenderFault },
      );
      ctx.logger.warn({ ...describeMessage(firstMessage), failed: still.length, entries: pending.length, code: first?.Code, senderFault: first?.SenderFault, attempt }, 'SNS rejected PublishBatch entries; retrying those');
      pending = still;
    } catch (err) {
      timer();
      if (isBreakerOpenError(err)) {
        ctx.metrics.errors.inc({ topic: topic.key, kind: 'breaker_open' });
        return { ok: false, pending, error: breakerOpenError(), breakerOpen: true };
      }
      ctx.metrics.errors.inc({ topic: topic.key, kind: 'request' });
      lastError = new OutboxError('PUBLISH_FAILED', `PublishBatch to topic ${topic.key} failed or timed out (outcome unknown, its events are sent again): ${describeError(err)}`, {
        cause: err,
        context: describeMessage(pending[0]!),
        retryable: true,
      });
      ctx.logger.warn({ ...describeMessage(pending[0]!), entries: pending.length, attempt, err: describeError(err) }, 'PublishBatch failed; outcome unknown, retrying');
      senderFaults = new Map();
    }
    if (attempt >= ctx.retry.attempts && ctx.reject && senderFaults.size > 0) {
      const refused = pending.filter((m) => senderFaults.has(m.entryId));
      for (const message of refused) {
        await ctx.reject(message, `SNS refused the message ${ctx.retry.attempts} times as the sender's fault (${senderFaults.get(message.entryId)})`);
        onAcknowledged(message);
      }
      pending = pending.filter((m) => !refused.includes(m));
      if (pending.length === 0) return { ok: true };
    }
    if (attempt >= ctx.retry.attempts || ctx.stop(pending)) return fail();
    await sleep(backoffMs(attempt, ctx.retry), ctx.signal);
  }
}
