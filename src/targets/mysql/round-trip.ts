import type { PoolConnection } from 'mysql2/promise';
import type { Statement } from './sql.js';

/**
 * Statements queued on a connection and sent together, as one multi-statement query (one round trip
 * instead of one per statement). The writer's pool enables multipleStatements for this (see
 * MysqlTargetWriter): values are still `?` parameters, escaped by mysql2 for the session's
 * utf8mb4 charset and backslash escapes (the writer's sessions run without NO_BACKSLASH_ESCAPES), and
 * identifiers are validated and quoted as everywhere else. The server runs the statements in order
 * and stops at the first that fails: its error rejects `send`, and nothing after it ran (a COMMIT
 * queued last does not run after a refused row).
 */
export class RoundTrip {
  private sql: string[] = [];
  private params: unknown[] = [];

  constructor(private readonly conn: PoolConnection) {}

  /** Queues a statement; returns its index among the results of the next `send`. */
  add(statement: Statement): number {
    this.sql.push(statement.sql);
    for (const p of statement.params) this.params.push(p);
    return this.sql.length - 1;
  }

  /** Sends what is queued in one query; the result of each statement, in order. */
  async send(): Promise<unknown[]> {
    const sql = this.sql;
    const params = this.params;
    this.sql = [];
    this.params = [];
    if (sql.length === 0) return [];
    const [result] = await this.conn.query(sql.join(';\n'), params);
    // mysql2 gives a single statement's result as it is, and a list of results for several.
    return sql.length === 1 ? [result] : (result as unknown[]);
  }
}
