import type { Counter, Gauge, Histogram } from 'prom-client';
import { LATENCY_BUCKETS, type Metrics } from '../observability/metrics.js';

/**
 * The relay's Prometheus metrics (docs/operations.md, "Metrics"). What SNS acknowledged is the
 * publisher's outbox_events_published_total; the relay counts what its cursor moved past, which is
 * the sync's progress (a fenced leader's last batch is published but never advanced past).
 */
export interface RelayMetrics {
  leader: Gauge<string>;
  epoch: Gauge<string>;
  advanced: Counter<string>;
  republished: Counter<string>;
  fenced: Counter<string>;
  fencedHoldingLock: Counter<string>;
  reclaimed: Counter<string>;
  backlog: Gauge<string>;
  oldestUnpublishedAge: Gauge<string>;
  oldestOpenTransactionAge: Gauge<string>;
  batchDuration: Histogram<string>;
  eventLag: Histogram<string>;
  schemaChanges: Counter<string>;
}

export function createRelayMetrics(metrics: Metrics): RelayMetrics {
  return {
    leader: metrics.gauge('outbox_relay_leader', '1 while this instance leads (it holds the lock and a fenced epoch), else 0; exactly one relay per source should report 1.'),
    epoch: metrics.gauge('outbox_relay_epoch', 'The epoch of the leadership term this instance holds (0 when it does not lead); it goes up by one per handover.'),
    advanced: metrics.counter('outbox_relay_events_advanced_total', 'Events the leader moved its cursor past after SNS acknowledged them: the progress of the sync (SNS acknowledgements themselves are outbox_events_published_total).'),
    republished: metrics.counter(
      'outbox_relay_events_republished_total',
      'Events SNS acknowledged in the page published after one that failed in part (relay.pageOverlap): the cursor does not pass them, so they are published again with the rest (duplicates, which targets skip by their seq guard).',
    ),
    fenced: metrics.counter('outbox_relay_fenced_total', 'Times this instance found a newer epoch in the source and stopped leading (it had lost the lock without noticing in time).'),
    fencedHoldingLock: metrics.counter(
      'outbox_relay_fenced_holding_lock_total',
      'Times this instance was fenced while it still held its Redis leader lock: another relay leads the same outbox with a different lock (other Redis, redis.keyPrefix or source.name). Should stay 0.',
    ),
    reclaimed: metrics.counter('outbox_relay_partitions_reclaimed_total', 'Outbox partitions truncated and reused by rotation after relay.retentionMinutes.'),
    backlog: metrics.gauge('outbox_backlog_events', 'Committed events in the outbox not yet published (measured every 10 s by every relay instance).'),
    oldestUnpublishedAge: metrics.gauge('outbox_oldest_unpublished_age_seconds', 'Age in seconds of the oldest committed event not yet published (0 when there is none): how far behind the source every target is at least.'),
    oldestOpenTransactionAge: metrics.gauge(
      'outbox_oldest_open_transaction_age_seconds',
      'Age in seconds of the oldest open transaction in the source that holds a transaction id (0 when there is none); the relay publishes only below it, so it holds every later change back.',
    ),
    batchDuration: metrics.histogram('outbox_relay_batch_duration_seconds', 'Seconds to read one page of the outbox, publish it and advance the cursor past it.', LATENCY_BUCKETS),
    schemaChanges: metrics.counter(
      'outbox_relay_schema_changes_total',
      'Schema changes of tracked tables (columns added, dropped, renamed or retyped, tables renamed) the leader published, by table; each target applies, ignores or stops on them by its schemaChanges policy.',
      ['table'],
    ),
    eventLag: metrics.histogram('outbox_relay_event_lag_seconds', 'Seconds from the change time the source recorded (changed_at) to SNS acknowledging the event, per event.', LATENCY_BUCKETS),
  };
}
