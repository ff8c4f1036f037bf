import { createSqsClient } from '../aws/clients.js';
import type { Config } from '../config/index.js';
import { componentLogger, type Logger } from '../logger.js';
import type { SourceAdapter } from '../source/index.js';
import { checkConsoleAccess } from './access.js';
import { Collector, type CollectorOptions } from './collect.js';
import { knownSecrets } from './redact.js';
import { scrapeEndpoints } from './scrape.js';
import { startConsoleServer, type ConsoleServer } from './server.js';

export { checkConsoleAccess, isLoopbackHost, tokenMatches, MIN_TOKEN_LENGTH } from './access.js';
export type { ConsoleState, TargetView } from './collect.js';

/** `outbox console` (docs/console.md): a live web page of the pipeline, served by the product itself. */
export interface ConsoleOptions {
  config: Config;
  logger: Logger;
  source: () => Promise<SourceAdapter>;
  host: string;
  port: number;
  allowActions: boolean;
  /** OUTBOX_CONSOLE_TOKEN. */
  token: string | undefined;
  /** `--scrape relay=URL` / `<target>=URL` options. */
  scrape: readonly string[];
  intervalMs: number;
  historyMinutes: number;
  /** Secret values from the environment (AWS credentials, the token), scrubbed from every payload. */
  ambientSecrets: readonly string[];
  readHalts?: CollectorOptions['readHalts'];
}

export interface RunningConsole extends ConsoleServer {
  collector: Collector;
}

/** Checks the access options (exit 2 on a missing token), starts sampling and serves the page. */
export async function startConsole(options: ConsoleOptions): Promise<RunningConsole> {
  const { viewNeedsToken } = checkConsoleAccess({ host: options.host, allowActions: options.allowActions, token: options.token });
  const endpoints = scrapeEndpoints(options.config, options.scrape);
  const logger = componentLogger(options.logger, { component: 'console' });
  const sqs = createSqsClient(options.config);
  const collector = new Collector({
    config: options.config,
    source: options.source,
    sqs,
    endpoints,
    logger,
    intervalMs: options.intervalMs,
    historyMinutes: options.historyMinutes,
    actions: options.allowActions,
    ...(options.readHalts ? { readHalts: options.readHalts } : {}),
  });
  const stop = new AbortController();
  await collector.refresh();
  const sampling = collector.run(stop.signal);
  let server: ConsoleServer;
  try {
    server = await startConsoleServer({
      host: options.host,
      port: options.port,
      token: options.token,
      viewNeedsToken,
      allowActions: options.allowActions,
      collector,
      actions: { config: options.config, sqs, source: options.source, collector, logger },
      secrets: knownSecrets(options.config, [...options.ambientSecrets, ...(options.token ? [options.token] : [])]),
      logger,
    });
  } catch (err) {
    stop.abort();
    await sampling;
    sqs.destroy();
    throw err;
  }
  return {
    ...server,
    collector,
    close: async () => {
      stop.abort();
      await server.close();
      await sampling;
      sqs.destroy();
    },
  };
}
