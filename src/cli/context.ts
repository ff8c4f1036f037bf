import { loadConfig, type Config } from '../config/index.js';
import { createLogger, type Logger } from '../logger.js';
import { openSource, type SourceAdapter } from '../source/index.js';

/** What every command gets: the validated config, a logger and (opened on demand) the source. */
export interface CommandContext {
  config: Config;
  logger: Logger;
  source(): Promise<SourceAdapter>;
  close(): Promise<void>;
}

export function createContext(configFile: string | undefined): CommandContext {
  const config = loadConfig({ file: configFile, allowMissingFile: configFile === undefined });
  const logger = createLogger(config.log.level);
  let source: Promise<SourceAdapter> | undefined;
  return {
    config,
    logger,
    source: () => (source ??= openSource(config, logger)),
    close: async () => {
      if (source) await (await source).close();
      logger.flush();
    },
  };
}
