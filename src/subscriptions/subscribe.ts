import { GetSubscriptionAttributesCommand, ListSubscriptionsByTopicCommand, SetSubscriptionAttributesCommand, SubscribeCommand, UnsubscribeCommand, type SNSClient, type Subscription } from '@aws-sdk/client-sns';
import { DeleteQueueCommand, GetQueueAttributesCommand, SetQueueAttributesCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { Config } from '../config/index.js';
import { policyWarnings, targetShare } from '../share/target-share.js';
import { targetFilterPolicy, type FilterPolicy, type TargetFilterPolicy } from '../share/filter-policy.js';
import { DLQ_RETENTION_SECONDS, ensureQueue, findQueueUrl, isQueueMissing, lookupTopicArn, queueDepth, queueNames, resolveTopicArn, targetOf, topicOf, type QueueDepth, type QueueNames, type TopicRef } from '../aws/resources.js';

/**
 * `outbox subscribe`: a target's queue and DLQ (redrive policy), the queue policy that lets its topic
 * send, and the SNS subscription with the filter policy and raw delivery. Every step is idempotent:
 * a re-run brings what exists to the config and creates only what is missing.
 */
export interface SubscriptionPlan {
  target: string;
  topic: TopicRef;
  queues: QueueNames;
  /** Main-queue attributes except RedrivePolicy (which needs the DLQ's ARN). */
  queueAttributes: Record<string, string>;
  dlqAttributes: Record<string, string>;
  maxReceiveCount: number;
  filter: TargetFilterPolicy;
  subscriptionAttributes: Record<string, string>;
  /** What the policy would silently miss (a raw policy that drops truncates), for the operator to read. */
  warnings: string[];
}

export interface SubscriptionResult {
  topicArn: string;
  queueUrl: string;
  queueArn: string;
  dlqUrl: string;
  dlqArn: string;
  subscriptionArn: string;
  /** What this run created, and which subscription attributes it changed. */
  created: { queue: boolean; dlq: boolean; subscription: boolean };
  updatedSubscriptionAttributes: string[];
}

/** The statement id of the queue-policy statement this tool owns (other statements are kept). */
export const QUEUE_POLICY_SID = 'outbox-relay-topic-send';

/** Everything subscribe would do, computed from the config alone: no AWS call. Throws on a bad filter policy. */
export function planSubscription(config: Config, name: string): SubscriptionPlan {
  const target = targetOf(config, name);
  const filter = targetFilterPolicy(name, target, config.publish.numberAttributes);
  const topic = topicOf(config, target);
  const queues = queueNames(name, target, topic);
  return {
    target: name,
    topic,
    queues,
    queueAttributes: {
      VisibilityTimeout: String(target.queue.visibilityTimeoutSec),
      ReceiveMessageWaitTimeSeconds: String(target.queue.waitTimeSec),
    },
    dlqAttributes: { MessageRetentionPeriod: String(DLQ_RETENTION_SECONDS) },
    maxReceiveCount: target.queue.maxReceiveCount,
    filter,
    subscriptionAttributes: {
      RawMessageDelivery: 'true',
      FilterPolicyScope: 'MessageAttributes',
      FilterPolicy: JSON.stringify(filter.policy),
    },
    warnings: policyWarnings(targetShare(name, target, config.publish.numberAttributes), target, config.source.name, config.publish.numberAttributes),
  };
}

/** The queue policy: the statements already there, with this tool's statement replaced, never added twice. */
export function queuePolicy(existing: string | undefined, queueArn: string, topicArn: string): string {
  let statements: { Sid?: string }[] = [];
  if (existing) {
    try {
      const parsed = JSON.parse(existing) as { Statement?: { Sid?: string }[] };
      statements = (parsed.Statement ?? []).filter((s) => s.Sid !== QUEUE_POLICY_SID);
    } catch {
      statements = [];
    }
  }
  statements.push({
    Sid: QUEUE_POLICY_SID,
    Effect: 'Allow',
    Principal: { Service: 'sns.amazonaws.com' },
    Action: 'sqs:SendMessage',
    Resource: queueArn,
    Condition: { ArnEquals: { 'aws:SourceArn': topicArn } },
  } as { Sid: string });
  return JSON.stringify({ Version: '2012-10-17', Statement: statements });
}

export async function applySubscription(plan: SubscriptionPlan, sns: SNSClient, sqs: SQSClient): Promise<SubscriptionResult> {
  const topicArn = await resolveTopicArn(sns, plan.topic);
  const dlq = await ensureQueue(sqs, plan.queues.dlq, plan.queues.fifo, plan.dlqAttributes);
  const redrive = JSON.stringify({ deadLetterTargetArn: dlq.arn, maxReceiveCount: plan.maxReceiveCount });
  const queue = await ensureQueue(sqs, plan.queues.queue, plan.queues.fifo, { ...plan.queueAttributes, RedrivePolicy: redrive });
  const current = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queue.url, AttributeNames: ['Policy'] }));
  await sqs.send(new SetQueueAttributesCommand({ QueueUrl: queue.url, Attributes: { Policy: queuePolicy(current.Attributes?.Policy, queue.arn, topicArn) } }));

  const existing = await findSubscription(sns, topicArn, queue.arn);
  let subscriptionArn: string;
  const updated: string[] = [];
  if (existing?.SubscriptionArn) {
    subscriptionArn = existing.SubscriptionArn;
    const attrs = (await sns.send(new GetSubscriptionAttributesCommand({ SubscriptionArn: subscriptionArn }))).Attributes ?? {};
    for (const [name, value] of Object.entries(plan.subscriptionAttributes)) {
      if (sameAttribute(name, attrs[name], value)) continue;
      await sns.send(new SetSubscriptionAttributesCommand({ SubscriptionArn: subscriptionArn, AttributeName: name, AttributeValue: value }));
      updated.push(name);
    }
  } else {
    const reply = await sns.send(new SubscribeCommand({ TopicArn: topicArn, Protocol: 'sqs', Endpoint: queue.arn, Attributes: plan.subscriptionAttributes, ReturnSubscriptionArn: true }));
    subscriptionArn = reply.SubscriptionArn ?? '';
  }
  return {
    topicArn,
    queueUrl: queue.url,
    queueArn: queue.arn,
    dlqUrl: dlq.url,
    dlqArn: dlq.arn,
    subscriptionArn,
    created: { queue: queue.created, dlq: dlq.created, subscription: !existing },
    updatedSubscriptionAttributes: updated,
  };
}

