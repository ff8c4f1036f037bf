import mssql from 'mssql';
import { DEFAULT_PAGE_BYTES } from '../../config/schema.js';
import { OutboxError } from '../../errors.js';
import type { OutboxEvent, SchemaChange } from '../../wire/envelope.js';
import type { LeaderSession, OutboxPage, ReclaimResult } from '../outbox-store.js';
import { runtimeSql } from '../../sql/files.js';
import type { WireOperation } from '../../wire/operations.js';
import type { Pool } from './pool.js';

/** At most this many rows per reclaim DELETE: below SQL Server's 5,000-lock escalation threshold. */
export const RECLAIM_BATCH = 4000;
/** DELETE batches per reclaim() call, so one call stays short. */
export const RECLAIM_BATCHES_PER_CALL = 10;

interface EventRow {
  rv: string;
  seq: string;
  xid: string;
  table_schema: string;
  table_name: string;
  op: WireOperation;
  key: string | null;
  before: string | null;
  after: string | null;
  changed: string | null;
  attributes: string | null;
  changed_at: Date;
  /** Op 'schema' only: the change as the DDL trigger wrote it (the JSON of data.schemaChange). */
  schema_change?: string | null;
}

const parse = <T>(text: string | null): T | null => (text === null ? null : (JSON.parse(text) as T));

export function toEvent(row: EventRow): OutboxEvent {
  return {
    seq: row.seq,
    xid: row.xid,
    tableSchema: row.table_schema,
    tableName: row.table_name,
    op: row.op,
    key: parse(row.key),
    before: parse(row.before),
    after: parse(row.after),
    changed: parse(row.changed),
    attributes: parse(row.attributes),
    changedAt: row.changed_at,
    ...(row.op === 'schema' ? { schemaChange: schemaChangeOf(row) } : {}),
  };
}

/** The description a schema-change row carries; a row without one is refused by name, not published half. */
function schemaChangeOf(row: EventRow): SchemaChange {
  const change = parse<SchemaChange>(row.schema_change ?? null);
  if (!change || change.dialect !== 'sqlserver' || !Array.isArray(change.changes) || !Array.isArray(change.key)) {
    throw new OutboxError('SCHEMA_NOT_INSTALLED', `outbox event seq ${row.seq} (${row.table_schema}.${row.table_name}) is a schema change without a valid schema_change description: the outbox schema is older than the relay or the row was written by hand; run \`outbox migrate\`, then quarantine or delete that row`);
  }
  return change;
}

/**
 * One leadership term on SQL Server (docs/sqlserver.md): the cursor is the rowversion of the last published
 * event; each page is read above it and below MIN_ACTIVE_ROWVERSION(), fetched in its own statement
 * just before, in rv order. The cursor lives in memory and is written, fenced by the epoch, at each
 * advance or checkpoint.
 */
export class SqlServerLeaderSession implements LeaderSession {
  private lastPage: OutboxPage | undefined;
  private lastPageRvs: string[] = [];

  constructor(
    private readonly pool: Pool,
    private readonly quotedSchema: string,
    readonly epoch: string,
    readonly leaderId: string,
    private cursor: string,
    /** A page ends at the row that takes its images past this many bytes (the first row always comes). */
    private readonly pageBytes = DEFAULT_PAGE_BYTES,
  ) {}

  /** The in-memory cursor, '0x…' hex (tests and logs). */
  position(): string {
    return this.cursor;
  }

  async readPage(limit: number): Promise<OutboxPage> {
    const fence = (await this.pool.request().query<{ fence: string }>(runtimeSql('sqlserver', 'relay_fence'))).recordset[0]!.fence;
    const res = await this.pool
      .request()
      .input('limit', mssql.Int, limit)
      .input('max_bytes', mssql.BigInt, this.pageBytes)
      .input('cursor', mssql.VarChar(18), this.cursor)
      .input('fence', mssql.VarChar(18), fence)
      .query<EventRow & { page_rows: number }>(runtimeSql('sqlserver', 'relay_read', { schema: this.quotedSchema }));
    // Read to the fence only when the read found fewer rows than the limit and the byte bound kept all of them.
    const found = res.recordset.length === 0 ? 0 : Number(res.recordset[0]!.page_rows);
    const page: OutboxPage = { events: res.recordset.map(toEvent), last: found < limit && res.recordset.length === found };
    this.lastPage = page;
    this.lastPageRvs = res.recordset.map((r) => r.rv);
    return page;
  }

  async advance(page: OutboxPage, count: number): Promise<boolean> {
    if (page !== this.lastPage) throw new Error('advance() must follow the readPage() that returned the page');
    if (count < 0 || count > page.events.length) throw new Error(`advance(): count ${count} is outside the page of ${page.events.length}`);
    if (count > 0) this.cursor = this.lastPageRvs[count - 1]!;
    return this.checkpoint();
  }

  async checkpoint(): Promise<boolean> {
    const res = await this.pool
      .request()
      .input('epoch', mssql.BigInt, this.epoch)
      .input('cursor', mssql.VarChar(18), this.cursor)
      .query(runtimeSql('sqlserver', 'relay_advance', { schema: this.quotedSchema }));
    return (res.rowsAffected[0] ?? 0) === 1;
  }

  async reclaim(retentionMs: number): Promise<ReclaimResult> {
    let total = 0;
    for (let i = 0; i < RECLAIM_BATCHES_PER_CALL; i++) {
      const res = await this.pool
        .request()
        .input('epoch', mssql.BigInt, this.epoch)
        .input('retention_seconds', mssql.Int, Math.ceil(retentionMs / 1000))
        .input('batch', mssql.Int, RECLAIM_BATCH)
        .query<{ deleted: number }>(runtimeSql('sqlserver', 'relay_reclaim', { schema: this.quotedSchema }));
      const deleted = res.recordset[0]?.deleted ?? 0;
      if (deleted < 0) return { done: false, reason: 'fenced' };
      total += deleted;
      if (deleted < RECLAIM_BATCH) break;
    }
    // SQL Server reclaims by batched DELETE, not by partition: "partition" 0 stands for the one events table.
    return total > 0 ? { done: true, partition: 0 } : { done: false, reason: 'too-recent' };
  }

  async release(): Promise<void> {
    await this.pool
      .request()
      .input('epoch', mssql.BigInt, this.epoch)
      .input('leader', mssql.NVarChar(200), this.leaderId)
      .query(runtimeSql('sqlserver', 'relay_release', { schema: this.quotedSchema }));
  }
}
