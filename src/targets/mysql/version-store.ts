import type { PoolConnection } from 'mysql2/promise';
import type { RowDataPacket } from 'mysql2';
import { quoteIdentMysql } from '../../sql/identifiers.js';
import { isNewer, type StoreScope, type VersionStore } from '../base/version-store.js';
import { toSchemaState, type TableSchemaState } from '../schema/decide.js';
import type { SchemaChangeRecord, SchemaChangeStatus, TargetSchemaItem } from '../types.js';
import { ER_DUP_ENTRY } from './errors.js';
import type { Statement } from './sql.js';

/** A change of one key, as the version guard sees it. */
export interface GuardedKey {
  keyHash: Buffer;
  key: unknown;
  seq: bigint;
  deleted: boolean;
}

/**
 * The MySQL/MariaDB version store, in its own database (= the target's stateSchema), with the tables
 * and meaning of src/targets/base/version-store.ts. Connections run with time_zone '+00:00' and
 * READ COMMITTED, so version rows are locked without gap locks.
 */

/** Keys deleted per statement by a share truncate. */
const SHARE_PAGE = 500;
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
    `CREATE TABLE IF NOT EXISTS ${s}.share_truncations (
       target_table VARCHAR(130) CHARACTER SET ascii NOT NULL,
       target VARCHAR(64) CHARACTER SET ascii NOT NULL,
       seq DECIMAL(38,0) NOT NULL,
       truncated_at DATETIME(6) NULL,
       PRIMARY KEY (target_table, target)
     ) ENGINE=InnoDB`,
    // Added with schema changes at targets (docs/schema-changes.md).
    `CREATE TABLE IF NOT EXISTS ${s}.schema_changes (
       target VARCHAR(64) CHARACTER SET ascii NOT NULL,
       target_table VARCHAR(130) CHARACTER SET ascii NOT NULL,
       seq DECIMAL(38,0) NOT NULL,
       source_table VARCHAR(300) CHARACTER SET utf8mb4 NOT NULL,
       status VARCHAR(16) CHARACTER SET ascii NOT NULL,
       items LONGTEXT CHARACTER SET utf8mb4 NOT NULL,
       reason TEXT CHARACTER SET utf8mb4 NULL,
       recorded_at DATETIME(6) NOT NULL,
       PRIMARY KEY (target, target_table, seq)
     ) ENGINE=InnoDB`,
  ];
}

/** Added with share truncates: MySQL has no ADD COLUMN IF NOT EXISTS, so create() looks first. */
function ownerColumnDdl(schema: string): string {
  return `ALTER TABLE ${quoteIdentMysql(schema, 'stateSchema')}.versions ADD COLUMN owner VARCHAR(64) CHARACTER SET ascii NULL`;
}

export class MysqlVersionStore implements VersionStore<PoolConnection> {
  private readonly s: string;
  private readonly knownTables = new Set<string>();

  constructor(
    readonly schema: string,
    readonly scope: StoreScope = { owner: '', share: false },
  ) {
    this.s = quoteIdentMysql(schema, 'stateSchema');
  }

  async exists(conn: PoolConnection): Promise<boolean> {
    const [rows] = await conn.query<RowDataPacket[]>(
      `SELECT (SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME IN ('versions', 'truncations', 'share_truncations', 'schema_changes')) AS n,
              (SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = 'versions' AND COLUMN_NAME = 'owner') AS owner`,
      [this.schema, this.schema],
    );
    return Number(rows[0]?.n) === 4 && Number(rows[0]?.owner) === 1;
  }

  /** DDL commits implicitly in MySQL; a named lock keeps several inits at once apart. */
  async create(conn: PoolConnection): Promise<void> {
    await conn.query(`SELECT GET_LOCK('outbox-relay target store', 30)`);
    try {
      for (const statement of storeDdl(this.schema)) await conn.query(statement);
      const [owner] = await conn.query<RowDataPacket[]>(`SELECT COUNT(*) AS n FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = 'versions' AND COLUMN_NAME = 'owner'`, [this.schema]);
      if (Number(owner[0]?.n) === 0) await conn.query(ownerColumnDdl(this.schema));
    } finally {
      await conn.query(`SELECT RELEASE_LOCK('outbox-relay target store')`);
    }
  }

  /**
   * MySQL DDL commits on its own, so a schema change is not one transaction: a named lock per target
   * keeps two consumers from applying the same change at once, and each DDL step checks the table
   * first (a crash between the DDL and its record leaves it pending; the retry finds the work done).
   */
  async withSchemaLock<T>(conn: PoolConnection, work: () => Promise<T>): Promise<T> {
    const name = `outbox-relay schema ${this.schema} ${this.scope.owner}`.slice(0, 64);
    const [rows] = await conn.query<RowDataPacket[]>('SELECT GET_LOCK(?, 60) AS ok', [name]);
    if (Number(rows[0]?.ok) !== 1) throw new Error(`could not take the schema-change lock "${name}" within 60 s`);
    try {
      return await work();
    } finally {
      await conn.query('SELECT RELEASE_LOCK(?)', [name]);
    }
  }

