import type { OutboxEvent } from '../wire/envelope.js';

/**
 * The source side of the relay, one implementation per source dialect (PostgreSQL: snapshot windows;
 * SQL Server: rowversion), opened by the source adapter (src/source/types.ts). The relay loop speaks
 * only this interface; it is part of the source's public surface, so no dialect imports the relay.
 */
export interface OutboxStore {
  /** Becomes the fenced leader: bumps the epoch and returns a session positioned at the stored cursor. */
  claimLeadership(leaderId: string): Promise<LeaderSession>;
  /** Keeps an event that must not be published; idempotent per event. */
  quarantine(event: OutboxEvent, envelope: string, reason: string): Promise<void>;
  /** Backlog and the ages that hold the stream back, for metrics and alerts. */
  stats(): Promise<OutboxStats>;
  /** Calls onWake soon after new events commit (LISTEN/NOTIFY or the dialect's equivalent). */
  watch(onWake: () => void): Promise<{ close(): Promise<void> }>;
  close(): Promise<void>;
}

/** What one leadership term reads and advances. Every advance checks the epoch in the same statement. */
export interface LeaderSession {
  readonly epoch: string;
  /** The next page of unpublished events, oldest first, in per-key commit order. */
  readPage(limit: number): Promise<OutboxPage>;
  /**
   * The page that follows `page` once `page` is advanced whole, read before it is (the relay's page
   * overlap, docs/architecture.md "The relay loop"); writes no cursor. Undefined when there is none to
   * read ahead: nothing follows yet, or `page` holds a schema change (the next page must be decoded
   * against the shape its advance persists). A dialect without it publishes one page at a time.
   */
  readAfter?(page: OutboxPage, limit: number): Promise<OutboxPage | undefined>;
  /**
   * Records that the first `count` events of `page` are published. Pages are advanced in the order
   * they were read: readPage()'s page, then each readAfter() page once the one before it is advanced
   * whole; a page advanced only in part drops the pages read after it (advancing one throws), and
   * the next readPage() reads on from that cursor. Returns false when a newer leader has taken over
   * (fenced): the caller must stop leading.
   */
  advance(page: OutboxPage, count: number): Promise<boolean>;
  /** Persists the cursor as it is (a heartbeat while idle). False when fenced. */
  checkpoint(): Promise<boolean>;
  /** Reclaims outbox space of events published longer ago than the retention; fenced. */
  reclaim(retentionMs: number): Promise<ReclaimResult>;
  /** Clears this leader's name when it stops on purpose. */
  release(): Promise<void>;
}

export interface OutboxPage {
  events: OutboxEvent[];
  /** True when no event of the current read window follows this page. */
  last: boolean;
}

export type ReclaimResult =
  | { done: true; partition: number }
  | { done: false; reason: 'not-due' | 'busy' | 'unpublished' | 'too-recent' | 'fenced' };

export interface OutboxStats {
  backlog: number;
  oldestUnpublishedAgeSeconds: number | null;
  oldestOpenTransactionAgeSeconds: number | null;
}
