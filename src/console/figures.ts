import { total, type Sample } from './prometheus.js';

/**
 * Live figures from successive scrapes of one relay or consumer: rates and the mean lag over the
 * last interval come from the difference of two scrapes' counters (a restarted process, whose
 * counters start again at 0, gives no figure for that interval).
 */
export type BreakerState = 'closed' | 'half-open' | 'open';

export function breakerState(value: number | null): BreakerState | null {
  if (value === null) return null;
  return value >= 2 ? 'open' : value >= 1 ? 'half-open' : 'closed';
}

export interface RelayFigures {
  leader: boolean | null;
  epoch: number | null;
  /** Events SNS acknowledged per second over the last interval. */
  publishRate: number | null;
  breaker: BreakerState | null;
}

export interface ConsumerFigures {
  /** Mean seconds from the source change to its apply, over the changes applied in the last interval. */
  lagSeconds: number | null;
  /** Changes applied per second over the last interval. */
  applyRate: number | null;
  breaker: BreakerState | null;
  halted: boolean | null;
  lastAppliedAt: number | null;
}

/** A counter or histogram a process has not touched yet is absent from its /metrics: it counts as 0. */
const counter = (samples: readonly Sample[], name: string, labels: Record<string, string> = {}) => total(samples, name, labels) ?? 0;

interface Counters {
  at: number;
  values: Record<string, number | null>;
}

function delta(now: Counters, before: Counters | undefined, name: string): number | null {
  const a = now.values[name];
  const b = before?.values[name];
  if (a === null || a === undefined || b === null || b === undefined || a < b) return null;
  return a - b;
}

/** Keeps the previous scrape of each endpoint and turns a new one into figures. */
export class FigureTracker {
  private readonly previous = new Map<string, Counters>();

  relay(key: string, samples: readonly Sample[], at: number): RelayFigures {
    const now: Counters = { at, values: { published: counter(samples, 'outbox_events_published_total') } };
    const before = this.previous.get(key);
    this.previous.set(key, now);
    const published = delta(now, before, 'published');
    const seconds = before ? (at - before.at) / 1000 : 0;
    const leader = total(samples, 'outbox_relay_leader');
    return {
      leader: leader === null ? null : leader > 0,
      epoch: total(samples, 'outbox_relay_epoch'),
      publishRate: published !== null && seconds > 0 ? published / seconds : null,
      breaker: breakerState(total(samples, 'outbox_publish_breaker_state')),
    };
  }

  consumer(key: string, target: string, samples: readonly Sample[], at: number): ConsumerFigures {
    const labels = { target };
    const now: Counters = {
      at,
      values: {
        lagSum: counter(samples, 'outbox_consumer_commit_to_apply_seconds_sum', labels),
        lagCount: counter(samples, 'outbox_consumer_commit_to_apply_seconds_count', labels),
        applied: counter(samples, 'outbox_consumer_applied_total', labels),
      },
    };
    const before = this.previous.get(key);
    this.previous.set(key, now);
    const lagSum = delta(now, before, 'lagSum');
    const lagCount = delta(now, before, 'lagCount');
    const applied = delta(now, before, 'applied');
    const seconds = before ? (at - before.at) / 1000 : 0;
    const halted = total(samples, 'outbox_consumer_halted', labels);
    const lastApplied = total(samples, 'outbox_consumer_last_applied_timestamp_seconds', labels);
    return {
      lagSeconds: lagSum !== null && lagCount ? lagSum / lagCount : null,
      applyRate: applied !== null && seconds > 0 ? applied / seconds : null,
      breaker: breakerState(total(samples, 'outbox_consumer_breaker_state', labels)),
      halted: halted === null ? null : halted > 0,
      lastAppliedAt: lastApplied ? lastApplied * 1000 : null,
    };
  }

  forget(key: string): void {
    this.previous.delete(key);
  }
}
