import { MAX_BATCH_BYTES, MAX_BATCH_ENTRIES } from './limits.js';

export interface BatchLimits {
  maxEntries: number;
  maxBytes: number;
}

/** PublishBatch and SendMessageBatch: the same limits. */
export const SNS_BATCH_LIMITS: BatchLimits = { maxEntries: MAX_BATCH_ENTRIES, maxBytes: MAX_BATCH_BYTES };

/**
 * Packs items, in the order given, into consecutive batches of at most `maxEntries` entries and
 * `maxBytes` bytes (as `sizeOf` counts them). An item larger than `maxBytes` goes in a batch of its
 * own, so the service rejects that entry alone.
 */
export function packBatches<T>(items: readonly T[], sizeOf: (item: T) => number, limits: BatchLimits = SNS_BATCH_LIMITS): T[][] {
  const batches: T[][] = [];
  let current: T[] = [];
  let currentBytes = 0;
  for (const item of items) {
    const bytes = sizeOf(item);
    if (current.length > 0 && (current.length >= limits.maxEntries || currentBytes + bytes > limits.maxBytes)) {
      batches.push(current);
      current = [];
      currentBytes = 0;
    }
    current.push(item);
    currentBytes += bytes;
  }
  if (current.length > 0) batches.push(current);
  return batches;
}

/**
 * Packs messages like `packBatches`, by their `bytes`. A message larger than `maxBytes` on its own
 * is a caller error (oversized messages are claim-checked or quarantined before they get here).
 */
export function planBatches<T extends { bytes: number }>(messages: readonly T[], limits: BatchLimits = SNS_BATCH_LIMITS): T[][] {
  const oversized = messages.find((m) => m.bytes > limits.maxBytes);
  if (oversized) throw new RangeError(`a message of ${oversized.bytes} bytes cannot fit in a batch of at most ${limits.maxBytes} bytes`);
  return packBatches(messages, (m) => m.bytes, limits);
}
