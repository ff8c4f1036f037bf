import type pg from 'pg';
import { withTransaction } from '../../sql/pg-transaction.js';

/** Runs work in one transaction on a checked-out client (src/sql/pg-transaction.ts): committed when it resolves, rolled back when it throws. */
export function inTransaction<T>(client: pg.ClientBase, work: () => Promise<T>): Promise<T> {
  return withTransaction(client, () => work());
}
