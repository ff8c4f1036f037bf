import { planBatches, SNS_BATCH_LIMITS, type BatchLimits } from '../../wire/batches.js';
import type { PreparedMessage } from './prepare.js';
import type { Slots } from './slots.js';

/** Batches that run one after the other; different tasks run concurrently. */
export interface PublishTask {
  /** Index of the task's first event: tasks start in event order. */
  first: number;
  batches: PreparedMessage[][];
  /** FIFO topics: the lane (topic and message-group hash) the task sends in order; the next page's task of that lane waits for it. */
  lane?: string;
}

/** FNV-1a: a cheap, stable string hash for spreading message groups over lanes. */
export function laneOf(groupId: string, lanes: number): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < groupId.length; i++) {
    hash ^= groupId.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) % lanes;
}

/**
 * Splits prepared messages (in event order) into tasks. Standard topics: every batch is its own
 * task, so batches go out concurrently. FIFO topics: messages are spread over `lanes` lanes by
 * message group; a lane's batches are one task, sent in order, so two calls in flight never
 * reorder one group. (Within one call SNS keeps entry order; if it rejects an entry but accepts a
 * later one of the same group, the retry lands after it — targets still converge through their
 * per-key seq guard, docs/targets.md.)
 */
export function planTasks(messages: readonly PreparedMessage[], lanes: number, limits: BatchLimits = SNS_BATCH_LIMITS): PublishTask[] {
  const byQueue = new Map<string, PreparedMessage[]>();
  for (const message of messages) {
    const queue = message.groupId === undefined ? `std:${message.topic.key}` : `fifo:${message.topic.key}:${laneOf(message.groupId, lanes)}`;
    let list = byQueue.get(queue);
    if (!list) byQueue.set(queue, (list = []));
    list.push(message);
  }
  const tasks: PublishTask[] = [];
  for (const [queue, list] of byQueue) {
    const batches = planBatches(list, limits);
    if (queue.startsWith('fifo:')) tasks.push({ first: list[0]!.index, batches, lane: queue });
    else for (const batch of batches) tasks.push({ first: batch[0]!.index, batches: [batch] });
  }
  return tasks.sort((a, b) => a.first - b.first);
}

/**
 * Runs tasks on at most `concurrency` workers, starting them in order. With `slots`, each worker
 * first takes a slot shared with other publish() calls and keeps it until no task is left to start
 * (src/relay/publisher/slots.ts); a worker still waiting when the signal aborts starts nothing.
 */
export async function runTasks(tasks: readonly PublishTask[], concurrency: number, run: (task: PublishTask) => Promise<void>, slots?: Slots, signal?: AbortSignal): Promise<void> {
  let next = 0;
  const worker = async () => {
    const release = slots ? await slots.acquire(signal) : () => undefined;
    if (!release) return;
    try {
      while (next < tasks.length) await run(tasks[next++]!);
    } finally {
      release();
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, tasks.length) }, worker));
}
