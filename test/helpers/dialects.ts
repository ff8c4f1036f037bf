import { randomBytes } from 'node:crypto';
import mssql from 'mssql';
import { silentLogger } from '../../src/logger.js';
import { openSourceAdapter } from '../../src/source/index.js';
import type { SourceAdapter, SourceDialect } from '../../src/source/types.js';
import { parseConnectionConfig } from '../../src/source/sqlserver/pool.js';
import { MSSQL_URL } from './env.js';
import { createMigratedSource, type CapturedEvent as SourceCapturedEvent } from './source.js';

/**
 * The source dialects the behaviour suite runs on (the kysely DIALECTS model): PostgreSQL always;
 * SQL Server when MSSQL_URL points at a server whose login may CREATE DATABASE
 * (mssql://sa:Passw0rd!@127.0.0.1:1433/master?encrypt=false&trustServerCertificate=true). A dialect
 * that cannot run here still registers its cases, behind describe.skipIf(dialect.skip), so they are
 * reported as skipped — never as passed.
 */
export interface TestDialect {
  name: SourceDialect;
  label: string;
  /** Why this dialect's cases do not run here, or null when they do. */
  skip: string | null;
  /** The schema application tables live in. */
  dataSchema: string;
  /** Column types for portable DDL. */
  types: { text: string };
  /** A fresh database with the outbox migrated into schema "outbox". */
  open(): Promise<DialectDatabase>;
}

/** One test database of a dialect, its source adapter, and what a behaviour test needs to drive it. */
export interface DialectDatabase {
  readonly source: SourceAdapter;
  /** Runs SQL (one batch) on the database. */
  exec(sql: string): Promise<void>;
  /** A transaction held open on a connection of its own. */
  begin(): Promise<OpenTransaction>;
  /** The row events of the outbox as a relay publishes them, in stream order (schema changes left out). */
  events(): Promise<CapturedEvent[]>;
  /** Another adapter on the same database (another outbox schema); closed with the database. */
  openSource(schema: string): Promise<SourceAdapter>;
  close(): Promise<void>;
}

export interface OpenTransaction {
  exec(sql: string): Promise<void>;
  commit(): Promise<void>;
  rollback(): Promise<void>;
}

/** An outbox row event as a test reads it (the table's schema left out: each dialect has one here). */
export type CapturedEvent = Omit<SourceCapturedEvent, 'table_schema'>;

const postgres: TestDialect = {
  name: 'postgres',
  label: 'PostgreSQL',
  skip: null,
  dataSchema: 'public',
  types: { text: 'text' },
  async open() {
    const ctx = await createMigratedSource();
    const others: SourceAdapter[] = [];
    return {
      source: ctx.source,
      async exec(sql) {
        await ctx.db.pool.query(sql);
      },
      async begin() {
        const client = await ctx.db.pool.connect();
        await client.query('BEGIN');
        const end = async (sql: string) => {
          try {
            await client.query(sql);
          } finally {
            client.release();
          }
        };
        return { exec: async (sql) => void (await client.query(sql)), commit: () => end('COMMIT'), rollback: () => end('ROLLBACK') };
      },
      async events() {
        return (await ctx.events()).map(({ table_schema: _schema, ...e }) => e);
      },
      async openSource(schema) {
        const source = await openSourceAdapter({ dialect: 'postgres', url: ctx.db.url, schema, poolSize: 2, logger: silentLogger });
        others.push(source);
        return source;
      },
      async close() {
        await Promise.all(others.map((s) => s.close()));
        await ctx.close();
      },
    };
  },
};

/** The same server URL with another database. */
function withDatabase(url: string, database: string): string {
  if (/^(mssql|sqlserver):\/\//i.test(url)) {
    const u = new URL(url);
    u.pathname = `/${database}`;
    return u.toString();
  }
  const parts = url.split(';').filter((p) => p.trim() && !/^\s*(database|initial catalog)\s*=/i.test(p));
  return [...parts, `Database=${database}`].join(';');
}

/** The URL of a fresh SQL Server test database and a pool on it; drop() removes it. */
export async function createSqlServerDatabase(): Promise<{ name: string; url: string; db: mssql.ConnectionPool; drop(): Promise<void> }> {
  const name = `outbox_test_${randomBytes(5).toString('hex')}`;
  const admin = await new mssql.ConnectionPool(parseConnectionConfig(MSSQL_URL!)).connect();
  await admin.request().batch(`CREATE DATABASE [${name}]`);
  const url = withDatabase(MSSQL_URL!, name);
  const db = await new mssql.ConnectionPool(parseConnectionConfig(url)).connect();
  return {
    name,
    url,
    db,
    async drop() {
      await db.close();
      await admin.request().batch(`IF DB_ID(N'${name}') IS NOT NULL BEGIN ALTER DATABASE [${name}] SET SINGLE_USER WITH ROLLBACK IMMEDIATE; DROP DATABASE [${name}]; END`);
      await admin.close();
    },
  };
}

/** The outbox rows of a SQL Server test database in rowversion order, images parsed; schema-change rows only when asked. */
export async function readSqlServerEvents(db: mssql.ConnectionPool, options: { schemaChanges: boolean }): Promise<CapturedEvent[]> {
  const where = options.schemaChanges ? '' : " WHERE op <> 'schema'";
  const res = await db
    .request()
    .query<Record<string, string | null>>(`SELECT CAST(seq AS varchar(20)) AS seq, op, table_name, [key], [before], [after], changed, attributes FROM [outbox].events${where} ORDER BY rv`);
  const parse = (v: string | null) => (v === null ? null : JSON.parse(v));
  return res.recordset.map((r) => ({
    seq: r.seq!,
    op: r.op!,
    table_name: r.table_name!,
    key: parse(r.key!),
    before: parse(r.before!),
    after: parse(r.after!),
    changed: parse(r.changed!),
    attributes: parse(r.attributes!),
  }));
}

const sqlserver: TestDialect = {
  name: 'sqlserver',
  label: 'SQL Server',
  skip: MSSQL_URL ? null : 'MSSQL_URL is not set',
  dataSchema: 'dbo',
  types: { text: 'nvarchar(200)' },
  async open() {
    const database = await createSqlServerDatabase();
    const { db, url } = database;
    const source = await openSourceAdapter({ dialect: 'sqlserver', url, schema: 'outbox', logger: silentLogger });
    const others: SourceAdapter[] = [];
    try {
      await source.migrate();
    } catch (err) {
      await source.close();
      await database.drop();
      throw err;
    }
    return {
      source,
      async exec(sql) {
        await db.request().batch(sql);
      },
      async begin() {
        const tx = await new mssql.Transaction(db).begin();
        return { exec: async (sql) => void (await new mssql.Request(tx).batch(sql)), commit: () => tx.commit(), rollback: () => tx.rollback() };
      },
      events() {
        return readSqlServerEvents(db, { schemaChanges: false });
      },
      async openSource(schema) {
        const other = await openSourceAdapter({ dialect: 'sqlserver', url, schema, logger: silentLogger });
        others.push(other);
        return other;
      },
      async close() {
        await Promise.all([source, ...others].map((s) => s.close()));
        await database.drop();
      },
    };
  },
};

/** Every source dialect, in the order the suite reports them. */
export const DIALECTS: TestDialect[] = [postgres, sqlserver];

export function dialect(name: SourceDialect): TestDialect {
  return DIALECTS.find((d) => d.name === name)!;
}
