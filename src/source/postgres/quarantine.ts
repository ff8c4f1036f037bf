import type pg from 'pg';
import type { OutboxEvent } from '../../wire/envelope.js';
import { runtimeSql } from '../../sql/files.js';

/** Puts an event that cannot be published into the quarantine table (idempotent per event). */
export async function quarantineEvent(pool: pg.Pool, quotedSchema: string, event: OutboxEvent, envelope: string, reason: string): Promise<void> {
  await pool.query(runtimeSql('postgres', 'relay_quarantine', { schema: quotedSchema }), [
    event.seq,
    event.tableSchema,
    event.tableName,
    event.op,
    reason,
    Buffer.byteLength(envelope),
    envelope,
  ]);
}
