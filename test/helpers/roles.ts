import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { silentLogger } from '../../src/logger.js';
import { PostgresSource } from '../../src/source/postgres/adapter.js';
import type { MigrateResult } from '../../src/source/types.js';
import { createTestDatabase, type TestDatabase } from './db.js';
import { PG_ADMIN_URL } from './env.js';

/**
 * A fresh database used as docs/operations.md ("Database roles") says, by roles without superuser:
 * `owner` may create the outbox schema (CREATE on the database) and its tables in public, migrates,
 * tracks and runs the DDL and the relay; `writer`, the application, has DML on the tables the test
 * grants it and only the capture grants on the outbox schema.
 */
export interface RoleSource {
  db: TestDatabase;
  owner: string;
  writer: string;
  url: string;
  /** Connected as owner. */
  pool: pg.Pool;
  /** Connected as writer. */
  writerPool: pg.Pool;
  source: PostgresSource;
  migrated: MigrateResult;
  /** Grants writer DML on a table of owner's (run by owner). */
  grantWrites(table: string): Promise<void>;
  close(): Promise<void>;
}

export async function createRoleSource(schema = 'outbox'): Promise<RoleSource> {
  const db = await createTestDatabase('outbox_roles');
  const suffix = randomBytes(4).toString('hex');
  const owner = `outbox_owner_${suffix}`;
  const writer = `outbox_writer_${suffix}`;
  await db.pool.query(`CREATE ROLE "${owner}" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE`);
  await db.pool.query(`CREATE ROLE "${writer}" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE`);
  await db.pool.query(`GRANT CREATE ON DATABASE "${db.name}" TO "${owner}"`);
  await db.pool.query(`GRANT CREATE, USAGE ON SCHEMA public TO "${owner}"`);
  await db.pool.query(`GRANT USAGE ON SCHEMA public TO "${writer}"`);
  const as = (role: string) => {
    const url = new URL(db.url);
    url.username = role;
    return url.toString();
  };
  const url = as(owner);
  const pool = new pg.Pool({ connectionString: url, max: 4 });
  const writerPool = new pg.Pool({ connectionString: as(writer), max: 6 });
  pool.on('error', () => undefined);
  writerPool.on('error', () => undefined);
  const source = new PostgresSource({ url, schema, logger: silentLogger });
  const migrated = await source.migrate();
  const q = `"${schema}"`;
  // The capture grants of the application role (docs/operations.md, "Database roles").
  await pool.query(`GRANT USAGE ON SCHEMA ${q} TO "${writer}"`);
  await pool.query(`GRANT INSERT ON ${q}.events TO "${writer}"`);
  await pool.query(`GRANT USAGE ON SEQUENCE ${q}.event_seq TO "${writer}"`);
  await pool.query(`GRANT SELECT ON ${q}.rotation TO "${writer}"`);
  return {
    db,
    owner,
    writer,
    url,
    pool,
    writerPool,
    source,
    migrated,
    async grantWrites(table: string) {
      await pool.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON ${table} TO "${writer}"`);
    },
    async close() {
      await source.close();
      await pool.end();
      await writerPool.end();
      await db.drop();
      const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
      await admin.connect();
      try {
        await admin.query(`DROP ROLE IF EXISTS "${owner}"`);
        await admin.query(`DROP ROLE IF EXISTS "${writer}"`);
      } finally {
        await admin.end();
      }
    },
  };
}
