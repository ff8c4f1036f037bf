import type { S3Client } from '@aws-sdk/client-s3';
import type { SqsSender } from '../aws/clients.js';
import type { Config } from '../config/index.js';
import { silentLogger, type Logger } from '../logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { TargetWriter } from '../targets/types.js';
import { decideShare, targetShare, type MessageContext } from '../share/target-share.js';
import { Consumer, type ChangeTransform } from './consumer.js';
import { s3ClaimCheckFetcher } from './decode.js';
import { createConsumerMetrics } from './metrics.js';
import { startQueueGauges } from './queue-gauges.js';
import { queueNames, requireQueueUrl, targetOf, topicOf } from '../aws/resources.js';

export interface OpenConsumerDeps {
  sqs: SqsSender;
  s3?: S3Client;
  writer: TargetWriter;
  transform: ChangeTransform;
  metrics?: Metrics;
  logger?: Logger;
  /** While halted at a schema change, how often to look for a resume (default 5 s). */
  haltCheckMs?: number;
}

/**
 * A consumer for a configured target whose queues exist (else: run `outbox subscribe <target>`).
 * With metrics, it also samples its queue and DLQ depth until it stops.
 */
export async function openConsumer(config: Config, name: string, deps: OpenConsumerDeps): Promise<Consumer> {
  const target = targetOf(config, name);
  const names = queueNames(name, target, topicOf(config, target));
  const [queueUrl, dlqUrl] = await Promise.all([requireQueueUrl(deps.sqs, names.queue, name), requireQueueUrl(deps.sqs, names.dlq, name)]);
  const consumer = new Consumer({
    target: name,
    queue: target.queue,
    breaker: target.breaker,
    queueUrl,
    dlqUrl,
    fifo: names.fifo,
    sqs: deps.sqs,
    writer: deps.writer,
    transform: shareAware(config, name, deps.transform),
    schemaChanges: target.schemaChanges,
    ...(deps.haltCheckMs !== undefined ? { haltCheckMs: deps.haltCheckMs } : {}),
    ...(deps.s3 ? { fetchClaimCheck: s3ClaimCheckFetcher(deps.s3) } : {}),
    ...(deps.metrics ? { metrics: deps.metrics } : {}),
    ...(deps.logger ? { logger: deps.logger } : {}),
  });
  if (deps.metrics) {
    const gauges = startQueueGauges({ sqs: deps.sqs, target: name, queueUrl, dlqUrl, metrics: createConsumerMetrics(deps.metrics), logger: deps.logger ?? silentLogger });
    consumer.once('stopped', () => gauges.stop());
  }
  return consumer;
}

/**
 * The target's transform behind its share rule: the old side of a share move becomes a delete of
 * the key where the row leaves this target's share (or nothing, for a target without deletes), and
 * stays an update where the new values are in the share too (src/share/target-share.ts).
 */
export function shareAware(config: Config, name: string, transform: ChangeTransform): ChangeTransform {
  const target = targetOf(config, name);
  const share = targetShare(name, target, config.publish.numberAttributes);
  return (data, meta) => {
    // The consumer's meta names its source: it is the message context as it is (no object per message).
    const context: MessageContext = meta.source !== undefined ? (meta as MessageContext) : { source: '', ...(meta.attributes ? { attributes: meta.attributes } : {}) };
    const decision = decideShare(share, target.operations, data, context);
    if (decision === 'skip') return null;
    return transform(decision === 'delete' ? { ...data, op: 'delete', before: data.after ?? null, after: null } : data, meta);
  };
}
