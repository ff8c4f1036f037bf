import { once } from 'node:events';
import type { Command } from 'commander';
import { hostName, portNumber, wholeNumber } from '../options.js';
import { note } from '../output.js';
import { withContext, type GetContext } from '../context.js';

const collect = (value: string, previous: string[]) => [...previous, value];

export function registerConsole(program: Command, getContext: GetContext): void {
  program
    .command('console')
    .description('a live web page of the pipeline: tables, relay, targets, lag, dead letters (docs/console.md); until stopped')
    .option('--port <port>', 'listen on this port (0: any free port)', portNumber('--port'), 8080)
    .option('--host <host>', 'listen on this address; anything but loopback needs OUTBOX_CONSOLE_TOKEN', hostName('--host'), '127.0.0.1')
    .option('--allow-actions', 'let the page redrive a DLQ and start a verify (needs OUTBOX_CONSOLE_TOKEN)')
    .option('--scrape <who=url>', 'also read this /metrics endpoint: relay=URL or <target>=URL (repeatable; relay.metricsPort and targets.<name>.metricsPort are read anyway)', collect, [])
    .option('--interval <seconds>', 'refresh every so many seconds', wholeNumber('--interval', 1, 300), 2)
    .option('--history <minutes>', 'minutes of backlog and lag the charts keep (in memory)', wholeNumber('--history', 1, 1440), 15)
    .action((opts: { port: number; host: string; allowActions?: boolean; scrape: string[]; interval: number; history: number }) =>
      withContext(getContext, async (ctx) => {
        const [{ startConsole }, { readConsoleToken, ambientSecretValues }, { readTargetHalts }] = await Promise.all([import('../../console/index.js'), import('../../config/index.js'), import('./target-halts.js')]);
        const stop = new AbortController();
        const onSignal = () => stop.abort();
        process.on('SIGINT', onSignal);
        process.on('SIGTERM', onSignal);
        try {
          const running = await startConsole({
            config: ctx.config,
            logger: ctx.logger,
            source: () => ctx.source(),
            host: opts.host,
            port: opts.port,
            allowActions: Boolean(opts.allowActions),
            token: readConsoleToken(),
            scrape: opts.scrape,
            intervalMs: opts.interval * 1000,
            historyMinutes: opts.history,
            ambientSecrets: ambientSecretValues(),
            readHalts: () => readTargetHalts(ctx.config, ctx.logger),
          });
          note(`Console on ${running.url}${opts.allowActions ? ' (actions on: they need OUTBOX_CONSOLE_TOKEN)' : ''}. Stop with Ctrl-C.`);
          if (!stop.signal.aborted) await once(stop.signal, 'abort');
          await running.close();
        } finally {
          process.off('SIGINT', onSignal);
          process.off('SIGTERM', onSignal);
        }
      }),
    );
}
