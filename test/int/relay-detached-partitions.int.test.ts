import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/logger.js';
import type { OutboxEvent } from '../../src/wire/envelope.js';
import type { PostgresLeaderSession } from '../../src/source/postgres/relay-session.js';
import { PostgresOutboxStore } from '../../src/source/postgres/relay-store.js';
import { PostgresSource } from '../../src/source/postgres/adapter.js';
import { eventTriggerNames } from '../../src/source/postgres/event-triggers.js';
import { logCapture } from '../helpers/pipeline.js';
import { createRoleSource } from '../helpers/roles.js';
import { createMigratedSource, drainSession } from '../helpers/source.js';

/**
 * Rows written to a partition of a tracked table and read by the relay after the partition left the
 * tree (DETACH PARTITION, DETACH … CONCURRENTLY, DROP TABLE): the catalog no longer links the
 * partition's oid to the tracked table, tracked_partitions does
 * (sql/postgres/000012_tracked_partitions.sql). They are published under the tracked table's name,
 * decoded with its shape. With the DDL event triggers and without them (source.eventTriggers: skip):
 * capture needs no special right. One leader session reads every page of a database. A partition's
 * row is forgotten after a rotation once none of its rows is left in the outbox
 * (sql/postgres/000013_forget_partitions.sql).
 */
