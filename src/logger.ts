import pino, { type Logger } from 'pino';

export type { Logger };

/**
 * Structured JSON logs. Components take a child logger (`logger.child({ component: 'relay' })`).
 * Never pass row data, SQL parameters or credentials: the redact list is a safety net, not a licence.
 */
export function createLogger(level: string = 'info', destination?: NodeJS.WritableStream): Logger {
  return pino(
    {
      level,
      base: { service: 'outbox-relay' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: {
        paths: ['password', '*.password', 'url', '*.url', 'connectionString', '*.connectionString', 'secret', '*.secret', 'key', '*.key', 'before', 'after', '*.before', '*.after', 'row', '*.row'],
        censor: '[redacted]',
      },
      formatters: { level: (label) => ({ level: label }) },
    },
    destination ?? pino.destination({ fd: 2, sync: false }),
  );
}

/** A logger that writes nothing, for library use and tests that do not look at logs. */
export const silentLogger: Logger = pino({ level: 'silent' });