  /** See PostgresVersionStore.claimSchemaChange; call under withSchemaLock. */
  async claimSchemaChange(conn: PoolConnection, table: string, seq: string, sourceTable: string): Promise<{ status: SchemaChangeStatus; reason: string | null }> {
    await conn.query(`INSERT IGNORE INTO ${this.s}.schema_changes (target, target_table, seq, source_table, status, items, recorded_at) VALUES (?, ?, ?, ?, 'pending', '[]', UTC_TIMESTAMP(6))`, [this.scope.owner, table, seq, sourceTable]);
    const [rows] = await conn.query<RowDataPacket[]>(`SELECT status, reason FROM ${this.s}.schema_changes WHERE target = ? AND target_table = ? AND seq = ?`, [this.scope.owner, table, seq]);
    return { status: (rows[0]?.status as SchemaChangeStatus | undefined) ?? 'pending', reason: (rows[0]?.reason as string | null | undefined) ?? null };
  }

  async recordSchemaChange(conn: PoolConnection, table: string, seq: string, status: SchemaChangeStatus, items: TargetSchemaItem[], reason: string | null): Promise<void> {
    await conn.query(`UPDATE ${this.s}.schema_changes SET status = ?, items = ?, reason = ?, recorded_at = UTC_TIMESTAMP(6) WHERE target = ? AND target_table = ? AND seq = ?`, [status, JSON.stringify(items), reason, this.scope.owner, table, seq]);
  }

  async schemaState(conn: PoolConnection, table: string): Promise<TableSchemaState> {
    const [rows] = await conn.query<RowDataPacket[]>(`SELECT CAST(seq AS CHAR) AS seq, status, items, reason FROM ${this.s}.schema_changes WHERE target = ? AND target_table = ? AND status <> 'pending' ORDER BY seq`, [this.scope.owner, table]);
    return toSchemaState(rows.map((r) => ({ seq: r.seq as string, status: r.status as SchemaChangeStatus, items: JSON.parse(r.items as string) as TargetSchemaItem[], reason: r.reason as string | null })));
  }

  async schemaChanges(conn: PoolConnection, statuses: SchemaChangeStatus[]): Promise<SchemaChangeRecord[]> {
    if (statuses.length === 0) return [];
    const [rows] = await conn.query<RowDataPacket[]>(
      `SELECT target_table, source_table, CAST(seq AS CHAR) AS seq, status, items, reason, DATE_FORMAT(recorded_at, '%Y-%m-%dT%H:%i:%s.%fZ') AS recorded_at
         FROM ${this.s}.schema_changes WHERE target = ? AND status IN (?) ORDER BY recorded_at, seq`,
      [this.scope.owner, statuses],
    );
    return rows.map((r) => ({ targetTable: r.target_table as string, sourceTable: r.source_table as string, seq: r.seq as string, status: r.status as SchemaChangeStatus, items: JSON.parse(r.items as string) as TargetSchemaItem[], reason: r.reason as string | null, recordedAt: r.recorded_at as string }));
  }

  async resumeHalts(conn: PoolConnection): Promise<SchemaChangeRecord[]> {
    const halted = await this.schemaChanges(conn, ['halted']);
    await conn.query(`UPDATE ${this.s}.schema_changes SET status = 'resumed', recorded_at = UTC_TIMESTAMP(6) WHERE target = ? AND status = 'halted'`, [this.scope.owner]);
    return halted;
  }

  /** See PostgresVersionStore.lockTable: the table's record, then a filtered target's own share record. */
  async lockTable(conn: PoolConnection, table: string, exclusive: boolean): Promise<bigint> {
    if (!this.knownTables.has(table)) {
      await conn.query(`INSERT IGNORE INTO ${this.s}.truncations (target_table, seq) VALUES (?, 0)`, [table]);
      if (this.scope.share) {
        await conn.query(`INSERT IGNORE INTO ${this.s}.share_truncations (target_table, target, seq) SELECT target_table, ?, seq FROM ${this.s}.truncations WHERE target_table = ?`, [this.scope.owner, table]);
      }
      this.knownTables.add(table);
    }
    const [whole] = await conn.query<RowDataPacket[]>(`SELECT CAST(seq AS CHAR) AS seq FROM ${this.s}.truncations WHERE target_table = ? ${exclusive && !this.scope.share ? 'FOR UPDATE' : 'LOCK IN SHARE MODE'}`, [table]);
    let own = 0n;
    if (this.scope.share) {
      const [rows] = await conn.query<RowDataPacket[]>(`SELECT CAST(seq AS CHAR) AS seq FROM ${this.s}.share_truncations WHERE target_table = ? AND target = ? ${exclusive ? 'FOR UPDATE' : 'LOCK IN SHARE MODE'}`, [table, this.scope.owner]);
      if (!rows[0]) {
        this.knownTables.delete(table);
        return this.lockTable(conn, table, exclusive);
      }
      own = BigInt(rows[0].seq as string);
    }
    if (!whole[0]) {
      this.knownTables.delete(table);
      return this.lockTable(conn, table, exclusive);
    }
    const seq = BigInt(whole[0].seq as string);
    return own > seq ? own : seq;
  }