describe.each(['install', 'skip'] as const)('partitions detached or dropped after their rows were written (event triggers: %s)', (eventTriggers) => {
  let env: Awaited<ReturnType<typeof createMigratedSource>>;
  let store: PostgresOutboxStore;
  let session: PostgresLeaderSession;

  beforeAll(async () => {
    env = await createMigratedSource();
    expect(await env.source.migrate({ eventTriggers })).toMatchObject({ eventTriggers: eventTriggers === 'skip' ? 'dropped' : 'present' });
    store = await PostgresOutboxStore.open({ url: env.db.url, schema: 'outbox', logger: silentLogger });
    session = await store.claimLeadership(`detached-partitions-${eventTriggers}`);
  });

  afterAll(async () => {
    await store?.close();
    await env?.close();
  });

  const drain = () => drainSession(session);
  const sql = (text: string) => env.db.pool.query(text);
  const shown = (events: OutboxEvent[]) => events.map((e) => [e.op, `${e.tableSchema}.${e.tableName}`, e.op === 'delete' ? e.before : e.after]);
  /** The quarantined events of one test's tables (named <table>, <table>_…). */
  const quarantined = async (table: string) =>
    (await env.db.pool.query(`SELECT table_schema || '.' || table_name AS t, reason FROM outbox.quarantine WHERE table_name = $1 OR table_name LIKE $1 || '\\_%' ORDER BY seq`, [table])).rows as { t: string; reason: string }[];

  it('DETACH PARTITION before the relay read its rows (the partition was there when the table was tracked): published under the tracked table', async () => {
    await sql('CREATE TABLE public.m (id int NOT NULL, at date NOT NULL, amount numeric(8, 2), note text, PRIMARY KEY (id, at)) PARTITION BY RANGE (at)');
    await sql(`CREATE TABLE public.m_2025 PARTITION OF m FOR VALUES FROM ('2025-01-01') TO ('2026-01-01')`);
    // Its columns in another order than the root's, attached: the images are read by name.
    await sql('CREATE TABLE public.m_2026 (note text, amount numeric(8, 2), at date NOT NULL, id int NOT NULL)');
    await sql(`ALTER TABLE m ATTACH PARTITION m_2026 FOR VALUES FROM ('2026-01-01') TO ('2027-01-01')`);
    await env.source.track({ table: { schema: 'public', table: 'm' } });
    await sql(`INSERT INTO m VALUES (1, '2025-03-01', 1.50, 'a'), (2, '2026-03-01', 2.50, 'b')`);
    await sql(`UPDATE m_2025 SET amount = 1.75 WHERE id = 1`);
    await sql(`DELETE FROM m WHERE id = 2`);
    await sql(`INSERT INTO m VALUES (3, '2026-04-01', 3.00, 'c')`);
    await sql('ALTER TABLE m DETACH PARTITION m_2025');
    await sql('ALTER TABLE m DETACH PARTITION m_2026');
    // The detached tables change afterwards: the rows keep the shape they were written in.
    await sql('ALTER TABLE m_2025 DROP COLUMN note, ALTER COLUMN amount TYPE text');
    // Written after the detach: no capture trigger is left on it (docs/capture.md).
    await sql(`INSERT INTO m_2026 VALUES ('late', 9, '2026-05-01', 9)`);

    expect(shown(await drain())).toEqual([
      ['insert', 'public.m', { id: 1, at: '2025-03-01', amount: '1.50', note: 'a' }],
      ['insert', 'public.m', { id: 2, at: '2026-03-01', amount: '2.50', note: 'b' }],
      ['update', 'public.m', { id: 1, at: '2025-03-01', amount: '1.75', note: 'a' }],
      ['delete', 'public.m', { id: 2, at: '2026-03-01', amount: '2.50', note: 'b' }],
      ['insert', 'public.m', { id: 3, at: '2026-04-01', amount: '3.00', note: 'c' }],
    ]);
    expect(await quarantined('m')).toEqual([]);
  });

  it('DROP TABLE of a partition created after the table was tracked, its last rows unread: published under the tracked table', async () => {
    await sql('CREATE TABLE public.d (id int NOT NULL, region text NOT NULL, v int, PRIMARY KEY (id, region)) PARTITION BY LIST (region)');
    await env.source.track({ table: { schema: 'public', table: 'd' } });
    await sql(`CREATE TABLE public.d_eu PARTITION OF d FOR VALUES IN ('eu')`);
    // A sub-partitioned partition: its leaves belong to the tracked table too.
    await sql(`CREATE TABLE public.d_us PARTITION OF d FOR VALUES IN ('us', 'ca') PARTITION BY LIST (region)`);
    await sql(`CREATE TABLE public.d_us_ca PARTITION OF d_us FOR VALUES IN ('ca')`);
    await sql(`INSERT INTO d VALUES (1, 'eu', 1), (2, 'ca', 2)`);
    expect(shown(await drain())).toEqual([
      ['insert', 'public.d', { id: 1, region: 'eu', v: 1 }],
      ['insert', 'public.d', { id: 2, region: 'ca', v: 2 }],
    ]);
    await sql(`UPDATE d SET v = 10 WHERE id = 1`);
    await sql(`INSERT INTO d VALUES (3, 'ca', 3)`);
    await sql('DROP TABLE d_eu');
    await sql('DROP TABLE d_us');
    expect(shown(await drain())).toEqual([
      ['update', 'public.d', { id: 1, region: 'eu', v: 10 }],
      ['insert', 'public.d', { id: 3, region: 'ca', v: 3 }],
    ]);
    expect(await quarantined('d')).toEqual([]);
  });

  it('DETACH PARTITION … CONCURRENTLY before the relay read its rows: published under the tracked table', async () => {
    await sql('CREATE TABLE public.c (id int PRIMARY KEY, v int) PARTITION BY RANGE (id)');
    await sql('CREATE TABLE public.c_1 PARTITION OF c FOR VALUES FROM (0) TO (100)');
    await env.source.track({ table: { schema: 'public', table: 'c' } });
    await sql('INSERT INTO c VALUES (1, 1)');
    await sql('ALTER TABLE c DETACH PARTITION c_1 CONCURRENTLY');
    await sql('UPDATE c_1 SET v = 2');
    expect(shown(await drain())).toEqual([['insert', 'public.c', { id: 1, v: 1 }]]);
    expect(await quarantined('c')).toEqual([]);
  });

  it(
    eventTriggers === 'install'
      ? 'a partition created or attached, written and detached or dropped between two reads: recorded at CREATE TABLE / ATTACH PARTITION by the event trigger, published under the tracked table'
      : 'a partition created or attached, written and detached or dropped between two reads: without the event triggers nothing saw it under the tracked table; its rows are held, with a reason that says so',
    async () => {
      await sql('CREATE TABLE public.q (id int PRIMARY KEY, v int) PARTITION BY RANGE (id)');
      await sql('CREATE TABLE public.q_1 PARTITION OF q FOR VALUES FROM (0) TO (100)');
      await env.source.track({ table: { schema: 'public', table: 'q' } });
      await sql('INSERT INTO q VALUES (1, 1)');
      expect(shown(await drain())).toEqual([['insert', 'public.q', { id: 1, v: 1 }]]);
      // Each in one transaction: no read of the relay can come between. Created with PARTITION OF,
      // then one attached.
      await sql(`BEGIN;
        CREATE TABLE public.q_2 PARTITION OF q FOR VALUES FROM (100) TO (200);
        INSERT INTO q VALUES (101, 2);
        ALTER TABLE q DETACH PARTITION q_2;
        COMMIT`);
      await sql(`BEGIN;
        CREATE TABLE public.q_3 (v int, id int NOT NULL);
        ALTER TABLE q ATTACH PARTITION q_3 FOR VALUES FROM (200) TO (300);
        INSERT INTO q VALUES (201, 3);
        DROP TABLE q_3;
        COMMIT`);
      await sql('INSERT INTO q VALUES (2, 4)');
      const events = shown(await drain());
      if (eventTriggers === 'install') {
        expect(events).toEqual([
          ['insert', 'public.q', { id: 101, v: 2 }],
          ['insert', 'public.q', { id: 201, v: 3 }],
          ['insert', 'public.q', { id: 2, v: 4 }],
        ]);
        expect(await quarantined('q')).toEqual([]);
      } else {
        expect(events).toEqual([['insert', 'public.q', { id: 2, v: 4 }]]);
        const held = await quarantined('q');
        expect(held.map((h) => h.t)).toEqual(['public.q_2', 'public.q_3']);
        for (const h of held) expect(h.reason).toContain('docs/capture.md, "Partitioned tables"');
      }
    },
  );

  it('tracked_partitions forgets a partition dropped or detached once none of its rows is left in the outbox (published, then reclaimed by rotation); one with unread rows is kept, and one attached again is kept', async () => {
    await sql('CREATE TABLE public.f (id int NOT NULL, region text NOT NULL, v int, PRIMARY KEY (id, region)) PARTITION BY LIST (region)');
    for (const r of ['dropped', 'detached', 'back', 'kept']) await sql(`CREATE TABLE public.f_${r} PARTITION OF f FOR VALUES IN ('${r}')`);
    await env.source.track({ table: { schema: 'public', table: 'f' } });
    /** The partitions of f that tracked_partitions remembers, and whether each is noted as gone. */
    const remembered = async () =>
      (await env.db.pool.query(`SELECT table_name AS t, gone_seq IS NOT NULL AS gone FROM outbox.tracked_partitions WHERE table_name LIKE 'f\\_%' ORDER BY 1`)).rows as { t: string; gone: boolean }[];
    /** Rotations with no retention, as the relay runs them once relay.retentionMinutes has passed: until one is refused for unpublished rows, at most `times`. */
    const rotate = async (times: number) => {
      const reasons: string[] = [];
      for (let tries = 0; reasons.filter((r) => r === 'done').length < times && tries < times + 5; tries++) {
        const result = await session.reclaim(0);
        reasons.push(result.done ? 'done' : result.reason);
        if (!result.done && result.reason !== 'busy') break;
      }
      return reasons.filter((r) => r !== 'busy');
    };
    expect(shown(await drain())).toEqual([]);
    await sql(`INSERT INTO f VALUES (1, 'dropped', 1), (2, 'detached', 2), (3, 'back', 3), (4, 'kept', 4)`);
    await sql('DROP TABLE f_dropped');
    await sql('ALTER TABLE f DETACH PARTITION f_detached');
    await sql('ALTER TABLE f DETACH PARTITION f_back');

    // Their rows are unread: rotations reclaim the other partitions of the outbox and stop at theirs.
    const beforeRead = await rotate(3);
    expect(beforeRead.at(-1)).toBe('unpublished');
    expect(await remembered()).toEqual([
      { t: 'f_back', gone: true },
      { t: 'f_detached', gone: true },
      { t: 'f_dropped', gone: true },
      { t: 'f_kept', gone: false },
    ]);
    await sql(`ALTER TABLE f ATTACH PARTITION f_back FOR VALUES IN ('back')`);
    expect(shown(await drain())).toEqual([
      ['insert', 'public.f', { id: 1, region: 'dropped', v: 1 }],
      ['insert', 'public.f', { id: 2, region: 'detached', v: 2 }],
      ['insert', 'public.f', { id: 3, region: 'back', v: 3 }],
      ['insert', 'public.f', { id: 4, region: 'kept', v: 4 }],
    ]);
    // Published, still retained (outbox replay reads them): not forgotten before rotation reclaims them.
    expect((await remembered()).map((r) => r.t)).toEqual(['f_back', 'f_detached', 'f_dropped', 'f_kept']);

    // Rotation reclaims every partition of the outbox that held them (three rotations at most).
    expect(await rotate(3)).toEqual(['done', 'done', 'done']);
    expect(await remembered()).toEqual([
      { t: 'f_back', gone: false },
      { t: 'f_kept', gone: false },
    ]);
    expect(await quarantined('f')).toEqual([]);
  });
});

