import type { PoolConnection } from 'mysql2/promise';
import type { RowDataPacket } from 'mysql2';
import { quoteIdentMysql } from '../sql/identifiers.js';

/**
 * The MySQL/MariaDB version store, in its own database (= the target's stateSchema), with the same
 * tables and meaning as the PostgreSQL one (see postgres-store.ts). Connections run with
 * time_zone '+00:00' and READ COMMITTED, so version rows are locked without gap locks.
 */
export function storeDdl(schema: string): string[] {
  const s = quoteIdentMysql(schema, 'stateSchema');
  return [
    `CREATE DATABASE IF NOT EXISTS ${s} CHARACTER SET utf8mb4`,
    `CREATE TABLE IF NOT EXISTS ${s}.versions (
       target_table VARCHAR(130) CHARACTER SET ascii NOT NULL,
       key_hash BINARY(32) NOT NULL,
       key_json LONGTEXT CHARACTER SET utf8mb4 NOT NULL,
       seq DECIMAL(38,0) NOT NULL,
       deleted BOOLEAN NOT NULL DEFAULT FALSE,
       updated_at DATETIME(6) NOT NULL,
       PRIMARY KEY (target_table, key_hash),
       KEY versions_tombstones (deleted, updated_at)
     ) ENGINE=InnoDB`,
    `CREATE TABLE IF NOT EXISTS ${s}.truncations (
       target_table VARCHAR(130) CHARACTER SET ascii NOT NULL PRIMARY KEY,
       seq DECIMAL(38,0) NOT NULL,
       truncated_at DATETIME(6) NULL
     ) ENGINE=InnoDB`,
  ];
}

const ER_DUP_ENTRY = 1062;

export class MysqlVersionStore {
  private readonly s: string;
  private readonly knownTables = new Set<string>();

  constructor(readonly schema: string) {
    this.s = quoteIdentMysql(schema, 'stateSchema');
  }

  async exists(conn: PoolConnection): Promise<boolean> {
    const [rows] = await conn.query<RowDataPacket[]>(
      `SELECT COUNT(*) AS n FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME IN ('versions', 'truncations')`,
      [this.schema],
    );
    return Number(rows[0]?.n) === 2;
  }

  /** DDL commits implicitly in MySQL; a named lock keeps several inits at once apart. */
  async create(conn: PoolConnection): Promise<void> {
    await conn.query(`SELECT GET_LOCK('outbox-relay target store', 30)`);
    try {
      for (const statement of storeDdl(this.schema)) await conn.query(statement);
    } finally {
      await conn.query(`SELECT RELEASE_LOCK('outbox-relay target store')`);
    }
  }

  async lockTable(conn: PoolConnection, table: string, exclusive: boolean): Promise<bigint> {
    if (!this.knownTables.has(table)) {
      await conn.query(`INSERT IGNORE INTO ${this.s}.truncations (target_table, seq) VALUES (?, 0)`, [table]);
      this.knownTables.add(table);
    }
    const [rows] = await conn.query<RowDataPacket[]>(`SELECT CAST(seq AS CHAR) AS seq FROM ${this.s}.truncations WHERE target_table = ? ${exclusive ? 'FOR UPDATE' : 'LOCK IN SHARE MODE'}`, [table]);
    if (!rows[0]) {
      this.knownTables.delete(table);
      return this.lockTable(conn, table, exclusive);
    }
    return BigInt(rows[0].seq as string);
  }

  /**
   * The version guard (see PostgresVersionStore.advance). MySQL has no "ON CONFLICT … WHERE", so: lock
   * the version row; if it exists compare and update; if not insert, and when a concurrent consumer
   * inserted the same key first (duplicate entry after its commit), lock and compare again.
   */
  async advance(conn: PoolConnection, table: string, keyHash: Buffer, key: unknown, seq: bigint, deleted: boolean): Promise<boolean> {
    for (let attempt = 0; ; attempt++) {
      const [rows] = await conn.query<RowDataPacket[]>(`SELECT CAST(seq AS CHAR) AS seq FROM ${this.s}.versions WHERE target_table = ? AND key_hash = ? FOR UPDATE`, [table, keyHash]);
      if (rows[0]) {
        if (BigInt(rows[0].seq as string) >= seq) return false;
        await conn.query(`UPDATE ${this.s}.versions SET key_json = ?, seq = ?, deleted = ?, updated_at = UTC_TIMESTAMP(6) WHERE target_table = ? AND key_hash = ?`, [
          JSON.stringify(key),
          seq.toString(),
          deleted,
          table,
          keyHash,
        ]);
        return true;
      }
      try {
        await conn.query(`INSERT INTO ${this.s}.versions (target_table, key_hash, key_json, seq, deleted, updated_at) VALUES (?, ?, ?, ?, ?, UTC_TIMESTAMP(6))`, [
          table,
          keyHash,
          JSON.stringify(key),
          seq.toString(),
          deleted,
        ]);
        return true;
      } catch (err) {
        if ((err as { errno?: number }).errno !== ER_DUP_ENTRY || attempt > 0) throw err;
      }
    }
  }

  async keysNewerThan(conn: PoolConnection, table: string, seq: bigint): Promise<unknown[]> {
    const [rows] = await conn.query<RowDataPacket[]>(`SELECT key_json FROM ${this.s}.versions WHERE target_table = ? AND seq > ? AND NOT deleted`, [table, seq.toString()]);
    return rows.map((r) => JSON.parse(r.key_json as string) as unknown);
  }

  async recordTruncate(conn: PoolConnection, table: string, seq: bigint): Promise<void> {
    await conn.query(`DELETE FROM ${this.s}.versions WHERE target_table = ? AND seq <= ?`, [table, seq.toString()]);
    await conn.query(`UPDATE ${this.s}.truncations SET seq = ?, truncated_at = UTC_TIMESTAMP(6) WHERE target_table = ?`, [seq.toString(), table]);
  }

  async purgeTombstones(conn: PoolConnection, retentionHours: number): Promise<number> {
    const [result] = await conn.query(`DELETE FROM ${this.s}.versions WHERE deleted AND updated_at < UTC_TIMESTAMP(6) - INTERVAL ? HOUR`, [retentionHours]);
    return (result as { affectedRows?: number }).affectedRows ?? 0;
  }
}
