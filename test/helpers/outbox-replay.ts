import type pg from 'pg';
import { targetSchema, type TargetConfig } from '../../src/config/index.js';
import type { ChangeData } from '../../src/wire/envelope.js';
import { silentLogger } from '../../src/logger.js';
import { PostgresTargetWriter } from '../../src/targets/index.js';
import { buildTransformer, type Transformer } from '../../src/targets/transform/index.js';
import { readDecodedOutbox } from './source.js';

/**
 * Stands in for relay + SNS/SQS + consumer when a test only needs "the outbox reaches the target":
 * reads the outbox in seq order and applies it with the real target transformer and PostgreSQL
 * writer (version store, version guard). Batches are applied in shuffled order, the way a standard
 * queue may deliver them, so the final state shows that the version guard — not delivery order —
 * decides, and that every key's highest seq carries its latest content.
 */
export interface Replayer {
  target: TargetConfig;
  transform: Transformer;
  writer: PostgresTargetWriter;
  /** Applies every event with seq > the last one applied; returns how many. */
  replay(options?: { shuffle?: boolean; batchSize?: number }): Promise<number>;
  close(): Promise<void>;
}

export async function createReplayer(sourcePool: pg.Pool, outboxSchema: string, targetUrl: string, raw: Record<string, unknown>): Promise<Replayer> {
  const target = targetSchema.parse({ kind: 'postgres', urlEnv: 'TEST_TARGET_URL', ...raw });
  const transform = buildTransformer('test', target, {});
  const writer = new PostgresTargetWriter({ name: 'test', target, url: targetUrl, logger: silentLogger });
  const problems = await writer.init();
  if (problems.length) throw new Error(`target init: ${problems.join('; ')}`);
  let lastSeq = '0';
  return {
    target,
    transform,
    writer,
    async replay(options = {}) {
      const res = { rows: await readDecodedOutbox(sourcePool, outboxSchema, lastSeq) };
      const changes = res.rows.map((e) => {
        const data: ChangeData = { schema: e.tableSchema, table: e.tableName, op: e.op, seq: e.seq, key: e.key, after: e.after };
        return transform(data, { messageId: `m${e.seq}`, eventId: `test:${e.seq}${e.keyChange ? ':old' : ''}`, time: new Date().toISOString() });
      });
      const size = options.batchSize ?? 500;
      const batches: (typeof changes)[] = [];
      for (let i = 0; i < changes.length; i += size) batches.push(changes.slice(i, i + size));
      if (options.shuffle ?? true) {
        for (let i = batches.length - 1; i > 0; i--) {
          const j = Math.floor(Math.random() * (i + 1));
          [batches[i], batches[j]] = [batches[j]!, batches[i]!];
        }
      }
      for (const batch of batches) {
        const outcomes = await writer.apply(batch);
        const rejected = outcomes.find((o) => o.status === 'rejected');
        if (rejected) throw new Error(`target rejected a change: ${JSON.stringify(rejected)}`);
      }
      if (res.rows.length) lastSeq = res.rows.at(-1)!.seq;
      return res.rows.length;
    },
    close: () => writer.close(),
  };
}

/**
 * The fast variant for large tests: the version guard in memory (per key, the event with the highest
 * seq wins, whatever order pages arrive in), then the resulting state written into a real target
 * table with jsonb_populate_recordset — the same cast the PostgreSQL target writer uses.
 */
export async function replayLatestIntoTable(sourcePool: pg.Pool, outboxSchema: string, table: { schema: string; table: string }, targetPool: pg.Pool, targetTable: string): Promise<{ events: number; rows: number }> {
  const rows = (await readDecodedOutbox(sourcePool, outboxSchema)).filter((e) => e.tableSchema === table.schema && e.tableName === table.table);
  for (let i = rows.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [rows[i], rows[j]] = [rows[j]!, rows[i]!];
  }
  const latest = new Map<string, { seq: bigint; op: string; after: Record<string, unknown> | null }>();
  for (const e of rows) {
    if (e.op === 'truncate') throw new Error('replayLatestIntoTable does not handle truncate');
    const k = JSON.stringify(Object.entries(e.key!).sort());
    const cur = latest.get(k);
    if (!cur || BigInt(e.seq) > cur.seq) latest.set(k, { seq: BigInt(e.seq), op: e.op, after: e.after });
  }
  const live = [...latest.values()].filter((v) => v.op !== 'delete').map((v) => v.after);
  const client = await targetPool.connect();
  try {
    await client.query('BEGIN');
    await client.query(`DELETE FROM ${targetTable}`);
    for (let i = 0; i < live.length; i += 5000) {
      await client.query(`INSERT INTO ${targetTable} SELECT * FROM jsonb_populate_recordset(NULL::${targetTable}, $1::jsonb)`, [JSON.stringify(live.slice(i, i + 5000))]);
    }
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK');
    throw err;
  } finally {
    client.release();
  }
  return { events: rows.length, rows: live.length };
}
