/**
 * Columns added with a default end to end (docs/schema-changes.md, "Columns added with a default"):
 * `ALTER TABLE … ADD COLUMN … DEFAULT …` gives the source's existing rows a value without writing
 * them. Through the real relay → SNS/SQS emulator (which shuffles) → consumers, the PostgreSQL and
 * MariaDB targets add the columns and give their existing rows the same value — through the
 * target's mapping (a rename and a mask) — with no repair. Rows written just before the ALTER,
 * which may arrive after the schema change, get it too. A volatile default (clock_timestamp())
 * cannot be carried: the relay warns with what to run.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RelayProcess } from '../../src/relay/start.js';
import { maskValue } from '../../src/targets/transform/index.js';
import { openE2eWorld, type E2eWorld } from '../helpers/e2e-world.js';
import { logCapture, pipelineConfig, startPipelineRelay, startTarget, type RunningTarget } from '../helpers/pipeline.js';
import { waitFor } from '../helpers/wait.js';

let world: E2eWorld;
let source: E2eWorld['source'];
let pgTarget: E2eWorld['pgTarget'];
let maria: E2eWorld['maria'];
let relay: RelayProcess;
const targets: RunningTarget[] = [];
const logs = logCapture();

beforeAll(async () => {
  world = await openE2eWorld('e2e-fill', {
    source: `CREATE TABLE public.items (id int PRIMARY KEY, v text)`,
    pgTarget: `CREATE TABLE public.items (id int PRIMARY KEY, v text); CREATE TABLE public.items_mapped (id int PRIMARY KEY, v text, state text)`,
    // A renamed column must be at the target when it starts (target init): the schema change then only fills it.
    maria: `CREATE TABLE items (id INT PRIMARY KEY, v LONGTEXT) CHARACTER SET utf8mb4`,
  });
  ({ source, pgTarget, maria } = world);
  await source.source.track({ table: { schema: 'public', table: 'items' } });

  const queue = { waitTimeSec: 1, visibilityTimeoutSec: 10, maxReceiveCount: 30, batchSize: 10 };
  const config = pipelineConfig(
    world.configDoc({
      pgcopy: { kind: 'postgres', urlEnv: 'PG_URL', tables: ['public.items'], stateSchema: 'fill_state', schemaChanges: 'apply', queue },
      pgmapped: {
        kind: 'postgres', urlEnv: 'PG_URL', tables: ['public.items'], stateSchema: 'fill_state_mapped', schemaChanges: 'apply', queue,
        mapping: { 'public.items': { table: 'public.items_mapped', rename: { status: 'state' }, mask: { code: { keepLast: 2 } } } },
      },
      mariacopy: { kind: 'mysql', urlEnv: 'MARIA_URL', tables: ['public.items'], stateSchema: world.mariaState, schemaChanges: 'apply', queue, mapping: { 'public.items': { table: 'items' } } },
    }),
    world.env,
  );
  for (const name of ['pgcopy', 'pgmapped', 'mariacopy']) targets.push(await startTarget(config, name, { logger: logs.logger }));
  relay = await startPipelineRelay(config, 'e2e-fill-relay', logs.logger);
}, 120_000);

afterAll(async () => {
  await world?.close({ relay, targets });
});

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

describe('a column added with a default', () => {
  it('reaches the rows the PostgreSQL and MariaDB targets had, through the mapping, without a repair; a volatile default is warned about', { timeout: 240_000 }, async () => {
    const sql = (text: string) => source.db.pool.query(text);
    await sql(`INSERT INTO public.items SELECT g, 'v' || g FROM generate_series(1, 30) g`);
    const pgCount = async (table: string) => Number((await pgTarget.pool.query(`SELECT count(*) AS n FROM ${table}`)).rows[0].n);
    await waitFor(async () => (await pgCount('public.items')) === 30 && (await pgCount('public.items_mapped')) === 30, { timeoutMs: 60_000, what: 'the first rows at the targets' });

    // Rows written right before the ALTER are in flight with the schema change: the emulator may
    // deliver them after it.
    await sql(`INSERT INTO public.items SELECT g, 'v' || g FROM generate_series(31, 40) g`);
    await sql(`UPDATE public.items SET v = 'late' WHERE id % 5 = 0`);
    await sql(`ALTER TABLE public.items ADD COLUMN status text DEFAULT 'new', ADD COLUMN amount numeric(10,2) DEFAULT 1.5, ADD COLUMN code text NOT NULL DEFAULT 'abc1234', ADD COLUMN plain int`);
    await sql(`UPDATE public.items SET v = 'after', status = 'changed', plain = 7 WHERE id = 1`);
    await sql(`UPDATE public.items SET status = NULL WHERE id = 2`);
    await sql(`INSERT INTO public.items (id, v) VALUES (41, 'new row')`);

    const expected = (await sql(`SELECT id::text AS id, v, status, amount::text AS amount, code, plain::text AS plain FROM public.items ORDER BY id`)).rows;
    expect(expected.filter((r) => r.status === 'new')).toHaveLength(39);
    const pgRows = async () => (await pgTarget.pool.query(`SELECT id::text AS id, v, status, amount::text AS amount, code, plain::text AS plain FROM public.items ORDER BY id`).catch(() => ({ rows: [] }))).rows;
    const mappedRows = async () => (await pgTarget.pool.query(`SELECT id::text AS id, v, state, amount::text AS amount, code, plain::text AS plain FROM public.items_mapped ORDER BY id`).catch(() => ({ rows: [] }))).rows;
    const mariaRows = async () =>
      (await maria.conn.query(`SELECT CAST(id AS CHAR) AS id, v, status, CAST(amount AS CHAR) AS amount, code, CAST(plain AS CHAR) AS plain FROM items ORDER BY id`).catch(() => [[]]))[0] as Record<string, unknown>[];
    const mappedExpected = expected.map(({ status, code, ...r }) => ({ id: r.id, v: r.v, state: status, amount: r.amount, code: maskValue(code, { keepLast: 2, char: '*' }), plain: r.plain }));
    const converge = async (what: string, read: () => Promise<unknown>, want: unknown) => {
      await waitFor(async () => same(await read(), want), { timeoutMs: 90_000, intervalMs: 500, what }).catch(async () => {
        console.error(logs.lines.slice(-30).join('\n'));
        expect(await read()).toEqual(want);
      });
    };
    await converge('the PostgreSQL target to equal the source', pgRows, expected);
    await converge('the mapped PostgreSQL target to equal its mapping of the source', mappedRows, mappedExpected);
    await converge('the MariaDB target to equal the source', mariaRows, expected);
    expect(logs.lines.filter((l) => l.includes('with a default'))).toEqual([]);

    // A volatile default gives each row its own value, which no schema change can carry.
    await sql(`ALTER TABLE public.items ADD COLUMN stamped timestamptz DEFAULT clock_timestamp()`);
    await sql(`UPDATE public.items SET v = 'stamped' WHERE id = 3`);
    await waitFor(async () => (await pgTarget.pool.query(`SELECT count(*)::int AS n FROM public.items WHERE v = 'stamped' AND stamped IS NOT NULL`).catch(() => ({ rows: [{ n: 0 }] }))).rows[0].n === 1, { timeoutMs: 60_000, what: 'the volatile column at the target' });
    expect((await pgTarget.pool.query(`SELECT count(*)::int AS n FROM public.items WHERE stamped IS NULL`)).rows[0].n).toBe(40);
    const warning = await waitFor(() => logs.lines.find((l) => l.includes('was added to public.items with a default')), { what: 'the relay\'s warning' });
    expect((JSON.parse(warning) as { columns: string[] }).columns).toEqual(['stamped']);
    expect(warning).toContain('outbox verify <target> --table public.items --repair');
    for (const t of targets) expect(t.consumer.halted, t.name).toBeUndefined();
  });
});
