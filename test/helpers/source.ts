import type pg from 'pg';
import type { PostgresLeaderSession } from '../../src/source/postgres/relay-session.js';
import type { OutboxEvent } from '../../src/wire/envelope.js';
import { silentLogger } from '../../src/logger.js';
import { PostgresSource } from '../../src/source/postgres/adapter.js';
import { createPool } from '../../src/source/postgres/pool.js';
import { CaptureDecoder, DECODE_SESSION_OPTIONS, type RawEventRow } from '../../src/source/postgres/relay-decode.js';
import { createTestDatabase, type TestDatabase } from './db.js';

export interface CapturedEvent {
  seq: string;
  op: string;
  table_schema: string;
  table_name: string;
  key: Record<string, unknown> | null;
  before: Record<string, unknown> | null;
  after: Record<string, unknown> | null;
  changed: string[] | null;
  attributes: Record<string, string> | null;
}

const RAW_EVENTS = (schema: string) => `
  SELECT e.seq, e.xid::text AS xid, e.table_schema, e.table_name, e.op, e.key, e.before, e.after, e.changed, e.attributes, e.changed_at,
         e.relid::int8::text AS relid, e.old_row::text AS old_row, e.new_row::text AS new_row,
         CASE WHEN coalesce(e.new_row, e.old_row) IS NOT NULL THEN ARRAY(SELECT json_object_keys(coalesce(e.new_row, e.old_row))) END AS names
    FROM "${schema}".events e ORDER BY e.seq`;

/**
 * The outbox of a database as the relay publishes it (capture v2 rows decoded, schema changes left
 * out), optionally after a seq, in seq order; the key-change halves share their seq.
 */
export async function readDecodedOutbox(pool: pg.Pool, schema: string, afterSeq = '0'): Promise<OutboxEvent[]> {
  const decodePool = createPool({ url: (pool as unknown as { options: { connectionString: string } }).options.connectionString, max: 1, logger: silentLogger, options: DECODE_SESSION_OPTIONS });
  try {
    const decoder = new CaptureDecoder(decodePool, `"${schema}"`, silentLogger, false);
    const rows: RawEventRow[] = [];
    let after = afterSeq;
    for (;;) {
      const page = (await pool.query<RawEventRow>(`${RAW_EVENTS(schema).replace('ORDER BY e.seq', 'WHERE e.seq > $1 ORDER BY e.seq LIMIT 20000')}`, [after])).rows;
      rows.push(...page);
      if (page.length < 20000) break;
      after = page.at(-1)!.seq;
    }
    const events: OutboxEvent[] = [];
    for (let i = 0; i < rows.length; i += 5000) events.push(...(await decoder.decode(rows.slice(i, i + 5000))).events);
    return events.filter((e) => e.op !== 'schema');
  } finally {
    await decodePool.end();
  }
}

/**
 * A fresh database with the outbox schema migrated, and a source adapter on it. events() returns the
 * outbox as the relay publishes it: capture v2 rows decoded (relay-decode.ts), schema changes left out.
 */
export async function createMigratedSource(schema = 'outbox'): Promise<{ db: TestDatabase; source: PostgresSource; events(): Promise<CapturedEvent[]>; rawEvents(): Promise<RawEventRow[]>; close(): Promise<void> }> {
  const db = await createTestDatabase();
  const source = new PostgresSource({ url: db.url, schema, logger: silentLogger });
  await source.migrate();
  const decodePool = createPool({ url: db.url, max: 1, logger: silentLogger, options: DECODE_SESSION_OPTIONS });
  const decoder = new CaptureDecoder(decodePool, `"${schema}"`, silentLogger, false);
  const rawEvents = async () => (await db.pool.query<RawEventRow>(RAW_EVENTS(schema))).rows;
  return {
    db,
    source,
    rawEvents,
    async events() {
      const decoded = await decoder.decode(await rawEvents());
      return decoded.events
        .filter((e) => e.op !== 'schema')
        .map((e) => ({ seq: e.seq, op: e.op, table_schema: e.tableSchema, table_name: e.tableName, key: e.key, before: e.before, after: e.after, changed: e.changed, attributes: e.attributes as Record<string, string> | null }));
    },
    async close() {
      await decodePool.end();
      await source.close();
      await db.drop();
    },
  };
}

/** Reads and advances a leader session's pages until one is empty; the events in order. */
export async function drainSession(session: PostgresLeaderSession, limit = 1000): Promise<OutboxEvent[]> {
  const events: OutboxEvent[] = [];
  for (;;) {
    const page = await session.readPage(limit);
    if (page.events.length === 0) return events;
    // No vitest import here: the benches use this file outside a test run.
    if (!(await session.advance(page, page.events.length))) throw new Error('drainSession: the session was fenced (advance returned false)');
    events.push(...page.events);
  }
}
