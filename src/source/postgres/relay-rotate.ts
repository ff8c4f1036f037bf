import type pg from 'pg';
import type { ReclaimResult } from '../outbox-store.js';
import { runtimeSql } from '../../sql/files.js';
import { withTransaction } from '../../sql/pg-transaction.js';

/** Partitions of events (000001_outbox_core.sql): capture writes one, the relay reclaims the next. */
export const EVENT_PARTITIONS = 3;

/** How long a rotation waits for writers of the partition it reuses before giving up until next time. */
const LOCK_TIMEOUT_MS = 1_000;

/**
 * Reclaims outbox space without DELETE (PgQ-style rotation). When the partition capture writes has
 * been current for longer than the retention, the next partition is truncated and becomes current,
 * provided that, under ACCESS EXCLUSIVE (so no transaction that wrote into it is still open), every
 * event in it is published and its newest event is older than the retention. A writer of that
 * partition still open makes the lock time out: the rotation is retried later, nothing waits on it.
 * A rotation that does not happen rolls its transaction back.
 */
export async function reclaimPartition(pool: pg.Pool, quotedSchema: string, epoch: string, retentionMs: number): Promise<ReclaimResult> {
  return withTransaction(
    pool,
    async (client): Promise<ReclaimResult> => {
      await client.query(`SET LOCAL lock_timeout = ${LOCK_TIMEOUT_MS}`);
      const rotation = await client.query<{ current_part: number; due: boolean }>(
        `SELECT current_part, rotated_at <= now() - make_interval(secs => $1::float8 / 1000) AS due FROM ${quotedSchema}.rotation FOR UPDATE`,
        [retentionMs],
      );
      const row = rotation.rows[0]!;
      if (!row.due) return { done: false, reason: 'not-due' };
      const next = (row.current_part + 1) % EVENT_PARTITIONS;
      const partition = `events_${next}`;
      try {
        await client.query(`LOCK TABLE ${quotedSchema}.${partition} IN ACCESS EXCLUSIVE MODE`);
      } catch (err) {
        if ((err as { code?: string }).code === '55P03') return { done: false, reason: 'busy' };
        throw err;
      }
      const check = await client.query<{ leads: boolean; published: boolean; expired: boolean }>(
        runtimeSql('postgres', 'relay_rotate_check', { schema: quotedSchema, partition }),
        [epoch, retentionMs],
      );
      const verdict = check.rows[0]!;
      if (!verdict.leads) return { done: false, reason: 'fenced' };
      if (!verdict.published) return { done: false, reason: 'unpublished' };
      if (!verdict.expired) return { done: false, reason: 'too-recent' };
      await client.query(`TRUNCATE ${quotedSchema}.${partition}`);
      await client.query(`UPDATE ${quotedSchema}.rotation SET current_part = $1, rotated_at = now()`, [next]);
      return { done: true, partition: next };
    },
    { commitWhen: (result) => result.done },
  );
}
