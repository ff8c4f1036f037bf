import { sleep } from '../sleep.js';

/**
 * Wakes the relay loop: a NOTIFY (or anything else that says "new events") sets a flag that the next
 * wait consumes at once, so a notification that arrives while the loop is busy is never missed.
 */
export class Waker {
  private pending = false;
  /** Aborted by notify() to end the wait under way; one per wait. */
  private interrupt: AbortController | undefined;

  notify(): void {
    this.pending = true;
    this.interrupt?.abort();
  }

  /** Resolves on a notification (also one that came earlier), after ms, or when signal aborts. */
  async wait(ms: number, signal: AbortSignal): Promise<void> {
    if (this.pending || signal.aborted) {
      this.pending = false;
      return;
    }
    // Not AbortSignal.any: on Node 20 every call leaves a weak reference on the long-lived signal.
    const interrupt = new AbortController();
    const stop = () => interrupt.abort();
    this.interrupt = interrupt;
    signal.addEventListener('abort', stop, { once: true });
    try {
      await sleep(ms, interrupt.signal);
    } finally {
      signal.removeEventListener('abort', stop);
      this.interrupt = undefined;
      this.pending = false;
    }
  }
}
