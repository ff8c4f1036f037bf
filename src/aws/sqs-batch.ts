import { createHash } from 'node:crypto';
import { DeleteMessageBatchCommand, SendMessageBatchCommand, type Message, type MessageAttributeValue, type SendMessageBatchRequestEntry } from '@aws-sdk/client-sqs';
import type { SqsSender } from './clients.js';
import { packBatches } from '../wire/batches.js';
import { messageBytes } from '../wire/message-size.js';

/**
 * SQS batch calls answer HTTP 200 with per-entry failures: these helpers check every entry and
 * return which messages succeeded and which did not, never assuming the whole batch went through.
 */

export interface EntryFailure<T> {
  item: T;
  code: string;
  message: string;
}

export interface BatchResult<T> {
  succeeded: T[];
  failed: EntryFailure<T>[];
}

export interface OutgoingMessage {
  body: string;
  attributes: Record<string, MessageAttributeValue>;
  /** FIFO queues only. */
  groupId?: string;
  deduplicationId?: string;
}

/** Deletes messages (by receipt handle), in calls of at most 10 entries; a call that throws fails all its entries. */
export async function deleteMessages(sqs: SqsSender, queueUrl: string, messages: Message[]): Promise<BatchResult<Message>> {
  const result: BatchResult<Message> = { succeeded: [], failed: [] };
  for (const chunk of packBatches(messages, () => 0)) {
    const entries = chunk.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle }));
    try {
      const reply = await sqs.send(new DeleteMessageBatchCommand({ QueueUrl: queueUrl, Entries: entries }));
      collect(chunk, reply.Successful, reply.Failed, result);
    } catch (err) {
      for (const item of chunk) result.failed.push({ item, code: (err as Error).name, message: (err as Error).message });
    }
  }
  return result;
}

/** Sends messages in calls of at most 10 entries and 256 KiB; a call that throws fails all its entries. */
export async function sendMessages<T>(sqs: SqsSender, queueUrl: string, items: T[], toMessage: (item: T) => OutgoingMessage): Promise<BatchResult<T>> {
  const result: BatchResult<T> = { succeeded: [], failed: [] };
  const prepared = items.map((item) => ({ item, message: toMessage(item) }));
  for (const chunk of packBatches(prepared, (p) => messageBytes(p.message.body, p.message.attributes))) {
    const entries: SendMessageBatchRequestEntry[] = chunk.map(({ message }, i) => ({
      Id: String(i),
      MessageBody: message.body,
      MessageAttributes: message.attributes,
      ...(message.groupId ? { MessageGroupId: message.groupId } : {}),
      ...(message.deduplicationId ? { MessageDeduplicationId: message.deduplicationId } : {}),
    }));
    const items = chunk.map((p) => p.item);
    try {
      const reply = await sqs.send(new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: entries }));
      collect(items, reply.Successful, reply.Failed, result);
    } catch (err) {
      for (const item of items) result.failed.push({ item, code: (err as Error).name, message: (err as Error).message });
    }
  }
  return result;
}

/** A received message's attributes, in a form SendMessage takes again. */
export function copyAttributes(message: Message): Record<string, MessageAttributeValue> {
  const out: Record<string, MessageAttributeValue> = {};
  for (const [name, value] of Object.entries(message.MessageAttributes ?? {})) {
    if (!value.DataType) continue;
    out[name] = { DataType: value.DataType, ...(value.StringValue !== undefined ? { StringValue: value.StringValue } : {}), ...(value.BinaryValue !== undefined ? { BinaryValue: value.BinaryValue } : {}) };
  }
  return out;
}

/**
 * FIFO ids for re-sending a received message: its group, and a deduplication id unique to this
 * receive (so a second redrive of the same message is not dropped as a duplicate).
 */
export function fifoIds(message: Message): { groupId: string; deduplicationId: string } {
  const groupId = message.Attributes?.MessageGroupId ?? message.MessageId ?? 'outbox';
  const deduplicationId = createHash('sha256').update(`${message.MessageId ?? ''}\n${message.ReceiptHandle ?? ''}`).digest('hex');
  return { groupId, deduplicationId };
}

function collect<T>(items: T[], successful: { Id?: string }[] | undefined, failed: { Id?: string; Code?: string; Message?: string }[] | undefined, into: BatchResult<T>): void {
  const ok = new Set((successful ?? []).map((s) => s.Id));
  const bad = new Map((failed ?? []).map((f) => [f.Id, f]));
  items.forEach((item, i) => {
    const id = String(i);
    if (ok.has(id) && !bad.has(id)) into.succeeded.push(item);
    else {
      const failure = bad.get(id);
      into.failed.push({ item, code: failure?.Code ?? 'NoReply', message: failure?.Message ?? 'the batch reply did not mention this entry' });
    }
  });
}
