import { createHash } from 'node:crypto';
import type pg from 'pg';
import { quoteIdent } from '../../sql/identifiers.js';
import type { BatchEntry } from '../base/batch.js';
import type { StoreScope, VersionStore } from '../base/version-store.js';
import { toSchemaState, type TableSchemaState } from '../schema/decide.js';
import type { SchemaChangeRecord, SchemaChangeStatus, TargetSchemaItem } from '../types.js';
import { quoteColumn } from './sql.js';
import { inTransaction } from './transaction.js';

/** The PostgreSQL version store, in the target database (schema = the target's stateSchema); its tables are described in src/targets/base/version-store.ts. */
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
    // Added with share truncates; a store created before gets them here (nullable: no table rewrite).
    `ALTER TABLE ${s}.versions ADD COLUMN IF NOT EXISTS owner text`,
    `CREATE TABLE IF NOT EXISTS ${s}.share_truncations (
       target_table text NOT NULL,
       target text NOT NULL,
       seq numeric NOT NULL,
       truncated_at timestamptz,
       PRIMARY KEY (target_table, target)
     )`,
    // Added with schema changes at targets (docs/schema-changes.md).
    `CREATE TABLE IF NOT EXISTS ${s}.schema_changes (
       target text NOT NULL,
       target_table text NOT NULL,
       seq numeric NOT NULL,
       source_table text NOT NULL,
       status text NOT NULL,
       items jsonb NOT NULL DEFAULT '[]',
       reason text,
       recorded_at timestamptz NOT NULL DEFAULT now(),
       PRIMARY KEY (target, target_table, seq)
     )`,
  ];
}


/** isNewer (src/targets/base/version-store.ts) in SQL: v is the stored row, EXCLUDED the change. */
const NEWER = `v.seq < EXCLUDED.seq OR (v.seq = EXCLUDED.seq AND v.deleted AND NOT EXCLUDED.deleted)`;

export class PostgresVersionStore implements VersionStore<pg.ClientBase> {
  private readonly s: string;
  private readonly knownTables = new Set<string>();
  private readonly statements = new Map<string, { name: string; text: string }>();

  constructor(
    readonly schema: string,
    readonly scope: StoreScope = { owner: '', share: false },
  ) {
    this.s = quoteIdent(schema, 'stateSchema');
  }

  async exists(client: pg.ClientBase): Promise<boolean> {
    const { rows } = await client.query<{ ok: boolean }>(
      `SELECT to_regclass($1) IS NOT NULL AND to_regclass($2) IS NOT NULL AND to_regclass($3) IS NOT NULL AND to_regclass($4) IS NOT NULL
              AND EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass($1) AND attname = 'owner' AND NOT attisdropped) AS ok`,
      [`${this.s}.versions`, `${this.s}.truncations`, `${this.s}.share_truncations`, `${this.s}.schema_changes`],
    );
    return rows[0]?.ok === true;
  }

  /** Creates the store if missing; one transaction under an advisory lock, so several inits at once are fine. */
  async create(client: pg.ClientBase): Promise<void> {
    await inTransaction(client, async () => {
      await client.query(`SELECT pg_advisory_xact_lock(hashtext('outbox-relay target store'))`);
      for (const statement of storeDdl(this.schema)) await client.query(statement);
    });
  }

  /**
   * Locks the truncation record of a table (FOR UPDATE when the batch truncates it, FOR SHARE
   * otherwise) and returns the seq at or below which a change of this target is stale. A truncate
   * and the changes of other consumers of the target thus serialize. A whole-table target uses the
   * table's record. A filtered target locks the table's record (shared) and then its own share
   * record: a whole-table truncate makes everyone's older changes stale, a share truncate only the
   * target's own. Its share record starts at the table's record, so nothing known is lost when a
   * store from before share truncates is upgraded.
   */
  async lockTable(client: pg.ClientBase, table: string, exclusive: boolean): Promise<bigint> {
    await this.prepareTable(client, table);
    const whole = await client.query<{ seq: string }>(`SELECT seq::text AS seq FROM ${this.s}.truncations WHERE target_table = $1 ${exclusive && !this.scope.share ? 'FOR UPDATE' : 'FOR SHARE'}`, [table]);
    const share = this.scope.share
      ? await client.query<{ seq: string }>(`SELECT seq::text AS seq FROM ${this.s}.share_truncations WHERE target_table = $1 AND target = $2 ${exclusive ? 'FOR UPDATE' : 'FOR SHARE'}`, [table, this.scope.owner])
      : undefined;
    if (!whole.rows[0] || (share && !share.rows[0])) {
      this.knownTables.delete(table);
      return this.lockTable(client, table, exclusive);
    }
    const seq = BigInt(whole.rows[0].seq);
    const own = share ? BigInt(share.rows[0]!.seq) : 0n;
    return own > seq ? own : seq;
  }

