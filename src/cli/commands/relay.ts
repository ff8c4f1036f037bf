import type { Command } from 'commander';
import { OutboxError } from '../../errors.js';
import { startRelay } from '../../relay/start.js';
import { withContext, type GetContext } from './index.js';

function parsePort(value: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new OutboxError('CONFIG_INVALID', `--metrics-port must be a port number from 0 to 65535 (got "${value}").`, { context: { value } });
  }
  return port;
}

export function registerRelay(program: Command, getContext: GetContext): void {
  program
    .command('relay')
    .description('publish outbox events to SNS; run two or more for HA (one leads through a Redis lock, the others stand by). SIGTERM drains and hands over; a second signal forces exit')
    .option('--instance-id <id>', 'name of this instance in logs, the lock and outbox status (default host:pid)')
    .option('--metrics-port <port>', 'serve /metrics, /healthz and /readyz on this port (default relay.metricsPort)', parsePort)
    .action((opts: { instanceId?: string; metricsPort?: number }) =>
      withContext(getContext, async (ctx) => {
        const relay = await startRelay({
          config: ctx.config,
          logger: ctx.logger,
          instanceId: opts.instanceId,
          metricsPort: opts.metricsPort ?? ctx.config.relay.metricsPort,
        });
        await new Promise<void>((resolve) => {
          let signals = 0;
          const onSignal = (signal: NodeJS.Signals) => {
            signals += 1;
            if (signals === 1) {
              ctx.logger.info({ signal }, 'stopping: finishing the batch in flight and releasing the lock (send the signal again to force)');
              relay.close().then(resolve, resolve);
              return;
            }
            ctx.logger.warn({ signal }, 'forced exit');
            ctx.logger.flush();
            process.exit(130);
          };
          process.on('SIGTERM', onSignal);
          process.on('SIGINT', onSignal);
        });
      }),
    );
}
