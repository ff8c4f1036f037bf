import { once } from 'node:events';
import type { Command } from 'commander';
import { nodeSupport } from '../../config/index.js';
import { DEFAULT_HEAP_GROWTH_PERCENT, DEFAULT_WORKER_SEMI_SPACE_MB, setHeapGrowth, setWorkerSemiSpace } from '../../relay/heap.js';
import { hostName, portNumber, wholeNumber } from '../options.js';
import { withContext, type GetContext } from '../context.js';

export function registerRelay(program: Command, getContext: GetContext): void {
  program
    .command('relay')
    .description('publish outbox events to SNS; run two or more for HA (one leads through a Redis lock, the others stand by). SIGTERM drains and hands over; a second signal forces exit')
    .option('--instance-id <id>', 'name of this instance in logs, the lock and outbox status (default host:pid)')
    .option('--metrics-port <port>', 'serve /metrics, /healthz and /readyz on this port (default relay.metricsPort)', portNumber('--metrics-port'))
    .option('--metrics-host <host>', 'the address that server listens on (default metrics.host: 127.0.0.1; 0.0.0.0 in the container image)', hostName('--metrics-host'))
    .option(
      '--heap-growth <percent>',
      `how far the heap may grow past the live set before a full garbage collection; keeps RSS flat while draining a backlog (0: V8's default, up to 4× the live set)`,
      wholeNumber('--heap-growth', 0, 1000),
      DEFAULT_HEAP_GROWTH_PERCENT,
    )
    .action((opts: { instanceId?: string; metricsPort?: number; metricsHost?: string; heapGrowth: number }) =>
      withContext(getContext, async (ctx) => {
        setHeapGrowth(opts.heapGrowth);
        setWorkerSemiSpace(DEFAULT_WORKER_SEMI_SPACE_MB); // before the SNS client's worker thread starts
        const node = nodeSupport();
        if (node.warning) ctx.logger.warn({ node: node.version }, node.warning);
        // Signals are handled from here on, so a SIGTERM while the relay starts still stops it gracefully.
        const stop = new AbortController();
        let signals = 0;
        const onSignal = (signal: NodeJS.Signals) => {
          signals += 1;
          if (signals === 1) {
            ctx.logger.info({ signal }, 'stopping: finishing the batch in flight and releasing the lock (send the signal again to force)');
            stop.abort();
            return;
          }
          ctx.logger.warn({ signal }, 'forced exit');
          ctx.logger.flush();
          process.exit(130);
        };
        process.on('SIGTERM', onSignal);
        process.on('SIGINT', onSignal);
        try {
          const { startRelay } = await import('../../relay/start.js');
          const relay = await startRelay({
            config: ctx.config,
            logger: ctx.logger,
            instanceId: opts.instanceId,
            metricsPort: opts.metricsPort ?? ctx.config.relay.metricsPort,
            ...(opts.metricsHost ? { metricsHost: opts.metricsHost } : {}),
          });
          if (!stop.signal.aborted) await once(stop.signal, 'abort');
          await relay.close();
        } finally {
          process.off('SIGTERM', onSignal);
          process.off('SIGINT', onSignal);
        }
      }),
    );
}
