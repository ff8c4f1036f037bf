import { loadConfig, type Config } from '../config/index.js';
import { createLogger, type LogFormat, type Logger } from '../logger.js';
import { openSource, type SourceAdapter } from '../source/index.js';
import { markOrigin } from './explain-error.js';

/** What every command gets: the validated config, a logger and (opened on demand) the source. */
export interface CommandContext {
  config: Config;
  logger: Logger;
  source(): Promise<SourceAdapter>;
  close(): Promise<void>;
}

/** How a command logs: services (relay, consume) JSON lines at log.level; one-shot commands readable warnings only. */
export interface LogChoice {
  /** --log-format, when given. */
  format?: LogFormat;
  verbose?: boolean;
  /** relay and consume: processes that run for weeks and whose logs a collector reads. */
  service: boolean;
}

const LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

/**
 * One-shot commands print their result for people, so their logs stay out of the way: warnings and
 * errors only, as readable lines, unless --verbose (info, or log.level if that says more) or
 * --log-format json (log.level, as a service logs). log.level can make them quieter, never noisier.
 */
export function logSettings(configured: string, choice: LogChoice): { level: string; format: LogFormat } {
  const format = choice.format ?? (choice.service ? 'json' : 'human');
  const chattier = (a: string, b: string) => (LEVELS.indexOf(a) <= LEVELS.indexOf(b) ? a : b);
  const quieter = (a: string, b: string) => (LEVELS.indexOf(a) >= LEVELS.indexOf(b) ? a : b);
  if (choice.verbose) return { level: chattier(configured, choice.service ? 'debug' : 'info'), format };
  if (choice.service || choice.format === 'json') return { level: configured, format };
  return { level: quieter(configured, 'warn'), format };
}

export function createContext(configFile: string | undefined, log: LogChoice): CommandContext {
  const config = loadConfig({ file: configFile, allowMissingFile: configFile === undefined });
  const settings = logSettings(config.log.level, log);
  const logger = createLogger(settings.level, undefined, settings.format);
  let source: Promise<SourceAdapter> | undefined;
  return {
    config,
    logger,
    source: () => (source ??= openSource(config, logger).then(attributeErrors)),
    close: async () => {
      if (source) await (await source.catch(() => undefined))?.close();
      logger.flush();
    },
  };
}

/** The source adapter, with every error it throws marked as coming from the source (for explainError). */
function attributeErrors(adapter: SourceAdapter): SourceAdapter {
  return new Proxy(adapter, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (typeof value !== 'function' || property === 'close') return value;
      return (...args: unknown[]) => {
        try {
          const result: unknown = (value as (...a: unknown[]) => unknown).apply(target, args);
          return result instanceof Promise ? result.catch((err: unknown) => Promise.reject(markOrigin(err, 'source'))) : result;
        } catch (err) {
          throw markOrigin(err, 'source');
        }
      };
    },
  });
}

/** How a command gets its context: opened when the command runs, after the options are parsed. */
export type GetContext = () => CommandContext;

/** Runs a command body with the context and always closes it. */
export async function withContext<T>(getContext: GetContext, fn: (ctx: CommandContext) => Promise<T>): Promise<T> {
  const ctx = getContext();
  try {
    return await fn(ctx);
  } finally {
    await ctx.close();
  }
}
