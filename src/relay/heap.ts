import { setFlagsFromString } from 'node:v8';

/**
 * How far V8 lets the heap grow past what the last full collection kept, in percent, for the relay
 * process. The relay's live set is small and constant (its code, one page of events, the messages
 * in flight: ≈ 40 MiB), but every page survives a few young collections while it is published, so
 * it is promoted and becomes old garbage once advanced. V8's default factor (up to 4× the live set
 * on a small heap) let that garbage pile up to ≈ 150 MiB of heap, 250–325 MiB RSS, before a full
 * collection; at 25 % a full collection runs every ≈ 10 MiB promoted, which costs little (a few tens
 * of ms every few seconds) and keeps RSS near 130 MiB (bench/README.md, "Relay memory").
 */
export const DEFAULT_HEAP_GROWTH_PERCENT = 25;

/**
 * Sets V8's heap growing factor for this process (0: V8's own, dynamic one). It is read at every
 * full collection, so it takes effect after start-up; it is a growth factor, not a limit, so a larger
 * live set (large rows) still fits.
 */
export function setHeapGrowth(percent: number): void {
  if (!Number.isInteger(percent) || percent < 0) throw new RangeError(`heap growth must be a whole number of percent ≥ 0 (got ${percent})`);
  setFlagsFromString(`--heap-growing-percent=${percent}`);
}
