import type { Counter, Gauge, Histogram } from 'prom-client';
import { LATENCY_BUCKETS, type Metrics } from '../observability/metrics.js';

/** The relay's Prometheus metrics (names documented in docs/operations). */
export interface RelayMetrics {
  leader: Gauge<string>;
  epoch: Gauge<string>;
  published: Counter<string>;
  publishErrors: Counter<string>;
  publisherAvailable: Gauge<string>;
  fenced: Counter<string>;
  reclaimed: Counter<string>;
  backlog: Gauge<string>;
  oldestUnpublishedAge: Gauge<string>;
  oldestOpenTransactionAge: Gauge<string>;
  batchDuration: Histogram<string>;
  eventLag: Histogram<string>;
}

export function createRelayMetrics(metrics: Metrics): RelayMetrics {
  return {
    leader: metrics.gauge('outbox_relay_leader', '1 while this instance leads (holds the lock and a fenced epoch), else 0'),
    epoch: metrics.gauge('outbox_relay_epoch', 'Epoch of the current leadership term of this instance (0 when not leading)'),
    published: metrics.counter('outbox_relay_events_published_total', 'Events acknowledged by the publisher and advanced past'),
    publishErrors: metrics.counter('outbox_relay_publish_errors_total', 'Publish calls that left events unacknowledged (retried later)'),
    publisherAvailable: metrics.gauge('outbox_relay_publisher_available', '0 while the SNS circuit breaker is open (reading paused), else 1'),
    fenced: metrics.counter('outbox_relay_fenced_total', 'Times this instance found a newer epoch and stopped leading'),
    reclaimed: metrics.counter('outbox_relay_partitions_reclaimed_total', 'Outbox partitions truncated by rotation'),
    backlog: metrics.gauge('outbox_backlog_events', 'Committed events not yet published'),
    oldestUnpublishedAge: metrics.gauge('outbox_oldest_unpublished_age_seconds', 'Age of the oldest committed, unpublished event (0 when none)'),
    oldestOpenTransactionAge: metrics.gauge('outbox_oldest_open_transaction_age_seconds', 'Age of the oldest open transaction holding an xid in the source (it holds the stream back)'),
    batchDuration: metrics.histogram('outbox_relay_batch_duration_seconds', 'Read + publish + advance of one page', LATENCY_BUCKETS),
    eventLag: metrics.histogram('outbox_relay_event_lag_seconds', 'Change time → acknowledged by SNS, per event', LATENCY_BUCKETS),
  };
}
