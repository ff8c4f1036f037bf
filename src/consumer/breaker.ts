import type CircuitBreaker from 'opossum';
import { createBreaker, type BreakerWiring } from '../breaker.js';
import type { TargetConfig } from '../config/index.js';
import { isOutboxError } from '../errors.js';
import type { ApplyOutcome, TargetChange, TargetWriter } from '../targets/types.js';

export type ApplyBreaker = CircuitBreaker<[TargetChange[]], ApplyOutcome[]>;

/**
 * One breaker per target around TargetWriter.apply. Only failures of the target itself count (it is
 * unreachable, a batch cannot commit, a timeout): errors the writer marks as permanent (not
 * retryable, other than TARGET_UNAVAILABLE) do not trip it, and per-change rejections (an HTTP 4xx)
 * are outcomes, not errors. No fallback: an open breaker must never look like "applied".
 * A timeout does not cancel the apply; its messages are not deleted and come back (harmless:
 * the version guard skips what did commit).
 */
export function createApplyBreaker(name: string, writer: TargetWriter, options: TargetConfig['breaker'], wiring: Pick<BreakerWiring<[TargetChange[]]>, 'gauge' | 'onChange'>): ApplyBreaker {
  return createBreaker((changes: TargetChange[]) => writer.apply(changes), options, {
    name: `target:${name}`,
    errorFilter: (err: unknown) => isPermanent(err),
    ...wiring,
  });
}

export function isPermanent(err: unknown): boolean {
  return isOutboxError(err) && !err.retryable && err.code !== 'TARGET_UNAVAILABLE';
}