  /**
   * The version guard (see PostgresVersionStore.advance). MySQL has no "ON CONFLICT … WHERE", so: lock
   * the version row; if it exists compare and update; if not insert, and when a concurrent consumer
   * inserted the same key first (duplicate entry after its commit), lock and compare again.
   */
  async advance(conn: PoolConnection, table: string, keyHash: Buffer, key: unknown, seq: bigint, deleted: boolean): Promise<boolean> {
    for (let attempt = 0; ; attempt++) {
      const [rows] = await conn.query<RowDataPacket[]>(`SELECT CAST(seq AS CHAR) AS seq, deleted FROM ${this.s}.versions WHERE target_table = ? AND key_hash = ? FOR UPDATE`, [table, keyHash]);
      if (rows[0]) {
        if (!isNewer({ seq: BigInt(rows[0].seq as string), deleted: Boolean(Number(rows[0].deleted)) }, seq, deleted)) return false;
        await conn.query(`UPDATE ${this.s}.versions SET key_json = ?, seq = ?, deleted = ?, updated_at = UTC_TIMESTAMP(6), owner = ? WHERE target_table = ? AND key_hash = ?`, [
          JSON.stringify(key),
          seq.toString(),
          deleted,
          this.scope.owner,
          table,
          keyHash,
        ]);
        return true;
      }
      try {
        await conn.query(`INSERT INTO ${this.s}.versions (target_table, key_hash, key_json, seq, deleted, updated_at, owner) VALUES (?, ?, ?, ?, ?, UTC_TIMESTAMP(6), ?)`, [
          table,
          keyHash,
          JSON.stringify(key),
          seq.toString(),
          deleted,
          this.scope.owner,
        ]);
        return true;
      } catch (err) {
        if ((err as { errno?: number }).errno !== ER_DUP_ENTRY || attempt > 0) throw err;
      }
    }
  }

  /**
   * The fast path's read of a table's truncation record(s), as statements to send with others
   * (src/targets/mysql/round-trip.ts): the records are created first when this store has not seen
   * the table yet, then read with a shared lock, as lockTable(table, false) does. `seq` takes the
   * results of these statements and returns the seq at or below which a change is stale, or
   * undefined when a record is missing (the caller then calls lockTable).
   */
  fenceReads(table: string): { statements: Statement[]; seq(results: unknown[]): bigint | undefined } {
    const statements: Statement[] = [];
    if (!this.knownTables.has(table)) {
      statements.push({ sql: `INSERT IGNORE INTO ${this.s}.truncations (target_table, seq) VALUES (?, 0)`, params: [table] });
      if (this.scope.share) statements.push({ sql: `INSERT IGNORE INTO ${this.s}.share_truncations (target_table, target, seq) SELECT target_table, ?, seq FROM ${this.s}.truncations WHERE target_table = ?`, params: [this.scope.owner, table] });
      this.knownTables.add(table);
    }
    const first = statements.length;
    statements.push({ sql: `SELECT CAST(seq AS CHAR) AS seq FROM ${this.s}.truncations WHERE target_table = ? LOCK IN SHARE MODE`, params: [table] });
    if (this.scope.share) statements.push({ sql: `SELECT CAST(seq AS CHAR) AS seq FROM ${this.s}.share_truncations WHERE target_table = ? AND target = ? LOCK IN SHARE MODE`, params: [table, this.scope.owner] });
    return {
      statements,
      seq: (results) => {
        let fence = 0n;
        for (const rows of results.slice(first) as RowDataPacket[][]) {
          if (!rows[0]) {
            this.knownTables.delete(table);
            return undefined;
          }
          const seq = BigInt(rows[0].seq as string);
          if (seq > fence) fence = seq;
        }
        return fence;
      },
    };
  }

