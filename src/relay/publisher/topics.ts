import { CreateTopicCommand, type CreateTopicCommandOutput } from '@aws-sdk/client-sns';
import type { Config } from '../../config/index.js';
import { OutboxError } from '../../errors.js';
import type { OutboxEvent } from '../../wire/envelope.js';

export interface ResolvedTopic {
  /** The key in publish.topics (used in metrics and logs). */
  key: string;
  arn: string;
  fifo: boolean;
}

export type TopicTable = Map<string, ResolvedTopic>;

/**
 * Resolves every configured topic: an ARN as given, a name through CreateTopic (idempotent: it
 * returns the existing topic's ARN). A name or ARN ending in .fifo is a FIFO topic.
 */
export async function resolveTopics(publish: Config['publish'], call: (command: CreateTopicCommand) => Promise<CreateTopicCommandOutput>): Promise<TopicTable> {
  const table: TopicTable = new Map();
  for (const [key, topic] of Object.entries(publish.topics)) {
    if (topic.arn) {
      table.set(key, { key, arn: topic.arn, fifo: topic.arn.endsWith('.fifo') });
      continue;
    }
    const name = topic.name!;
    const fifo = name.endsWith('.fifo');
    const reply = await call(new CreateTopicCommand({ Name: name, ...(fifo ? { Attributes: { FifoTopic: 'true' } } : {}) }));
    if (!reply.TopicArn) {
      throw new OutboxError('PUBLISH_FAILED', `SNS CreateTopic for publish.topics.${key} (${name}) returned no ARN. Check the SNS endpoint and permissions (sns:CreateTopic), or give the topic's arn instead.`, { context: { topic: key }, retryable: true });
    }
    table.set(key, { key, arn: reply.TopicArn, fifo });
  }
  return table;
}

/** The topic an event goes to: publish.routes for its table, else publish.defaultTopic. */
export function routeEvent(publish: Config['publish'], topics: TopicTable, event: OutboxEvent): ResolvedTopic {
  const key = publish.routes[`${event.tableSchema}.${event.tableName}`] ?? publish.defaultTopic;
  const topic = topics.get(key);
  if (!topic) throw new OutboxError('CONFIG_INVALID', `publish routes ${event.tableSchema}.${event.tableName} to topic "${key}", which publish.topics does not define.`, { context: { topic: key } });
  return topic;
}
