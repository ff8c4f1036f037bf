import type pg from 'pg';
import type { TargetConfig } from '../../config/index.js';
import { scrubValues, WAIT_COLUMNS_CHANGED, WAIT_VALUE_DOES_NOT_FIT, type RowError } from '../base/errors.js';
import type { TargetChange } from '../types.js';

const UNDEFINED_COLUMN = '42703';
/** string_data_right_truncation, numeric_value_out_of_range: what a row written after a widening alter_type meets before it. */
const VALUE_DOES_NOT_FIT = new Set(['22001', '22003']);

/**
 * Errors that belong to one row and will not go away by retrying: data exceptions (22), integrity
 * violations (23), undefined/invalid objects (42, but not missing privileges), program limits (54),
 * a trigger's RAISE (P0001). Connection loss, deadlocks (40P01), serialization (40001), lock timeouts
 * and shutdowns are retryable.
 */
export function isPermanentPgError(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  if (typeof code !== 'string' || code.length !== 5) return false;
  if (code === '42501') return false;
  return ['22', '23', '42', '44', '54'].includes(code.slice(0, 2)) || code === 'P0001';
}

/** deadlock_detected (the transaction was aborted) and lock_not_available (lock_timeout): the batch's row transaction may run again (src/targets/base/sql-writer.ts). */
export function isPgLockConflict(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  return code === '40P01' || code === '55P03';
}

/**
 * The connection is gone, so the transaction on it never committed or its COMMIT's reply was lost:
 * connection_exception (08), admin_shutdown and crash_shutdown (57P01, 57P02: a backend terminated,
 * a server restarting), or the socket closed under node-postgres (no SQLSTATE, the client no longer
 * queryable). The batch may run again on another connection (src/targets/base/sql-writer.ts).
 */
export function isPgConnectionLost(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const e = err as { code?: unknown; message?: unknown };
  if (typeof e.code === 'string' && (e.code.startsWith('08') || e.code === '57P01' || e.code === '57P02')) return true;
  if (e.code === 'ECONNRESET' || e.code === 'EPIPE') return true;
  return typeof e.message === 'string' && /^(Connection terminated|Client has encountered a connection error and is not queryable)/.test(e.message);
}

/** The error of one change's statement: wait (the table changed under it), reject, or undefined (retryable: fail the batch). */
export function classifyPgError(err: unknown, change: TargetChange, schemaChanges: TargetConfig['schemaChanges']): RowError | undefined {
  if (!isPermanentPgError(err)) return undefined;
  const e = err as pg.DatabaseError;
  const wait = change.op === 'truncate' ? undefined : e.code === UNDEFINED_COLUMN ? WAIT_COLUMNS_CHANGED : schemaChanges !== 'ignore' && VALUE_DOES_NOT_FIT.has(e.code ?? '') ? WAIT_VALUE_DOES_NOT_FIT : undefined;
  if (wait) return { kind: 'wait', reason: `${change.table}: ${scrubValues(e.message)} (${wait})` };
  return { kind: 'reject', code: e.code, reason: `${change.table}: ${scrubValues(e.message)} (SQLSTATE ${e.code}${e.column ? `, column ${e.column}` : ''}${e.constraint ? `, constraint ${e.constraint}` : ''})` };
}