  /** Creates a table's truncation records when the store has none yet (seq 0; a filtered target's share record from the table's). */
  async prepareTable(client: pg.ClientBase, table: string): Promise<void> {
    if (this.knownTables.has(table)) return;
    await client.query(`INSERT INTO ${this.s}.truncations (target_table, seq) VALUES ($1, 0) ON CONFLICT DO NOTHING`, [table]);
    if (this.scope.share) {
      await client.query(
        `INSERT INTO ${this.s}.share_truncations (target_table, target, seq)
         SELECT $1, $2, seq FROM ${this.s}.truncations WHERE target_table = $1 ON CONFLICT DO NOTHING`,
        [table, this.scope.owner],
      );
    }
    this.knownTables.add(table);
  }

  /**
   * The version guard and the writes of one table's changes in one statement (no truncate among them,
   * one change per key, in lock order; call prepareTable first). It locks the table's truncation
   * record(s) shared, as lockTable does; advances the version of every change newer than both the
   * stored version and the last truncate (locking the version rows in the given order); and runs
   * `writes`, statements over the CTE `applied(h, k, r, d)` — key hash, key image, row image, deleted
   * — of the changes that advanced. Returns, per change in the given order, whether it advanced. One
   * statement is one transaction: a row the target refuses fails all of it.
   */
  async advanceAndWrite(client: pg.ClientBase, table: string, entries: BatchEntry[], writes: string[]): Promise<boolean[]> {
    const { name, text } = this.advanceAndWriteStatement(writes);
    // The changes as one JSON array (one parameter the driver sends as it is, instead of five arrays
    // it would escape element by element), its text built in one pass: no object per change. The
    // changes that advanced come back as their ordinal in it (one int per row, read as an array: no
    // hex text to parse back, no object per row).
    let changes = '[';
    for (let i = 0; i < entries.length; i++) {
      const { change, keyHash } = entries[i]!;
      const deleted = change.op === 'delete';
      changes += `${i === 0 ? '' : ','}{"h":"${keyHash.toString('hex')}","k":${JSON.stringify(change.key)},"q":${JSON.stringify(change.seq)},"d":${deleted},"r":${deleted ? 'null' : JSON.stringify(change.row)}}`;
    }
    changes += ']';
    const result = await client.query<[number]>({ name, text, values: [table, changes, this.scope.owner], rowMode: 'array' });
    const advanced: boolean[] = new Array<boolean>(entries.length).fill(false);
    for (const [i] of result.rows) advanced[i - 1] = true;
    return advanced;
  }

  /** The statement of advanceAndWrite for these writes, built and named once (a batch of a table has the same writes as the last). */
  private advanceAndWriteStatement(writes: string[]): { name: string; text: string } {
    const id = writes.join('\0');
    let statement = this.statements.get(id);
    if (!statement) {
      const text = this.advanceAndWriteSql(writes);
      // A named statement is parsed and planned once per connection, not once per batch.
      statement = { name: `outbox_aw_${createHash('sha256').update(text).digest('hex').slice(0, 24)}`, text };
      if (this.statements.size > 1000) this.statements.clear();
      this.statements.set(id, statement);
    }
    return statement;
  }

