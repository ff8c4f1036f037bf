import type pg from 'pg';
import { DEFAULT_PAGE_BYTES } from '../../config/schema.js';
import { buildEnvelope } from '../../wire/envelope.js';
import { describeError } from '../../errors.js';
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
/** A page as read from a cursor: the page, where the cursor is once it is read, and what advancing it persists. */
interface ReadResult {
  page: OutboxPage;
  /** The cursor with the page read (its window opened, pages that publish nothing passed). */
  cursor: SnapshotCursor;
  /** The seq of the last outbox row the page covered (rows that publish nothing included). */
  lastThrough: string | null;
  shapeUpdates: ShapeUpdate[];
}

/** The next page, read while the current one is published, from where the cursor is once the current one is advanced whole. */
interface Prefetch {
  from: SnapshotCursor;
  limit: number;
  result: Promise<ReadResult | undefined>;
}

/**
 * One leadership term on PostgreSQL. The cursor lives in memory and is written whole, fenced by the
 * epoch, at each advance; a window with no events moves `done` in memory only (written with the next
 * advance or checkpoint), so an idle relay does not write a row per poll.
 *
 * While a page is published the next one is read ahead, from where the cursor will be once the page
 * is advanced whole; readPage() takes it only when the cursor is there (every event acknowledged),
 * and reads again otherwise. Reading ahead writes no cursor, so fencing and the published order are
 * as without it. A page with a schema change is not read ahead of: the next page must be decoded
 * against the shape its advance persists. readAfter() hands the relay the next page before the
 * current one is advanced (page overlap); advance() then takes the pages in the order they were read.
 */
export class PostgresLeaderSession implements LeaderSession {
  /** Pages read and not advanced yet, oldest first: readPage()'s, then readAfter()'s. */
  private unadvanced: ReadResult[] = [];
  private prefetch: Prefetch | undefined;

  constructor(
    private readonly pool: pg.Pool,
    private readonly quotedSchema: string,
    readonly epoch: string,
    readonly leaderId: string,
    private cursor: SnapshotCursor,
    private readonly decoder: CaptureDecoder,
    private readonly logger: Logger,
    private readonly sourceName: string,
    /** Read the next page while the current one is published. */
    private readonly readAhead = true,
    /** A page ends at the row that takes its images past this many bytes (the first row always comes). */
    private readonly pageBytes = DEFAULT_PAGE_BYTES,
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
    this.unadvanced = []; // schema changes of a page that was not advanced are noticed again
    const ahead = this.prefetch;
    this.prefetch = undefined;
    const taken = ahead ? await ahead.result : undefined;
    // An empty page read ahead is not taken: it was read while the current page was published, so
    // it may predate changes committed since (the relay would only come back for them after a wait).
    const usable = taken && taken.page.events.length > 0 && ahead!.limit === limit && sameCursor(ahead!.from, this.cursor);
    const result = usable ? taken : await this.readFrom(this.cursor, limit);
    this.cursor = result.cursor;
    this.unadvanced = [result];
    if (this.readAhead && result.page.events.length > 0 && result.shapeUpdates.length === 0) {
      const from = cursorAfter(result, result.page.events.length);
      // A failed read ahead is read again by the next readPage(), which reports its error.
      this.prefetch = { from, limit, result: this.readFrom(from, limit).catch(() => undefined) };
    }
    return result.page;
  }

  /**
   * The page after `page` (the last one read), from where the cursor is once `page` is advanced
   * whole: taken from the read ahead when it started there, read now otherwise. Not after a page with
   * a schema change, and not an empty page (nothing to overlap: the relay reads on after advancing).
   */
  async readAfter(page: OutboxPage, limit: number): Promise<OutboxPage | undefined> {
    const read = this.unadvanced.at(-1);
    if (!read || read.page !== page) throw new Error('readAfter() must follow the readPage() or readAfter() that returned the page');
    if (read.shapeUpdates.length > 0 || page.events.length === 0) return undefined;
    const from = cursorAfter(read, page.events.length);
    const ahead = this.prefetch;
    this.prefetch = undefined;
    const taken = ahead ? await ahead.result : undefined;
    const usable = taken && taken.page.events.length > 0 && ahead!.limit === limit && sameCursor(ahead!.from, from);
    const result = usable ? taken : await this.readFrom(from, limit);
    if (result.page.events.length === 0) return undefined;
    this.unadvanced.push(result);
    return result.page;
  }

