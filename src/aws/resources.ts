import { CreateTopicCommand, ListTopicsCommand, type SNSClient } from '@aws-sdk/client-sns';
import { CreateQueueCommand, GetQueueAttributesCommand, GetQueueUrlCommand, SetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import type { SqsSender } from './clients.js';
import type { Config, TargetConfig } from '../config/index.js';
import { OutboxError } from '../errors.js';

/**
 * The AWS resources of one target: the topic it subscribes to, its queue and its dead-letter queue.
 * Names are derived here so subscribe, consume, redrive and the listing always agree.
 */
export interface TopicRef {
  /** The key in publish.topics. */
  key: string;
  name?: string;
  arn?: string;
  fifo: boolean;
}

export interface QueueNames {
  queue: string;
  dlq: string;
  fifo: boolean;
}

/** Dead-letter queues keep messages for the SQS maximum, 14 days, so there is time to fix and redrive. */
export const DLQ_RETENTION_SECONDS = 14 * 24 * 3600;

export function targetOf(config: Config, name: string): TargetConfig {
  const target = config.targets[name];
  if (!target) {
    const known = Object.keys(config.targets);
    throw new OutboxError('TARGET_NOT_FOUND', `Target "${name}" is not in the config (${config.origin}). Known targets: ${known.length ? known.join(', ') : '(none)'}.`, { context: { target: name } });
  }
  return target;
}

export function topicOf(config: Config, target: TargetConfig): TopicRef {
  const topic = config.publish.topics[target.topic];
  if (!topic) throw new OutboxError('CONFIG_INVALID', `publish.topics has no topic "${target.topic}".`, { context: { topic: target.topic } });
  const id = topic.arn ?? topic.name ?? '';
  return { key: target.topic, ...(topic.name ? { name: topic.name } : {}), ...(topic.arn ? { arn: topic.arn } : {}), fifo: id.endsWith('.fifo') };
}

/**
 * `queue.name` or `outbox-<target>`, and the same with `-dlq`; both end in .fifo when the topic is
 * FIFO (SNS FIFO topics deliver only to FIFO queues, and a FIFO queue's DLQ must be FIFO too).
 */
export function queueNames(name: string, target: TargetConfig, topic: TopicRef): QueueNames {
  const configured = target.queue.name;
  if (configured && configured.endsWith('.fifo') !== topic.fifo) {
    throw new OutboxError(
      'CONFIG_INVALID',
      `targets.${name}.queue.name "${configured}" ${topic.fifo ? 'must end in .fifo: its topic is a FIFO topic' : 'ends in .fifo but its topic is a standard topic'}. Rename the queue or remove queue.name.`,
      { context: { target: name } },
    );
  }
  const base = (configured ?? `outbox-${name}`).replace(/\.fifo$/, '');
  const suffix = topic.fifo ? '.fifo' : '';
  return { queue: `${base}${suffix}`, dlq: `${base}-dlq${suffix}`, fifo: topic.fifo };
}

/** The topic's ARN: as configured, or through CreateTopic by name, which returns an existing topic's ARN. */
export async function resolveTopicArn(sns: SNSClient, topic: TopicRef): Promise<string> {
  if (topic.arn) return topic.arn;
  const reply = await sns.send(new CreateTopicCommand({ Name: topic.name, ...(topic.fifo ? { Attributes: { FifoTopic: 'true' } } : {}) }));
  if (!reply.TopicArn) throw new OutboxError('TARGET_UNAVAILABLE', `SNS CreateTopic for "${topic.name}" returned no ARN. Check the SNS endpoint and permissions (sns:CreateTopic).`, { retryable: true });
  return reply.TopicArn;
}

/** The topic's ARN without creating anything: as configured, or found by name; undefined when it does not exist. */
export async function lookupTopicArn(sns: SNSClient, topic: TopicRef): Promise<string | undefined> {
  if (topic.arn) return topic.arn;
  let token: string | undefined;
  do {
    const page = await sns.send(new ListTopicsCommand(token ? { NextToken: token } : {}));
    const found = page.Topics?.find((t) => t.TopicArn?.endsWith(`:${topic.name}`));
    if (found?.TopicArn) return found.TopicArn;
    token = page.NextToken;
  } while (token);
  return undefined;
}

export function isQueueMissing(err: unknown): boolean {
  const name = (err as { name?: string; Code?: string } | null)?.name ?? '';
  return name === 'QueueDoesNotExist' || name === 'AWS.SimpleQueueService.NonExistentQueue';
}

/** The URL of an existing queue, or undefined when there is none. */
export async function findQueueUrl(sqs: SqsSender, queueName: string): Promise<string | undefined> {
  try {
    return (await sqs.send(new GetQueueUrlCommand({ QueueName: queueName }))).QueueUrl;
  } catch (err) {
    if (isQueueMissing(err)) return undefined;
    throw err;
  }
}

/** The URL of a queue that must exist; a clear error (run `outbox subscribe`) when it does not. */
export async function requireQueueUrl(sqs: SqsSender, queueName: string, target: string): Promise<string> {
  const url = await findQueueUrl(sqs, queueName);
  if (!url) throw new OutboxError('QUEUE_NOT_FOUND', `Queue ${queueName} of target "${target}" does not exist. Run: outbox subscribe ${target}`, { context: { target, queue: queueName } });
  return url;
}

export interface EnsuredQueue {
  url: string;
  arn: string;
  created: boolean;
}

/**
 * Creates the queue, or brings an existing one to the given attributes. CreateQueue is sent with
 * only FifoQueue (SQS refuses to "create" an existing queue with different attributes), then every
 * other attribute is set: re-running updates, never duplicates.
 */
export async function ensureQueue(sqs: SqsSender, queueName: string, fifo: boolean, attributes: Record<string, string>): Promise<EnsuredQueue> {
  let url = await findQueueUrl(sqs, queueName);
  const created = url === undefined;
  if (!url) {
    url = (await sqs.send(new CreateQueueCommand({ QueueName: queueName, Attributes: { ...(fifo ? { FifoQueue: 'true' } : {}), ...attributes } }))).QueueUrl;
    if (!url) throw new OutboxError('TARGET_UNAVAILABLE', `SQS CreateQueue for ${queueName} returned no URL.`, { retryable: true });
  } else if (Object.keys(attributes).length > 0) {
    await sqs.send(new SetQueueAttributesCommand({ QueueUrl: url, Attributes: attributes }));
  }
  return { url, arn: await queueArn(sqs, url), created };
}

export async function queueArn(sqs: SqsSender, url: string): Promise<string> {
  const reply = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] }));
  const arn = reply.Attributes?.QueueArn;
  if (!arn) throw new OutboxError('TARGET_UNAVAILABLE', `SQS returned no QueueArn for ${url}.`, { retryable: true });
  return arn;
}

export interface QueueDepth {
  visible: number;
  inFlight: number;
}

export async function queueDepth(sqs: SqsSender, url: string): Promise<QueueDepth> {
  const reply = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] }));
  return { visible: Number(reply.Attributes?.ApproximateNumberOfMessages ?? 0), inFlight: Number(reply.Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0) };
}
