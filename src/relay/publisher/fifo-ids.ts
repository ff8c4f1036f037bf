import { createHash } from 'node:crypto';
import { subjectOf, type OutboxEvent } from '../../wire/envelope.js';
import { MAX_FIFO_ID_LENGTH } from '../../wire/limits.js';

/** Characters SNS accepts in MessageGroupId and MessageDeduplicationId: printable ASCII without space. */
const FIFO_ID_PATTERN = /^[\x21-\x7e]+$/;

/** The value itself when SNS accepts it, else its SHA-256 (hex, 64 characters): stable for the same input. */
export function toFifoId(value: string): string {
  if (value.length <= MAX_FIFO_ID_LENGTH && FIFO_ID_PATTERN.test(value)) return value;
  return createHash('sha256').update(value, 'utf8').digest('hex');
}

/** One message group per row: table + canonical key, so SNS FIFO keeps each row's changes in order. */
export function messageGroupId(event: OutboxEvent): string {
  return toFifoId(subjectOf(event.tableSchema, event.tableName, event.key));
}

/** Deduplication by event id: a re-publish of the same event within SNS's 5-minute window is dropped. */
export function deduplicationId(eventId: string): string {
  return toFifoId(eventId);
}
