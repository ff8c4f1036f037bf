import type { MessageAttributeValue, PublishBatchRequestEntry } from '@aws-sdk/client-sns';
import { buildEnvelope, type ChangeEnvelope, type OutboxEvent, type ShareSide } from '../../wire/envelope.js';
import { messageSides, type DroppedAttribute } from '../../wire/attributes.js';
import { deduplicationId, messageGroupId } from './fifo-ids.js';
import { messageBytes } from '../../wire/message-size.js';
import type { ResolvedTopic } from './topics.js';

/**
 * One message ready for PublishBatch. `index` is the position of its event in the publish() call;
 * an event is one message, or two for a share move (old side first, then new side).
 */
export interface PreparedMessage {
  index: number;
  /** PublishBatch entry id, unique within a publish() call: the event index, "-old" for the old side. */
  entryId: string;
  side?: ShareSide;
  event: OutboxEvent;
  topic: ResolvedTopic;
  envelope: ChangeEnvelope;
  body: string;
  attributes: Record<string, MessageAttributeValue>;
  dropped: DroppedAttribute[];
  /** Number attribute columns this message sends as String (the value is not a number). */
  asString: string[];
  /** Size as SNS counts it (body + attribute names, types and values). */
  bytes: number;
  groupId?: string;
  dedupId?: string;
}

/** The messages of one event (one, or two for a share move), with envelope, attributes and FIFO ids. */
export function prepareMessages(index: number, event: OutboxEvent, sourceName: string, topic: ResolvedTopic, numberColumns?: ReadonlySet<string>): PreparedMessage[] {
  const sides = messageSides(sourceName, event, numberColumns);
  const old = sides.find((s) => s.side === 'old')?.columns;
  const moved = sides.find((s) => s.side === 'new')?.columns;
  return sides.map(({ side, built }) => {
    const envelope = buildEnvelope(sourceName, event, side && old && moved ? { side, old, new: moved } : undefined);
    const body = JSON.stringify(envelope);
    return {
      index,
      entryId: side === 'old' ? `${index}-old` : String(index),
      ...(side ? { side } : {}),
      event,
      topic,
      envelope,
      body,
      attributes: built.attributes,
      dropped: built.dropped,
      asString: built.asString,
      bytes: messageBytes(body, built.attributes),
      ...(topic.fifo ? { groupId: messageGroupId(event), dedupId: deduplicationId(envelope.id) } : {}),
    };
  });
}

/** Same routing attributes and FIFO ids, another body (the claim-check envelope). */
export function withBody(message: PreparedMessage, envelope: ChangeEnvelope): PreparedMessage {
  const body = JSON.stringify(envelope);
  return { ...message, envelope, body, bytes: messageBytes(body, message.attributes) };
}

/** The PublishBatch entry. */
export function toBatchEntry(message: PreparedMessage): PublishBatchRequestEntry {
  return {
    Id: message.entryId,
    Message: message.body,
    MessageAttributes: message.attributes,
    ...(message.groupId ? { MessageGroupId: message.groupId, MessageDeduplicationId: message.dedupId } : {}),
  };
}
