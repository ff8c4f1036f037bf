import type pg from 'pg';
import { buildEnvelope } from '../../wire/envelope.js';
import type { Logger } from '../../logger.js';
import type { LeaderSession, OutboxPage, ReclaimResult } from '../outbox-store.js';
import { runtimeSql } from '../../sql/files.js';
import { quarantineEvent } from './quarantine.js';
import type { CaptureDecoder, RawEventRow, ShapeUpdate } from './relay-decode.js';
import { reclaimPartition } from './relay-rotate.js';

/** Where a leader is: PgQ-style snapshot windows (docs/capture.md, "Guarantees kept"). Snapshots are kept as their text form. */
export interface SnapshotCursor {
  /** Every event whose xid is visible in it is published. */
  done: string;
  /** The window being published (visible in it, not in done), or null between windows. */
  window: string | null;
  /** Inside the window, events with seq <= windowSeq are published. */
  windowSeq: string | null;
}

export { toEvent, type EventRow } from './relay-events.js';

/**
 * One leadership term on PostgreSQL. The cursor lives in memory and is written whole, fenced by the
 * epoch, at each advance; a window with no events moves `done` in memory only (written with the next
 * advance or checkpoint), so an idle relay does not write a row per poll.
 */
export class PostgresLeaderSession implements LeaderSession {
  private lastPage: OutboxPage | undefined;
  /** The seq of the last outbox row the last page covered (rows that publish nothing included). */
  private lastThrough: string | null = null;
  private pendingShapes: ShapeUpdate[] = [];

  constructor(
    private readonly pool: pg.Pool,
    private readonly quotedSchema: string,
    readonly epoch: string,
    readonly leaderId: string,
    private cursor: SnapshotCursor,
    private readonly decoder: CaptureDecoder,
    private readonly logger: Logger,
    private readonly sourceName: string,
  ) {}

  /** A copy of the in-memory cursor (tests and logs). */
  position(): SnapshotCursor {
    return { ...this.cursor };
  }

  /**
   * The next page of events. Capture v2 rows are decoded (relay-decode.ts): a row may publish
   * nothing (an update of excluded columns only), two events (a key change) or be preceded by a
   * schema change; rows held back for a lost key or attribute column go to the quarantine here. A
   * page whose rows all publish nothing moves the in-memory cursor past them and reads on.
   */
  async readPage(limit: number): Promise<OutboxPage> {
    this.pendingShapes = []; // schema changes of a page that was not advanced are noticed again
    for (;;) {
      if (this.cursor.window === null) {
        const snap = await this.pool.query<{ snapshot: string }>('SELECT pg_current_snapshot()::text AS snapshot');
        this.cursor = { ...this.cursor, window: snap.rows[0]!.snapshot, windowSeq: null };
      }
      const res = await this.pool.query<RawEventRow>(runtimeSql('postgres', 'relay_read_window', { schema: this.quotedSchema }), [
        this.cursor.done,
        this.cursor.window,
        this.cursor.windowSeq ?? '-1',
        limit,
      ]);
      const last = res.rows.length < limit;
      const decoded = await this.decoder.decode(res.rows);
      for (const { event, reason } of decoded.held) {
        await quarantineEvent(this.pool, this.quotedSchema, event, JSON.stringify(buildEnvelope(this.sourceName, event)), reason);
        this.logger.error({ table: `${event.tableSchema}.${event.tableName}`, seq: event.seq, reason }, 'event held in the quarantine: its table lost a key or attribute column');
        const relid = res.rows.find((r) => r.seq === event.seq)?.relid;
        if (relid) await this.decoder.recordProblem(relid, reason);
      }
      const page: OutboxPage = { events: decoded.events, last };
      this.lastPage = page;
      this.lastThrough = res.rows.at(-1)?.seq ?? null;
      this.pendingShapes = decoded.shapeUpdates;
      if (page.events.length > 0 || last) {
        if (page.events.length === 0) this.closeWindow();
        return page;
      }
      // Every row of this page publishes nothing: it is done, read on.
      this.cursor = { ...this.cursor, windowSeq: this.lastThrough };
    }
  }

  async advance(page: OutboxPage, count: number): Promise<boolean> {
    if (page !== this.lastPage) throw new Error('advance() must follow the readPage() that returned the page');
    if (count < 0 || count > page.events.length) throw new Error(`advance(): count ${count} is outside the page of ${page.events.length}`);
    if (count === page.events.length && page.last) this.closeWindow();
    else if (count === page.events.length && this.lastThrough !== null) this.cursor = { ...this.cursor, windowSeq: this.lastThrough };
    else if (count > 0) {
      // The next event may share the seq of the last one published (a schema change before its row,
      // the two halves of a key change): then stop just below it, and that seq is read again.
      const lastSeq = page.events[count - 1]!.seq;
      const next = page.events[count]!.seq;
      this.cursor = { ...this.cursor, windowSeq: next === lastSeq ? (BigInt(lastSeq) - 1n).toString() : lastSeq };
    }
    const ok = await this.checkpoint();
    if (ok) {
      for (const update of this.pendingShapes.filter((u) => u.index < count)) await this.decoder.persist(update);
    }
    this.pendingShapes = [];
    return ok;
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
