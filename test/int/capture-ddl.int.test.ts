import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ChangeEnvelope, SchemaChange } from '../../src/wire/envelope.js';
import { createLogger, silentLogger } from '../../src/logger.js';
import { createMetrics } from '../../src/observability/metrics.js';
import { startRelay, type RelayProcess } from '../../src/relay/start.js';
import { startEmulator, type Emulator } from '../helpers/fauxqs.js';
import { relayConfig, relayConfigDoc, subscribeQueue, type QueueReader } from '../helpers/relay.js';
import { createRoleSource, type RoleSource } from '../helpers/roles.js';
import { createMigratedSource } from '../helpers/source.js';
import { PostgresSource } from '../../src/source/postgres/adapter.js';
import pg from 'pg';
import { PG_ADMIN_URL, REDIS_URL } from '../helpers/env.js';
import { waitFor } from '../helpers/wait.js';
import { listMigrations } from '../../src/sql/files.js';

/**
 * DDL on a tracked table while the application writes (docs/capture.md): no write fails, every
 * change reaches the topic, the schema changes are announced in order with the rows around them,
 * and excluded columns never leave the database — through the real relay and the SNS/SQS emulator.
 * The first part runs as roles without superuser (test/helpers/roles.ts), so without the DDL event
 * triggers; the second as a superuser, with them.
 */
let env: RoleSource;
let emulator: Emulator;
const relays: RelayProcess[] = [];
const queues: QueueReader[] = [];

