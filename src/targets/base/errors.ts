import { OutboxError, describeError } from '../../errors.js';

/**
 * What the database writers share about errors: how a reason is made safe to log and dead-letter,
 * the retryable error a batch that did not commit turns into, and how a dialect sorts the error of
 * one row (src/targets/<kind>/errors.ts) into "wait", "reject" or "throw".
 */

/** Removes quoted values from a database error message, so a rejection reason never carries row data. */
export function scrubValues(message: string): string {
  return message
    .replace(/: ".*"$/s, '')
    .replace(/(value|entry|syntax)(:?) '(?:[^'\\]|\\.)*'/gi, '$1$2 …')
    .replace(/\s+/g, ' ')
    .slice(0, 300);
}

/** The batch did not reach the target or did not commit: retryable, nothing of it is deleted. */
export function unavailable(name: string, what: string, cause: unknown): OutboxError {
  return new OutboxError('TARGET_UNAVAILABLE', `Target "${name}": ${what} (${scrubValues(describeError(cause))}); the batch will be retried.`, { cause, retryable: true, context: { target: name } });
}

export function storeMissing(name: string, stateSchema: string, cause: unknown): OutboxError {
  return new OutboxError('TARGET_UNAVAILABLE', `Target "${name}": the version store ${stateSchema}.versions is missing and could not be created (${describeError(cause)}). Run \`outbox target init ${name}\`.`, { cause, retryable: true, context: { target: name } });
}

/**
 * The error of one row, as a dialect sorts it: `wait` when the table changed under the row (a schema
 * change on its way), `reject` when the row itself is at fault (to the DLQ). A dialect returns
 * undefined for errors that are not the row's (connection, deadlock, privileges): the batch fails
 * and is retried.
 */
export type RowError = { kind: 'wait'; reason: string } | { kind: 'reject'; reason: string; code: string | number | undefined };

export const WAIT_COLUMNS_CHANGED = "the target's columns changed; trying again";
export const WAIT_VALUE_DOES_NOT_FIT = 'the value does not fit the target column; a type change may be on its way';
