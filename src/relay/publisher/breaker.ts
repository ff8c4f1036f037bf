import type { CreateTopicCommand, CreateTopicCommandOutput, PublishBatchCommand, PublishBatchCommandOutput } from '@aws-sdk/client-sns';
import type { SnsSender } from '../../aws/clients.js';
import { breakerStateOf, createBreaker, type BreakerSettings, type BreakerState } from '../../breaker.js';
import type { Logger } from '../../logger.js';
import type { PublisherMetrics } from './metrics.js';

/** An SNS call through the circuit breaker. */
export interface SnsCall {
  (command: CreateTopicCommand, signal?: AbortSignal): Promise<CreateTopicCommandOutput>;
  (command: PublishBatchCommand, signal?: AbortSignal): Promise<PublishBatchCommandOutput>;
}

export interface SnsBreaker {
  call: SnsCall;
  /** False while open; true when closed or half-open (one trial call may go through). */
  available(): boolean;
  state(): BreakerState;
  shutdown(): void;
}

/** The breaker rejected the call without trying (open, or half-open with its trial already running). */
export function isBreakerOpenError(err: unknown): boolean {
  return (err as { code?: unknown } | null)?.code === 'EOPENBREAKER';
}

/**
 * An opossum breaker around every SNS call. Per opossum's semantics a timeout does not cancel the
 * request: the caller must treat it as "outcome unknown" (retry, never acknowledge). The request's
 * own signal aborts it shortly after the breaker gave up, so sockets do not pile up. No fallback:
 * a rejected call is always an error to the caller.
 */
export function createSnsBreaker(sns: SnsSender, options: BreakerSettings, metrics: PublisherMetrics, logger: Logger): SnsBreaker {
  // One controller per request, aborted by the caller's signal or shortly after the breaker's
  // timeout (not AbortSignal.any: on Node 20 it accumulates listeners on a long-lived signal).
  const send = async (command: CreateTopicCommand | PublishBatchCommand, signal?: AbortSignal): Promise<unknown> => {
    const controller = new AbortController();
    const abort = () => controller.abort(signal?.reason);
    const timer = setTimeout(() => controller.abort(new Error(`SNS request abandoned after ${options.timeoutMs + 1_000} ms`)), options.timeoutMs + 1_000);
    signal?.addEventListener('abort', abort, { once: true });
    try {
      return await sns.send(command as PublishBatchCommand, { abortSignal: controller.signal });
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', abort);
    }
  };
  const breaker = createBreaker(send, options, {
    // A call the relay itself aborted (shutdown, lost leadership) says nothing about SNS's health.
    errorFilter: (_err, _command, signal) => Boolean(signal?.aborted),
    gauge: (value) => metrics.breakerState.set(value),
    onChange: (next) => {
      const log = { breaker: 'sns', state: next };
      if (next === 'open') logger.error(log, 'SNS circuit breaker opened: publishing paused, the backlog waits in the outbox');
      else logger.info(log, next === 'closed' ? 'SNS circuit breaker closed: publishing resumed' : 'SNS circuit breaker half-open: trying one call');
    },
  });
  const state = (): BreakerState => breakerStateOf(breaker);
  return {
    call: ((command: CreateTopicCommand | PublishBatchCommand, signal?: AbortSignal) => breaker.fire(command, signal)) as SnsCall,
    available: () => !breaker.opened,
    state,
    shutdown: () => breaker.shutdown(),
  };
}
