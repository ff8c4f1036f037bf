import mssql from 'mssql';
import type { OutboxEvent } from '../../wire/envelope.js';
import type { Logger } from '../../logger.js';
import type { OutboxStats, OutboxStore } from '../outbox-store.js';
import { runtimeSql } from '../../sql/files.js';
import { quoteIdentMssql } from '../../sql/identifiers.js';
import { createPool, type Pool } from './pool.js';
import { SqlServerLeaderSession } from './relay-session.js';
import { requireInstalled } from './require-installed.js';
import { oldestOpenTransactionAge } from './status.js';

export interface SqlServerOutboxStoreOptions {
  url: string;
  schema: string;
  poolSize?: number;
  logger: Logger;
  /** How often watch() looks at MIN_ACTIVE_ROWVERSION() for new commits. */
  watchIntervalMs?: number;
  /** A page ends at the row that takes its images past this many bytes (relay.readBatchBytes). */
  pageBytes?: number;
}

/** The relay's view of a SQL Server outbox: rowversion reading below MIN_ACTIVE_ROWVERSION(), epoch fencing, batched reclaim. */
export class SqlServerOutboxStore implements OutboxStore {
  private readonly quoted: string;

  private constructor(
    private readonly options: SqlServerOutboxStoreOptions,
    readonly pool: Pool,
  ) {
    this.quoted = quoteIdentMssql(options.schema, 'Outbox schema');
  }

  /** Opens the store; fails with what to run when the outbox schema is missing or not up to date. */
  static async open(options: SqlServerOutboxStoreOptions): Promise<SqlServerOutboxStore> {
    quoteIdentMssql(options.schema, 'Outbox schema');
    const pool = createPool({ url: options.url, max: options.poolSize ?? 4, logger: options.logger, applicationName: 'outbox-relay:relay' });
    try {
      await pool.connect();
      await requireInstalled(pool, options.schema);
    } catch (err) {
      await pool.close().catch(() => undefined);
      throw err;
    }
    return new SqlServerOutboxStore(options, pool);
  }

  async claimLeadership(leaderId: string): Promise<SqlServerLeaderSession> {
    const res = await this.pool
      .request()
      .input('leader', mssql.NVarChar(200), leaderId)
      .query<{ epoch: string; cursor_rv: string }>(runtimeSql('sqlserver', 'relay_claim', { schema: this.quoted }));
    const row = res.recordset[0]!;
    return new SqlServerLeaderSession(this.pool, this.quoted, row.epoch, leaderId, row.cursor_rv, this.options.pageBytes);
  }

  async quarantine(event: OutboxEvent, envelope: string, reason: string): Promise<void> {
    await this.pool
      .request()
      .input('seq', mssql.BigInt, event.seq)
      .input('table_schema', mssql.NVarChar(128), event.tableSchema)
      .input('table_name', mssql.NVarChar(128), event.tableName)
      .input('op', mssql.VarChar(8), event.op)
      .input('reason', mssql.NVarChar(mssql.MAX), reason)
      .input('size_bytes', mssql.Int, Buffer.byteLength(envelope))
      .input('envelope', mssql.NVarChar(mssql.MAX), envelope)
      .query(runtimeSql('sqlserver', 'relay_quarantine', { schema: this.quoted }));
  }

  async stats(): Promise<OutboxStats> {
    const rows = (await this.pool.request().query<{ backlog: string | number; oldest_age_seconds: string | number }>(runtimeSql('sqlserver', 'backlog', { schema: this.quoted }))).recordset;
    return {
      backlog: rows.reduce((sum, r) => sum + Number(r.backlog), 0),
      oldestUnpublishedAgeSeconds: rows.length ? Math.max(...rows.map((r) => Number(r.oldest_age_seconds))) : null,
      oldestOpenTransactionAgeSeconds: await oldestOpenTransactionAge(this.pool),
    };
  }

  /**
   * SQL Server has no LISTEN/NOTIFY: watch() polls MIN_ACTIVE_ROWVERSION() (one cheap, lock-free
   * statement) and wakes the relay when it moves, i.e. when some rowversion write has committed.
   * Writes to other rowversion tables of the database wake it too; that only costs an empty read.
   */
  async watch(onWake: () => void): Promise<{ close(): Promise<void> }> {
    const interval = this.options.watchIntervalMs ?? 200;
    let last: string | undefined;
    let failing = false;
    let busy = false;
    const timer = setInterval(() => {
      if (busy) return;
      busy = true;
      this.pool
        .request()
        .query<{ fence: string }>(runtimeSql('sqlserver', 'relay_fence'))
        .then((res) => {
          const fence = res.recordset[0]?.fence;
          if (failing) this.options.logger.info('SQL Server commit watch recovered');
          failing = false;
          if (fence !== undefined && fence !== last) {
            if (last !== undefined) onWake();
            last = fence;
          }
        })
        .catch((err: unknown) => {
          if (!failing) this.options.logger.warn({ err: (err as Error).message }, 'SQL Server commit watch failed; the relay falls back to its poll interval');
          failing = true;
        })
        .finally(() => {
          busy = false;
        });
    }, interval);
    timer.unref();
    return {
      async close() {
        clearInterval(timer);
      },
    };
  }

  async close(): Promise<void> {
    await this.pool.close();
  }
}
