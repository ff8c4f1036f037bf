import { PublishBatchCommand, type MessageAttributeValue, type SNSClient } from '@aws-sdk/client-sns';
import type pg from 'pg';
import { buildEnvelope, type OutboxEvent } from '../../src/wire/envelope.js';

export interface BaselineOptions {
  pool: pg.Pool;
  sns: SNSClient;
  topicArn: string;
  sourceName: string;
  /** Rows read per page, as relay.readBatchSize. */
  pageSize: number;
  /** PublishBatch calls in flight, as relay.publishConcurrency. */
  concurrency: number;
}

export interface BaselineRun {
  count: number;
  ms: number;
  /** CPU of this process, µs. */
  cpuUs: number;
  /** The seq to continue after. */
  last: string;
}

/**
 * The plainest publishing loop, the relay's baseline: SELECT … ORDER BY seq LIMIT <pageSize>, JSON
 * envelopes with the relay's attributes built inline, PublishBatch in chunks of 10 with
 * <concurrency> calls in flight, repeat. Capture v2 rows keep their images in old_row/new_row: they
 * are sent as before/after so the messages are as large as the relay's (not decoded, not
 * fenced: no snapshot window, no cursor).
 */
export async function runPublishBaseline(options: BaselineOptions, after: string, target: number): Promise<BaselineRun> {
  const { pool, sns, topicArn, sourceName, pageSize, concurrency } = options;
  const cpu = process.cpuUsage();
  const started = performance.now();
  let last = after;
  let published = 0;
  let failed = 0;
  while (published < target) {
    const { rows } = await pool.query(
      // int8 arrives as a decimal string from pg; ORDER BY must name the bigint column, not a text alias.
      `SELECT seq, xid::text AS xid, table_schema, table_name, op, key, coalesce(before, old_row::jsonb) AS before,
              coalesce(after, new_row::jsonb) AS after, changed, attributes, changed_at
         FROM outbox.events WHERE seq > $1 ORDER BY seq LIMIT $2`,
      [last, Math.min(pageSize, target - published)],
    );
    if (rows.length === 0) break;
    last = rows.at(-1).seq;
    const events: OutboxEvent[] = rows.map((r) => ({
      seq: r.seq, xid: r.xid, tableSchema: r.table_schema, tableName: r.table_name, op: r.op,
      key: r.key, before: r.before, after: r.after, changed: r.changed, attributes: r.attributes, changedAt: r.changed_at,
    }));
    const chunks: OutboxEvent[][] = [];
    for (let i = 0; i < events.length; i += 10) chunks.push(events.slice(i, i + 10));
    let next = 0;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < chunks.length) {
          const chunk = chunks[next++]!;
          const entries = chunk.map((e, i) => plainEntry(sourceName, e, i));
          const reply = await sns.send(new PublishBatchCommand({ TopicArn: topicArn, PublishBatchRequestEntries: entries }));
          published += reply.Successful?.length ?? 0;
          failed += reply.Failed?.length ?? 0;
        }
      }),
    );
  }
  if (failed > 0) throw new Error(`baseline: ${failed} entries failed`);
  const used = process.cpuUsage(cpu);
  return { count: published, ms: performance.now() - started, cpuUs: used.user + used.system, last };
}

/** The baseline's message: the same envelope and attributes as the relay's, built inline. */
export function plainEntry(sourceName: string, e: OutboxEvent, i: number) {
  const attributes: Record<string, MessageAttributeValue> = {
    source: { DataType: 'String', StringValue: sourceName },
    table: { DataType: 'String', StringValue: `${e.tableSchema}.${e.tableName}` },
    operation: { DataType: 'String', StringValue: e.op },
  };
  if (e.changed?.length) attributes.changed = { DataType: 'String.Array', StringValue: JSON.stringify(e.changed) };
  for (const [k, v] of Object.entries(e.attributes ?? {})) {
    if (v !== null && !Array.isArray(v)) attributes[k] = { DataType: 'String', StringValue: v };
  }
  return { Id: String(i), Message: JSON.stringify(buildEnvelope(sourceName, e)), MessageAttributes: attributes };
}
