/**
 * One error hierarchy for the whole product. Every error carries a stable code, the context that
 * names what went wrong, and a message that says what to do next.
 */
export type ErrorCode =
  | 'CONFIG_INVALID'
  | 'CONFIG_NOT_FOUND'
  /** A command-line argument or option is wrong (exit 2). */
  | 'USAGE_INVALID'
  | 'IDENTIFIER_INVALID'
  | 'TABLE_NOT_FOUND'
  | 'COLUMN_NOT_FOUND'
  | 'TABLE_HAS_NO_KEY'
  | 'TABLE_NOT_TRACKED'
  /** A tracked table still has captured changes the relay has not published (`outbox untrack`). */
  | 'TABLE_HAS_BACKLOG'
  /** `outbox track` ran again while `outbox untrack` waited for the relay: the table stays tracked. */
  | 'TABLE_RETRACKED'
  | 'MIGRATION_CHANGED'
  | 'SCHEMA_NEWER_THAN_CODE'
  | 'SCHEMA_NOT_INSTALLED'
  | 'LEADERSHIP_LOST'
  | 'FENCED'
  | 'PUBLISH_FAILED'
  | 'EVENT_TOO_LARGE'
  | 'FILTER_POLICY_INVALID'
  | 'TARGET_NOT_FOUND'
  /** A target's queue or DLQ does not exist yet (run `outbox subscribe`). */
  | 'QUEUE_NOT_FOUND'
  | 'TARGET_UNAVAILABLE'
  | 'POISON_MESSAGE'
  | 'TRANSFORM_FAILED'
  | 'BACKFILL_RUNNING'
  | 'BACKFILL_FAILED'
  | 'VERIFY_UNSUPPORTED'
  | 'NOT_SUPPORTED'
  | 'SOURCE_LOCK_TIMEOUT'
  | 'SOURCE_UNAVAILABLE';

export interface ErrorOptions {
  cause?: unknown;
  /** Facts that name the thing at fault (table, setting, target…). Never row data or credentials. */
  context?: Record<string, unknown>;
  /** True when trying the same thing again later can succeed. */
  retryable?: boolean;
}

export class OutboxError extends Error {
  readonly code: ErrorCode;
  readonly context: Record<string, unknown>;
  readonly retryable: boolean;

  constructor(code: ErrorCode, message: string, options: ErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'OutboxError';
    this.code = code;
    this.context = options.context ?? {};
    this.retryable = options.retryable ?? false;
  }
}

/** Configuration problems, all found in one pass. */
export class ConfigError extends OutboxError {
  readonly problems: string[];

  constructor(problems: string[], source: string) {
    super(
      'CONFIG_INVALID',
      `${source} has ${problems.length} problem${problems.length === 1 ? '' : 's'}:\n` +
        problems.map((p) => `  - ${p}`).join('\n') +
        '\nFix them and start again (see outbox.config.example.yaml).',
      { context: { source } },
    );
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

export function isOutboxError(err: unknown, code?: ErrorCode): err is OutboxError {
  return err instanceof OutboxError && (code === undefined || err.code === code);
}

/** A short, credential-free description of any thrown value, for logs. */
export function describeError(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
