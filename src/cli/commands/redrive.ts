import type { Command } from 'commander';
import { wholeNumber } from '../options.js';
import { print, printJson } from '../output.js';
import { withContext, type GetContext } from '../context.js';

export function registerRedrive(program: Command, getContext: GetContext): void {
  program
    .command('redrive')
    .description("move a target's dead-lettered messages back to its queue (after fixing their cause)")
    .argument('<target>', 'target name from the config')
    .option('--limit <n>', 'move at most n messages (default: as many as the DLQ holds now)', wholeNumber('--limit', 1, 1_000_000))
    .option('--json', 'print the result as JSON')
    .action((name: string, opts: { limit?: number; json?: boolean }) =>
      withContext(getContext, async (ctx) => {
        const [{ createSqsClient }, { redriveMessages }, { queueNames, requireQueueUrl, targetOf, topicOf }] = await Promise.all([import('../../aws/clients.js'), import('../../consumer/index.js'), import('../../aws/resources.js')]);
        const limit = opts.limit;
        const target = targetOf(ctx.config, name);
        const names = queueNames(name, target, topicOf(ctx.config, target));
        const sqs = createSqsClient(ctx.config);
        try {
          const [queueUrl, dlqUrl] = [await requireQueueUrl(sqs, names.queue, name), await requireQueueUrl(sqs, names.dlq, name)];
          const result = await redriveMessages(sqs, dlqUrl, queueUrl, { fifo: names.fifo, ...(limit !== undefined ? { limit } : {}) });
          if (result.failed) process.exitCode = 1;
          if (opts.json) {
            printJson({ target: name, from: names.dlq, to: names.queue, ...result });
            return;
          }
          print(`Moved ${result.moved} message(s) from ${names.dlq} to ${names.queue}.`);
          if (result.duplicated) print(`${result.duplicated} of them could not be deleted from the DLQ and will be delivered again (harmless: apply is version-guarded).`);
          if (result.failed) print(`${result.failed} message(s) could not be sent and stay in the DLQ; run again.`);
        } finally {
          sqs.destroy();
        }
      }),
    );
}
