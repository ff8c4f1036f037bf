import pino, { type Logger } from 'pino';

export type { Logger };

/** json: one JSON object per line (services, log shippers). human: `outbox: warn: message (key=value)`. */
export type LogFormat = 'json' | 'human';

export const LOG_FORMATS: readonly LogFormat[] = ['json', 'human'];

/** Bindings every line carries; not repeated in human lines. */
const BASE = { service: 'outbox-relay' };

/** The root of each logger made here, so a component's child never repeats a key its parent has. */
const roots = new WeakMap<Logger, Logger>();

/**
 * Structured logs on standard error (standard output is for command results). Components take a
 * child logger through componentLogger(). Never pass row data, SQL parameters or credentials: the
 * redact list is a safety net, not a licence.
 */
export function createLogger(level: string = 'info', destination?: NodeJS.WritableStream, format: LogFormat = 'json'): Logger {
  const logger = pino(
    {
      level,
      base: BASE,
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: {
        paths: ['password', '*.password', 'url', '*.url', 'connectionString', '*.connectionString', 'secret', '*.secret', 'key', '*.key', 'before', 'after', '*.before', '*.after', 'row', '*.row'],
        censor: '[redacted]',
      },
      formatters: { level: (label) => ({ level: label }) },
    },
    format === 'human' ? humanDestination(destination ?? process.stderr) : (destination ?? pino.destination({ fd: 2, sync: false })),
  );
  roots.set(logger, logger);
  return logger;
}

/**
 * A child logger for a component. pino writes every binding of every ancestor, so a child of the
 * relay's logger that sets `component` again would print the key twice; this one is made from the
 * root with the parent's bindings merged under the new ones, so each key appears once.
 */
export function componentLogger(parent: Logger, bindings: Record<string, unknown>): Logger {
  const root = roots.get(parent);
  if (!root || root === parent) {
    const child = parent.child(bindings);
    roots.set(child, root ?? parent);
    return child;
  }
  const inherited = parent.bindings();
  for (const name of Object.keys(root.bindings())) delete inherited[name];
  const child = root.child({ ...inherited, ...bindings });
  roots.set(child, root);
  return child;
}

/** Writes a warning unless one was written in the last interval. */
export type ThrottledWarn = (fields: Record<string, unknown>, message: string) => void;

/**
 * A warning that repeats every poll while an outage lasts (Redis unreachable, a failing step) is
 * written at most once per `intervalMs`; the lines in between are dropped. One throttle covers
 * every message given to it.
 */
export function throttledWarn(logger: Logger, intervalMs = 5_000): ThrottledWarn {
  let last = -Infinity;
  return (fields, message) => {
    const now = Date.now();
    if (now - last < intervalMs) return;
    last = now;
    logger.warn(fields, message);
  };
}

/** A logger that writes nothing, for library use and tests that do not look at logs. */
export const silentLogger: Logger = pino({ level: 'silent' });
roots.set(silentLogger, silentLogger);

const SKIPPED = new Set(['level', 'time', 'msg', 'pid', 'hostname', ...Object.keys(BASE)]);

/** Turns pino's JSON lines into one readable line each: `outbox: warn: message (key=value, …)`. */
function humanDestination(stream: NodeJS.WritableStream): { write(line: string): void } {
  return {
    write(line: string) {
      let entry: Record<string, unknown>;
      try {
        entry = JSON.parse(line) as Record<string, unknown>;
      } catch {
        stream.write(line);
        return;
      }
      const fields = Object.entries(entry)
        .filter(([name]) => !SKIPPED.has(name))
        .map(([name, value]) => `${name}=${typeof value === 'string' ? value : JSON.stringify(value)}`);
      stream.write(`outbox: ${String(entry.level)}: ${String(entry.msg ?? '')}${fields.length ? ` (${fields.join(', ')})` : ''}\n`);
    },
  };
}