  private advanceAndWriteSql(writes: string[]): string {
    const share = this.scope.share ? `, COALESCE((SELECT seq FROM ${this.s}.share_truncations WHERE target_table = $1 AND target = $3 FOR SHARE), 0)` : '';
    return `WITH fence AS (
              SELECT GREATEST(COALESCE((SELECT seq FROM ${this.s}.truncations WHERE target_table = $1 FOR SHARE), 0)${share}) AS seq),
            changes AS (
              SELECT decode(e->>'h', 'hex') AS h, e->'k' AS k, (e->>'q')::numeric AS q, (e->>'d')::boolean AS d, NULLIF(e->'r', 'null'::jsonb) AS r, i
                FROM jsonb_array_elements($2::jsonb) WITH ORDINALITY AS u(e, i)),
            advanced AS (
              INSERT INTO ${this.s}.versions AS v (target_table, key_hash, key, seq, deleted, updated_at, owner)
              SELECT $1, c.h, c.k, c.q, c.d, now(), $3 FROM changes c, fence WHERE c.q > fence.seq ORDER BY c.i
              ON CONFLICT (target_table, key_hash) DO UPDATE
                SET key = EXCLUDED.key, seq = EXCLUDED.seq, deleted = EXCLUDED.deleted, updated_at = now(), owner = EXCLUDED.owner
                WHERE ${NEWER}
              RETURNING v.key_hash AS h),
            applied AS (
              SELECT c.h, c.k, c.r, c.d, c.i FROM changes c JOIN advanced a ON a.h = c.h)${writes.map((w, i) => `,
            write_${i} AS (${w})`).join('')}
            SELECT i::int AS i FROM applied`;
  }

  /**
   * The version guard: records seq for the key when it is newer than what is stored (or the key is new),
   * locking the version row either way. Returns whether the change is newer, i.e. must be applied.
   */
  async advance(client: pg.ClientBase, table: string, keyHash: Buffer, key: unknown, seq: string, deleted: boolean): Promise<boolean> {
    const result = await client.query(
      `INSERT INTO ${this.s}.versions AS v (target_table, key_hash, key, seq, deleted, updated_at, owner)
       VALUES ($1, $2, $3::jsonb, $4::numeric, $5, now(), $6)
       ON CONFLICT (target_table, key_hash) DO UPDATE
         SET key = EXCLUDED.key, seq = EXCLUDED.seq, deleted = EXCLUDED.deleted, updated_at = now(), owner = EXCLUDED.owner
         WHERE ${NEWER}
       RETURNING 1`,
      [table, keyHash, JSON.stringify(key), seq, deleted, this.scope.owner],
    );
    return (result.rowCount ?? 0) > 0;
  }

  /** Keys of the table applied after a truncate at `seq` and still present: a late truncate must keep them. */
  async keysNewerThan(client: pg.ClientBase, table: string, seq: string): Promise<unknown[]> {
    const { rows } = await client.query<{ key: unknown }>(`SELECT key FROM ${this.s}.versions WHERE target_table = $1 AND seq > $2::numeric AND NOT deleted`, [table, seq]);
    return rows.map((r) => r.key);
  }

  /**
   * A filtered target's truncate: deletes the rows of its share — those whose version it owns (or
   * that no target owns: stores from before share truncates), at or below the truncate — with their
   * versions and its tombstones, then records the truncate for its share. Rows another target owns,
   * and keys applied after the truncate, stay. Deleting the version rows locks them, so a consumer
   * of another target moving one of those keys into its own share waits, and then finds no version.
   * `targetTable` is quoted SQL; the versions hold transformed key images, typed back by the table.
   */
  async truncateShare(client: pg.ClientBase, table: string, targetTable: string, seq: string): Promise<void> {
    const sample = await client.query<{ key: Record<string, unknown> }>(
      `SELECT key FROM ${this.s}.versions WHERE target_table = $1 AND (owner = $2 OR owner IS NULL) AND seq <= $3::numeric AND NOT deleted LIMIT 1`,
      [table, this.scope.owner, seq],
    );
    const keyColumns = Object.keys(sample.rows[0]?.key ?? {});
    if (keyColumns.length > 0) {
      const match = keyColumns.map((c) => `t.${quoteColumn(c)} = k.${quoteColumn(c)}`).join(' AND ');
      await client.query(
        `WITH gone AS (
           DELETE FROM ${this.s}.versions
            WHERE target_table = $1 AND (owner = $2 OR owner IS NULL) AND seq <= $3::numeric
            RETURNING key, deleted)
         DELETE FROM ${targetTable} AS t
          USING gone, LATERAL jsonb_populate_record(NULL::${targetTable}, gone.key) AS k
          WHERE NOT gone.deleted AND ${match}`,
        [table, this.scope.owner, seq],
      );
    } else {
      await client.query(`DELETE FROM ${this.s}.versions WHERE target_table = $1 AND (owner = $2 OR owner IS NULL) AND seq <= $3::numeric`, [table, this.scope.owner, seq]);
    }
    await client.query(`UPDATE ${this.s}.share_truncations SET seq = $3::numeric, truncated_at = now() WHERE target_table = $1 AND target = $2`, [table, this.scope.owner, seq]);
  }

