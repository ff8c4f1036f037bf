import { ChangeMessageVisibilityBatchCommand, ReceiveMessageCommand, type Message } from '@aws-sdk/client-sqs';
import type { SqsSender } from '../aws/clients.js';
import type { Config } from '../config/index.js';
import { ERROR_CODE_ATTRIBUTE, ERROR_REASON_ATTRIBUTE } from './dead-letter.js';
import { queueDepth, queueNames, requireQueueUrl, targetOf, topicOf, type QueueDepth } from '../aws/resources.js';

/**
 * Reads a target's dead letters without consuming them (`outbox dlq`, and the console): why each one
 * is there (the reason the consumer attached, or none when SQS moved it after maxReceiveCount), its
 * routing attributes and which event it holds (id, table, operation, seq, key). Row values stay out
 * unless a body preview is asked for: a body is a change event, and its before/after images are row
 * data.
 *
 * Not consuming: each message is received with a short visibility timeout (so paging through the
 * queue sees each message once) and made visible again (visibility 0) as soon as the read ends, so
 * `outbox redrive` or another reader can take it at once. If this process dies in between, the
 * messages come back by themselves when the short timeout ends. A DLQ has no redrive policy of its
 * own, so the receive count these reads add moves nothing anywhere.
 */
export interface DeadLetterEvent {
  id: string;
  type: string;
  time: string | null;
  /** schema.table */
  table: string | null;
  op: string | null;
  seq: string | null;
  /** The row's key columns, as in the event's subject. */
  key: unknown;
  /** s3://bucket/key of a claim-checked event (its data is not in the message). */
  claimCheck: string | null;
}

export interface DeadLetterRecord {
  messageId: string;
  /** Who put it in the DLQ: the consumer (with a reason) or SQS (after maxReceiveCount failed receives). */
  movedBy: 'consumer' | 'sqs';
  /** UNPARSEABLE, SCHEMA_INVALID, CLAIMCHECK_MISSING, TRANSFORM_FAILED, TARGET_REJECTED, SCHEMA_WAIT_EXPIRED; null when SQS moved it. */
  code: string | null;
  reason: string | null;
  /** When the message was first sent to a queue (SentTimestamp), ISO 8601. */
  sentAt: string | null;
  /** Receives so far, this read included (ApproximateReceiveCount). */
  receiveCount: number | null;
  /** Message attributes other than the reason: source, table, operation, changed, attribute columns. */
  attributes: Record<string, string | string[]>;
  /** The change event the body holds; null when the body is not one (see code). */
  event: DeadLetterEvent | null;
  bodyBytes: number;
  /** The first characters of the body, only when asked for (it holds row values). */
  bodyPreview?: string;
}

export interface ReadDeadLettersOptions {
  /** At most this many messages (default 10). */
  limit?: number;
  /** Include the first N characters of each body (row data: off unless asked for). */
  previewChars?: number;
  /** How long a message stays hidden while the read pages on (default 30 s; it is made visible again at the end). */
  visibilityTimeoutSec?: number;
  signal?: AbortSignal;
}

export interface DeadLetterReport {
  target: string;
  queue: string;
  queueUrl: string;
  /** The DLQ's approximate depth before the read. */
  depth: QueueDepth;
  messages: DeadLetterRecord[];
  /** Messages that could not be made visible again at once: they reappear when their short visibility timeout ends. */
  notReleased: number;
}

export const DEFAULT_DLQ_READ_LIMIT = 10;

/** The DLQ of a configured target, read without consuming it. */
export async function listDeadLetters(config: Config, name: string, sqs: SqsSender, options: ReadDeadLettersOptions = {}): Promise<DeadLetterReport> {
  const target = targetOf(config, name);
  const names = queueNames(name, target, topicOf(config, target));
  const queueUrl = await requireQueueUrl(sqs, names.dlq, name);
  const depth = await queueDepth(sqs, queueUrl);
  const { messages, notReleased } = await readDeadLetters(sqs, queueUrl, options);
  return { target: name, queue: names.dlq, queueUrl, depth, messages, notReleased };
}

