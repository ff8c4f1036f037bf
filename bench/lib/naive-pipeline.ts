/**
 * The naive pipeline of bench/e2e-latency.ts: the simplest thing that moves committed rows from
 * PostgreSQL through SNS and SQS into PostgreSQL without losing one, each part its own process as
 * the product's are. Its capacity, measured in the same run as the pipeline's, is what the
 * machine allows a pipeline at all; the product's guarantees cost the difference.
 *
 *   source   a plpgsql row trigger on public.naive_items writes to_jsonb(NEW) into public.naive_outbox
 *            (NAIVE_SOURCE_SQL)
 *   relay    BEGIN; DELETE … RETURNING up to 1,000 of the oldest outbox rows (FOR UPDATE SKIP LOCKED);
 *            PublishBatch of 10, `concurrency` calls in flight, the row's JSON as the body; COMMIT; when
 *            the outbox is empty it polls again after 10 ms. No lock between relays, no snapshot
 *            fencing, no per-table encoding, no envelope, no attributes, no metrics.
 *   consume  `loops` receive loops (10 a call, long polls): the batch's rows in one upsert into
 *            public.naive_items, newest `v` per id (`WHERE naive_items.v < EXCLUDED.v`, since a standard
 *            queue reorders), then DeleteMessageBatch. No version store, no tombstones, no transform.
 *
 * Forked by the bench with a role: `relay <sourceUrl> <endpoint> <topicArn> <concurrency>` or
 * `consume <targetUrl> <endpoint> <queueUrl> <loops> <waitSeconds>`; each runs until SIGTERM. Inserts
 * and updates only (the bench writes no deletes).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import { PublishBatchCommand, SNSClient } from '@aws-sdk/client-sns';
import { DeleteMessageBatchCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import pg from 'pg';
import { withoutSdkLogging } from '../../src/aws/clients.js';

const credentials = { accessKeyId: 'test', secretAccessKey: 'test' };
process.removeAllListeners('warning'); // the SDK's Node 22 notice

/** The source side: the table the bench's writers write for this path, its trigger and outbox. */
export const NAIVE_SOURCE_SQL = `
  CREATE TABLE public.naive_items (id bigint PRIMARY KEY, v int NOT NULL, note text, committed_at timestamptz NOT NULL);
  CREATE TABLE public.naive_outbox (id bigserial PRIMARY KEY, row jsonb NOT NULL);
  CREATE FUNCTION public.naive_capture() RETURNS trigger LANGUAGE plpgsql AS $$
  BEGIN INSERT INTO public.naive_outbox (row) VALUES (to_jsonb(NEW)); RETURN NULL; END $$;
  CREATE TRIGGER naive_capture AFTER INSERT OR UPDATE ON public.naive_items FOR EACH ROW EXECUTE FUNCTION public.naive_capture();`;

/** The target table (the bench adds its latency trigger). */
export const NAIVE_TARGET_SQL = `CREATE TABLE public.naive_items (id bigint PRIMARY KEY, v int NOT NULL, note text, committed_at timestamptz NOT NULL)`;

async function relayRole(sourceUrl: string, endpoint: string, topicArn: string, concurrency: number): Promise<void> {
  const sns = withoutSdkLogging(new SNSClient({ region: 'us-east-1', endpoint, credentials }));
  const client = new pg.Client({ connectionString: sourceUrl, application_name: 'naive relay' });
  await client.connect();
  let stopping = false;
  process.on('SIGTERM', () => (stopping = true));
  while (!stopping) {
    await client.query('BEGIN');
    const { rows } = await client.query<{ row: string }>(
      `DELETE FROM public.naive_outbox WHERE id IN (SELECT id FROM public.naive_outbox ORDER BY id LIMIT 1000 FOR UPDATE SKIP LOCKED) RETURNING row::text AS row`,
    );
    if (rows.length === 0) {
      await client.query('COMMIT');
      await sleep(10);
      continue;
    }
    let next = 0;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < rows.length) {
          const chunk = rows.slice(next, next + 10);
          next += 10;
          const reply = await sns.send(new PublishBatchCommand({ TopicArn: topicArn, PublishBatchRequestEntries: chunk.map((r, i) => ({ Id: String(i), Message: r.row })) }));
          if (reply.Failed?.length) throw new Error(`naive relay: ${reply.Failed.length} entries failed (${reply.Failed[0]!.Code})`);
        }
      }),
    );
    await client.query('COMMIT');
  }
  await client.end();
  sns.destroy();
  process.exit(0);
}

async function consumeRole(targetUrl: string, endpoint: string, queueUrl: string, loops: number, waitSeconds: number): Promise<void> {
  const sqs = withoutSdkLogging(new SQSClient({ region: 'us-east-1', endpoint, credentials }));
  const pool = new pg.Pool({ connectionString: targetUrl, max: loops, application_name: 'naive consumer' });
  let stopping = false;
  process.on('SIGTERM', () => (stopping = true));
  await Promise.all(
    Array.from({ length: loops }, async () => {
      while (!stopping) {
        const res = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: waitSeconds }));
        const messages = res.Messages ?? [];
        if (messages.length === 0) continue;
        // One upsert cannot touch a row twice: the newest version of each id in the batch.
        const newest = new Map<number, { id: number; v: number }>();
        for (const m of messages) {
          const row = JSON.parse(m.Body!) as { id: number; v: number };
          if ((newest.get(row.id)?.v ?? -Infinity) < row.v) newest.set(row.id, row);
        }
        await pool.query(
          `INSERT INTO public.naive_items AS t (id, v, note, committed_at)
             SELECT id, v, note, committed_at FROM jsonb_to_recordset($1::jsonb) AS r (id bigint, v int, note text, committed_at timestamptz)
           ON CONFLICT (id) DO UPDATE SET v = EXCLUDED.v, note = EXCLUDED.note, committed_at = EXCLUDED.committed_at WHERE t.v < EXCLUDED.v`,
          [JSON.stringify([...newest.values()])],
        );
        await sqs.send(new DeleteMessageBatchCommand({ QueueUrl: queueUrl, Entries: messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })) }));
      }
    }),
  );
  await pool.end();
  sqs.destroy();
  process.exit(0);
}

const [role, ...rest] = process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href ? process.argv.slice(2) : [];
if (role === 'relay') await relayRole(rest[0]!, rest[1]!, rest[2]!, Number(rest[3]));
else if (role === 'consume') await consumeRole(rest[0]!, rest[1]!, rest[2]!, Number(rest[3]), Number(rest[4]));
