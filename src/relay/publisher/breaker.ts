import CircuitBreaker from 'opossum';
import type { CreateTopicCommand, CreateTopicCommandOutput, PublishBatchCommand, PublishBatchCommandOutput, SNSClient } from '@aws-sdk/client-sns';
import type { Config } from '../../config/index.js';
import type { Logger } from '../../logger.js';
import type { PublisherMetrics } from './metrics.js';

/** An SNS call through the circuit breaker. */
export interface SnsCall {
  (command: CreateTopicCommand, signal?: AbortSignal): Promise<CreateTopicCommandOutput>;
  (command: PublishBatchCommand, signal?: AbortSignal): Promise<PublishBatchCommandOutput>;
}

export type BreakerState = 'closed' | 'half-open' | 'open';

export interface SnsBreaker {
  call: SnsCall;
  /** False while open; true when closed or half-open (one trial call may go through). */
  available(): boolean;
  state(): BreakerState;
  shutdown(): void;
}

const STATE_VALUE: Record<BreakerState, number> = { closed: 0, 'half-open': 1, open: 2 };

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
export function createSnsBreaker(sns: SNSClient, options: Config['relay']['breaker'], metrics: PublisherMetrics, logger: Logger): SnsBreaker {
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
  const breaker = new CircuitBreaker(send, {
    timeout: options.timeoutMs,
    errorThresholdPercentage: options.errorThresholdPercentage,
    resetTimeout: options.resetTimeoutMs,
    volumeThreshold: options.volumeThreshold,
    rollingCountTimeout: options.rollingCountTimeoutMs,
    // A call the relay itself aborted (shutdown, lost leadership) says nothing about SNS's health.
    // opossum passes the call's arguments after the error; its types do not say so.
    errorFilter: ((_err: unknown, _command: unknown, signal?: AbortSignal) => Boolean(signal?.aborted)) as (err: unknown) => boolean,
  });
  const state = (): BreakerState => (breaker.opened ? 'open' : breaker.halfOpen ? 'half-open' : 'closed');
  const report = (next: BreakerState) => () => {
    metrics.breakerState.set(STATE_VALUE[next]);
    const log = { breaker: 'sns', state: next };
    if (next === 'open') logger.error(log, 'SNS circuit breaker opened: publishing paused, the backlog waits in the outbox');
    else logger.info(log, next === 'closed' ? 'SNS circuit breaker closed: publishing resumed' : 'SNS circuit breaker half-open: trying one call');
  };
  breaker.on('open', report('open'));
  breaker.on('halfOpen', report('half-open'));
  breaker.on('close', report('closed'));
  metrics.breakerState.set(0);
  return {
    call: ((command: CreateTopicCommand | PublishBatchCommand, signal?: AbortSignal) => breaker.fire(command, signal)) as SnsCall,
    available: () => !breaker.opened,
    state,
    shutdown: () => breaker.shutdown(),
  };
}
