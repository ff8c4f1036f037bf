import CircuitBreaker from 'opossum';
import type { TargetConfig } from './config/index.js';

/**
 * The one way the code makes an opossum circuit breaker: the relay's around SNS, each consumer's
 * around its target. Settings come from config (relay.breaker, targets.<name>.breaker); there is
 * no fallback, so a call the breaker refuses is always an error to the caller, never a success. A
 * timeout does not cancel the call: its outcome is unknown, and the caller retries.
 */
export type BreakerState = 'closed' | 'half-open' | 'open';

/** A state as the breaker gauges show it: 0 closed, 1 half-open, 2 open. */
export const BREAKER_STATE_VALUE: Readonly<Record<BreakerState, number>> = { closed: 0, 'half-open': 1, open: 2 };

/** relay.breaker and targets.<name>.breaker have this one shape. */
export type BreakerSettings = TargetConfig['breaker'];

export interface BreakerWiring<A extends unknown[]> {
  name?: string;
  /** True for an error that says nothing about the service's health: it does not count toward opening. */
  errorFilter?: (err: unknown, ...args: A) => boolean;
  /** Sets the state gauge (BREAKER_STATE_VALUE): closed at once, then on every change of state. */
  gauge: (value: number) => void;
  /** Every change of state after the gauge is set: a log line, an event. */
  onChange: (state: BreakerState) => void;
}

export function createBreaker<A extends unknown[], R>(action: (...args: A) => Promise<R>, settings: BreakerSettings, wiring: BreakerWiring<A>): CircuitBreaker<A, R> {
  const breaker = new CircuitBreaker(action, {
    ...(wiring.name ? { name: wiring.name } : {}),
    timeout: settings.timeoutMs,
    errorThresholdPercentage: settings.errorThresholdPercentage,
    resetTimeout: settings.resetTimeoutMs,
    volumeThreshold: settings.volumeThreshold,
    rollingCountTimeout: settings.rollingCountTimeoutMs,
    // opossum passes the call's arguments after the error; its types do not say so.
    ...(wiring.errorFilter ? { errorFilter: wiring.errorFilter as unknown as (err: unknown) => boolean } : {}),
  });
  const report = (state: BreakerState) => () => {
    wiring.gauge(BREAKER_STATE_VALUE[state]);
    wiring.onChange(state);
  };
  breaker.on('open', report('open'));
  breaker.on('halfOpen', report('half-open'));
  breaker.on('close', report('closed'));
  wiring.gauge(BREAKER_STATE_VALUE.closed);
  return breaker;
}

export function breakerStateOf(breaker: CircuitBreaker): BreakerState {
  return breaker.opened ? 'open' : breaker.halfOpen ? 'half-open' : 'closed';
}
