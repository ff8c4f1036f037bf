import type { TargetConfig } from '../../config/index.js';
import { scrubValues, WAIT_COLUMNS_CHANGED, WAIT_VALUE_DOES_NOT_FIT, type RowError } from '../base/errors.js';
import type { TargetChange } from '../types.js';

/** ER_BAD_FIELD_ERROR: unknown column. */
const ER_BAD_FIELD = 1054;
/** Out of range, data too long: what a row written after a widening alter_type meets before it. */
const VALUE_DOES_NOT_FIT = new Set([1264, 1406]);
export const ER_DUP_ENTRY = 1062;

const RETRYABLE_ERRNO = new Set([1205, 1213, 1040, 1053, 1317, 2006, 2013, 1927, 1142, 1143, 1044, 1045, 1227]);
const PERMANENT_ERRNO = new Set([1048, 1054, 1062, 1146, 1264, 1265, 1292, 1364, 1366, 1367, 1406, 1416, 1451, 1452, 3140, 4025, 1690, 1178, 1471]);

/** ER_LOCK_WAIT_TIMEOUT (the statement rolled back; the writer rolls back the rest) and ER_LOCK_DEADLOCK (InnoDB rolled the transaction back). */
const LOCK_CONFLICT_ERRNO = new Set([1205, 1213]);

/** A deadlock or lock wait timeout: the batch's row transaction may run again (src/targets/base/sql-writer.ts). */
export function isMysqlLockConflict(err: unknown): boolean {
  const errno = (err as { errno?: unknown }).errno;
  return typeof errno === 'number' && LOCK_CONFLICT_ERRNO.has(errno);
}

/** The server has gone away or closed the connection (2006, 2013), it was killed (1927) or the server is shutting down (1053). */
const CONNECTION_LOST_ERRNO = new Set([1053, 1927, 2006, 2013]);

/**
 * The connection is gone, so the transaction on it never committed or its COMMIT's reply was lost:
 * the errnos above, or mysql2's fatal errors for a closed socket (PROTOCOL_CONNECTION_LOST,
 * ECONNRESET, EPIPE). The batch may run again on another connection (src/targets/base/sql-writer.ts).
 */
export function isMysqlConnectionLost(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const e = err as { errno?: unknown; code?: unknown };
  if (typeof e.errno === 'number' && CONNECTION_LOST_ERRNO.has(e.errno)) return true;
  return e.code === 'PROTOCOL_CONNECTION_LOST' || e.code === 'ECONNRESET' || e.code === 'EPIPE';
}

/** Errors that belong to one row (data, constraint, unknown column or table); connection loss, deadlocks, lock timeouts and privileges are retryable. */
export function isPermanentMysqlError(err: unknown): boolean {
  const e = err as { errno?: unknown; sqlState?: unknown; fatal?: unknown };
  if (e.fatal === true || typeof e.errno !== 'number') return false;
  if (RETRYABLE_ERRNO.has(e.errno)) return false;
  if (PERMANENT_ERRNO.has(e.errno)) return true;
  return typeof e.sqlState === 'string' && ['22', '23', '42'].includes(e.sqlState.slice(0, 2));
}

/** DDL errors that belong to the statement (duplicate column, cannot drop, bad type): the target stops on them. */
export function isDdlRefusal(err: unknown): boolean {
  const errno = (err as { errno?: unknown }).errno;
  return typeof errno === 'number' && [1060, 1091, 1101, 1118, 1170, 1265, 1406, 4092].includes(errno);
}

/** The error of one change's statement: wait (the table changed under it), reject, or undefined (retryable: fail the batch). */
export function classifyMysqlError(err: unknown, change: TargetChange, schemaChanges: TargetConfig['schemaChanges']): RowError | undefined {
  if (!isPermanentMysqlError(err)) return undefined;
  const e = err as { errno?: number; sqlState?: string; message: string };
  const wait = change.op === 'truncate' ? undefined : e.errno === ER_BAD_FIELD ? WAIT_COLUMNS_CHANGED : schemaChanges !== 'ignore' && VALUE_DOES_NOT_FIT.has(e.errno ?? 0) ? WAIT_VALUE_DOES_NOT_FIT : undefined;
  if (wait) return { kind: 'wait', reason: `${change.table}: ${scrubValues(e.message)} (${wait})` };
  return { kind: 'reject', code: e.errno, reason: `${change.table}: ${scrubValues(e.message)} (error ${e.errno ?? '?'}, SQLSTATE ${e.sqlState ?? '?'})` };
}
