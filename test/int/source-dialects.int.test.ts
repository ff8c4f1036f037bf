/**
 * The source behaviour suite, once per dialect of the dialect list (test/helpers/dialects.ts):
 * migrate, capture and the relay's reading through the SourceAdapter port, with portable SQL. A dialect
 * that cannot run here (SQL Server without MSSQL_URL) reports every case as skipped. What only one
 * dialect has stays in its own file (capture.int.test.ts, sqlserver.int.test.ts …).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isOutboxError } from '../../src/errors.js';
import { silentLogger } from '../../src/logger.js';
import { DIALECTS, type DialectDatabase } from '../helpers/dialects.js';

describe.each(DIALECTS.map((d) => [d.label, d] as const))('%s source', (_label, d) => {
  describe.skipIf(d.skip !== null)(`behaviour${d.skip ? ` (skipped: ${d.skip})` : ''}`, () => {
    let db: DialectDatabase;
    const t = (name: string) => `${d.dataSchema}.${name}`;

    async function since(seq: string) {
      return (await db.events()).filter((e) => BigInt(e.seq) > BigInt(seq));
    }
    async function lastSeq() {
      const all = await db.events();
      return all.reduce((max, e) => (BigInt(e.seq) > BigInt(max) ? e.seq : max), '0');
    }

    beforeAll(async () => {
      db = await d.open();
      await db.exec(`
        CREATE TABLE ${t('customers')} (
          id bigint NOT NULL PRIMARY KEY,
          name ${d.types.text} NOT NULL,
          email ${d.types.text} NULL,
          secret ${d.types.text} NULL,
          tenant_id int NOT NULL DEFAULT 1,
          balance decimal(20, 4) NULL
        )`);
      await db.source.track({ table: { schema: d.dataSchema, table: 'customers' }, exclude: ['secret'], attributes: ['tenant_id'] });
    });

    afterAll(async () => db?.close());

    describe('migrate', () => {
      it('is idempotent and reports the state', async () => {
        expect((await db.source.migrate()).applied).toEqual([]);
        const state = await db.source.migrationState();
        expect(state.databaseVersion).toBe(state.codeVersion);
        expect(state.pending).toEqual([]);
      });

      it('many migrations at once serialize on one lock', async () => {
        const fresh = await Promise.all(Array.from({ length: 5 }, () => db.openSource('outbox_many')));
        const results = await Promise.all(fresh.map((s) => s.migrate()));
        expect(results.filter((r) => r.applied.length > 0)).toHaveLength(1);
      });

      it('refuses a changed released file and a newer schema', async () => {
        const other = await db.openSource('outbox_drift');
        await other.migrate();
        await db.exec(`UPDATE outbox_drift.schema_migrations SET checksum = '${'0'.repeat(64)}' WHERE version = 1`);
        await expect(other.migrate()).rejects.toSatisfy((e: unknown) => isOutboxError(e, 'MIGRATION_CHANGED'));
        await db.exec(`UPDATE outbox_drift.schema_migrations SET checksum = (SELECT checksum FROM outbox.schema_migrations WHERE version = 1) WHERE version = 1`);
        await db.exec(`INSERT INTO outbox_drift.schema_migrations (version, name, checksum) VALUES (999, 'future', '${'f'.repeat(64)}')`);
        await expect(other.migrate()).rejects.toSatisfy((e: unknown) => isOutboxError(e, 'SCHEMA_NEWER_THAN_CODE'));
      });
    });

    describe('capture', () => {
      it('captures insert, update and delete with images and changed columns', async () => {
        const start = await lastSeq();
        await db.exec(`INSERT INTO ${t('customers')} (id, name, email, secret, balance) VALUES (1, 'Ann', 'ann@example.com', 's3cr3t', 12.3400)`);
        await db.exec(`UPDATE ${t('customers')} SET email = 'ann@new.example' WHERE id = 1`);
        await db.exec(`DELETE FROM ${t('customers')} WHERE id = 1`);
        const events = await since(start);
        expect(events.map((e) => e.op)).toEqual(['insert', 'update', 'delete']);
        const [ins, upd, del] = events;
        expect(ins!.key).toEqual({ id: '1' });
        expect(ins!.after).toEqual({ id: '1', name: 'Ann', email: 'ann@example.com', tenant_id: 1, balance: '12.3400' });
        expect(ins!.before).toBeNull();
        expect(ins!.attributes).toEqual({ tenant_id: '1' });
        expect(upd!.before).toMatchObject({ email: 'ann@example.com' });
        expect(upd!.after).toMatchObject({ email: 'ann@new.example' });
        expect(upd!.changed).toEqual(['email']);
        expect(del!.before).toMatchObject({ id: '1', name: 'Ann' });
        expect(del!.after).toBeNull();
        for (const e of events) {
          expect(JSON.stringify(e)).not.toContain('s3cr3t');
          expect(JSON.stringify(e)).not.toContain('secret');
        }
      });

      it('writes nothing when only excluded columns change', async () => {
        await db.exec(`INSERT INTO ${t('customers')} (id, name, secret) VALUES (2, 'Bob', 'a')`);
        const start = await lastSeq();
        await db.exec(`UPDATE ${t('customers')} SET secret = 'b' WHERE id = 2`);
        expect(await since(start)).toEqual([]);
      });

      it('captures every row of a multi-row statement, and a key change as delete + insert', async () => {
        const start = await lastSeq();
        await db.exec(`INSERT INTO ${t('customers')} (id, name) SELECT v, CONCAT('n', v) FROM (VALUES (10), (11), (12), (13), (14)) AS t(v)`);
        await db.exec(`UPDATE ${t('customers')} SET name = CONCAT(name, '!') WHERE id BETWEEN 10 AND 14`);
        await db.exec(`UPDATE ${t('customers')} SET id = 20 WHERE id = 10`);
        const events = await since(start);
        expect(events.filter((e) => e.op === 'insert' && Number(e.key!.id) < 20)).toHaveLength(5);
        expect(events.filter((e) => e.op === 'update')).toHaveLength(5);
        const moved = events.slice(-2);
        expect(moved.map((e) => [e.op, e.key])).toEqual(expect.arrayContaining([['delete', { id: '10' }], ['insert', { id: '20' }]]));
      });

      it('leaves nothing for a rolled-back transaction', async () => {
        const start = await lastSeq();
        const tx = await db.begin();
        await tx.exec(`INSERT INTO ${t('customers')} (id, name) VALUES (99, 'ghost')`);
        await tx.rollback();
        expect(await since(start)).toEqual([]);
      });

      it('a re-track without options keeps the recorded excluded and attribute columns', async () => {
        await db.exec(`CREATE TABLE ${t('retrack')} (id int NOT NULL PRIMARY KEY, v int, pin ${d.types.text}, tenant int)`);
        const table = { schema: d.dataSchema, table: 'retrack' };
        await db.source.track({ table, exclude: ['pin'], attributes: ['tenant'] });
        await db.exec(`ALTER TABLE ${t('retrack')} ADD note ${d.types.text} NULL`);
        const again = await db.source.track({ table });
        expect(again.excludedColumns).toEqual(['pin']);
        expect(again.attributeColumns).toEqual(['tenant']);
        expect(again.capturedColumns).toEqual(['id', 'v', 'tenant', 'note']);
        const start = await lastSeq();
        await db.exec(`INSERT INTO ${t('retrack')} (id, v, pin, tenant, note) VALUES (1, 2, '1234', 3, 'hi')`);
        const [ins] = await since(start);
        expect(ins!.after).toEqual({ id: 1, v: 2, tenant: 3, note: 'hi' });
        await db.source.untrack(table, { force: true });
      });
    });

    describe('relay', () => {
      it('ends a page at the row that takes its images past the byte bound, the first row whatever its size; nothing skipped or repeated', async () => {
        await db.exec(`CREATE TABLE ${t('wide')} (id int NOT NULL PRIMARY KEY, body ${d.types.text} NULL)`);
        await db.source.track({ table: { schema: d.dataSchema, table: 'wide' } });
        const text = (chars: number) => `'${'x'.repeat(chars)}'`;
        const store = await db.source.openOutboxStore({ sourceName: 'dialects', logger: silentLogger, pageBytes: 10_000 });
        try {
          const session = await store.claimLeadership('dialect-bytes');
          const pages: { ids: number[]; last: boolean }[] = [];
          for (;;) {
            const page = await session.readPage(500);
            pages.push({ ids: page.events.filter((e) => e.tableName === 'wide').map((e) => Number((e.key as { id: number | string }).id)), last: page.last });
            expect(await session.advance(page, page.events.length)).toBe(true);
            if (page.events.length === 0 && page.last) break;
          }
          pages.length = 0;
          // One statement: one transaction (for PostgreSQL, one snapshot window that a cut page must not close).
          const rows = Array.from({ length: 12 }, (_, k) => `(${k + 1}, ${text(k + 1 === 5 || k + 1 === 6 ? 20_000 : 3_000)})`);
          await db.exec(`INSERT INTO ${t('wide')} (id, body) VALUES ${rows.join(', ')}`);
          for (;;) {
            const page = await session.readPage(500);
            pages.push({ ids: page.events.filter((e) => e.tableName === 'wide').map((e) => Number((e.key as { id: number | string }).id)), last: page.last });
            expect(await session.advance(page, page.events.length)).toBe(true);
            if (page.events.length === 0 && page.last) break;
          }
          const withRows = pages.filter((p) => p.ids.length > 0);
          expect(withRows.flatMap((p) => p.ids)).toEqual(Array.from({ length: 12 }, (_, k) => k + 1));
          // 3,000 characters are at least 3,000 bytes: at most 4 rows (the one that passes 10,000 bytes
          // ends the page); a row past the bound alone still comes, one to a page.
          expect(Math.max(...withRows.map((p) => p.ids.length))).toBeLessThanOrEqual(4);
          expect(withRows.filter((p) => p.ids.includes(5) || p.ids.includes(6)).map((p) => p.ids)).toEqual([[5], [6]]);
          // A page cut by bytes is not the window's last: the relay reads on at once.
          expect(withRows.slice(0, -1).every((p) => !p.last)).toBe(true);

          await session.release();
        } finally {
          await store.close();
        }
        // The default bound (4 MiB) does not cut a page of ordinary rows.
        const defaults = await db.source.openOutboxStore({ sourceName: 'dialects', logger: silentLogger });
        try {
          const session = await defaults.claimLeadership('dialect-bytes-default');
          await db.exec(`UPDATE ${t('wide')} SET body = ${text(300)}`);
          let ids: number[] = [];
          for (;;) {
            const page = await session.readPage(500);
            const wide = page.events.filter((e) => e.tableName === 'wide');
            if (wide.length > 0) ids = wide.map((e) => Number((e.key as { id: number | string }).id));
            expect(await session.advance(page, page.events.length)).toBe(true);
            if (wide.length > 0 || (page.events.length === 0 && page.last)) break;
          }
          expect(ids).toHaveLength(12);
          await session.release();
        } finally {
          await defaults.close();
        }
        await db.source.untrack({ schema: d.dataSchema, table: 'wide' }, { force: true });
      });

      it('reads an ADD COLUMN as a schema-change event ordered before the first row that has the column', async () => {
        const store = await db.source.openOutboxStore({ sourceName: 'dialects', logger: silentLogger });
        try {
          const session = await store.claimLeadership('dialect-suite');
          const drain = async () => {
            const events = [];
            for (;;) {
              const page = await session.readPage(500);
              events.push(...page.events);
              expect(await session.advance(page, page.events.length)).toBe(true);
              if (page.events.length === 0 && page.last) return events;
            }
          };
          await drain();
          await db.exec(`ALTER TABLE ${t('customers')} ADD nickname ${d.types.text} NULL`);
          await db.exec(`INSERT INTO ${t('customers')} (id, name, nickname, secret) VALUES (30, 'Cy', 'cee', 'hidden')`);
          const events = (await drain()).filter((e) => e.tableName === 'customers');
          expect(events.map((e) => e.op)).toEqual(['schema', 'insert']);
          const [schema, insert] = events;
          expect(schema!.schemaChange).toMatchObject({ dialect: d.name, key: ['id'], changes: [{ kind: 'add_column', column: 'nickname' }] });
          expect(schema!.schemaChange!.after!.map((c) => c.name)).toContain('nickname');
          expect(JSON.stringify(schema)).not.toContain('secret');
          expect(BigInt(schema!.seq)).toBeLessThanOrEqual(BigInt(insert!.seq));
          expect(insert!.after).toMatchObject({ id: '30', name: 'Cy', nickname: 'cee' });
          expect(JSON.stringify(insert)).not.toContain('hidden');
          await session.release();
        } finally {
          await store.close();
        }
      });
    });
  });
});
