/**
 * SNS and SQS limits the relay and the consumer enforce themselves (the emulator does not): a
 * PublishBatch or SendMessageBatch call carries at most 10 entries and 256 KiB in all, one message
 * (body + attributes) at most 256 KiB, and at most 10 message attributes reach SQS with raw delivery.
 */
export const MAX_BATCH_ENTRIES = 10;
export const MAX_BATCH_BYTES = 256 * 1024;
export const MAX_MESSAGE_BYTES = 256 * 1024;
export const MAX_MESSAGE_ATTRIBUTES = 10;
/** MessageGroupId and MessageDeduplicationId: at most 128 characters. */
export const MAX_FIFO_ID_LENGTH = 128;