  /** Reads a page from a cursor; changes nothing but the quarantine (held events). */
  private async readFrom(start: SnapshotCursor, limit: number): Promise<ReadResult> {
    let cursor = start;
    for (;;) {
      if (cursor.window === null) {
        const snap = await this.pool.query<{ snapshot: string }>('SELECT pg_current_snapshot()::text AS snapshot');
        cursor = { ...cursor, window: snap.rows[0]!.snapshot, windowSeq: null };
      }
      const res = await this.pool.query<RawEventRow & { page_rows: string }>(runtimeSql('postgres', 'relay_read_window', { schema: this.quotedSchema }), [
        cursor.done,
        cursor.window,
        cursor.windowSeq ?? '-1',
        limit,
        this.pageBytes,
      ]);
      // The window is read to its end only when the read found fewer rows than the limit and the
      // byte bound kept all of them.
      const found = res.rows.length === 0 ? 0 : Number(res.rows[0]!.page_rows);
      const last = found < limit && res.rows.length === found;
      const decoded = await this.decoder.decode(res.rows);
      for (const { event, reason } of decoded.held) {
        await quarantineEvent(this.pool, this.quotedSchema, event, JSON.stringify(buildEnvelope(this.sourceName, event)), reason);
        this.logger.error({ table: `${event.tableSchema}.${event.tableName}`, seq: event.seq, reason }, 'event held in the quarantine: its table lost a key or attribute column');
        const relid = res.rows.find((r) => r.seq === event.seq)?.relid;
        if (relid) await this.decoder.recordProblem(relid, reason);
      }
      const page: OutboxPage = { events: decoded.events, last };
      const lastThrough = res.rows.at(-1)?.seq ?? null;
      if (page.events.length > 0 || last) {
        if (page.events.length === 0) cursor = closedWindow(cursor);
        return { page, cursor, lastThrough, shapeUpdates: decoded.shapeUpdates };
      }
      // Every row of this page publishes nothing: it is done, read on.
      cursor = { ...cursor, windowSeq: lastThrough };
    }
  }

  async advance(page: OutboxPage, count: number): Promise<boolean> {
    const read = this.unadvanced[0];
    if (!read || read.page !== page) throw new Error('advance() must take the pages in the order readPage() and readAfter() returned them');
    if (count < 0 || count > page.events.length) throw new Error(`advance(): count ${count} is outside the page of ${page.events.length}`);
    this.cursor = cursorAfter(read, count);
    // The pages read after a page advanced in part start from a cursor it did not reach.
    this.unadvanced = count === page.events.length ? this.unadvanced.slice(1) : [];
    const ok = await this.checkpoint();
    if (ok) {
      for (const update of read.shapeUpdates.filter((u) => u.index < count)) await this.decoder.persist(update);
    }
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

  async reclaim(retentionMs: number): Promise<ReclaimResult> {
    // Not while a page is read ahead: rotation truncates partitions under a lock the read would hold.
    await this.prefetch?.result;
    const result = await reclaimPartition(this.pool, this.quotedSchema, this.epoch, retentionMs);
    if (result.done) await this.forgetPartitions();
    return result;
  }

  /**
   * After a rotation (outbox rows were reclaimed): tracked_partitions forgets the partitions that
   * left their tracked table and have no row left in the outbox (sql/postgres/000013_forget_partitions.sql).
   * Its own statement, after the rotation committed; a failure only leaves the rows for the next rotation.
   */
  private async forgetPartitions(): Promise<void> {
    try {
      const res = await this.pool.query<{ forgotten: string }>(`SELECT ${this.quotedSchema}.forget_partitions() AS forgotten`);
      const forgotten = Number(res.rows[0]?.forgotten ?? 0);
      if (forgotten > 0) this.logger.info({ forgotten }, 'forgot partitions detached or dropped whose rows have all left the outbox');
    } catch (err) {
      this.logger.warn({ err: describeError(err) }, 'could not prune tracked_partitions; trying again after the next rotation');
    }
  }

  async release(): Promise<void> {
    await this.pool.query(runtimeSql('postgres', 'relay_release', { schema: this.quotedSchema }), [this.epoch, this.leaderId]);
  }
}

/** Where the cursor is once the first `count` events of a page read are published. */
function cursorAfter(read: ReadResult, count: number): SnapshotCursor {
  const { page, cursor, lastThrough } = read;
  if (count === page.events.length && page.last) return closedWindow(cursor);
  if (count === page.events.length && lastThrough !== null) return { ...cursor, windowSeq: lastThrough };
  if (count > 0) {
    // The next event may share the seq of the last one published (a schema change before its row,
    // the two halves of a key change): then stop just below it, and that seq is read again.
    const lastSeq = page.events[count - 1]!.seq;
    const next = page.events[count]!.seq;
    return { ...cursor, windowSeq: next === lastSeq ? (BigInt(lastSeq) - 1n).toString() : lastSeq };
  }
  return cursor;
}

/** The cursor once its window is published whole. */
function closedWindow(cursor: SnapshotCursor): SnapshotCursor {
  return cursor.window === null ? cursor : { done: cursor.window, window: null, windowSeq: null };
}

function sameCursor(a: SnapshotCursor, b: SnapshotCursor): boolean {
  return a.done === b.done && a.window === b.window && a.windowSeq === b.windowSeq;
}
