import { silentLogger } from '../../src/logger.js';
import { PostgresSource } from '../../src/source/postgres/adapter.js';
import { createTestDatabase, type TestDatabase } from './db.js';

export interface CapturedEvent {
  seq: string;
  op: string;
  table_schema: string;
  table_name: string;
  key: Record<string, unknown> | null;
  before: Record<string, unknown> | null;
  after: Record<string, unknown> | null;
  changed: string[] | null;
  attributes: Record<string, string> | null;
}

/** A fresh database with the outbox schema migrated, and a source adapter on it. */
export async function createMigratedSource(schema = 'outbox'): Promise<{ db: TestDatabase; source: PostgresSource; events(): Promise<CapturedEvent[]>; close(): Promise<void> }> {
  const db = await createTestDatabase();
  const source = new PostgresSource({ url: db.url, schema, logger: silentLogger });
  await source.migrate();
  return {
    db,
    source,
    async events() {
      const res = await db.pool.query(`SELECT seq, op, table_schema, table_name, key, before, after, changed, attributes FROM "${schema}".events ORDER BY seq`);
      return res.rows;
    },
    async close() {
      await source.close();
      await db.drop();
    },
  };
}
