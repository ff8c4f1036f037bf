/**
 * Wakes the relay loop: a NOTIFY (or anything else that says "new events") sets a flag that the next
 * wait consumes at once, so a notification that arrives while the loop is busy is never missed.
 */
export class Waker {
  private pending = false;
  private resolveWait: (() => void) | undefined;

  notify(): void {
    this.pending = true;
    this.resolveWait?.();
  }

  /** Resolves on a notification (also one that came earlier), after ms, or when signal aborts. */
  wait(ms: number, signal: AbortSignal): Promise<void> {
    if (this.pending || signal.aborted) {
      this.pending = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        this.resolveWait = undefined;
        this.pending = false;
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal.addEventListener('abort', done, { once: true });
      this.resolveWait = done;
    });
  }
}

/** Resolves after ms or when signal aborts, whichever comes first. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
