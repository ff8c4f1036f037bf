import type { Logger } from '../../logger.js';
import type { OutboxEvent } from '../../wire/envelope.js';
import type { LeaderSession, OutboxStats, OutboxStore } from '../outbox-store.js';
import { runtimeSql } from '../../sql/files.js';
import { quoteIdent } from '../../sql/identifiers.js';
import { createPool, type Pool } from './pool.js';
import { quarantineEvent } from './quarantine.js';
import { listenForEvents } from './relay-listen.js';
import { CaptureDecoder, DECODE_SESSION_OPTIONS } from './relay-decode.js';
import { PostgresLeaderSession } from './relay-session.js';
import { requireInstalled } from './require-installed.js';
import { oldestOpenTransactionAge } from './status.js';

export interface PostgresOutboxStoreOptions {
  url: string;
  schema: string;
  poolSize?: number;
  logger: Logger;
  /** The source's name in event ids (the quarantine keeps an envelope of each held event). */
  sourceName?: string;
  /** A page ends at the row that takes its images past this many bytes (relay.readBatchBytes). */
  pageBytes?: number;
}

/** The relay's view of a PostgreSQL outbox: snapshot-window reading, epoch fencing, rotation. */
export class PostgresOutboxStore implements OutboxStore {
  readonly pool: Pool;
  /** Sessions with the decode settings (relay-decode.ts): capture v2 images are rendered in them. */
  private readonly decodePool: Pool;
  private readonly quoted: string;

  private constructor(private readonly options: PostgresOutboxStoreOptions) {
    this.quoted = quoteIdent(options.schema, 'Outbox schema');
    this.pool = createPool({ url: options.url, max: options.poolSize ?? 4, logger: options.logger, applicationName: 'outbox-relay:relay' });
    this.decodePool = createPool({ url: options.url, max: 2, logger: options.logger, applicationName: 'outbox-relay:relay-decode', options: DECODE_SESSION_OPTIONS });
  }

  /** Opens the store; fails with what to run when the outbox schema is missing or not up to date. */
  static async open(options: PostgresOutboxStoreOptions): Promise<PostgresOutboxStore> {
    const store = new PostgresOutboxStore(options);
    try {
      await requireInstalled(store.pool, options.schema);
    } catch (err) {
      await store.close();
      throw err;
    }
    return store;
  }

  async claimLeadership(leaderId: string): Promise<PostgresLeaderSession> {
    const res = await this.pool.query<{ epoch: string; done_snapshot: string; window_snapshot: string | null; window_seq: string | null }>(
      runtimeSql('postgres', 'relay_claim', { schema: this.quoted }),
      [leaderId],
    );
    const row = res.rows[0]!;
    const decoder = new CaptureDecoder(this.decodePool, this.quoted, this.options.logger);
    return new PostgresLeaderSession(
      this.pool,
      this.quoted,
      row.epoch,
      leaderId,
      { done: row.done_snapshot, window: row.window_snapshot, windowSeq: row.window_seq },
      decoder,
      this.options.logger,
      this.options.sourceName ?? 'source',
      true,
      this.options.pageBytes, // undefined: the session's default
    );
  }

  quarantine(event: OutboxEvent, envelope: string, reason: string): Promise<void> {
    return quarantineEvent(this.pool, this.quoted, event, envelope, reason);
  }

  async stats(): Promise<OutboxStats> {
    const rows = (await this.pool.query<{ backlog: number; oldest_age_seconds: number }>(runtimeSql('postgres', 'backlog', { schema: this.quoted }))).rows;
    return {
      backlog: rows.reduce((sum, r) => sum + Number(r.backlog), 0),
      oldestUnpublishedAgeSeconds: rows.length ? Math.max(...rows.map((r) => Number(r.oldest_age_seconds))) : null,
      oldestOpenTransactionAgeSeconds: await oldestOpenTransactionAge(this.pool),
    };
  }

  watch(onWake: () => void): Promise<{ close(): Promise<void> }> {
    return listenForEvents(this.options.url, this.options.schema, onWake, this.options.logger);
  }

  async close(): Promise<void> {
    await Promise.all([this.pool.end(), this.decodePool.end()]);
  }
}

export type { LeaderSession };
