import { LATENCY_BUCKETS, type Metrics } from '../observability/metrics.js';

/** Commit → apply lag buckets in seconds, from 10 ms to 1 hour. */
export const LAG_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600];

/** Breaker state as a number, for the gauge and alerts: 0 closed, 1 half-open, 2 open. */
export const BREAKER_STATE = { closed: 0, halfOpen: 1, open: 2 } as const;

export type ConsumerMetrics = ReturnType<typeof createConsumerMetrics>;

/** The consumer's metrics, labelled by target so one process (or dashboard) can show several. */
export function createConsumerMetrics(metrics: Metrics) {
  const t = ['target'] as const;
  return {
    received: metrics.counter('outbox_consumer_received_total', 'Messages received from the target queue', t),
    applied: metrics.counter('outbox_consumer_applied_total', 'Changes applied at the target (rate = applied/s)', t),
    stale: metrics.counter('outbox_consumer_stale_skipped_total', 'Changes the version guard skipped: duplicates or older than what the target has', t),
    skipped: metrics.counter('outbox_consumer_skipped_total', 'Messages the transform maps to nothing for this target (deleted without an apply)', t),
    deadLettered: metrics.counter('outbox_consumer_dead_lettered_total', 'Messages sent to the dead-letter queue, by reason code', ['target', 'code']),
    applyFailures: metrics.counter('outbox_consumer_apply_failures_total', 'Batches whose apply threw or was refused by the open breaker (nothing deleted)', t),
    deleteFailures: metrics.counter('outbox_consumer_delete_failures_total', 'Messages SQS did not delete after their apply (they come back; the version guard skips them)', t),
    applySeconds: metrics.histogram('outbox_consumer_apply_seconds', 'Time to apply one batch at the target', LATENCY_BUCKETS, t),
    lagSeconds: metrics.histogram('outbox_consumer_commit_to_apply_seconds', 'From the change in the source (event time) to its apply at the target', LAG_BUCKETS, t),
    lastApplied: metrics.gauge('outbox_consumer_last_applied_timestamp_seconds', 'When a change was last applied (alert when it stops moving while the queue is not empty)', t),
    breakerState: metrics.gauge('outbox_consumer_breaker_state', 'Target breaker: 0 closed, 1 half-open, 2 open (not receiving)', t),
  };
}
