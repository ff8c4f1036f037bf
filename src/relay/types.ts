import type { OutboxEvent } from '../wire/envelope.js';

/**
 * The contract between the relay loop (reads the outbox, leads, fences) and the publisher (SNS).
 */
export interface PublishOutcome {
  /**
   * How many leading events, in the order given, are acknowledged: published to SNS, claim-checked
   * to S3, or quarantined. The relay advances its cursor past exactly this prefix and no further.
   */
  acknowledged: number;
  /** Why the rest were not acknowledged (breaker open, SNS unreachable…), when acknowledged < events.length. */
  error?: Error;
}

export interface EventPublisher {
  /** Publishes events, retrying failed entries while it can; never reports an unknown outcome as acknowledged. */
  publish(events: OutboxEvent[], signal?: AbortSignal): Promise<PublishOutcome>;
  /** False while the SNS circuit breaker is open: the relay then stops reading and the backlog waits in the outbox. */
  available(): boolean;
  close(): Promise<void>;
}

/** Where the publisher puts an event it must not publish (too large and no claim-check bucket). */
export type QuarantineSink = (event: OutboxEvent, envelope: string, reason: string) => Promise<void>;
