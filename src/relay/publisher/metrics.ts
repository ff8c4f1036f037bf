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
    published: metrics.counter('outbox_events_published_total', 'Events SNS acknowledged, by topic; a re-publish (a retry after an unknown outcome, a fenced leader, outbox replay) counts again.', ['topic']),
    errors: metrics.counter(
      'outbox_publish_errors_total',
      'Failed SNS publish attempts, by topic and kind: request (the whole call failed or timed out, outcome unknown), entry (SNS rejected one entry), breaker_open, claim_check (the S3 upload failed), quarantine (the quarantine insert failed).',
      ['topic', 'kind'],
    ),
    batchLatency: metrics.histogram('outbox_publish_batch_duration_seconds', 'Seconds one SNS PublishBatch call took, by topic.', LATENCY_BUCKETS, ['topic']),
    breakerState: metrics.gauge('outbox_publish_breaker_state', 'The SNS circuit breaker: 0 closed, 1 half-open, 2 open (the relay has stopped reading; the backlog waits in the outbox).'),
    claimChecked: metrics.counter('outbox_events_claim_checked_total', 'Oversized events stored in S3 and published as a small claim-check envelope, by topic.', ['topic']),
    quarantined: metrics.counter('outbox_events_quarantined_total', 'Events that could not be published and went to the quarantine table instead, by table and reason: they are not at the targets (alert on any increase).', ['table', 'reason']),
  };
}
