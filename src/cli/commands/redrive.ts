import type { Command } from 'commander';
import { createSqsClient } from '../../aws/clients.js';
import { queueNames, redriveMessages, requireQueueUrl, targetOf, topicOf } from '../../consumer/index.js';
import { OutboxError } from '../../errors.js';
import { print } from '../output.js';
import { withContext, type GetContext } from './index.js';

export function registerRedrive(program: Command, getContext: GetContext): void {
  program
    .command('redrive')
    .description("move a target's dead-lettered messages back to its queue (after fixing their cause)")
    .argument('<target>', 'target name from the config')
    .option('--limit <n>', 'move at most n messages (default: as many as the DLQ holds now)')
    .action((name: string, opts: { limit?: string }) =>
      withContext(getContext, async (ctx) => {
        const limit = opts.limit === undefined ? undefined : Number(opts.limit);
        if (limit !== undefined && (!Number.isInteger(limit) || limit < 1)) throw new OutboxError('CONFIG_INVALID', `--limit must be a positive integer (got ${opts.limit}).`);
        const target = targetOf(ctx.config, name);
        const names = queueNames(name, target, topicOf(ctx.config, target));
        const sqs = createSqsClient(ctx.config);
        try {
          const [queueUrl, dlqUrl] = [await requireQueueUrl(sqs, names.queue, name), await requireQueueUrl(sqs, names.dlq, name)];
          const result = await redriveMessages(sqs, dlqUrl, queueUrl, { fifo: names.fifo, ...(limit !== undefined ? { limit } : {}) });
          print(`Moved ${result.moved} message(s) from ${names.dlq} to ${names.queue}.`);
          if (result.duplicated) print(`${result.duplicated} of them could not be deleted from the DLQ and will be delivered again (harmless: apply is version-guarded).`);
          if (result.failed) {
            print(`${result.failed} message(s) could not be sent and stay in the DLQ; run again.`);
            process.exitCode = 1;
          }
        } finally {
          sqs.destroy();
        }
      }),
    );
}
