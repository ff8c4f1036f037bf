import { ReceiveMessageCommand, type Message } from '@aws-sdk/client-sqs';
import type { SqsSender } from '../../src/aws/clients.js';
import { deleteMessages } from '../../src/aws/sqs-batch.js';

/** What a consumer's receive loops are set to: the bare loop copies it, so only the consumer's own work differs. */
export interface ReceiveShape {
  queueUrl: string;
  /** Receive loops side by side (a consumer's queue.concurrency). */
  loops: number;
  /** Messages per receive (queue.batchSize). */
  batchSize: number;
  waitTimeSec: number;
  visibilityTimeoutSec: number;
}

/**
 * The bare receive + delete loop a consumer is measured against: `loops` loops, each receiving a
 * batch with the consumer's ReceiveMessage parameters and deleting it (every entry checked), until
 * `total` messages are deleted. Returns the seconds until the last of them was deleted. Same client, same queue, same messages.
 *
 * Serial: each loop receives, deletes, receives again. Pipelined: the shape of a consumer's loop on a
 * backlog with nothing to apply — the next receive is under way while a batch is deleted, and one
 * delete is in flight per loop — so it is what the consumer's own round trips could reach at best.
 *
 * `handle` replaces the delete: what a received batch goes through instead (e.g. a consumer's
 * processing and its acknowledgement), resolving to how many of the batch it deleted — so a loop
 * with it and one without differ only in that work (bench/consumer-cpu.ts, the naive apply of
 * bench/consumer-throughput.ts); pipelined, the next receive is under way while it runs. `counted`
 * gets the messages deleted, which can pass `total` by the batches other loops had received by then.
 */
export async function drainReceiveDelete(
  sqs: SqsSender,
  shape: ReceiveShape,
  total: number,
  options: { pipelined?: boolean; handle?: (messages: Message[]) => Promise<number>; counted?: { deleted: number } } = {},
): Promise<number> {
  let deleted = 0;
  let finished: number | undefined;
  const receive = async () => {
    const reply = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: shape.queueUrl,
        MaxNumberOfMessages: shape.batchSize,
        WaitTimeSeconds: shape.waitTimeSec,
        VisibilityTimeout: shape.visibilityTimeoutSec,
        MessageAttributeNames: ['All'],
        MessageSystemAttributeNames: ['MessageGroupId', 'ApproximateReceiveCount'],
      }),
    );
    return reply.Messages ?? [];
  };
  const remove = async (messages: Message[]) => {
    if (options.handle) {
      const handled = await options.handle(messages); // (not `deleted += await …`: that adds to the count read before the wait)
      deleted += handled;
    } else {
      const result = await deleteMessages(sqs, shape.queueUrl, messages);
      if (result.failed.length > 0) throw new Error(`the bare loop could not delete ${result.failed.length} messages (${result.failed[0]!.code})`);
      deleted += result.succeeded.length;
    }
    if (options.counted) options.counted.deleted = deleted;
    if (deleted >= total) finished ??= performance.now();
  };
  const started = performance.now();
  await Promise.all(
    Array.from({ length: shape.loops }, async () => {
      let deleting: Promise<void> = Promise.resolve();
      let next: Promise<Message[]> | undefined;
      while (deleted < total) {
        const messages = await (next ?? receive());
        next = undefined;
        if (messages.length === 0) {
          await deleting;
          continue;
        }
        if (!options.pipelined) {
          await remove(messages);
          continue;
        }
        await deleting;
        if (deleted + messages.length < total) next = receive();
        deleting = remove(messages);
      }
      await deleting;
      // A receive started before the last deletes counted comes back empty (the queue is drained); the time ends at the last delete.
      if (next) await next;
    }),
  );
  return ((finished ?? performance.now()) - started) / 1000;
}

/** Median and range of a list of figures, for "median (min–max)". */
export function spread(values: number[]): { median: number; min: number; max: number } {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return { median, min: sorted[0]!, max: sorted[sorted.length - 1]! };
}
