import { MAX_BATCH_BYTES, MAX_BATCH_ENTRIES } from './limits.js';

export interface BatchLimits {
  maxEntries: number;
  maxBytes: number;
}

export const SNS_BATCH_LIMITS: BatchLimits = { maxEntries: MAX_BATCH_ENTRIES, maxBytes: MAX_BATCH_BYTES };

/**
 * Packs messages, in the order given, into consecutive batches of at most `maxEntries` entries and
 * `maxBytes` bytes. A message larger than `maxBytes` on its own is a caller error (oversized
 * messages are claim-checked or quarantined before they get here).
 */
export function planBatches<T extends { bytes: number }>(messages: readonly T[], limits: BatchLimits = SNS_BATCH_LIMITS): T[][] {
  const batches: T[][] = [];
  let current: T[] = [];
  let currentBytes = 0;
  for (const message of messages) {
    if (message.bytes > limits.maxBytes) throw new RangeError(`a message of ${message.bytes} bytes cannot fit in a batch of at most ${limits.maxBytes} bytes`);
    if (current.length === limits.maxEntries || currentBytes + message.bytes > limits.maxBytes) {
      batches.push(current);
      current = [];
      currentBytes = 0;
    }
    current.push(message);
    currentBytes += message.bytes;
  }
  if (current.length > 0) batches.push(current);
  return batches;
}
