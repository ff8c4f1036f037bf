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

/**
 * The largest semi-space, in MiB, of every V8 isolate this process starts from now on — in the
 * relay, the SNS client's worker thread (aws.sdkThread). V8's default (16 MiB, a young generation
 * of 32 MiB) is sized for a main thread; the worker's allocations are a request's strings and its
 * reply, dead before the next collection, and a full-size young generation of a second isolate
 * added ≈ 55 MiB of RSS to the relay (192 MiB against 136 on the main thread while draining,
 * bench/README.md "Relay memory"). The relay's own thread keeps its size: V8 sizes an isolate when
 * it is created.
 */
export const DEFAULT_WORKER_SEMI_SPACE_MB = 4;

export function setWorkerSemiSpace(mb: number): void {
  if (!Number.isInteger(mb) || mb < 1) throw new RangeError(`semi-space size must be a whole number of MiB ≥ 1 (got ${mb})`);
  setFlagsFromString(`--max-semi-space-size=${mb}`);
}