/** Filter policies compare as JSON (SNS may return them reformatted). */
function sameAttribute(name: string, current: string | undefined, wanted: string): boolean {
  if (current === undefined) return false;
  if (name !== 'FilterPolicy') return current === wanted;
  try {
    return JSON.stringify(JSON.parse(current)) === wanted;
  } catch {
    return false;
  }
}

/** The topic's subscription that delivers to the queue, if any. */
export async function findSubscription(sns: SNSClient, topicArn: string, queueArn: string): Promise<Subscription | undefined> {
  let token: string | undefined;
  do {
    const page = await sns.send(new ListSubscriptionsByTopicCommand({ TopicArn: topicArn, ...(token ? { NextToken: token } : {}) }));
    const found = page.Subscriptions?.find((s) => s.Protocol === 'sqs' && s.Endpoint === queueArn);
    if (found) return found;
    token = page.NextToken;
  } while (token);
  return undefined;
}

export interface UnsubscribeResult {
  subscriptionArn?: string;
  deletedQueues: string[];
}

/** Removes the target's subscription; its queues stay (messages in them too) unless deleteQueues. */
export async function unsubscribe(config: Config, name: string, sns: SNSClient, sqs: SQSClient, options: { deleteQueues?: boolean } = {}): Promise<UnsubscribeResult> {
  const target = targetOf(config, name);
  const topic = topicOf(config, target);
  const names = queueNames(name, target, topic);
  const topicArn = await lookupTopicArn(sns, topic);
  const url = await findQueueUrl(sqs, names.queue);
  const result: UnsubscribeResult = { deletedQueues: [] };
  if (url && topicArn) {
    const subscription = await findSubscription(sns, topicArn, await queueArnOf(sqs, url));
    if (subscription?.SubscriptionArn) {
      await sns.send(new UnsubscribeCommand({ SubscriptionArn: subscription.SubscriptionArn }));
      result.subscriptionArn = subscription.SubscriptionArn;
    }
  }
  if (options.deleteQueues) {
    for (const queueName of [names.queue, names.dlq]) {
      const queueUrl = await findQueueUrl(sqs, queueName);
      if (!queueUrl) continue;
      await sqs.send(new DeleteQueueCommand({ QueueUrl: queueUrl }));
      result.deletedQueues.push(queueName);
    }
  }
  return result;
}

