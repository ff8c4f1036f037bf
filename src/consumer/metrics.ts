import { LATENCY_BUCKETS, type Metrics } from '../observability/metrics.js';

/** Commit → apply lag buckets in seconds, from 10 ms to 1 hour. */
export const LAG_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600];

export type ConsumerMetrics = ReturnType<typeof createConsumerMetrics>;

/** The consumer's metrics, labelled by target so one process (or dashboard) can show several. */
export function createConsumerMetrics(metrics: Metrics) {
  const t = ['target'] as const;
  return {
    received: metrics.counter('outbox_consumer_received_total', 'Messages received from the target queue (a redelivered message counts again).', t),
    applied: metrics.counter('outbox_consumer_applied_total', 'Changes applied at the target; its rate is the apply throughput.', t),
    stale: metrics.counter('outbox_consumer_stale_skipped_total', 'Changes the version guard skipped because the target already has that version or a newer one (duplicates, reordering).', t),
    skipped: metrics.counter('outbox_consumer_skipped_total', 'Messages the transform maps to nothing for this target; they are deleted without an apply.', t),
    deadLettered: metrics.counter('outbox_consumer_dead_lettered_total', 'Messages the consumer sent to the dead-letter queue, by reason code (UNPARSEABLE, SCHEMA_INVALID, CLAIMCHECK_MISSING, TRANSFORM_FAILED, TARGET_REJECTED, SCHEMA_WAIT_EXPIRED).', ['target', 'code']),
    applyFailures: metrics.counter('outbox_consumer_apply_failures_total', 'Batches whose apply threw or that the open breaker refused; nothing of them was deleted, so they come back from the queue.', t),
    deleteFailures: metrics.counter('outbox_consumer_delete_failures_total', 'Messages SQS did not delete after their apply; they come back and the version guard skips them.', t),
    applySeconds: metrics.histogram('outbox_consumer_apply_seconds', 'Time to apply one batch at the target, in seconds (one transaction for a database target).', LATENCY_BUCKETS, t),
    lagSeconds: metrics.histogram('outbox_consumer_commit_to_apply_seconds', 'Seconds from the change in the source (the event time) to its apply at the target.', LAG_BUCKETS, t),
    lastApplied: metrics.gauge('outbox_consumer_last_applied_timestamp_seconds', 'Unix time of the last change applied at the target; it stops moving when the target falls behind or the queue is quiet.', t),
    lastReceive: metrics.gauge('outbox_consumer_last_receive_timestamp_seconds', 'Unix time the consumer last finished a receive call on its queue (empty or not); it stops moving when the consumer is stuck or its breaker is open.', t),
    breakerState: metrics.gauge('outbox_consumer_breaker_state', 'The target breaker: 0 closed, 1 half-open, 2 open (the consumer is not receiving; messages wait in the queue).', t),
    queueMessages: metrics.gauge('outbox_consumer_queue_messages', 'Messages waiting in the target queue (SQS ApproximateNumberOfMessages, sampled every 30 s).', t),
    schemaChanges: metrics.counter('outbox_consumer_schema_changes_total', 'Schema-change events the consumer handled, by source table and action: applied (DDL run, or forwarded to an http endpoint), ignored, stopped (the target halted on it), duplicate.', ['target', 'table', 'action']),
    schemaWaits: metrics.counter('outbox_consumer_schema_waits_total', 'Row changes sent back to the queue because the target does not have their shape yet (their schema change was not applied); they are tried again shortly.', t),
    halted: metrics.gauge('outbox_consumer_halted', 'Whether the target is halted at a schema change (1: not receiving until `outbox target resume` or a restart with another schemaChanges setting; its messages wait in the queue).', t),
    targetRetries: metrics.counter('outbox_consumer_target_retries_total', 'Calls to the target the writer tried again inside one apply: after a lock conflict or a lost connection (database targets), throttling or a connection reset (DynamoDB targets); a steady rate means the target is over its capacity or drops connections.', t),
    dlqMessages: metrics.gauge('outbox_consumer_dlq_messages', "Messages in the target's dead-letter queue (SQS ApproximateNumberOfMessages, sampled every 30 s): changes that are not at the target.", t),
  };
}