  /** Records a whole-table truncate: versions at or below it carry no information any more. */
  async recordTruncate(client: pg.ClientBase, table: string, seq: string): Promise<void> {
    await client.query(`DELETE FROM ${this.s}.versions WHERE target_table = $1 AND seq <= $2::numeric`, [table, seq]);
    await client.query(`UPDATE ${this.s}.truncations SET seq = $2::numeric, truncated_at = now() WHERE target_table = $1`, [table, seq]);
  }

  /**
   * Claims a schema change for this target inside the caller's transaction: records it as pending if
   * new, then locks its record. A consumer applying the same change at the same time waits here and
   * then finds it decided. Returns the status found (pending when it is new or was never decided).
   */
  async claimSchemaChange(client: pg.ClientBase, table: string, seq: string, sourceTable: string): Promise<{ status: SchemaChangeStatus; reason: string | null }> {
    await client.query(`INSERT INTO ${this.s}.schema_changes (target, target_table, seq, source_table, status) VALUES ($1, $2, $3::numeric, $4, 'pending') ON CONFLICT DO NOTHING`, [this.scope.owner, table, seq, sourceTable]);
    const { rows } = await client.query<{ status: SchemaChangeStatus; reason: string | null }>(`SELECT status, reason FROM ${this.s}.schema_changes WHERE target = $1 AND target_table = $2 AND seq = $3::numeric FOR UPDATE`, [this.scope.owner, table, seq]);
    return rows[0] ?? { status: 'pending', reason: null };
  }

  async recordSchemaChange(client: pg.ClientBase, table: string, seq: string, status: SchemaChangeStatus, items: TargetSchemaItem[], reason: string | null): Promise<void> {
    await client.query(`UPDATE ${this.s}.schema_changes SET status = $4, items = $5::jsonb, reason = $6, recorded_at = now() WHERE target = $1 AND target_table = $2 AND seq = $3::numeric`, [this.scope.owner, table, seq, status, JSON.stringify(items), reason]);
  }

  /** The decided schema changes of a table in seq order, and the earliest halt not resumed. */
  async schemaState(client: pg.ClientBase, table: string): Promise<TableSchemaState> {
    const { rows } = await client.query<{ seq: string; status: SchemaChangeStatus; items: TargetSchemaItem[]; reason: string | null }>(
      `SELECT seq::text AS seq, status, items, reason FROM ${this.s}.schema_changes WHERE target = $1 AND target_table = $2 AND status <> 'pending' ORDER BY seq`,
      [this.scope.owner, table],
    );
    return toSchemaState(rows);
  }

  /** This target's schema changes in the given statuses, oldest first (halts for status and doctor). */
  async schemaChanges(client: pg.ClientBase, statuses: SchemaChangeStatus[]): Promise<SchemaChangeRecord[]> {
    const { rows } = await client.query<{ target_table: string; source_table: string; seq: string; status: SchemaChangeStatus; items: TargetSchemaItem[]; reason: string | null; recorded_at: Date }>(
      `SELECT target_table, source_table, seq::text AS seq, status, items, reason, recorded_at FROM ${this.s}.schema_changes WHERE target = $1 AND status = ANY ($2::text[]) ORDER BY recorded_at, seq`,
      [this.scope.owner, statuses],
    );
    return rows.map((r) => ({ targetTable: r.target_table, sourceTable: r.source_table, seq: r.seq, status: r.status, items: r.items, reason: r.reason, recordedAt: r.recorded_at.toISOString() }));
  }

  /** `outbox target resume`: the operator applied the halted changes by hand; returns them. */
  async resumeHalts(client: pg.ClientBase): Promise<SchemaChangeRecord[]> {
    const halted = await this.schemaChanges(client, ['halted']);
    await client.query(`UPDATE ${this.s}.schema_changes SET status = 'resumed', recorded_at = now() WHERE target = $1 AND status = 'halted'`, [this.scope.owner]);
    return halted;
  }

  async purgeTombstones(client: pg.ClientBase, retentionHours: number): Promise<number> {
    const result = await client.query(`DELETE FROM ${this.s}.versions WHERE deleted AND updated_at < now() - make_interval(hours => $1)`, [retentionHours]);
    return result.rowCount ?? 0;
  }
}

