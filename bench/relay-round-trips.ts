/**
 * Relay round trips: how many statements one leader session sends to PostgreSQL per page, and
 * which. Every query of the process is counted (pg.Client.prototype.query), while one session
 * reads and advances pages without publishing: first a backlog read as one large snapshot window
 * (many pages per window), then the steady state (each page a window of half a page of new
 * changes, as when the relay keeps up).
 *
 *   npx tsx bench/relay-round-trips.ts [--pages 20] [--batch 1000]
 *
 * Needs PostgreSQL as for the tests (TEST_PG_URL).
 */
import { parseArgs } from 'node:util';
import pg from 'pg';
import { silentLogger } from '../src/logger.js';
import { PostgresOutboxStore } from '../src/source/postgres/relay-store.js';
import { createMigratedSource } from '../test/helpers/source.js';
import { machineLoad, runBench } from './lib/machine.js';

const { values: args } = parseArgs({ options: { pages: { type: 'string', default: '20' }, batch: { type: 'string', default: '1000' } } });
const PAGES = Number(args.pages);
const BATCH = Number(args.batch);

const counts = new Map<string, number>();
let counting = false;
const query = pg.Client.prototype.query as (...a: unknown[]) => unknown;
pg.Client.prototype.query = function (this: pg.Client, ...a: unknown[]) {
  if (counting) {
    const first = a[0];
    const text = typeof first === 'string' ? first : ((first as { text?: string } | undefined)?.text ?? '?');
    const purpose = /Purpose:\s*([^\n]*)/.exec(text)?.[1];
    const name = (purpose ?? text.replace(/\s+/g, ' ')).slice(0, 70);
    counts.set(name, (counts.get(name) ?? 0) + 1);
  }
  return query.apply(this, a);
} as typeof pg.Client.prototype.query;

function report(what: string, pages: number): void {
  const total = [...counts.values()].reduce((a, b) => a + b, 0);
  console.log(`${what}: ${total} statements in ${pages} pages = ${(total / pages).toFixed(2)} per page`);
  for (const [name, n] of [...counts].sort((a, b) => b[1] - a[1])) console.log(`  ${(n / pages).toFixed(2).padStart(6)}  ${name}`);
  counts.clear();
}

async function main(): Promise<void> {
  const env = await createMigratedSource();
  const store = await PostgresOutboxStore.open({ url: env.db.url, schema: 'outbox', logger: silentLogger });
  try {
    await env.db.pool.query('CREATE TABLE public.items (id bigint PRIMARY KEY, v int NOT NULL, note text NOT NULL)');
    await env.source.track({ table: { schema: 'public', table: 'items' } });
    const insert = (from: number, to: number) =>
      env.db.pool.query(`INSERT INTO public.items (id, v, note) SELECT g, g % 100, md5(g::text) FROM generate_series($1::bigint, $2::bigint) g`, [from, to]);
    await insert(1, PAGES * BATCH);
    const session = await store.claimLeadership('round-trips');
    const drainPage = async () => {
      const page = await session.readPage(BATCH);
      if (page.events.length > 0 && !(await session.advance(page, page.events.length))) throw new Error('fenced');
      return page.events.length;
    };
    counting = true;
    let pages = 0;
    while ((await drainPage()) > 0) pages++;
    counting = false;
    report(`backlog of ${PAGES * BATCH} changes, one window`, pages);

    // As the relay keeps up: each page is a window of fewer changes than a page holds.
    const step = BATCH / 2;
    for (let k = 0; k < PAGES; k++) {
      await insert(PAGES * BATCH + k * step + 1, PAGES * BATCH + (k + 1) * step);
      counting = true;
      const n = await drainPage();
      counting = false;
      if (n !== step) throw new Error(`expected a page of ${step} changes, read ${n}`);
    }
    report(`steady state, a window of ${step} changes per page`, PAGES);
    console.log(machineLoad());
  } finally {
    await store.close();
    await env.close();
  }
}

runBench(main);