  /**
   * The version guard for many keys of one table (see advance), in two statements to send with
   * others: `lockVersions` locks the version rows that exist, in key-hash order (entries name
   * distinct keys, in lock order); `advanceWrites`, given its result, updates those the changes are
   * newer than and inserts the keys that are new. When a concurrent consumer inserted one of the new
   * keys first, the insert fails with a duplicate entry (ER_DUP_ENTRY) and the caller applies the
   * batch change by change instead.
   */
  lockVersions(table: string, keyHashes: Buffer[]): Statement {
    return { sql: `SELECT key_hash, CAST(seq AS CHAR) AS seq, deleted FROM ${this.s}.versions WHERE target_table = ? AND key_hash IN (?) ORDER BY key_hash FOR UPDATE`, params: [table, keyHashes] };
  }

  /** The statements that advance the entries newer than the locked versions (`locked`: lockVersions' rows), and the hex key hashes that advanced. */
  advanceWrites(table: string, locked: unknown, entries: GuardedKey[]): { advanced: Set<string>; statements: Statement[] } {
    const stored = new Map((locked as RowDataPacket[]).map((r) => [(r.key_hash as Buffer).toString('hex'), { seq: BigInt(r.seq as string), deleted: Boolean(Number(r.deleted)) }]));
    const advanced = new Set<string>();
    const updates: unknown[][] = [];
    const inserts: unknown[][] = [];
    for (const e of entries) {
      const hex = e.keyHash.toString('hex');
      const before = stored.get(hex);
      if (before && !isNewer(before, e.seq, e.deleted)) continue;
      advanced.add(hex);
      (before ? updates : inserts).push([table, e.keyHash, JSON.stringify(e.key), e.seq.toString(), e.deleted, this.scope.owner]);
    }
    const columns = `${this.s}.versions (target_table, key_hash, key_json, seq, deleted, owner, updated_at)`;
    const values = (list: unknown[][]) => list.map(() => '(?, ?, ?, ?, ?, ?, UTC_TIMESTAMP(6))').join(', ');
    const statements: Statement[] = [];
    // The rows to update exist and are locked by this transaction: the upsert updates each of them.
    if (updates.length > 0) {
      statements.push({
        sql: `INSERT INTO ${columns} VALUES ${values(updates)}
         ON DUPLICATE KEY UPDATE key_json = VALUES(key_json), seq = VALUES(seq), deleted = VALUES(deleted), owner = VALUES(owner), updated_at = VALUES(updated_at)`,
        params: updates.flat(),
      });
    }
    if (inserts.length > 0) statements.push({ sql: `INSERT INTO ${columns} VALUES ${values(inserts)}`, params: inserts.flat() });
    return { advanced, statements };
  }

  async keysNewerThan(conn: PoolConnection, table: string, seq: bigint): Promise<unknown[]> {
    const [rows] = await conn.query<RowDataPacket[]>(`SELECT key_json FROM ${this.s}.versions WHERE target_table = ? AND seq > ? AND NOT deleted`, [table, seq.toString()]);
    return rows.map((r) => JSON.parse(r.key_json as string) as unknown);
  }

  /**
   * A filtered target's truncate (see PostgresVersionStore.truncateShare), a page of keys at a time:
   * lock a page of the versions it owns (or no target owns) at or below the truncate, in key-hash
   * order, delete those keys' rows (`deleteRows`) and the versions, until none is left; then record
   * the truncate for its share. Memory stays bounded by the page.
   */
  async truncateShare(conn: PoolConnection, table: string, seq: bigint, deleteRows: (keys: Record<string, unknown>[]) => Promise<void>): Promise<void> {
    const owned = `target_table = ? AND (owner = ? OR owner IS NULL) AND seq <= ?`;
    const params = [table, this.scope.owner, seq.toString()];
    for (;;) {
      const [rows] = await conn.query<RowDataPacket[]>(`SELECT key_hash, key_json, deleted FROM ${this.s}.versions WHERE ${owned} ORDER BY key_hash LIMIT ${SHARE_PAGE} FOR UPDATE`, params);
      if (rows.length === 0) break;
      const live = rows.filter((r) => !Number(r.deleted)).map((r) => JSON.parse(r.key_json as string) as Record<string, unknown>);
      if (live.length > 0) await deleteRows(live);
      await conn.query(`DELETE FROM ${this.s}.versions WHERE target_table = ? AND key_hash IN (${rows.map(() => '?').join(', ')})`, [table, ...rows.map((r) => r.key_hash as Buffer)]);
      if (rows.length < SHARE_PAGE) break;
    }
    await conn.query(`UPDATE ${this.s}.share_truncations SET seq = ?, truncated_at = UTC_TIMESTAMP(6) WHERE target_table = ? AND target = ?`, [seq.toString(), table, this.scope.owner]);
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
