import type pg from 'pg';
import type { ChangeOperation } from '../types.js';
import type { OutboxEvent } from '../../envelope.js';
import type { LeaderSession, OutboxPage, ReclaimResult } from '../../relay/types.js';
import { runtimeSql } from '../../sql/files.js';
import { reclaimPartition } from './relay-rotate.js';

/** Where a leader is: PgQ-style snapshot windows (DESIGN §4). Snapshots are kept as their text form. */
export interface SnapshotCursor {
  /** Every event whose xid is visible in it is published. */
  done: string;
  /** The window being published (visible in it, not in done), or null between windows. */
  window: string | null;
  /** Inside the window, events with seq <= windowSeq are published. */
  windowSeq: string | null;
}

export interface EventRow {
  seq: string;
  xid: string;
  table_schema: string;
  table_name: string;
  op: ChangeOperation;
  key: Record<string, unknown> | null;
  before: Record<string, unknown> | null;
  after: Record<string, unknown> | null;
  changed: string[] | null;
  attributes: Record<string, string> | null;
  changed_at: Date;
}

export function toEvent(row: EventRow): OutboxEvent {
  return {
    seq: row.seq,
    xid: row.xid,
    tableSchema: row.table_schema,
    tableName: row.table_name,
    op: row.op,
    key: row.key,
    before: row.before,
    after: row.after,
    changed: row.changed,
    attributes: row.attributes,
    changedAt: row.changed_at,
  };
}

/**
 * One leadership term on PostgreSQL. The cursor lives in memory and is written whole, fenced by the
 * epoch, at each advance; a window with no events moves `done` in memory only (written with the next
 * advance or checkpoint), so an idle relay does not write a row per poll.
 */
export class PostgresLeaderSession implements LeaderSession {
  private lastPage: OutboxPage | undefined;

  constructor(
    private readonly pool: pg.Pool,
    private readonly quotedSchema: string,
    readonly epoch: string,
    readonly leaderId: string,
    private cursor: SnapshotCursor,
  ) {}

  /** A copy of the in-memory cursor (tests and logs). */
  position(): SnapshotCursor {
    return { ...this.cursor };
  }

  async readPage(limit: number): Promise<OutboxPage> {
    if (this.cursor.window === null) {
      const snap = await this.pool.query<{ snapshot: string }>('SELECT pg_current_snapshot()::text AS snapshot');
      this.cursor = { ...this.cursor, window: snap.rows[0]!.snapshot, windowSeq: null };
    }
    const res = await this.pool.query<EventRow>(runtimeSql('postgres', 'relay_read_window', { schema: this.quotedSchema }), [
      this.cursor.done,
      this.cursor.window,
      this.cursor.windowSeq ?? '-1',
      limit,
    ]);
    const page: OutboxPage = { events: res.rows.map(toEvent), last: res.rows.length < limit };
    if (page.events.length === 0 && page.last) this.closeWindow();
    this.lastPage = page;
    return page;
  }

  async advance(page: OutboxPage, count: number): Promise<boolean> {
    if (page !== this.lastPage) throw new Error('advance() must follow the readPage() that returned the page');
    if (count < 0 || count > page.events.length) throw new Error(`advance(): count ${count} is outside the page of ${page.events.length}`);
    if (count === page.events.length && page.last) this.closeWindow();
    else if (count > 0) this.cursor = { ...this.cursor, windowSeq: page.events[count - 1]!.seq };
    return this.checkpoint();
  }

  async checkpoint(): Promise<boolean> {
    const res = await this.pool.query(runtimeSql('postgres', 'relay_advance', { schema: this.quotedSchema }), [
      this.epoch,
      this.cursor.done,
      this.cursor.window,
      this.cursor.windowSeq,
    ]);
    return res.rowCount === 1;
  }

  reclaim(retentionMs: number): Promise<ReclaimResult> {
    return reclaimPartition(this.pool, this.quotedSchema, this.epoch, retentionMs);
  }

  async release(): Promise<void> {
    await this.pool.query(runtimeSql('postgres', 'relay_release', { schema: this.quotedSchema }), [this.epoch, this.leaderId]);
  }

  private closeWindow(): void {
    if (this.cursor.window === null) return;
    this.cursor = { done: this.cursor.window, window: null, windowSeq: null };
  }
}
