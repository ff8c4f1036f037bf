import { BatchWriteItemCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { Message } from '@aws-sdk/client-sqs';
import mysql from 'mysql2/promise';
import pg from 'pg';
import type { BenchTargetKind } from './bench-target.js';

/**
 * The simplest apply a consumer could do, for the consumer benches' same-run baseline: parse each
 * message's envelope, then write the batch's rows in one statement on an autocommit connection — a
 * multi-row upsert by primary key (PostgreSQL `INSERT … ON CONFLICT DO UPDATE`, MariaDB `INSERT … ON
 * DUPLICATE KEY UPDATE`, DynamoDB one BatchWriteItem). No version guard, no tombstones, no
 * transaction of its own, no transform, no savepoint for a refused row, no schema handling: what
 * writing the rows costs by itself, which no consumer that keeps the guarantees can go below.
 * For the bench's `customers` rows (bench/lib/bench-target.ts); inserts and updates only.
 */
export interface NaiveApply {
  apply(messages: Message[]): Promise<void>;
  close(): Promise<void>;
}

interface CustomerRow {
  id: number;
  name: string | null;
  email: string | null;
  tenant: string | null;
  score: string | null;
  updated_at: string | null;
}

function rowsOf(messages: Message[]): CustomerRow[] {
  return messages.map((m) => {
    const envelope = JSON.parse(m.Body ?? '{}') as { data?: { after?: CustomerRow | null } };
    const after = envelope.data?.after;
    if (!after) throw new Error(`naive apply: message ${m.MessageId} has no row image (the bench publishes inserts only)`);
    return after;
  });
}

/** `connections`: one per receive loop, so no loop waits for another's connection. */
export async function openNaiveApply(kind: BenchTargetKind, url: string, connections: number): Promise<NaiveApply> {
  if (kind === 'postgres') {
    const pool = new pg.Pool({ connectionString: url, max: connections });
    const sql = `INSERT INTO customers (id, name, email, tenant, score, updated_at)
                 SELECT id, name, email, tenant, score, updated_at FROM jsonb_to_recordset($1::jsonb)
                     AS r (id int, name text, email text, tenant text, score numeric, updated_at timestamptz)
                 ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, email = EXCLUDED.email, tenant = EXCLUDED.tenant,
                                                score = EXCLUDED.score, updated_at = EXCLUDED.updated_at`;
    return {
      apply: async (messages) => void (await pool.query(sql, [JSON.stringify(rowsOf(messages))])),
      close: () => pool.end(),
    };
  }
  if (kind === 'mysql') {
    const pool = mysql.createPool({ uri: url, connectionLimit: connections, timezone: 'Z' });
    return {
      apply: async (messages) => {
        const rows = rowsOf(messages);
        const values = rows.flatMap((r) => [r.id, r.name, r.email, r.tenant, r.score, r.updated_at === null ? null : r.updated_at.replace('T', ' ').replace(/Z$/, '')]);
        await pool.query(
          `INSERT INTO customers (id, name, email, tenant, score, updated_at) VALUES ${rows.map(() => '(?, ?, ?, ?, ?, ?)').join(', ')}
           ON DUPLICATE KEY UPDATE name = VALUES(name), email = VALUES(email), tenant = VALUES(tenant), score = VALUES(score), updated_at = VALUES(updated_at)`,
          values,
        );
      },
      close: () => pool.end(),
    };
  }
  const client = new DynamoDBClient({ endpoint: url, region: process.env.AWS_REGION ?? 'us-east-1' });
  return {
    apply: async (messages) => {
      let items: NonNullable<ConstructorParameters<typeof BatchWriteItemCommand>[0]['RequestItems']>[string] = rowsOf(messages).map((r) => ({
        PutRequest: {
          Item: {
            id: { N: String(r.id) },
            ...(r.name !== null ? { name: { S: r.name } } : {}),
            ...(r.email !== null ? { email: { S: r.email } } : {}),
            ...(r.tenant !== null ? { tenant: { S: r.tenant } } : {}),
            ...(r.score !== null ? { score: { N: r.score } } : {}),
            ...(r.updated_at !== null ? { updated_at: { S: r.updated_at } } : {}),
          },
        },
      }));
      // What DynamoDB leaves unprocessed is sent again, as any BatchWriteItem caller must.
      while (items.length > 0) {
        const reply = await client.send(new BatchWriteItemCommand({ RequestItems: { customers: items } }));
        items = reply.UnprocessedItems?.customers ?? [];
      }
    },
    close: async () => client.destroy(),
  };
}
