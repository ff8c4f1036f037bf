import type pg from 'pg';
import { sleep } from '../sleep.js';
import { quoteIdent } from '../sql/identifiers.js';
import { SEED } from './tables.js';

/**
 * The demo's writer: N single-row changes at about R per second, each in its own transaction — inserts,
 * updates (one of them moves a customer to another tenant), deletes and key changes (published as a
 * delete of the old key and an insert of the new one). Deterministic for a seed, so a run can be replayed.
 */
export interface WorkloadOptions {
  pool: pg.Pool;
  schema: string;
  changes: number;
  ratePerSec: number;
  seed?: number;
  signal?: AbortSignal;
  /** After each statement: the events written so far. */
  onProgress?: (events: number) => void;
}

export type ChangeKind = 'insert' | 'update' | 'tenant move' | 'delete' | 'key change';

export interface WorkloadResult {
  statements: number;
  /** Outbox events the statements produced (a key change makes two). */
  events: number;
  byKind: Record<ChangeKind, number>;
}

function random(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s * 1103515245 + 12345) & 0x7fffffff;
    return s / 0x7fffffff;
  };
}

/** Live keys of one table, to pick from and remove in O(1). */
class Keys {
  private readonly ids: number[];
  next: number;
  constructor(count: number) {
    this.ids = Array.from({ length: count }, (_, i) => i + 1);
    this.next = count + 1;
  }
  get size() {
    return this.ids.length;
  }
  pick(rnd: () => number): number {
    return this.ids[Math.floor(rnd() * this.ids.length)]!;
  }
  add(id: number) {
    this.ids.push(id);
  }
  remove(id: number) {
    const i = this.ids.indexOf(id);
    this.ids[i] = this.ids[this.ids.length - 1]!;
    this.ids.pop();
  }
}

export async function runWorkload(options: WorkloadOptions): Promise<WorkloadResult> {
  const s = quoteIdent(options.schema);
  const rnd = random(options.seed ?? 20260101);
  const customers = new Keys(SEED.customers);
  const orders = new Keys(SEED.orders);
  const result: WorkloadResult = { statements: 0, events: 0, byKind: { insert: 0, update: 0, 'tenant move': 0, delete: 0, 'key change': 0 } };
  const client = await options.pool.connect();
  const started = Date.now();
  try {
    for (let i = 0; i < options.changes && !options.signal?.aborted; i++) {
      const due = started + (i * 1000) / options.ratePerSec;
      if (due > Date.now()) await sleep(due - Date.now(), options.signal);
      if (options.signal?.aborted) break;
      const roll = i === Math.floor(options.changes / 2) ? 0.6 : rnd();
      const run = async (kind: ChangeKind, sql: string, params: unknown[], events = 1) => {
        const res = await client.query(sql, params);
        result.byKind[kind] += 1;
        result.events += (res.rowCount ?? 0) > 0 ? events : 0;
      };
      if (roll < 0.15 || customers.size < 10) {
        const id = customers.next++;
        await run('insert', `INSERT INTO ${s}.customers (id, name, email, tenant_id, balance, card_number) VALUES ($1, $2, $3, $4, 0, '4111 0000 0000 0000')`, [id, `New customer ${id}`, `new${id}@example.com`, 1 + (id % 3)]);
        customers.add(id);
      } else if (roll < 0.4) {
        await run('update', `UPDATE ${s}.customers SET name = $2, balance = balance + 10, updated_at = now() WHERE id = $1`, [customers.pick(rnd), `Renamed at change ${i}`]);
      } else if (roll < 0.5) {
        await run('tenant move', `UPDATE ${s}.customers SET tenant_id = 1 + tenant_id % 3, updated_at = now() WHERE id = $1`, [customers.pick(rnd)]);
      } else if (roll < 0.58) {
        const id = customers.pick(rnd);
        await run('delete', `DELETE FROM ${s}.customers WHERE id = $1`, [id]);
        customers.remove(id);
      } else if (roll < 0.63) {
        const id = customers.pick(rnd);
        const to = customers.next++;
        await run('key change', `UPDATE ${s}.customers SET id = $2, updated_at = now() WHERE id = $1`, [id, to], 2);
        customers.remove(id);
        customers.add(to);
      } else if (roll < 0.78 || orders.size < 10) {
        const id = orders.next++;
        await run('insert', `INSERT INTO ${s}.orders (id, customer_id, total, status) VALUES ($1, $2, $3, 'placed')`, [id, customers.pick(rnd), (10 + rnd() * 490).toFixed(2)]);
        orders.add(id);
      } else if (roll < 0.93) {
        await run('update', `UPDATE ${s}.orders SET status = $2, total = total + 1 WHERE id = $1`, [orders.pick(rnd), rnd() < 0.5 ? 'paid' : 'shipped']);
      } else {
        const id = orders.pick(rnd);
        await run('delete', `DELETE FROM ${s}.orders WHERE id = $1`, [id]);
        orders.remove(id);
      }
      result.statements += 1;
      options.onProgress?.(result.events);
    }
  } finally {
    client.release();
  }
  return result;
}
