import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { isOutboxError } from '../../src/errors.js';
import { silentLogger } from '../../src/logger.js';
import { PostgresSource } from '../../src/source/postgres/adapter.js';
import { listMigrations } from '../../src/sql/files.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { readDecodedOutbox } from '../helpers/source.js';

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanup.length) await cleanup.pop()!();
});
afterAll(async () => {
  while (cleanup.length) await cleanup.pop()!();
});

const FILES = listMigrations('postgres');

async function freshDatabase(): Promise<TestDatabase> {
  const db = await createTestDatabase();
  cleanup.push(() => db.drop());
  return db;
}

function openSource(db: TestDatabase, schema = 'outbox'): PostgresSource {
  const source = new PostgresSource({ url: db.url, schema, poolSize: 2, logger: silentLogger });
  cleanup.push(() => source.close());
  return source;
}

async function ledger(db: TestDatabase, schema = 'outbox') {
  const res = await db.pool.query(`SELECT version, name, checksum FROM "${schema}".schema_migrations ORDER BY version`);
  return res.rows;
}

async function errorOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

describe('outbox migrate', () => {
  it('installs every migration once; a second run applies nothing and changes nothing', async () => {
    const db = await freshDatabase();
    const source = openSource(db);
    const first = await source.migrate();
    expect(first.applied.map((m) => m.version)).toEqual(FILES.map((f) => f.version));
    expect(first.current).toBe(FILES.at(-1)!.version);
    const before = await ledger(db);
    expect(before.map((r) => [r.version, r.name, r.checksum])).toEqual(FILES.map((f) => [f.version, f.name, f.checksum]));

    const second = await source.migrate();
    expect(second.applied).toEqual([]);
    expect(await ledger(db)).toEqual(before);
    expect(await source.migrationState()).toMatchObject({ pending: [], changed: [], unknown: [], databaseVersion: FILES.at(-1)!.version });
  });

  it('is safe when 10 run at once on a fresh database: all succeed, one ledger', async () => {
    const db = await freshDatabase();
    const sources = Array.from({ length: 10 }, () => openSource(db));
    const results = await Promise.allSettled(sources.map((s) => s.migrate()));
    const failures = results.filter((r) => r.status === 'rejected').map((r) => String((r as PromiseRejectedResult).reason));
    expect(failures).toEqual([]);
    const applied = results.map((r) => (r as PromiseFulfilledResult<{ applied: unknown[] }>).value.applied.length);
    expect(applied.filter((n) => n > 0)).toEqual([FILES.length]); // exactly one run did the work
    expect((await ledger(db)).map((r) => r.version)).toEqual(FILES.map((f) => f.version));
    const seqs = await db.pool.query(`SELECT sequencename, cache_size::int FROM pg_sequences WHERE schemaname = 'outbox' AND sequencename = 'event_seq'`);
    expect(seqs.rows).toEqual([{ sequencename: 'event_seq', cache_size: 1 }]);
  });

  it('refuses a migration whose released file changed (checksum drift in the ledger)', async () => {
    const db = await freshDatabase();
    const source = openSource(db);
    await source.migrate();
    await db.pool.query(`UPDATE outbox.schema_migrations SET checksum = repeat('0', 64) WHERE version = 1`);
    const err = await errorOf(source.migrate());
    expect(isOutboxError(err, 'MIGRATION_CHANGED')).toBe(true);
    expect((err as Error).message).toMatch(/Migration 1 \(outbox_core\) was changed after it was applied/);
    expect((await source.migrationState()).changed).toEqual([{ version: 1, name: 'outbox_core' }]);
  });

  it('refuses a database whose ledger has a version this code does not know', async () => {
    const db = await freshDatabase();
    const source = openSource(db);
    await source.migrate();
    await db.pool.query(`INSERT INTO outbox.schema_migrations (version, name, checksum) VALUES (999999, 'from_the_future', 'x')`);
    const err = await errorOf(source.migrate());
    expect(isOutboxError(err, 'SCHEMA_NEWER_THAN_CODE')).toBe(true);
    expect((err as Error).message).toContain('999999 (from_the_future)');
    // other commands refuse too, rather than write into a schema they do not understand
    await db.pool.query('CREATE TABLE public.t (id int PRIMARY KEY)');
    const trackErr = await errorOf(source.track({ table: { schema: 'public', table: 't' } }));
    expect(isOutboxError(trackErr, 'SCHEMA_NEWER_THAN_CODE')).toBe(true);
  });

  it('rolls back a failed run as a whole: no half-installed schema', async () => {
    const db = await freshDatabase();
    // a conflicting object makes migration 1 fail half-way
    await db.pool.query(`CREATE SCHEMA outbox; CREATE TABLE outbox.rotation (x int)`);
    const source = openSource(db);
    await expect(source.migrate()).rejects.toThrow(/rotation/);
    const left = await db.pool.query(`SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = 'outbox'`);
    expect(left.rows[0].n).toBe(1); // only the table we made
    expect((await source.migrationState()).databaseVersion).toBe(0);
  });

  it('installs into a configured schema name, and capture writes there', async () => {
    const db = await freshDatabase();
    const source = openSource(db, 'sync_out');
    await source.migrate();
    expect((await ledger(db, 'sync_out')).length).toBe(FILES.length);
    const other = await db.pool.query(`SELECT to_regnamespace('outbox') IS NULL AS absent`);
    expect(other.rows[0].absent).toBe(true);
    await db.pool.query('CREATE TABLE public.items (id int PRIMARY KEY, name text)');
    await source.track({ table: { schema: 'public', table: 'items' } });
    await db.pool.query(`INSERT INTO items VALUES (1, 'a')`);
    const raw = await db.pool.query(`SELECT op, new_row FROM sync_out.events`);
    expect(raw.rows).toEqual([{ op: 'insert', new_row: { id: 1, name: 'a' } }]);
    const events = (await readDecodedOutbox(db.pool, 'sync_out')).map((e) => ({ op: e.op, key: e.key }));
    expect(events).toEqual([{ op: 'insert', key: { id: 1 } }]);
  });

  it('refuses an invalid schema name before touching the database', async () => {
    const db = await freshDatabase();
    let err: unknown;
    try {
      openSource(db, 'bad-name;drop');
    } catch (e) {
      err = e;
    }
    expect(isOutboxError(err, 'IDENTIFIER_INVALID')).toBe(true);
    expect((err as Error).message).toContain('"bad-name;drop"');
    const schemas = await db.pool.query(`SELECT count(*)::int AS n FROM pg_namespace WHERE nspname LIKE 'bad%'`);
    expect(schemas.rows[0].n).toBe(0);
  });
});