/**
 * A read of a queue or subscription that may be deleted while `outbox subscriptions` lists it (an
 * `outbox unsubscribe` at the same time, or someone in the console): gone reads as undefined, so the
 * listing shows it as missing instead of failing.
 */
async function unlessGone<T>(read: () => Promise<T>): Promise<T | undefined> {
  try {
    return await read();
  } catch (err) {
    if (isQueueMissing(err) || (err as { name?: string } | null)?.name === 'NotFoundException') return undefined;
    throw err;
  }
}

async function queueArnOf(sqs: SQSClient, url: string): Promise<string> {
  return (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] }))).Attributes?.QueueArn ?? '';
}

export interface TargetSubscriptionStatus {
  target: string;
  /** The topic's ARN, or its configured name when it does not exist yet. */
  topic: string;
  queue: string;
  subscriptionArn: string | null;
  filterPolicy: FilterPolicy | null;
  queueDepth: QueueDepth | null;
  dlqDepth: QueueDepth | null;
}

/** Each configured target: its subscription (or null), filter policy as SNS holds it, queue and DLQ depth. */
export async function listSubscriptions(config: Config, sns: SNSClient, sqs: SQSClient): Promise<TargetSubscriptionStatus[]> {
  const out: TargetSubscriptionStatus[] = [];
  const topicArns = new Map<string, string>();
  for (const name of Object.keys(config.targets)) {
    const target = targetOf(config, name);
    const topic = topicOf(config, target);
    const names = queueNames(name, target, topic);
    if (!topicArns.has(topic.key)) topicArns.set(topic.key, (await lookupTopicArn(sns, topic)) ?? '');
    const topicArn = topicArns.get(topic.key) ?? '';
    const url = await findQueueUrl(sqs, names.queue);
    const dlqUrl = await findQueueUrl(sqs, names.dlq);
    const queueArn = url ? await unlessGone(() => queueArnOf(sqs, url)) : undefined;
    let subscription = queueArn && topicArn ? await unlessGone(() => findSubscription(sns, topicArn, queueArn)) : undefined;
    let filterPolicy: FilterPolicy | null = null;
    if (subscription?.SubscriptionArn) {
      const arn = subscription.SubscriptionArn;
      const attrs = await unlessGone(async () => (await sns.send(new GetSubscriptionAttributesCommand({ SubscriptionArn: arn }))).Attributes ?? {});
      if (attrs === undefined) subscription = undefined;
      else filterPolicy = attrs.FilterPolicy ? (JSON.parse(attrs.FilterPolicy) as FilterPolicy) : null;
    }
    out.push({
      target: name,
      topic: topicArn || `${topic.name ?? topic.key} (not created yet)`,
      queue: names.queue,
      subscriptionArn: subscription?.SubscriptionArn ?? null,
      filterPolicy,
      queueDepth: (url && (await unlessGone(() => queueDepth(sqs, url)))) || null,
      dlqDepth: (dlqUrl && (await unlessGone(() => queueDepth(sqs, dlqUrl)))) || null,
    });
  }
  return out;
}
