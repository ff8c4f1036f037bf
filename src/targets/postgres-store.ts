import type pg from 'pg';
import { quoteIdent } from '../sql/identifiers.js';

/**
 * The PostgreSQL version store, in the target database (schema = the target's stateSchema):
 *   versions(target_table, key_hash, key, seq, deleted, updated_at)  one row per key ever applied
 *   truncations(target_table, seq, truncated_at)                     the last truncate per table
 * A delete keeps its version row as a tombstone (deleted = true); tombstones older than
 * tombstoneRetentionHours are purged.
 */
export function storeDdl(schema: string): string[] {
  const s = quoteIdent(schema, 'stateSchema');
  return [
    `CREATE SCHEMA IF NOT EXISTS ${s}`,
    `CREATE TABLE IF NOT EXISTS ${s}.versions (
       target_table text NOT NULL,
       key_hash bytea NOT NULL,
       key jsonb NOT NULL,
       seq numeric NOT NULL,
       deleted boolean NOT NULL DEFAULT false,
       updated_at timestamptz NOT NULL DEFAULT now(),
       PRIMARY KEY (target_table, key_hash)
     )`,
    `CREATE INDEX IF NOT EXISTS versions_tombstones ON ${s}.versions (updated_at) WHERE deleted`,
    `CREATE TABLE IF NOT EXISTS ${s}.truncations (
       target_table text PRIMARY KEY,
       seq numeric NOT NULL,
       truncated_at timestamptz
     )`,
  ];
}

export class PostgresVersionStore {
  private readonly s: string;
  private readonly knownTables = new Set<string>();

  constructor(readonly schema: string) {
    this.s = quoteIdent(schema, 'stateSchema');
  }

  async exists(client: pg.ClientBase): Promise<boolean> {
    const { rows } = await client.query<{ ok: boolean }>(`SELECT to_regclass($1) IS NOT NULL AND to_regclass($2) IS NOT NULL AS ok`, [`${this.s}.versions`, `${this.s}.truncations`]);
    return rows[0]?.ok === true;
  }

  /** Creates the store if missing; one transaction under an advisory lock, so several inits at once are fine. */
  async create(client: pg.ClientBase): Promise<void> {
    await client.query('BEGIN');
    try {
      await client.query(`SELECT pg_advisory_xact_lock(hashtext('outbox-relay target store'))`);
      for (const statement of storeDdl(this.schema)) await client.query(statement);
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    }
  }

  /**
   * Locks the truncation row of a table (FOR UPDATE when the batch truncates it, FOR SHARE otherwise)
   * and returns its seq. A truncate and the changes of other consumers to that table thus serialize.
   */
  async lockTable(client: pg.ClientBase, table: string, exclusive: boolean): Promise<bigint> {
    if (!this.knownTables.has(table)) {
      await client.query(`INSERT INTO ${this.s}.truncations (target_table, seq) VALUES ($1, 0) ON CONFLICT DO NOTHING`, [table]);
      this.knownTables.add(table);
    }
    const { rows } = await client.query<{ seq: string }>(`SELECT seq::text AS seq FROM ${this.s}.truncations WHERE target_table = $1 ${exclusive ? 'FOR UPDATE' : 'FOR SHARE'}`, [table]);
    if (!rows[0]) {
      this.knownTables.delete(table);
      return this.lockTable(client, table, exclusive);
    }
    return BigInt(rows[0].seq);
  }

  /**
   * The version guard: records seq for the key when it is newer than what is stored (or the key is new),
   * locking the version row either way. Returns whether the change is newer, i.e. must be applied.
   */
  async advance(client: pg.ClientBase, table: string, keyHash: Buffer, key: unknown, seq: string, deleted: boolean): Promise<boolean> {
    const result = await client.query(
      `INSERT INTO ${this.s}.versions AS v (target_table, key_hash, key, seq, deleted, updated_at)
       VALUES ($1, $2, $3::jsonb, $4::numeric, $5, now())
       ON CONFLICT (target_table, key_hash) DO UPDATE
         SET key = EXCLUDED.key, seq = EXCLUDED.seq, deleted = EXCLUDED.deleted, updated_at = now()
         WHERE v.seq < EXCLUDED.seq
       RETURNING 1`,
      [table, keyHash, JSON.stringify(key), seq, deleted],
    );
    return (result.rowCount ?? 0) > 0;
  }

  /**
   * The version guard for many keys in one statement: like advance(), for entries that name distinct
   * keys, locking their version rows in the given order. Returns the indexes of the entries that are
   * newer than what is stored (they must be applied).
   */
  async advanceMany(client: pg.ClientBase, entries: { table: string; keyHash: Buffer; key: unknown; seq: string; deleted: boolean }[]): Promise<Set<number>> {
    const result = await client.query<{ i: number }>(
      `INSERT INTO ${this.s}.versions AS v (target_table, key_hash, key, seq, deleted, updated_at)
       SELECT t, h, k, q, d, now() FROM unnest($1::text[], $2::bytea[], $3::jsonb[], $4::numeric[], $5::boolean[]) WITH ORDINALITY AS u(t, h, k, q, d, i)
        ORDER BY i
       ON CONFLICT (target_table, key_hash) DO UPDATE
         SET key = EXCLUDED.key, seq = EXCLUDED.seq, deleted = EXCLUDED.deleted, updated_at = now()
         WHERE v.seq < EXCLUDED.seq
       RETURNING target_table, key_hash`,
      [entries.map((e) => e.table), entries.map((e) => e.keyHash), entries.map((e) => JSON.stringify(e.key)), entries.map((e) => e.seq), entries.map((e) => e.deleted)],
    );
    const position = new Map(entries.map((e, i) => [`${e.table}\0${e.keyHash.toString('hex')}`, i]));
    const newer = new Set<number>();
    for (const row of result.rows as unknown as { target_table: string; key_hash: Buffer }[]) {
      const i = position.get(`${row.target_table}\0${row.key_hash.toString('hex')}`);
      if (i !== undefined) newer.add(i);
    }
    return newer;
  }

  /** Keys of the table applied after a truncate at `seq` and still present: a late truncate must keep them. */
  async keysNewerThan(client: pg.ClientBase, table: string, seq: string): Promise<unknown[]> {
    const { rows } = await client.query<{ key: unknown }>(`SELECT key FROM ${this.s}.versions WHERE target_table = $1 AND seq > $2::numeric AND NOT deleted`, [table, seq]);
    return rows.map((r) => r.key);
  }

  /** Records a truncate: versions at or below it carry no information any more. */
  async recordTruncate(client: pg.ClientBase, table: string, seq: string): Promise<void> {
    await client.query(`DELETE FROM ${this.s}.versions WHERE target_table = $1 AND seq <= $2::numeric`, [table, seq]);
    await client.query(`UPDATE ${this.s}.truncations SET seq = $2::numeric, truncated_at = now() WHERE target_table = $1`, [table, seq]);
  }

  async purgeTombstones(client: pg.ClientBase, retentionHours: number): Promise<number> {
    const result = await client.query(`DELETE FROM ${this.s}.versions WHERE deleted AND updated_at < now() - make_interval(hours => $1)`, [retentionHours]);
    return result.rowCount ?? 0;
  }
}
