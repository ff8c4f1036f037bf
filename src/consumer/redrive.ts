import { ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import type { SqsSender } from '../aws/clients.js';
import { redrivenMessage } from './dead-letter.js';
import { queueDepth } from '../aws/resources.js';
import { deleteMessages, sendMessages } from '../aws/sqs-batch.js';

/**
 * `outbox redrive`: moves a target's dead-lettered messages back to its queue after a fix. Each
 * message is deleted from the DLQ only after SQS acknowledged its copy in the queue, so a crash in
 * between makes a duplicate (harmless: apply is version-guarded), never a loss.
 */
export interface RedriveOptions {
  /** Move at most this many; default: the DLQ's depth when the run starts (messages that fail again are not chased). */
  limit?: number;
  fifo: boolean;
  /** How long a received DLQ message stays hidden while it is being moved. */
  visibilityTimeoutSec?: number;
  signal?: AbortSignal;
}

export interface RedriveResult {
  moved: number;
  /** Could not be sent or deleted; they stay in (or reappear in) the DLQ. */
  failed: number;
  /** Moved to the queue but not deleted from the DLQ: they will be delivered twice. */
  duplicated: number;
}

export async function redriveMessages(sqs: SqsSender, dlqUrl: string, queueUrl: string, options: RedriveOptions): Promise<RedriveResult> {
  const limit = options.limit ?? (await queueDepth(sqs, dlqUrl)).visible;
  const result: RedriveResult = { moved: 0, failed: 0, duplicated: 0 };
  while (result.moved + result.failed < limit && !options.signal?.aborted) {
    const reply = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: dlqUrl,
        MaxNumberOfMessages: Math.min(10, limit - result.moved - result.failed),
        WaitTimeSeconds: 1,
        VisibilityTimeout: options.visibilityTimeoutSec ?? 60,
        MessageAttributeNames: ['All'],
        MessageSystemAttributeNames: ['MessageGroupId'],
      }),
      options.signal ? { abortSignal: options.signal } : {},
    );
    const messages = reply.Messages ?? [];
    if (messages.length === 0) break;
    const sent = await sendMessages(sqs, queueUrl, messages, (m) => redrivenMessage(m, options.fifo));
    result.failed += sent.failed.length;
    const deleted = await deleteMessages(sqs, dlqUrl, sent.succeeded);
    result.moved += sent.succeeded.length;
    result.duplicated += deleted.failed.length;
    if (sent.succeeded.length === 0) break;
  }
  return result;
}
