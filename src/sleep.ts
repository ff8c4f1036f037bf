import { setTimeout as delay } from 'node:timers/promises';

/**
 * The one pause of the code base: resolves after `ms`, or at once when `signal` aborts — an abort is
 * a normal way to stop waiting, not an error. Resolves true when the whole time passed, false when
 * the signal cut it short.
 *
 * Built on `node:timers/promises`, which removes its abort listener when the timer fires: a loop
 * that pauses thousands of times on one long-lived signal leaves no listener behind (a hand-written
 * `signal.addEventListener('abort', …, { once: true })` stays until the signal aborts, one per pause).
 * `ref: false` lets the process exit while the pause runs (a bound on a call that may hang).
 */
export async function sleep(ms: number, signal?: AbortSignal, options: { ref?: boolean } = {}): Promise<boolean> {
  if (signal?.aborted) return false;
  try {
    await delay(Math.max(0, ms), undefined, { ...(signal ? { signal } : {}), ...(options.ref === false ? { ref: false } : {}) });
    return true;
  } catch (err) {
    if (signal?.aborted) return false;
    throw err;
  }
}