/** Up to options.limit messages of a DLQ, each once, left in the queue and visible again when this returns. */
export async function readDeadLetters(sqs: SqsSender, queueUrl: string, options: ReadDeadLettersOptions = {}): Promise<{ messages: DeadLetterRecord[]; notReleased: number }> {
  const limit = options.limit ?? DEFAULT_DLQ_READ_LIMIT;
  const seen = new Map<string, DeadLetterRecord>();
  const held: { id: string; handle: string }[] = [];
  let notReleased = 0;
  try {
    while (seen.size < limit && !options.signal?.aborted) {
      const reply = await sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: queueUrl,
          MaxNumberOfMessages: Math.min(10, limit - seen.size),
          // a short long-poll asks every SQS server, so a sparse queue is not reported empty by chance
          WaitTimeSeconds: 1,
          VisibilityTimeout: options.visibilityTimeoutSec ?? 30,
          MessageAttributeNames: ['All'],
          MessageSystemAttributeNames: ['SentTimestamp', 'ApproximateReceiveCount'],
        }),
        options.signal ? { abortSignal: options.signal } : {},
      );
      const batch = reply.Messages ?? [];
      let fresh = 0;
      for (const message of batch) {
        if (message.ReceiptHandle) held.push({ id: message.MessageId ?? String(held.length), handle: message.ReceiptHandle });
        const id = message.MessageId ?? '';
        if (seen.has(id) || seen.size >= limit) continue;
        seen.set(id, describeDeadLetter(message, options.previewChars));
        fresh += 1;
      }
      if (fresh === 0) break;
    }
  } finally {
    notReleased = await release(sqs, queueUrl, held);
  }
  return { messages: [...seen.values()], notReleased };
}

/** Makes received messages visible again (visibility 0); returns how many SQS did not take back. */
async function release(sqs: SqsSender, queueUrl: string, held: { id: string; handle: string }[]): Promise<number> {
  let failed = 0;
  for (let i = 0; i < held.length; i += 10) {
    const chunk = held.slice(i, i + 10);
    try {
      const reply = await sqs.send(
        new ChangeMessageVisibilityBatchCommand({ QueueUrl: queueUrl, Entries: chunk.map((m, j) => ({ Id: `m${i + j}`, ReceiptHandle: m.handle, VisibilityTimeout: 0 })) }),
      );
      failed += reply.Failed?.length ?? 0;
    } catch {
      failed += chunk.length;
    }
  }
  return failed;
}

/** A dead-lettered message for people and tools: its reason and event, no row values (unless previewChars). */
export function describeDeadLetter(message: Message, previewChars?: number): DeadLetterRecord {
  const attributes: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(message.MessageAttributes ?? {})) {
    if (name === ERROR_CODE_ATTRIBUTE || name === ERROR_REASON_ATTRIBUTE) continue;
    const text = value.StringValue ?? '';
    if (value.DataType === 'String.Array') {
      try {
        attributes[name] = (JSON.parse(text) as unknown[]).map(String);
        continue;
      } catch {
        // fall through: show the text as it is
      }
    }
    attributes[name] = text;
  }
  const code = message.MessageAttributes?.[ERROR_CODE_ATTRIBUTE]?.StringValue ?? null;
  const body = message.Body ?? '';
  const sent = Number(message.Attributes?.SentTimestamp);
  const received = Number(message.Attributes?.ApproximateReceiveCount);
  return {
    messageId: message.MessageId ?? '',
    movedBy: code ? 'consumer' : 'sqs',
    code,
    reason: message.MessageAttributes?.[ERROR_REASON_ATTRIBUTE]?.StringValue ?? null,
    sentAt: Number.isFinite(sent) && sent > 0 ? new Date(sent).toISOString() : null,
    receiveCount: Number.isFinite(received) && received > 0 ? received : null,
    attributes,
    event: eventOf(body),
    bodyBytes: Buffer.byteLength(body, 'utf8'),
    ...(previewChars !== undefined && previewChars > 0 ? { bodyPreview: body.length > previewChars ? `${body.slice(0, previewChars)}…` : body } : {}),
  };
}

/** The envelope's header and key, read leniently: a body that is not a change event gives null. */
function eventOf(body: string): DeadLetterEvent | null {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    return null;
  }
  if (value === null || typeof value !== 'object' || typeof (value as { id?: unknown }).id !== 'string') return null;
  const envelope = value as { id: string; type?: unknown; time?: unknown; subject?: unknown; sequence?: unknown; claimcheck?: unknown; data?: Record<string, unknown> };
  const data = envelope.data && typeof envelope.data === 'object' ? envelope.data : undefined;
  const text = (v: unknown) => (typeof v === 'string' ? v : null);
  const subject = text(envelope.subject);
  const table = data && typeof data.schema === 'string' && typeof data.table === 'string' ? `${data.schema}.${data.table}` : subject ? subject.split('/')[0]! : null;
  return {
    id: envelope.id,
    type: text(envelope.type) ?? '',
    time: text(envelope.time),
    table,
    op: text(data?.op),
    seq: text(data?.seq) ?? text(envelope.sequence),
    key: data && 'key' in data ? data.key : subjectKey(subject),
    claimCheck: text(envelope.claimcheck),
  };
}

/** The key part of a subject (`schema.table/{"id":1}`); `*` (a truncate) and anything unreadable give null. */
function subjectKey(subject: string | null): unknown {
  if (!subject?.includes('/')) return null;
  try {
    return JSON.parse(subject.slice(subject.indexOf('/') + 1)) as unknown;
  } catch {
    return null;
  }
}
