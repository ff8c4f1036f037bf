import { describe, expect, it } from 'vitest';
import { createSlots } from '../../src/relay/publisher/slots.js';
import { runTasks, type PublishTask } from '../../src/relay/publisher/tasks.js';

const tasks = (n: number, first = 0): PublishTask[] => Array.from({ length: n }, (_, i) => ({ first: first + i, batches: [] }));

/** A task body that waits until the test lets it finish, recording which tasks are running. */
function controlled() {
  const running = new Set<number>();
  const finish = new Map<number, () => void>();
  const started: number[] = [];
  let max = 0;
  const run = (task: PublishTask) =>
    new Promise<void>((resolve) => {
      started.push(task.first);
      running.add(task.first);
      max = Math.max(max, running.size);
      finish.set(task.first, () => {
        running.delete(task.first);
        resolve();
      });
    });
  const settle = () => new Promise((r) => setImmediate(r));
  return { run, running, finish, started, settle, max: () => max };
}

describe('publish slots shared by overlapping pages', () => {
  it('gives the next page only the slots the page before no longer needs, within the pool size', async () => {
    const slots = createSlots(4);
    const c = controlled();
    const pageOne = runTasks(tasks(6, 0), 4, c.run, slots);
    const pageTwo = runTasks(tasks(6, 100), 4, c.run, slots);
    await c.settle();
    expect([...c.running]).toEqual([0, 1, 2, 3]);
    // Page 1 still has tasks 4 and 5 to start: a finished call's slot goes to them, not to page 2.
    c.finish.get(0)!();
    c.finish.get(1)!();
    await c.settle();
    expect([...c.running].sort((a, b) => a - b)).toEqual([2, 3, 4, 5]);
    // Page 1 has nothing left to start: each call it finishes frees a slot for page 2.
    c.finish.get(2)!();
    await c.settle();
    expect(c.running.has(100)).toBe(true);
    expect(c.running.size).toBe(4);
    for (const k of [3, 4, 5]) c.finish.get(k)!();
    await pageOne;
    for (let i = 0; i < 12 && c.running.size > 0; i++) {
      for (const k of [...c.running]) c.finish.get(k)!();
      await c.settle();
    }
    await pageTwo;
    expect(c.max()).toBe(4);
    expect(c.started).toEqual([0, 1, 2, 3, 4, 5, 100, 101, 102, 103, 104, 105]);
    expect(slots.taken).toBe(0);
  });

  it('a page waiting for a slot starts nothing once its signal aborts', async () => {
    const slots = createSlots(1);
    const c = controlled();
    const pageOne = runTasks(tasks(1, 0), 1, c.run, slots);
    const controller = new AbortController();
    const pageTwo = runTasks(tasks(2, 100), 1, c.run, slots, controller.signal);
    await c.settle();
    controller.abort();
    await pageTwo;
    c.finish.get(0)!();
    await pageOne;
    expect(c.started).toEqual([0]);
    expect(slots.taken).toBe(0);
  });
});