beforeAll(async () => {
  Object.assign(process.env, { AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test' });
  env = await createRoleSource();
  emulator = await startEmulator();
});

// One relay at a time: two relays with their own lock keys on one outbox would fence each other.
afterEach(async () => {
  while (relays.length) await relays.pop()!.close();
  while (queues.length) queues.pop()!.close();
});

afterAll(async () => {
  await env?.close();
  await emulator?.stop();
});

async function startTestRelay(sourceUrl = env.url) {
  const topic = `ddl-${randomBytes(5).toString('hex')}`;
  const queue = await subscribeQueue(emulator.endpoint, topic);
  queues.push(queue);
  const config = relayConfig(relayConfigDoc({ sourceUrl, redisUrl: REDIS_URL, endpoint: emulator.endpoint, topic }));
  const metrics = createMetrics({ labels: { source: config.source.name } });
  const relay = await startRelay({ config, logger: process.env.DEBUG_DDL ? createLogger('info', process.stderr) : silentLogger, instanceId: `r-${randomBytes(3).toString('hex')}`, metrics });
  relays.push(relay);
  return { queue, metrics };
}

/** Messages once each (SQS may deliver twice), in the order a consumer must apply them: by seq, schema first. */
function inOrder(received: ChangeEnvelope[]): ChangeEnvelope[] {
  const unique = [...new Map(received.map((e) => [e.id, e])).values()];
  const rank = (e: ChangeEnvelope) => (e.data?.op === 'schema' ? 0 : e.id.endsWith(':old') ? 1 : 2);
  return unique.sort((a, b) => (BigInt(a.sequence) === BigInt(b.sequence) ? rank(a) - rank(b) : BigInt(a.sequence) < BigInt(b.sequence) ? -1 : 1));
}

/** The table as the messages rebuild it: key id → after image. */
function rebuild(messages: ChangeEnvelope[]): Map<number, Record<string, unknown>> {
  const rows = new Map<number, Record<string, unknown>>();
  for (const m of messages) {
    const d = m.data!;
    if (d.op === 'schema') continue;
    if (d.op === 'truncate') rows.clear();
    else if (d.op === 'delete') rows.delete(Number(d.key!.id));
    else rows.set(Number(d.key!.id), d.after!);
  }
  return rows;
}

/** What the concurrent DDL test runs against: roles without superuser, or a superuser's install with the event triggers. */
interface DdlContext {
  url: string;
  pool: pg.Pool;
  writerPool: pg.Pool;
  source: PostgresSource;
  grantWrites(table: string): Promise<void>;
  /** The DDL event triggers record each change at DDL time (sql/postgres/000008_ddl_recorded_shapes.sql). */
  recorded: boolean;
}

async function ddlWhileWriting(ctx: DdlContext): Promise<void> {
    await ctx.pool.query(`CREATE TABLE public.live (id int PRIMARY KEY, n int NOT NULL DEFAULT 0, a text DEFAULT 'a', b int DEFAULT 1, secret text DEFAULT 'SECRET-default', tenant text DEFAULT 't1')`);
    await ctx.source.track({ table: { schema: 'public', table: 'live' }, exclude: ['secret'], attributes: ['tenant'] });
    await ctx.grantWrites('public.live');
    const { queue, metrics } = await startTestRelay(ctx.url);

    let table = 'public.live';
    let stop = false;
    let gate: Promise<void> = Promise.resolve();
    let writes = 0;
    let inFlight = 0;
    const failures: string[] = [];
    let nextId = 1;
    const writer = async (seed: number) => {
      const client = await ctx.writerPool.connect();
      let r = seed;
      const rand = (n: number) => ((r = (r * 1103515245 + 12345) % 2147483648), r % n);
      try {
        while (!stop) {
          await gate;
          const op = rand(10);
          inFlight++;
          try {
            if (op < 4 || nextId < 20) await client.query(`INSERT INTO ${table} (id, n) VALUES ($1, 0)`, [nextId++]);
            else if (op < 9) await client.query(`UPDATE ${table} SET n = n + 1 WHERE id = $1`, [1 + rand(nextId)]);
            else await client.query(`DELETE FROM ${table} WHERE id = $1`, [1 + rand(nextId)]);
            writes++;
          } catch (err) {
            failures.push((err as Error).message);
          } finally {
            inFlight--;
          }
        }
      } finally {
        client.release();
      }
    };
    const running = [writer(3), writer(7), writer(11), writer(13)];
    const after = async (count: number) => {
      const target = writes + count;
      await waitFor(() => writes >= target, { timeoutMs: 30_000, what: `${count} more writes` });
    };
    const ddl = (text: string) => ctx.pool.query(text);

    await after(100);
    await ddl(`ALTER TABLE public.live ADD COLUMN c text`);
    await ddl(`UPDATE public.live SET c = 'first' WHERE id = 1`); // the first change of the new column
    await after(100);
    await ddl(`ALTER TABLE public.live RENAME COLUMN a TO aa`);
    await after(100);
    await ddl(`ALTER TABLE public.live ALTER COLUMN b TYPE bigint`);
    await after(100);
    await ddl(`ALTER TABLE public.live DROP COLUMN c`);
    await after(100);
    await ddl(`ALTER TABLE public.live RENAME COLUMN secret TO secret_renamed`);
    await ddl(`UPDATE public.live SET secret_renamed = 'SECRET-after-rename', n = n + 1 WHERE id IN (1, 2, 3)`);
    await after(100);
    // The application's own statements name the table: it switches name at the rename, as an
    // application deployed with the migration would (no statement of it runs against the old name).
    let open!: () => void;
    gate = new Promise((resolve) => (open = resolve));
    await waitFor(() => inFlight === 0, { what: 'the statements in flight to finish, so none waits on a name that goes away' });
    await ddl(`ALTER TABLE public.live RENAME TO live_renamed`);
    table = 'public.live_renamed';
    open();
    await after(200);
    stop = true;
    await Promise.all(running);

    expect(failures).toEqual([]);
    const source = await ctx.pool.query<{ id: number; n: number }>(`SELECT id, n FROM public.live_renamed ORDER BY id`);
    const expected = new Map(source.rows.map((r) => [r.id, r.n]));
    await waitFor(
      async () => {
        const rows = rebuild(inOrder(await queue.drain()));
        return rows.size === expected.size && [...expected].every(([id, n]) => rows.get(id)?.n === n);
      },
      { timeoutMs: 60_000, what: 'the published changes to rebuild the source table' },
    );
    const messages = inOrder(queue.received);
    expect(messages.some((m) => JSON.stringify(m).includes('SECRET-'))).toBe(false);
    expect(messages.some((m) => JSON.stringify(m).includes('secret'))).toBe(false);

    const schema = messages.filter((m) => m.data!.op === 'schema');
    const kinds = schema.flatMap((m) => m.data!.schemaChange!.changes.map((c) => `${c.kind}:${c.column ?? c.to}`));
    expect(kinds).toEqual(['add_column:c', 'rename_column:aa', 'alter_type:b', 'drop_column:c', 'rename_table:public.live_renamed']);
    expect(schema.map((m) => m.type)).toEqual(Array(5).fill('dev.outbox-relay.change.v2'));
    expect(schema.every((m) => m.id.endsWith(':schema') && m.subject.endsWith('/*'))).toBe(true);
    expect(schema[1]!.data!.schemaChange).toMatchObject({ dialect: 'postgres', key: ['id'], changes: [{ kind: 'rename_column', column: 'aa', from: 'a' }] });
    expect(schema[2]!.data!.schemaChange!.changes).toEqual([{ kind: 'alter_type', column: 'b', from: 'integer', to: 'bigint' }]);

    // Ordering: every row message carries exactly the columns of the shape announced last before it
    // and, where the DDL records the change (event triggers), b in the type announced last: a
    // number before the ALTER COLUMN TYPE, an int8 string after it (docs/encoding.md).
    let shape: string[] = ['id', 'n', 'a', 'b', 'tenant'];
    let bType = 'integer';
    for (const m of messages) {
      const d = m.data!;
      if (d.op === 'schema') {
        shape = (d.schemaChange as SchemaChange).after!.map((c) => c.name);
        bType = (d.schemaChange as SchemaChange).after!.find((c) => c.name === 'b')!.type;
      } else if (d.after) {
        expect(Object.keys(d.after).sort()).toEqual([...shape].sort());
        if (ctx.recorded) expect(typeof d.after.b).toBe(bType === 'integer' ? 'number' : 'string');
      }
    }
    const first = messages.find((m) => m.data!.op === 'update' && (m.data!.after as Record<string, unknown>).c === 'first');
    expect(first?.data!.changed).toEqual(['c']);
    expect(messages.filter((m) => m.data!.table === 'live_renamed' && m.data!.op !== 'schema').length).toBeGreaterThan(0);
    const metric = await metrics.registry.getSingleMetricAsString('outbox_relay_schema_changes_total');
    expect(metric).toContain('table="public.live"');
    expect(metric).toContain('table="public.live_renamed"');
  }

describe('DDL while the application writes, as roles without superuser', () => {
  it('migrate succeeds without the right to create event triggers, and says so; doctor tells', async () => {
    expect((await env.pool.query(`SELECT rolsuper FROM pg_roles WHERE rolname = current_user`)).rows[0].rolsuper).toBe(false);
    expect(env.migrated).toMatchObject({ current: listMigrations('postgres').at(-1)!.version, eventTriggers: 'not-permitted' });
    expect(await env.source.migrate()).toMatchObject({ applied: [], eventTriggers: 'not-permitted' });
    expect((await env.pool.query(`SELECT count(*)::int AS n FROM pg_event_trigger`)).rows[0].n).toBe(0);
    expect(await env.source.doctorNotes()).toEqual([expect.stringContaining('DDL event triggers of "outbox" are not installed')]);
    expect(await env.source.doctor()).toEqual([]);
  });

  it('ADD/DROP/RENAME COLUMN, ALTER TYPE, rename of an excluded column, RENAME TABLE: 0 failed writes, every change published, schema changes in order', { timeout: 240_000 }, async () => {
    await ddlWhileWriting({ ...env, recorded: false });
  });

  it('a key or attribute column renamed away: writes go on, the relay quarantines those events naming table and column, doctor reports it; a re-track resumes', async () => {
    await env.pool.query(`CREATE TABLE public.keyed (id int PRIMARY KEY, v text, region text)`);
    await env.source.track({ table: { schema: 'public', table: 'keyed' }, attributes: ['region'] });
    const { queue } = await startTestRelay();
    await env.pool.query(`INSERT INTO keyed VALUES (1, 'a', 'eu')`);
    await waitFor(async () => (await queue.drain()).some((m) => m.data?.table === 'keyed'), { timeoutMs: 30_000, what: 'the first row' });

    await env.pool.query(`ALTER TABLE keyed RENAME COLUMN id TO key_id`);
    const written = await env.pool.query(`INSERT INTO keyed VALUES (2, 'b', 'us') RETURNING key_id`);
    expect(written.rowCount).toBe(1);
    const held = await waitFor(
      async () => (await env.pool.query(`SELECT reason FROM outbox.quarantine WHERE table_name = 'keyed'`)).rows[0] as { reason: string } | undefined,
      { timeoutMs: 30_000, what: 'the held event' },
    );
    expect(held.reason).toContain('Table public.keyed no longer has its key column "id" (dropped or renamed)');
    const findings = await env.source.doctor();
    expect(findings).toEqual(expect.arrayContaining([expect.objectContaining({ severity: 'error', check: 'columns', message: expect.stringContaining('public.keyed no longer has its key column "id"') })]));

    await env.source.track({ table: { schema: 'public', table: 'keyed' }, key: ['key_id'] });
    await env.pool.query(`INSERT INTO keyed VALUES (3, 'c', 'eu')`);
    await waitFor(async () => (await queue.drain()).some((m) => m.data?.table === 'keyed' && (m.data.key as Record<string, unknown> | null)?.key_id === 3), { timeoutMs: 30_000, what: 'a row after the re-track' });
    expect((await env.source.doctor()).filter((f) => f.message.includes('keyed'))).toEqual([]);
  });

  it('a re-track keeps the exclusions: after a RENAME TO the relay has not seen (by attribute number), and for a table dropped and created again under the name (by name)', async () => {
    const images = async (table: string) => (await env.pool.query(`SELECT new_row FROM outbox.events WHERE table_name = $1 AND op = 'insert' ORDER BY seq`, [table])).rows.map((r) => r.new_row);
    await env.pool.query(`CREATE TABLE public.again (id int PRIMARY KEY, secret text, v text)`);
    await env.source.track({ table: { schema: 'public', table: 'again' }, exclude: ['secret'] });
    await env.pool.query(`ALTER TABLE public.again RENAME COLUMN secret TO hidden`);
    await env.pool.query(`ALTER TABLE public.again RENAME TO again2`);
    await env.source.track({ table: { schema: 'public', table: 'again2' } });
    expect((await env.pool.query(`SELECT table_name, excluded_columns FROM outbox.tracked_tables WHERE table_name LIKE 'again%'`)).rows).toEqual([{ table_name: 'again2', excluded_columns: ['hidden'] }]);
    await env.pool.query(`INSERT INTO public.again2 VALUES (1, 'SECRET-1', 'a')`);
    expect(await images('again2')).toEqual([{ id: 1, v: 'a' }]);

    await env.pool.query(`DROP TABLE public.again2; CREATE TABLE public.again2 (id int PRIMARY KEY, v text, hidden text)`);
    await env.source.track({ table: { schema: 'public', table: 'again2' } });
    await env.pool.query(`INSERT INTO public.again2 VALUES (2, 'b', 'SECRET-2')`);
    expect(await images('again2')).toEqual([{ id: 1, v: 'a' }, { id: 2, v: 'b' }]);
  });

  it('a re-track after a RENAME TO the relay has not published yet: the rename_table is still published, before the first row under the new name', async () => {
    await env.pool.query(`CREATE TABLE public.moving (id int PRIMARY KEY, v text, region text)`);
    await env.source.track({ table: { schema: 'public', table: 'moving' } });
    const { queue } = await startTestRelay();
    await env.pool.query(`INSERT INTO public.moving VALUES (1, 'a', 'eu')`);
    await waitFor(async () => (await queue.drain()).some((m) => m.data?.table === 'moving'), { timeoutMs: 30_000, what: 'the first row' });
    while (relays.length) await relays.pop()!.close();
    await env.pool.query(`ALTER TABLE public.moving RENAME TO moved`);
    await env.source.track({ table: { schema: 'public', table: 'moved' }, attributes: ['region'] });
    await env.pool.query(`INSERT INTO public.moved VALUES (2, 'b', 'us')`);
    const again = await startTestRelay();
    await waitFor(async () => (await again.queue.drain()).some((m) => m.data?.table === 'moved' && m.data.op === 'insert'), { timeoutMs: 30_000, what: 'the row under the new name' });
    const messages = inOrder(again.queue.received).filter((m) => ['moving', 'moved'].includes(m.data!.table));
    expect(messages.map((m) => [m.data!.op, m.data!.table, m.data!.schemaChange?.changes ?? null])).toEqual([
      ['schema', 'moved', [{ kind: 'rename_table', from: 'public.moving', to: 'public.moved' }]],
      ['insert', 'moved', null],
    ]);
    expect(messages[1]!.data!.after).toEqual({ id: 2, v: 'b', region: 'us' });
  });

  it('TRUNCATE and a key change while columns change: truncate, then delete + insert of the moved key', async () => {
    await env.pool.query(`CREATE TABLE public.moves (id int PRIMARY KEY, v text)`);
    await env.source.track({ table: { schema: 'public', table: 'moves' } });
    const { queue } = await startTestRelay();
    await env.pool.query(`INSERT INTO moves VALUES (1, 'a'), (2, 'b')`);
    await env.pool.query(`TRUNCATE moves`);
    await env.pool.query(`INSERT INTO moves VALUES (5, 'x')`);
    await env.pool.query(`ALTER TABLE moves ADD COLUMN w int DEFAULT 9`);
    await env.pool.query(`UPDATE moves SET id = 6 WHERE id = 5`);
    await waitFor(async () => (await queue.drain()).filter((m) => m.data?.table === 'moves').length >= 7, { timeoutMs: 30_000, what: 'the moves messages' });
    const messages = inOrder(queue.received).filter((m) => m.data!.table === 'moves');
    expect(messages.map((m) => [m.data!.op, m.data!.key])).toEqual([
      ['insert', { id: 1 }],
      ['insert', { id: 2 }],
      ['truncate', null],
      ['insert', { id: 5 }],
      ['schema', null],
      ['delete', { id: 5 }],
      ['insert', { id: 6 }],
    ]);
    const [del, ins] = messages.slice(5);
    expect(del!.id).toMatch(/:old$/);
    expect(del!.sequence).toBe(ins!.sequence);
    expect(ins!.data!.after).toEqual({ id: 6, v: 'x', w: 9 });
  });
});

describe('with the DDL event triggers (migrated by a superuser)', () => {
  let su: Awaited<ReturnType<typeof createMigratedSource>>;
  const stranger = `outbox_stranger_${randomBytes(4).toString('hex')}`;
  beforeAll(async () => {
    su = await createMigratedSource();
    await su.db.pool.query(`CREATE ROLE "${stranger}" LOGIN NOSUPERUSER`);
    await su.db.pool.query(`GRANT CREATE, USAGE ON SCHEMA public TO "${stranger}"`);
  });
  afterAll(async () => {
    await su?.close();
    const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
    await admin.connect();
    await admin.query(`DROP ROLE IF EXISTS "${stranger}"`).finally(() => admin.end());
  });
  const sql = (text: string) => su.db.pool.query(text);
  const refusal = (verb: string, column: string, table: string, kind: 'key' | 'attribute') =>
    expect.objectContaining({
      code: '2BP01',
      message: expect.stringMatching(new RegExp(`^outbox-relay: cannot ${verb} column ${column} of table ${table.replace('.', '\\.')}.*: the table is tracked with it as an? ${kind} column$`)),
      hint: expect.stringContaining(`outbox track ${table} ${kind === 'key' ? '--key' : '--attributes'} <columns>), or untrack it (outbox untrack ${table})`),
    });

  it('migrate installs them (once), doctor says so', async () => {
    expect(await su.source.migrate()).toMatchObject({ applied: [], eventTriggers: 'present' });
    const triggers = (await sql(`SELECT evtevent::text AS event, evtenabled FROM pg_event_trigger ORDER BY 1`)).rows;
    expect(triggers).toEqual([
      { event: 'ddl_command_end', evtenabled: 'O' },
      { event: 'sql_drop', evtenabled: 'O' },
    ]);
    expect(await su.source.doctorNotes()).toEqual([expect.stringContaining('DDL event triggers of "outbox" are installed')]);
    expect(await su.source.doctor()).toEqual([]);
    const [end] = (await sql(`SELECT evtname FROM pg_event_trigger WHERE evtevent = 'ddl_command_end'`)).rows;
    await sql(`ALTER EVENT TRIGGER "${end.evtname}" DISABLE`);
    expect(await su.source.doctor()).toEqual([expect.objectContaining({ severity: 'warning', check: 'event-triggers', message: expect.stringContaining('for ddl_command_end missing or disabled') })]);
    await sql(`ALTER EVENT TRIGGER "${end.evtname}" ENABLE`);
    expect(await su.source.doctor()).toEqual([]);
  });

  it('refuse a DROP or RENAME of a key or attribute column at DDL time, naming table, column and fix; everything else goes through, writes never fail, excluded columns stay excluded', async () => {
    await sql(`CREATE TYPE public.region AS ENUM ('eu', 'us')`);
    await sql(`CREATE TABLE public.guarded (id int PRIMARY KEY, uid int UNIQUE, v text, region public.region, secret text)`);
    await su.source.track({ table: { schema: 'public', table: 'guarded' }, attributes: ['region'], exclude: ['secret'] });
    let n = 0;
    const write = async (table = 'guarded') => {
      n++;
      await sql(`INSERT INTO public.${table} (id, uid, v, region, secret) VALUES (${n}, ${n}, 'v${n}', 'eu', 'SECRET-${n}')`);
    };
    await write();

    await expect(sql(`ALTER TABLE public.guarded RENAME COLUMN id TO key_id`)).rejects.toEqual(refusal('rename', 'id', 'public.guarded', 'key'));
    await expect(sql(`ALTER TABLE public.guarded DROP COLUMN id`)).rejects.toEqual(refusal('drop', 'id', 'public.guarded', 'key'));
    await expect(sql(`ALTER TABLE public.guarded RENAME COLUMN region TO area`)).rejects.toEqual(refusal('rename', 'region', 'public.guarded', 'attribute'));
    await expect(sql(`ALTER TABLE public.guarded DROP COLUMN region`)).rejects.toEqual(refusal('drop', 'region', 'public.guarded', 'attribute'));
    // A DROP TYPE … CASCADE would take the attribute column with it.
    await expect(sql(`DROP TYPE public.region CASCADE`)).rejects.toEqual(refusal('drop', 'region', 'public.guarded', 'attribute'));
    await write();

    // Everything else: the excluded column renamed (still excluded), other columns, the table.
    await sql(`ALTER TABLE public.guarded RENAME COLUMN secret TO hidden`);
    await sql(`ALTER TABLE public.guarded RENAME COLUMN v TO vv`);
    await sql(`ALTER TABLE public.guarded ADD COLUMN w int`);
    await sql(`ALTER TABLE public.guarded RENAME TO guarded2`);
    n++;
    await sql(`INSERT INTO public.guarded2 (id, uid, vv, region, hidden) VALUES (${n}, ${n}, 'v${n}', 'us', 'SECRET-${n}')`);
    await expect(sql(`ALTER TABLE public.guarded2 RENAME COLUMN id TO key_id`)).rejects.toEqual(refusal('rename', 'id', 'public.guarded2', 'key'));

    // The fix the hint names: re-track with another key (and no attributes), then the DDL runs. The
    // re-track under the new name keeps the exclusion (by attribute number) without --exclude.
    await su.source.track({ table: { schema: 'public', table: 'guarded2' }, key: ['uid'], attributes: [] });
    await sql(`ALTER TABLE public.guarded2 RENAME COLUMN id TO key_id`);
    await sql(`ALTER TABLE public.guarded2 DROP COLUMN region`);
    await expect(sql(`ALTER TABLE public.guarded2 RENAME COLUMN uid TO u`)).rejects.toEqual(refusal('rename', 'uid', 'public.guarded2', 'key'));
    n++;
    await sql(`INSERT INTO public.guarded2 (key_id, uid, vv, hidden) VALUES (${n}, ${n}, 'v${n}', 'SECRET-${n}')`);

    const raw = await su.rawEvents();
    expect(raw.filter((r) => r.table_name.startsWith('guarded') && r.op !== 'schema').length).toBe(4); // every write, nothing else
    expect(JSON.stringify(raw)).not.toMatch(/SECRET|hidden|secret/);
    expect((await sql(`SELECT schema_problem FROM outbox.tracked_tables WHERE table_name = 'guarded2'`)).rows).toEqual([{ schema_problem: null }]);
  });

  it('hostile names (a tracked table renamed to one, a column renamed to one): the refusal quotes them, the drop is recorded under the name', async () => {
    const table = 'we"ird\nt -- */';
    const qt = `public."${table.replace(/"/g, '""')}"`;
    await sql(`CREATE TABLE public.plain (id int PRIMARY KEY, v text)`);
    await su.source.track({ table: { schema: 'public', table: 'plain' } });
    await sql(`ALTER TABLE public.plain RENAME TO "${table.replace(/"/g, '""')}"`);
    const err = (await sql(`ALTER TABLE ${qt} RENAME COLUMN id TO "k""ey; --"`).catch((e: unknown) => e)) as { code: string; message: string; hint: string };
    expect(err.code).toBe('2BP01');
    expect(err.message).toBe(`outbox-relay: cannot rename column id of table public."we""ird\nt -- */" to "k""ey; --": the table is tracked with it as a key column`);
    expect(err.hint).toContain('outbox track public."we""ird\nt -- */" --key <columns>');
    await sql(`INSERT INTO ${qt} VALUES (1, 'a')`);
    await sql(`DROP TABLE ${qt}`);
    const rows = (await su.db.pool.query(`SELECT op, table_name FROM outbox.events WHERE relid IS NOT NULL AND table_name = $1 ORDER BY seq`, [table])).rows;
    expect(rows).toEqual([
      { op: 'schema', table_name: table }, // the RENAME TO, recorded at DDL time
      { op: 'insert', table_name: table },
      { op: 'schema', table_name: table }, // the DROP
    ]);
  });

  it('also for DDL by a role with no right on the outbox schema; its other DDL is untouched', async () => {
    const url = new URL(su.db.url);
    url.username = stranger;
    const pool = new pg.Pool({ connectionString: url.toString(), max: 1 });
    try {
      await pool.query(`CREATE TABLE public.theirs (id int PRIMARY KEY, v text)`);
      await su.source.track({ table: { schema: 'public', table: 'theirs' } });
      await pool.query(`CREATE TABLE public.untracked (id int PRIMARY KEY, v text)`);
      await pool.query(`ALTER TABLE public.untracked RENAME COLUMN id TO uid`);
      await pool.query(`DROP TABLE public.untracked`);
      await pool.query(`ALTER TABLE public.theirs RENAME COLUMN v TO vv`);
      await expect(pool.query(`ALTER TABLE public.theirs RENAME COLUMN id TO tid`)).rejects.toEqual(refusal('rename', 'id', 'public.theirs', 'key'));
      await pool.query(`DROP TABLE public.theirs`);
      const rows = (await sql(`SELECT op, table_name, after FROM outbox.events WHERE table_name IN ('theirs', 'untracked') ORDER BY seq`)).rows;
      expect(rows).toEqual([
        { op: 'schema', table_name: 'theirs', after: { shape: [expect.objectContaining({ name: 'id' }), expect.objectContaining({ name: 'vv' })] } },
        { op: 'schema', table_name: 'theirs', after: { changes: [{ kind: 'drop_table' }] } },
      ]);
    } finally {
      await pool.end();
    }
  });

  it('a dropped tracked table (DROP TABLE, DROP SCHEMA … CASCADE) is published as drop_table after all of its rows, with the shape last published and no excluded column', async () => {
    await sql(`CREATE TABLE public.doomed (id int PRIMARY KEY, v text, secret text)`);
    await sql(`CREATE SCHEMA gone; CREATE TABLE gone.t (id int PRIMARY KEY, n int)`);
    await su.source.track({ table: { schema: 'public', table: 'doomed' }, exclude: ['secret'] });
    await su.source.track({ table: { schema: 'gone', table: 't' } });
    const { queue } = await startTestRelay(su.db.url);
    await sql(`INSERT INTO public.doomed VALUES (1, 'a', 'SECRET-1'), (2, 'b', 'SECRET-2')`);
    await sql(`INSERT INTO gone.t VALUES (1, 1)`);
    await waitFor(async () => (await queue.drain()).filter((m) => m.data?.op === 'insert').length >= 3, { timeoutMs: 30_000, what: 'the rows' });
    await sql(`ALTER TABLE public.doomed ADD COLUMN w int DEFAULT 7`);
    await sql(`UPDATE public.doomed SET v = 'last' WHERE id = 1`);
    await waitFor(async () => (await queue.drain()).some((m) => m.data?.op === 'update'), { timeoutMs: 30_000, what: 'the update' });
    // A write in the dropping transaction itself comes before the drop_table.
    await sql(`BEGIN; INSERT INTO public.doomed VALUES (3, 'c', 'SECRET-3', 8); DROP TABLE public.doomed; COMMIT`);
    await sql(`DROP SCHEMA gone CASCADE`);
    const drops = await waitFor(
      async () => {
        const got = inOrder(await queue.drain()).filter((m) => m.data?.schemaChange?.changes.some((c) => c.kind === 'drop_table') && ['doomed', 't'].includes(m.data.table));
        return got.length >= 2 ? got : undefined;
      },
      { timeoutMs: 30_000, what: 'the drop_table events' },
    );
    const messages = inOrder(queue.received);
    const doomed = messages.filter((m) => m.data!.table === 'doomed');
    expect(doomed.map((m) => [m.data!.op, m.data!.schemaChange?.changes.map((c) => c.kind) ?? null])).toEqual([
      ['insert', null],
      ['insert', null],
      ['schema', ['add_column']],
      ['update', null],
      ['insert', null],
      ['schema', ['drop_table']],
    ]);
    expect(drops.map((m) => `${m.data!.schema}.${m.data!.table}`)).toEqual(['public.doomed', 'gone.t']);
    expect(drops[0]!.id).toMatch(/:schema$/);
    expect(drops[0]!.data!.schemaChange).toEqual({
      dialect: 'postgres',
      before: [
        { name: 'id', type: 'integer', nullable: false },
        { name: 'v', type: 'text', nullable: true },
        { name: 'w', type: 'integer', nullable: true },
      ],
      after: null,
      key: [],
      changes: [{ kind: 'drop_table' }],
    });
    expect(JSON.stringify(messages)).not.toMatch(/SECRET|secret/);
    // Once their drop_table is published, the dropped tables leave tracked_tables: nothing to untrack.
    await waitFor(async () => (await sql(`SELECT 1 FROM outbox.tracked_tables WHERE table_name IN ('doomed', 't')`)).rowCount === 0, { timeoutMs: 30_000, what: 'the dropped tables untracked' });
    expect((await su.source.doctor()).filter((f) => /doomed|gone\.t/.test(f.message))).toEqual([]);
  });

  it('a dropped tracked table before the relay published its drop: doctor says the relay will untrack it (a warning, not an error)', async () => {
    await sql(`CREATE TABLE public.dropped_early (id int PRIMARY KEY)`);
    await su.source.track({ table: { schema: 'public', table: 'dropped_early' } });
    await sql(`DROP TABLE public.dropped_early`);
    expect((await su.source.doctor()).filter((f) => f.message.includes('dropped_early'))).toEqual([
      { severity: 'warning', check: 'table', message: expect.stringContaining('Tracked table public.dropped_early was dropped (drop_table recorded at seq ') },
    ]);
    await startTestRelay(su.db.url);
    await waitFor(async () => (await sql(`SELECT 1 FROM outbox.tracked_tables WHERE table_name = 'dropped_early'`)).rowCount === 0, { timeoutMs: 30_000, what: 'the dropped table untracked' });
  });

  it('ADD/DROP/RENAME COLUMN, ALTER TYPE, rename of an excluded column, RENAME TABLE with the event triggers: the same, each change published once at its DDL, rows read in their own shape and types', { timeout: 240_000 }, async () => {
    await ddlWhileWriting({ url: su.db.url, pool: su.db.pool, writerPool: su.db.pool, source: su.source, grantWrites: async () => {}, recorded: true });
  });

  it('source.eventTriggers: skip (or migrate --no-event-triggers) drops installed ones, doctor says skipped by setting; install brings them back', async () => {
    const skipping = new PostgresSource({ url: su.db.url, schema: 'outbox', logger: silentLogger, eventTriggers: 'skip' });
    const count = async () => (await sql(`SELECT count(*)::int AS n FROM pg_event_trigger`)).rows[0].n as number;
    try {
      expect(await count()).toBe(2);
      expect(await skipping.doctor()).toEqual([expect.objectContaining({ severity: 'warning', check: 'event-triggers', message: expect.stringContaining('installed (') })]);
      expect(await skipping.migrate()).toMatchObject({ applied: [], eventTriggers: 'dropped' });
      expect(await count()).toBe(0);
      expect(await skipping.migrate()).toMatchObject({ eventTriggers: 'skipped' });
      expect(await skipping.doctorNotes()).toEqual([expect.stringContaining('not installed: skipped by setting (source.eventTriggers: skip)')]);
      expect((await skipping.doctor()).filter((f) => f.check === 'event-triggers')).toEqual([]);
      // Without them DDL is not refused and records nothing: the relay notices it from the rows.
      await sql(`CREATE TABLE public.unguarded (id int PRIMARY KEY, v text)`);
      await su.source.track({ table: { schema: 'public', table: 'unguarded' } });
      await sql(`ALTER TABLE public.unguarded ADD COLUMN w int`);
      expect((await sql(`SELECT count(*)::int AS n FROM outbox.events WHERE table_name = 'unguarded'`)).rows[0].n).toBe(0);
    } finally {
      await skipping.close();
    }
    expect(await su.source.migrate({ eventTriggers: 'skip' })).toMatchObject({ eventTriggers: 'skipped' });
    expect(await su.source.migrate()).toMatchObject({ eventTriggers: 'installed' });
    expect(await count()).toBe(2);
  });

  it('a type change is published in its place: rows before it in the same page keep the old shape and type, rows after it the new one; announced once', async () => {
    await sql(`CREATE TABLE public.retyped (id int PRIMARY KEY, v int, secret text)`);
    await su.source.track({ table: { schema: 'public', table: 'retyped' }, exclude: ['secret'] });
    const { queue } = await startTestRelay(su.db.url);
    await sql(`INSERT INTO public.retyped VALUES (1, 1, 'SECRET-1')`);
    await waitFor(async () => (await queue.drain()).some((m) => m.data?.table === 'retyped'), { timeoutMs: 30_000, what: 'the first row' });
    // One transaction: its rows are necessarily read in one page.
    await sql(`BEGIN; INSERT INTO public.retyped VALUES (2, 2, 'SECRET-2'); ALTER TABLE public.retyped ALTER COLUMN v TYPE text; INSERT INTO public.retyped VALUES (3, 'three', 'SECRET-3'); COMMIT`);
    await sql(`INSERT INTO public.retyped VALUES (4, 'four', 'SECRET-4')`);
    await waitFor(async () => (await queue.drain()).filter((m) => m.data?.table === 'retyped').length >= 5, { timeoutMs: 30_000, what: 'the retyped messages' });
    const messages = inOrder(queue.received).filter((m) => m.data!.table === 'retyped');
    expect(messages.map((m) => [m.data!.op, m.data!.after ?? m.data!.schemaChange!.changes])).toEqual([
      ['insert', { id: 1, v: 1 }],
      ['insert', { id: 2, v: 2 }],
      ['schema', [{ kind: 'alter_type', column: 'v', from: 'integer', to: 'text' }]],
      ['insert', { id: 3, v: 'three' }],
      ['insert', { id: 4, v: 'four' }],
    ]);
    expect(Number(messages[1]!.sequence)).toBeLessThan(Number(messages[2]!.sequence));
    expect(Number(messages[2]!.sequence)).toBeLessThan(Number(messages[3]!.sequence));
    expect(JSON.stringify(messages)).not.toMatch(/SECRET|secret/);
    expect(JSON.stringify(await su.rawEvents())).not.toMatch(/SECRET|secret/);
  });

  it('a column added, then the table dropped before any row of the new shape: add_column, then drop_table', async () => {
    await sql(`CREATE TABLE public.brief (id int PRIMARY KEY, v text)`);
    await su.source.track({ table: { schema: 'public', table: 'brief' } });
    const { queue } = await startTestRelay(su.db.url);
    await sql(`INSERT INTO public.brief VALUES (1, 'a')`);
    await waitFor(async () => (await queue.drain()).some((m) => m.data?.table === 'brief'), { timeoutMs: 30_000, what: 'the first row' });
    await sql(`ALTER TABLE public.brief ADD COLUMN w numeric(8,2)`);
    await sql(`DROP TABLE public.brief`);
    await waitFor(async () => (await queue.drain()).filter((m) => m.data?.table === 'brief').length >= 3, { timeoutMs: 30_000, what: 'the schema changes' });
    const messages = inOrder(queue.received).filter((m) => m.data!.table === 'brief');
    expect(messages.map((m) => [m.data!.op, m.data!.schemaChange?.changes ?? null])).toEqual([
      ['insert', null],
      ['schema', [{ kind: 'add_column', column: 'w', type: 'numeric(8,2)' }]],
      ['schema', [{ kind: 'drop_table' }]],
    ]);
    expect(messages[2]!.data!.schemaChange!.before).toEqual([
      { name: 'id', type: 'integer', nullable: false },
      { name: 'v', type: 'text', nullable: true },
      { name: 'w', type: 'numeric(8,2)', nullable: true },
    ]);
  });
});