describe('a ddl_command_end trigger from before 000012 (ALTER TABLE only)', () => {
  it('is kept, with a warning, by a migrate of a role that may not create event triggers; a superuser\'s migrate creates it again with CREATE TABLE', async () => {
    const env = await createRoleSource();
    try {
      expect(env.migrated).toMatchObject({ eventTriggers: 'not-permitted' });
      const names = eventTriggerNames('outbox');
      await env.db.pool.query(`
        CREATE EVENT TRIGGER "${names.end}" ON ddl_command_end WHEN TAG IN ('ALTER TABLE') EXECUTE FUNCTION outbox.ddl_command_end();
        CREATE EVENT TRIGGER "${names.drop}" ON sql_drop EXECUTE FUNCTION outbox.ddl_sql_drop();`);
      const tags = async () => (await env.db.pool.query(`SELECT evttags FROM pg_event_trigger WHERE evtname = $1`, [names.end])).rows.map((r) => r.evttags as string[]);

      const { logger, lines } = logCapture();
      const owner = new PostgresSource({ url: env.url, schema: 'outbox', logger });
      try {
        expect(await owner.migrate()).toMatchObject({ applied: [], eventTriggers: 'present' });
      } finally {
        await owner.close();
      }
      expect(lines.join('\n')).toContain('DDL event trigger ddl_command_end not updated: it fires on ALTER TABLE only');
      expect(await tags()).toEqual([['ALTER TABLE']]);

      const superuser = new PostgresSource({ url: env.db.url, schema: 'outbox', logger: silentLogger });
      try {
        expect(await superuser.migrate()).toMatchObject({ applied: [], eventTriggers: 'installed' });
        expect(await superuser.migrate()).toMatchObject({ applied: [], eventTriggers: 'present' });
      } finally {
        await superuser.close();
      }
      expect(await tags()).toEqual([['ALTER TABLE', 'CREATE TABLE']]);
    } finally {
      await env.close();
    }
  });
});
