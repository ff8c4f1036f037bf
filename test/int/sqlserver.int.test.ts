/**
 * The SQL Server behaviour that has no PostgreSQL counterpart: the TRUNCATE guard, value encoding,
 * doctor, the database DDL trigger and rowversion reading. The cases both dialects share run from the
 * dialect list in source-dialects.int.test.ts. Like them, these run only when MSSQL_URL points at a
 * SQL Server 2016 SP1+ whose login may CREATE DATABASE (test/helpers/dialects.ts); otherwise every
 * test here reports as skipped. Each run creates and drops its own database.
 */
import mssql from 'mssql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/logger.js';
import { SqlServerSource } from '../../src/source/sqlserver/adapter.js';
import { parseConnectionConfig } from '../../src/source/sqlserver/pool.js';
import { SqlServerOutboxStore } from '../../src/source/sqlserver/relay-store.js';
import { createSqlServerDatabase, dialect, readSqlServerEvents } from '../helpers/dialects.js';

describe.skipIf(dialect('sqlserver').skip !== null)('SQL Server source', () => {
  let database: Awaited<ReturnType<typeof createSqlServerDatabase>>;
  let db: mssql.ConnectionPool;
  let url: string;
  let source: SqlServerSource;

  const sql = (text: string) => db.request().batch(text);
  const events = () => readSqlServerEvents(db, { schemaChanges: true });
  async function since(seq: string) {
    return (await events()).filter((e) => BigInt(e.seq) > BigInt(seq));
  }
  async function lastSeq() {
    const all = await events();
    return all.reduce((max, e) => (BigInt(e.seq) > BigInt(max) ? e.seq : max), '0');
  }

  beforeAll(async () => {
    database = await createSqlServerDatabase();
    ({ db, url } = database);
    source = new SqlServerSource({ url, schema: 'outbox', logger: silentLogger });
    await source.migrate();
    await sql(`
      CREATE TABLE dbo.customers (
        id bigint NOT NULL PRIMARY KEY,
        name nvarchar(100) NOT NULL,
        email nvarchar(200) NULL,
        secret nvarchar(100) NULL,
        tenant_id int NOT NULL DEFAULT 1,
        balance decimal(20, 4) NULL
      )`);
    await source.track({ table: { schema: 'dbo', table: 'customers' }, exclude: ['secret'], attributes: ['tenant_id'] });
  });

  afterAll(async () => {
    await source?.close();
    await database?.drop();
  });

  describe('capture', () => {
    it('writes nothing when only excluded columns change, and sees a case-only change', async () => {
      await sql(`INSERT INTO dbo.customers (id, name, secret) VALUES (2, N'Bob', N'a')`);
      const start = await lastSeq();
      await sql(`UPDATE dbo.customers SET secret = N'b' WHERE id = 2`);
      expect(await since(start)).toEqual([]);
      await sql(`UPDATE dbo.customers SET name = N'BOB' WHERE id = 2`);
      expect((await since(start)).map((e) => e.changed)).toEqual([['name']]);
    });

    it('blocks TRUNCATE TABLE with the guard (no trigger could capture it); DELETE still works', async () => {
      await expect(sql('TRUNCATE TABLE dbo.customers')).rejects.toThrow(/FOREIGN KEY/i);
      expect(await source.doctor()).toEqual([]);
    });

    it('encodes values like PostgreSQL', async () => {
      await sql(`CREATE TABLE dbo.kinds (
        id int NOT NULL PRIMARY KEY, big bigint, dec decimal(10, 3), flag bit, at datetimeoffset(3), local datetime2(0),
        day date, bin varbinary(10), uid uniqueidentifier, ratio float, [odd.name]] x] nvarchar(10))`);
      await source.track({ table: { schema: 'dbo', table: 'kinds' } });
      const start = await lastSeq();
      await sql(`INSERT INTO dbo.kinds VALUES (1, 9007199254740993, 1.500, 1, '2024-01-02T12:00:00.123+02:00', '2024-01-02T03:04:05',
        '2024-01-02', 0x0AFF, 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11', 0.1, N'q"\\')`);
      const [e] = await since(start);
      expect(e!.after).toEqual({
        id: 1,
        big: '9007199254740993',
        dec: '1.500',
        flag: true,
        at: '2024-01-02T10:00:00.123+00:00',
        local: '2024-01-02T03:04:05',
        day: '2024-01-02',
        bin: '\\x0aff',
        uid: 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
        ratio: 0.1,
        'odd.name] x': 'q"\\',
      });
    });

    it('doctor reports a disabled trigger; untrack removes trigger and guard', async () => {
      await sql(`CREATE TABLE dbo.tmp (id int NOT NULL PRIMARY KEY, v int)`);
      const tracked = await source.track({ table: { schema: 'dbo', table: 'tmp' } });
      expect(tracked.keyColumns).toEqual(['id']);
      await sql(`DISABLE TRIGGER ALL ON dbo.tmp`);
      expect((await source.doctor()).map((f) => [f.severity, f.check])).toEqual([['error', 'trigger']]);
      expect(await source.untrack({ schema: 'dbo', table: 'tmp' })).toBe(true);
      await sql('TRUNCATE TABLE dbo.tmp');
      expect((await source.listTracked()).map((t) => t.table.table)).not.toContain('tmp');
    });
  });

  describe('schema changes (database DDL trigger)', () => {
    interface SchemaRow {
      seq: string;
      table_name: string;
      change: { dialect: string; before: { name: string; type: string; nullable: boolean }[] | null; after: { name: string; type: string }[] | null; key: string[]; changes: Record<string, string>[] };
    }
    async function schemaRows(table: string, after = '0'): Promise<SchemaRow[]> {
      const res = await db
        .request()
        .input('table', mssql.NVarChar(128), table)
        .query<{ seq: string; table_name: string; schema_change: string }>(
          `SELECT CAST(seq AS varchar(20)) AS seq, table_name, schema_change FROM [outbox].events WHERE op = 'schema' AND table_name = @table ORDER BY rv`,
        );
      return res.recordset.filter((r) => BigInt(r.seq) > BigInt(after)).map((r) => ({ seq: r.seq, table_name: r.table_name, change: JSON.parse(r.schema_change) }));
    }
    const rowsOf = async (table: string, after: string) => (await since(after)).filter((e) => e.table_name === table && e.op !== 'schema');

    beforeAll(async () => {
      await sql(`CREATE TABLE dbo.ddl (id int NOT NULL PRIMARY KEY, name nvarchar(40) NULL, pin nvarchar(10) NULL, tenant int NOT NULL DEFAULT 1, old_note nvarchar(20) NULL)`);
      await source.track({ table: { schema: 'dbo', table: 'ddl' }, exclude: ['pin'], attributes: ['tenant'] });
      await sql(`INSERT INTO dbo.ddl (id, name, pin) VALUES (1, N'one', N'1111')`);
    });

    it('is installed by track, and doctor has nothing to say', async () => {
      const res = await db.request().query<{ n: number }>(`SELECT COUNT(*) AS n FROM sys.triggers WHERE parent_class = 0 AND name = N'outbox_ddl_outbox' AND is_disabled = 0`);
      expect(res.recordset[0]!.n).toBe(1);
      expect((await source.doctor()).filter((f) => f.check === 'schema-changes')).toEqual([]);
    });

    it('ADD COLUMN: a schema-change row, then the new column is captured from its first change', async () => {
      const start = await lastSeq();
      await sql(`ALTER TABLE dbo.ddl ADD note nvarchar(20) NULL`);
      const [change] = await schemaRows('ddl', start);
      expect(change!.change.dialect).toBe('sqlserver');
      expect(change!.change.changes).toEqual([{ kind: 'add_column', column: 'note', type: 'nvarchar(20)' }]);
      expect(change!.change.after!.map((c) => c.name)).toEqual(['id', 'name', 'tenant', 'old_note', 'note']);
      expect(JSON.stringify(change!.change)).not.toContain('pin');
      await sql(`UPDATE dbo.ddl SET note = N'new' WHERE id = 1`);
      const [upd] = await rowsOf('ddl', change!.seq);
      expect(upd!.changed).toEqual(['note']);
      expect(upd!.after).toMatchObject({ id: 1, note: 'new' });
      expect(BigInt(upd!.seq)).toBeGreaterThan(BigInt(change!.seq));
    });

    it('DROP COLUMN, sp_rename COLUMN, ALTER COLUMN type: no write fails, each change is described', async () => {
      const start = await lastSeq();
      await sql(`ALTER TABLE dbo.ddl DROP COLUMN old_note`);
      await sql(`INSERT INTO dbo.ddl (id, name, note) VALUES (2, N'two', N'n2')`);
      await sql(`EXEC sp_rename N'dbo.ddl.note', N'memo', N'COLUMN'`);
      await sql(`UPDATE dbo.ddl SET memo = N'renamed' WHERE id = 2`);
      await sql(`ALTER TABLE dbo.ddl ALTER COLUMN memo nvarchar(100) NULL`);
      await sql(`UPDATE dbo.ddl SET memo = REPLICATE(N'x', 60) WHERE id = 2`);
      const changes = (await schemaRows('ddl', start)).map((r) => r.change.changes);
      expect(changes).toEqual([
        [{ kind: 'drop_column', column: 'old_note' }],
        [{ kind: 'rename_column', column: 'memo', from: 'note' }],
        [{ kind: 'alter_type', column: 'memo', from: 'nvarchar(20)', to: 'nvarchar(100)' }],
      ]);
      const rows = await rowsOf('ddl', start);
      expect(rows.map((e) => e.op)).toEqual(['insert', 'update', 'update']);
      expect(rows[0]!.after).toEqual({ id: 2, name: 'two', tenant: 1, note: 'n2' });
      expect(rows[1]!.after).toEqual({ id: 2, name: 'two', tenant: 1, memo: 'renamed' });
      expect(rows[2]!.after!.memo).toBe('x'.repeat(60));
      expect(await source.doctor()).toEqual([]);
    });

    it('an excluded column renamed stays excluded, and a column added under an excluded name is excluded', async () => {
      const start = await lastSeq();
      await sql(`EXEC sp_rename N'dbo.ddl.pin', N'pin_code', N'COLUMN'`);
      await sql(`ALTER TABLE dbo.ddl ADD pin nvarchar(10) NULL`);
      await sql(`UPDATE dbo.ddl SET pin_code = N'2222', pin = N'3333', name = N'uno' WHERE id = 1`);
      expect(await schemaRows('ddl', start)).toEqual([]);
      const rows = await rowsOf('ddl', start);
      expect(rows).toHaveLength(1);
      expect(JSON.stringify(rows)).not.toMatch(/pin|2222|3333/);
      const tracked = (await source.listTracked()).find((t) => t.table.table === 'ddl')!;
      expect(tracked.excludedColumns).toEqual(['pin', 'pin_code']);
    });

    it('refuses, at DDL time, to drop or rename a key or attribute column; writes go on', async () => {
      await expect(sql(`EXEC sp_rename N'dbo.ddl.id', N'ident', N'COLUMN'`)).rejects.toThrow(/key column.*outbox untrack/s);
      await expect(sql(`EXEC sp_rename N'dbo.ddl.tenant', N'tenant_id', N'COLUMN'`)).rejects.toThrow(/attribute column/);
      const start = await lastSeq();
      await sql(`INSERT INTO dbo.ddl (id, name) VALUES (3, N'three')`);
      expect((await rowsOf('ddl', start)).map((e) => e.key)).toEqual([{ id: 3 }]);
    });

    it('refuses a column type capture cannot read, naming the fix', async () => {
      await expect(sql(`ALTER TABLE dbo.ddl ADD notes ntext NULL`)).rejects.toThrow(/cannot capture.*--exclude notes/s);
      await sql(`INSERT INTO dbo.ddl (id, name) VALUES (4, N'four')`);
    });

    it('sp_rename of the table: capture follows it under the new name', async () => {
      const start = await lastSeq();
      await sql(`EXEC sp_rename N'dbo.ddl', N'ddl_renamed'`);
      const [change] = await schemaRows('ddl', start);
      expect(change!.change.changes).toEqual([{ kind: 'rename_table', from: 'ddl', to: 'dbo.ddl_renamed' }]);
      await sql(`UPDATE dbo.ddl_renamed SET name = N'ONE' WHERE id = 1`);
      const rows = await rowsOf('ddl_renamed', start);
      expect(rows.map((e) => [e.op, e.key])).toEqual([['update', { id: 1 }]]);
      expect((await source.listTracked()).map((t) => t.table.table)).toContain('ddl_renamed');
      expect((await source.doctor()).filter((f) => f.severity === 'error')).toEqual([]);
    });

    it('DROP TABLE of a table without a TRUNCATE guard: a drop_table change, and the table leaves the registry', async () => {
      await sql(`CREATE TABLE dbo.ddl_heap (id int NOT NULL, v int NULL)`);
      await source.track({ table: { schema: 'dbo', table: 'ddl_heap' }, key: ['id'] });
      const start = await lastSeq();
      await sql(`DROP TABLE dbo.ddl_heap`);
      const [change] = await schemaRows('ddl_heap', start);
      expect(change!.change.after).toBeNull();
      expect(change!.change.changes).toEqual([{ kind: 'drop_table' }]);
      expect((await source.listTracked()).map((t) => t.table.table)).not.toContain('ddl_heap');
    });

    it('every DDL kind while the application writes: no write fails, every write is captured', async () => {
      await sql(`CREATE TABLE dbo.ddl_busy (id int NOT NULL PRIMARY KEY, a nvarchar(20) NULL, b int NULL)`);
      await source.track({ table: { schema: 'dbo', table: 'ddl_busy' } });
      const start = await lastSeq();
      const writer = new mssql.ConnectionPool(parseConnectionConfig(url));
      await writer.connect();
      let stop = false;
      let written = 0;
      const failures: string[] = [];
      const writes = (async () => {
        while (!stop || written < 50) {
          try {
            await writer.request().batch(`INSERT INTO dbo.ddl_busy (id, a) VALUES (${written + 1}, N'w')`);
            written++;
          } catch (err) {
            failures.push((err as Error).message);
            if (failures.length > 5) break;
          }
        }
      })();
      for (const ddl of [
        `ALTER TABLE dbo.ddl_busy ADD c datetime2(3) NULL`,
        `EXEC sp_rename N'dbo.ddl_busy.a', N'a2', N'COLUMN'`,
        `ALTER TABLE dbo.ddl_busy ALTER COLUMN a2 nvarchar(200) NULL`,
        `ALTER TABLE dbo.ddl_busy DROP COLUMN b`,
      ]) {
        await sql(ddl);
      }
      stop = true;
      await writes;
      await writer.close();
      expect(failures).toEqual([]);
      const inserts = (await rowsOf('ddl_busy', start)).filter((e) => e.op === 'insert');
      expect(inserts.map((e) => e.key!.id).sort((x, y) => Number(x) - Number(y))).toEqual(Array.from({ length: written }, (_, i) => i + 1));
      expect((await schemaRows('ddl_busy', start)).map((r) => r.change.changes[0]!.kind)).toEqual(['add_column', 'rename_column', 'alter_type', 'drop_column']);
    });
  });

  describe('relay reading', () => {
    it('never skips a transaction that commits late, and reads in commit-safe rv order', async () => {
      const store = await SqlServerOutboxStore.open({ url, schema: 'outbox', logger: silentLogger });
      const session = await store.claimLeadership('test-a');
      for (;;) {
        const page = await session.readPage(1000);
        await session.advance(page, page.events.length);
        if (page.last) break;
      }
      const early = await new mssql.Transaction(db).begin();
      await new mssql.Request(early).batch(`INSERT INTO dbo.customers (id, name) VALUES (500, N'early')`);
      await sql(`INSERT INTO dbo.customers (id, name) VALUES (501, N'late')`);
      const blocked = await session.readPage(1000);
      expect(blocked.events).toEqual([]);
      await early.commit();
      const page = await session.readPage(1000);
      expect(page.events.map((e) => e.key)).toEqual([{ id: '500' }, { id: '501' }]);
      expect(await session.advance(page, 2)).toBe(true);
      expect((await session.readPage(1000)).events).toEqual([]);
      await store.close();
    });

    it('fences a stale leader: its advance changes nothing', async () => {
      const store = await SqlServerOutboxStore.open({ url, schema: 'outbox', logger: silentLogger });
      const a = await store.claimLeadership('a');
      await sql(`INSERT INTO dbo.customers (id, name) VALUES (600, N'x')`);
      const page = await a.readPage(10);
      const b = await store.claimLeadership('b');
      expect(BigInt(b.epoch)).toBeGreaterThan(BigInt(a.epoch));
      expect(await a.advance(page, page.events.length)).toBe(false);
      expect((await b.readPage(10)).events.map((e) => e.key)).toContainEqual({ id: '600' });
      expect(await b.reclaim(60_000)).toEqual({ done: false, reason: 'too-recent' });
      expect(await a.reclaim(0)).toEqual({ done: false, reason: 'fenced' });
      await store.close();
    });
  });
});
