import type { Message, MessageAttributeValue } from '@aws-sdk/client-sqs';
import { copyAttributes, fifoIds, type OutgoingMessage } from '../aws/sqs-batch.js';
import { MAX_MESSAGE_ATTRIBUTES } from '../wire/limits.js';

/**
 * Why a message went to the dead-letter queue. It travels with the message as attributes, so an
 * operator reading the DLQ (or `outbox redrive`) sees the reason without the consumer's logs.
 */
export type DeadLetterCode =
  /** The body is not JSON. */
  | 'UNPARSEABLE'
  /** JSON, but not a change event of the version this consumer reads. */
  | 'SCHEMA_INVALID'
  /** A claim-check envelope whose S3 object is gone (or not an event). */
  | 'CLAIMCHECK_MISSING'
  /** The target's transform refused the change (e.g. a column the mapping quarantines). */
  | 'TRANSFORM_FAILED'
  /** The target refused the change for good (an HTTP 4xx, a constraint the row breaks). */
  | 'TARGET_REJECTED'
  /** A row written with a shape the target never got (its schema change did not arrive in time); redrive it once the table has the columns. */
  | 'SCHEMA_WAIT_EXPIRED';

export const ERROR_CODE_ATTRIBUTE = 'outbox_error_code';
export const ERROR_REASON_ATTRIBUTE = 'outbox_error_reason';
const REASON_ATTRIBUTES = [ERROR_CODE_ATTRIBUTE, ERROR_REASON_ATTRIBUTE];
/** Original attributes kept first when the reason attributes leave no room for all (SQS allows 10). */
const KEEP_FIRST = ['source', 'table', 'operation'];
const MAX_REASON_LENGTH = 1_000;

export interface DeadLetter {
  message: Message;
  code: DeadLetterCode;
  /** Names what is wrong (a setting, a column, a schema path); never row values. */
  reason: string;
}

/** The message as it goes to the DLQ: the same body, the reason attributes, and as many original attributes as fit. */
export function deadLetterMessage(letter: DeadLetter, fifo: boolean): OutgoingMessage {
  const original = withoutReason(copyAttributes(letter.message));
  const attributes: Record<string, MessageAttributeValue> = {
    [ERROR_CODE_ATTRIBUTE]: { DataType: 'String', StringValue: letter.code },
    [ERROR_REASON_ATTRIBUTE]: { DataType: 'String', StringValue: letter.reason.slice(0, MAX_REASON_LENGTH) || letter.code },
  };
  const names = [...KEEP_FIRST.filter((n) => n in original), ...Object.keys(original).filter((n) => !KEEP_FIRST.includes(n)).sort()];
  for (const name of names) {
    if (Object.keys(attributes).length >= MAX_MESSAGE_ATTRIBUTES) break;
    attributes[name] = original[name] as MessageAttributeValue;
  }
  return { body: letter.message.Body ?? '', attributes, ...(fifo ? fifoIds(letter.message) : {}) };
}

/** A dead-lettered message going back to its queue: the reason attributes removed. */
export function redrivenMessage(message: Message, fifo: boolean): OutgoingMessage {
  return { body: message.Body ?? '', attributes: withoutReason(copyAttributes(message)), ...(fifo ? fifoIds(message) : {}) };
}

export function deadLetterReason(message: Message): { code?: string; reason?: string } {
  return { code: message.MessageAttributes?.[ERROR_CODE_ATTRIBUTE]?.StringValue, reason: message.MessageAttributes?.[ERROR_REASON_ATTRIBUTE]?.StringValue };
}

function withoutReason(attributes: Record<string, MessageAttributeValue>): Record<string, MessageAttributeValue> {
  return Object.fromEntries(Object.entries(attributes).filter(([name]) => !REASON_ATTRIBUTES.includes(name)));
}
