import type { Counter, Gauge, Histogram } from 'prom-client';
import { LATENCY_BUCKETS, type Metrics } from '../../observability/metrics.js';

export interface PublisherMetrics {
  published: Counter<string>;
  errors: Counter<string>;
  batchLatency: Histogram<string>;
  breakerState: Gauge<string>;
  claimChecked: Counter<string>;
  quarantined: Counter<string>;
}

export function createPublisherMetrics(metrics: Metrics): PublisherMetrics {
  return {
    published: metrics.counter('outbox_events_published_total', 'Events acknowledged by SNS, by topic (re-publishes count again).', ['topic']),
    errors: metrics.counter('outbox_publish_errors_total', 'Failed SNS publish attempts: kind=request (whole call failed or timed out, outcome unknown), entry (one entry rejected), breaker_open, claim_check, quarantine.', ['topic', 'kind']),
    batchLatency: metrics.histogram('outbox_publish_batch_duration_seconds', 'Duration of one SNS PublishBatch call.', LATENCY_BUCKETS, ['topic']),
    breakerState: metrics.gauge('outbox_publish_breaker_state', 'SNS circuit breaker: 0 closed, 1 half-open, 2 open.'),
    claimChecked: metrics.counter('outbox_events_claim_checked_total', 'Oversized events stored in S3 and published as a claim-check envelope.', ['topic']),
    quarantined: metrics.counter('outbox_events_quarantined_total', 'Events that could not be published and went to the quarantine (alert on any increase).', ['table', 'reason']),
  };
}
