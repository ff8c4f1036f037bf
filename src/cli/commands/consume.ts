import type { Command } from 'commander';
import type { Consumer } from '../../consumer/index.js';
import { nodeSupport } from '../../config/index.js';
import { hostName, portNumber } from '../options.js';
import { note, printError } from '../output.js';
import { withContext, type GetContext } from '../context.js';

export function registerConsume(program: Command, getContext: GetContext): void {
  program
    .command('consume')
    .description("apply a target's queue to the target until stopped (SIGINT/SIGTERM: finish the batch and stop; twice: stop now)")
    .argument('<target>', 'target name from the config')
    .option('--metrics-port <port>', 'serve /metrics, /healthz and /readyz on this port (default: targets.<name>.metricsPort)', portNumber('--metrics-port'))
    .option('--metrics-host <host>', 'the address that server listens on (default metrics.host: 127.0.0.1; 0.0.0.0 in the container image)', hostName('--metrics-host'))
    .action((name: string, opts: { metricsPort?: number; metricsHost?: string }) =>
      withContext(getContext, async (ctx) => {
        const [{ createConsumerSqsClient, createS3Client }, { openConsumer }, { targetOf }, { createMetrics }, { startObservabilityServer }, { buildTargetTransform, buildTransformer, createTargetWriter }] = await Promise.all([
          import('../../aws/clients.js'),
          import('../../consumer/index.js'),
          import('../../aws/resources.js'),
          import('../../observability/metrics.js'),
          import('../../observability/server.js'),
          import('../../targets/index.js'),
        ]);
        const target = targetOf(ctx.config, name);
        const port = opts.metricsPort ?? target.metricsPort;
        const secrets = ctx.config.targetSecrets(name);
        const transform = await buildTargetTransform(name, target, buildTransformer(name, target, secrets), ctx.config.origin);
        const node = nodeSupport();
        if (node.warning) ctx.logger.warn({ node: node.version }, node.warning);
        const writer = createTargetWriter(name, target, secrets, ctx.logger, { region: ctx.config.aws.region });
        // the SDK on its own worker thread when aws.sdkThread is true: the consumer's thread keeps parse, transform and apply
        const sqs = createConsumerSqsClient(ctx.config);
        const s3 = createS3Client(ctx.config);
        const metrics = createMetrics({ defaultMetrics: true, labels: { source: ctx.config.source.name } });
        // Signals are handled from here on: one that arrives while the consumer opens stops it before it receives.
        let consumer: Consumer | undefined;
        let signals = 0;
        const onSignal = (signal: NodeJS.Signals) => {
          signals += 1;
          if (signals === 1) {
            printError(`${signal}: finishing the current batch, then stopping (send it again to stop at once)`);
            void consumer?.stop();
          } else {
            printError(`${signal} again: stopping now; the batch in hand was not deleted and comes back from the queue`);
            void consumer?.stop({ force: true });
            process.exit(130);
          }
        };
        process.on('SIGINT', onSignal);
        process.on('SIGTERM', onSignal);
        try {
          consumer = await openConsumer(ctx.config, name, { sqs, s3, writer, transform, metrics, logger: ctx.logger });
          const server = port === undefined ? undefined : await startObservabilityServer(port, metrics, consumer.health(), opts.metricsHost ?? ctx.config.metrics.host);
          ctx.logger.info({ target: name, metricsHost: server?.host, metricsPort: server?.port }, 'consuming');
          note(`Consuming target "${name}"${server ? ` (metrics on ${server.host}:${server.port})` : ''}. Stop with Ctrl-C.`);
          try {
            if (signals === 0) await consumer.start();
          } finally {
            await server?.close();
          }
        } finally {
          process.off('SIGINT', onSignal);
          process.off('SIGTERM', onSignal);
          await writer.close();
          sqs.destroy();
          s3.destroy();
        }
      }),
    );
}
