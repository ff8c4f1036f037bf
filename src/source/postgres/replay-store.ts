import { DEFAULT_PAGE_BYTES } from '../../config/schema.js';
import type { OutboxEvent } from '../../wire/envelope.js';
import type { Logger } from '../../logger.js';
import { runtimeSql } from '../../sql/files.js';
import { quoteIdent } from '../../sql/identifiers.js';
import type { ReplayCount, ReplayFilter, ReplaySource } from '../capabilities.js';
import { createPool, type Pool } from './pool.js';
import { quarantineEvent } from './quarantine.js';
import { CaptureDecoder, DECODE_SESSION_OPTIONS, type RawEventRow } from './relay-decode.js';
import { requireInstalled } from './require-installed.js';

export interface PostgresReplayStoreOptions {
  url: string;
  schema: string;
  logger: Logger;
  /** A page ends at the row that takes its images past this many bytes (relay.readBatchBytes). */
  pageBytes?: number;
}

interface Bound {
  done: string;
  window: string | null;
  windowSeq: string | null;
}

/** Replay on PostgreSQL: published = visible in done_snapshot, or in the open window up to window_seq. */
export class PostgresReplayStore implements ReplaySource {
  private constructor(
    private readonly pool: Pool,
    private readonly quoted: string,
    private readonly bound: Bound,
    private readonly url: string,
    private readonly logger: Logger,
    private readonly pageBytes: number,
  ) {}

  static async open(options: PostgresReplayStoreOptions): Promise<PostgresReplayStore> {
    const quoted = quoteIdent(options.schema, 'Outbox schema');
    const pool = createPool({ url: options.url, max: 2, logger: options.logger, applicationName: 'outbox-relay:replay' });
    try {
      await requireInstalled(pool, options.schema);
      const res = await pool.query<{ done_snapshot: string; window_snapshot: string | null; window_seq: string | null }>(runtimeSql('postgres', 'replay_bound', { schema: quoted }));
      const row = res.rows[0]!;
      return new PostgresReplayStore(pool, quoted, { done: row.done_snapshot, window: row.window_snapshot, windowSeq: row.window_seq }, options.url, options.logger, options.pageBytes ?? DEFAULT_PAGE_BYTES);
    } catch (err) {
      await pool.end();
      throw err;
    }
  }

  async count(filter: ReplayFilter): Promise<ReplayCount> {
    const res = await this.pool.query<{ events: string; first_seq: string | null; last_seq: string | null }>(
      runtimeSql('postgres', 'replay_count', { schema: this.quoted }),
      this.params(filter, startAfter(filter)),
    );
    const row = res.rows[0]!;
    return { events: Number(row.events), firstSeq: row.first_seq, lastSeq: row.last_seq };
  }

  async readPage(filter: ReplayFilter, afterSeq: string, limit: number): Promise<{ events: OutboxEvent[]; through: string | null }> {
    const after = BigInt(afterSeq) > BigInt(startAfter(filter)) ? afterSeq : startAfter(filter);
    const res = await this.pool.query<RawEventRow>(runtimeSql('postgres', 'replay_page', { schema: this.quoted }), [...this.params(filter, after), limit, this.pageBytes]);
    return { events: (await this.decoder().decode(res.rows)).events, through: res.rows.at(-1)?.seq ?? null };
  }

  quarantine(event: OutboxEvent, envelope: string, reason: string): Promise<void> {
    return quarantineEvent(this.pool, this.quoted, event, envelope, reason);
  }

  async close(): Promise<void> {
    await Promise.all([this.pool.end(), this.decodePool?.end()]);
  }

  private decodePool: Pool | undefined;
  private decoderInstance: CaptureDecoder | undefined;

  /** Capture v2 rows are decoded as the relay decodes them, without announcing schema changes again. */
  private decoder(): CaptureDecoder {
    if (!this.decoderInstance) {
      this.decodePool = createPool({ url: this.url, max: 1, logger: this.logger, applicationName: 'outbox-relay:replay-decode', options: DECODE_SESSION_OPTIONS });
      this.decoderInstance = new CaptureDecoder(this.decodePool, this.quoted, this.logger, false);
    }
    return this.decoderInstance;
  }

  private params(filter: ReplayFilter, afterSeq: string): unknown[] {
    const tables = filter.tables?.length ? filter.tables : undefined;
    return [
      this.bound.done,
      this.bound.window,
      this.bound.windowSeq,
      afterSeq,
      filter.since ?? null,
      tables ? tables.map((t) => t.schema) : null,
      tables ? tables.map((t) => t.table) : null,
    ];
  }
}

/** The seq to read after: just below --from-seq, or before every event. */
function startAfter(filter: ReplayFilter): string {
  return filter.fromSeq === undefined ? '-1' : (BigInt(filter.fromSeq) - 1n).toString();
}
