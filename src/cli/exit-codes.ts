import { CommanderError } from 'commander';
import { isOutboxError, type ErrorCode } from '../errors.js';

/** The CLI's exit codes, as README.md documents them. */
export const EXIT = { ok: 0, failure: 1, usage: 2 } as const;

/**
 * Errors that mean "the command line or the config is wrong": fixing them needs no change anywhere
 * but in what the operator typed or wrote. Everything else (a database down, drift found, a queue
 * not created yet) is a failure.
 */
const USAGE_CODES = new Set<ErrorCode>(['CONFIG_INVALID', 'CONFIG_NOT_FOUND', 'IDENTIFIER_INVALID', 'TARGET_NOT_FOUND', 'FILTER_POLICY_INVALID', 'USAGE_INVALID', 'VERIFY_UNSUPPORTED']);

export function exitCodeFor(err: unknown): number {
  if (err instanceof CommanderError) {
    return err.code === 'commander.helpDisplayed' || err.code === 'commander.help' || err.code === 'commander.version' || err.exitCode === 0 ? EXIT.ok : EXIT.usage;
  }
  if (isOutboxError(err)) return USAGE_CODES.has(err.code) ? EXIT.usage : EXIT.failure;
  return EXIT.failure;
}
