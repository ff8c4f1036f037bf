import type { Command } from 'commander';
import { createS3Client, createSqsClient } from '../../aws/clients.js';
import { openConsumer } from '../../consumer/index.js';
import { OutboxError } from '../../errors.js';
import { createMetrics } from '../../observability/metrics.js';
import { startObservabilityServer } from '../../observability/server.js';
import { buildTransformer, createTargetWriter } from '../../targets/index.js';
import { print, printError } from '../output.js';
import { withContext, type GetContext } from './index.js';

export function registerConsume(program: Command, getContext: GetContext): void {
  program
    .command('consume')
    .description("apply a target's queue to the target until stopped (SIGINT/SIGTERM: finish the batch and stop; twice: stop now)")
    .argument('<target>', 'target name from the config')
    .option('--metrics-port <port>', 'serve /metrics, /healthz and /readyz on this port (default: targets.<name>.metricsPort)')
    .action((name: string, opts: { metricsPort?: string }) =>
      withContext(getContext, async (ctx) => {
        const target = ctx.config.targets[name];
        const port = opts.metricsPort === undefined ? target?.metricsPort : Number(opts.metricsPort);
        if (port !== undefined && (!Number.isInteger(port) || port < 0 || port > 65535)) throw new OutboxError('CONFIG_INVALID', `--metrics-port must be a port number (got ${opts.metricsPort}).`);
        const secrets = ctx.config.targetSecrets(name);
        const transform = buildTransformer(name, target!, secrets);
        const writer = createTargetWriter(name, target!, secrets, ctx.logger);
        const sqs = createSqsClient(ctx.config);
        const s3 = createS3Client(ctx.config);
        const metrics = createMetrics({ defaultMetrics: true });
        try {
          const consumer = await openConsumer(ctx.config, name, { sqs, s3, writer, transform, metrics, logger: ctx.logger });
          const server = port === undefined ? undefined : await startObservabilityServer(port, metrics, consumer.health());
          let signals = 0;
          const onSignal = (signal: NodeJS.Signals) => {
            signals += 1;
            if (signals === 1) {
              printError(`${signal}: finishing the current batch, then stopping (send it again to stop at once)`);
              void consumer.stop();
            } else {
              printError(`${signal} again: stopping now; the batch in hand was not deleted and comes back from the queue`);
              void consumer.stop({ force: true });
              process.exit(130);
            }
          };
          process.on('SIGINT', onSignal);
          process.on('SIGTERM', onSignal);
          print(`Consuming target "${name}"${server ? ` (metrics on :${server.port})` : ''}. Stop with Ctrl-C.`);
          try {
            await consumer.start();
          } finally {
            process.off('SIGINT', onSignal);
            process.off('SIGTERM', onSignal);
            await server?.close();
          }
        } finally {
          await writer.close();
          sqs.destroy();
          s3.destroy();
        }
      }),
    );
}
