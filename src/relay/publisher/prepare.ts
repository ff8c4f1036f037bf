import type { MessageAttributeValue, PublishBatchRequestEntry } from '@aws-sdk/client-sns';
import type { ChangeEnvelope, OutboxEvent } from '../../envelope.js';
import { buildMessageAttributes, type DroppedAttribute } from './attributes.js';
import { deduplicationId, messageGroupId } from './fifo-ids.js';
import { messageBytes } from './message-size.js';
import type { ResolvedTopic } from './topics.js';

/** One event ready for PublishBatch. `index` is its position in the publish() call. */
export interface PreparedMessage {
  index: number;
  event: OutboxEvent;
  topic: ResolvedTopic;
  envelope: ChangeEnvelope;
  body: string;
  attributes: Record<string, MessageAttributeValue>;
  dropped: DroppedAttribute[];
  /** Size as SNS counts it (body + attribute names, types and values). */
  bytes: number;
  groupId?: string;
  dedupId?: string;
}

export function prepareMessage(index: number, event: OutboxEvent, envelope: ChangeEnvelope, sourceName: string, topic: ResolvedTopic): PreparedMessage {
  const { attributes, dropped } = buildMessageAttributes(sourceName, event);
  const body = JSON.stringify(envelope);
  return {
    index,
    event,
    topic,
    envelope,
    body,
    attributes,
    dropped,
    bytes: messageBytes(body, attributes),
    ...(topic.fifo ? { groupId: messageGroupId(event), dedupId: deduplicationId(envelope.id) } : {}),
  };
}

/** Same routing attributes and FIFO ids, another body (the claim-check envelope). */
export function withBody(message: PreparedMessage, envelope: ChangeEnvelope): PreparedMessage {
  const body = JSON.stringify(envelope);
  return { ...message, envelope, body, bytes: messageBytes(body, message.attributes) };
}

/** The PublishBatch entry; the id is the event's index, unique within a publish() call. */
export function toBatchEntry(message: PreparedMessage): PublishBatchRequestEntry {
  return {
    Id: String(message.index),
    Message: message.body,
    MessageAttributes: message.attributes,
    ...(message.groupId ? { MessageGroupId: message.groupId, MessageDeduplicationId: message.dedupId } : {}),
  };
}
