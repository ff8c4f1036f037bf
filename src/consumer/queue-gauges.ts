import type { SqsSender } from '../aws/clients.js';
import { describeError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { ConsumerMetrics } from './metrics.js';
import { queueDepth } from '../aws/resources.js';

/** How often a consumer samples its queue and DLQ depth. */
export const QUEUE_SAMPLE_INTERVAL_MS = 30_000;

export interface QueueGaugeOptions {
  sqs: SqsSender;
  target: string;
  queueUrl: string;
  dlqUrl: string;
  metrics: ConsumerMetrics;
  logger: Logger;
  intervalMs?: number;
}

/**
 * Samples the depth of a target's queue and DLQ into outbox_consumer_queue_messages and
 * outbox_consumer_dlq_messages, so "the DLQ grows" and "the queue backs up" can be alerted on from
 * Prometheus without a CloudWatch exporter. Two GetQueueAttributes calls per interval.
 */
export function startQueueGauges(options: QueueGaugeOptions): { sample(): Promise<void>; stop(): void } {
  const labels = { target: options.target };
  let failing = false;
  const sample = async () => {
    try {
      const [queue, dlq] = await Promise.all([queueDepth(options.sqs, options.queueUrl), queueDepth(options.sqs, options.dlqUrl)]);
      options.metrics.queueMessages.set(labels, queue.visible);
      options.metrics.dlqMessages.set(labels, dlq.visible);
      failing = false;
    } catch (err) {
      if (!failing) options.logger.warn({ err: describeError(err) }, 'could not read the queue depths; the gauges keep their last values');
      failing = true;
    }
  };
  void sample();
  const timer = setInterval(() => void sample(), options.intervalMs ?? QUEUE_SAMPLE_INTERVAL_MS);
  timer.unref();
  return { sample, stop: () => clearInterval(timer) };
}
