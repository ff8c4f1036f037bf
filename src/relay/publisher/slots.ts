/**
 * The publisher's PublishBatch calls in flight, shared by every publish() call: with page overlap
 * (src/relay/relay.ts) two pages publish at once, and together they stay within
 * relay.publishConcurrency. Slots are handed out first come, first served, and a page's worker keeps
 * its slot until that page has no task left to start — so the next page gets a slot only once every
 * call of the page before it is in flight or done.
 */
export interface Slots {
  /** Resolves with the release function once a slot is free; with undefined if the signal aborts first. */
  acquire(signal?: AbortSignal): Promise<(() => void) | undefined>;
  /** Slots taken now (tests). */
  readonly taken: number;
}

export function createSlots(size: number): Slots {
  let taken = 0;
  const waiting: (() => void)[] = [];
  const releaser = () => {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = waiting.shift();
      if (next) next(); // the slot passes on as it is
      else taken -= 1;
    };
  };
  return {
    get taken() {
      return taken;
    },
    acquire(signal) {
      if (signal?.aborted) return Promise.resolve(undefined);
      if (taken < size) {
        taken += 1;
        return Promise.resolve(releaser());
      }
      return new Promise((resolve) => {
        const onAbort = () => {
          const at = waiting.indexOf(grant);
          if (at >= 0) waiting.splice(at, 1);
          resolve(undefined);
        };
        const grant = () => {
          signal?.removeEventListener('abort', onAbort);
          resolve(releaser());
        };
        waiting.push(grant);
        signal?.addEventListener('abort', onAbort, { once: true });
      });
    },
  };
}
