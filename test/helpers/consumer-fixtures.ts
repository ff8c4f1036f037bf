import { createServer, connect, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { PublishBatchCommand, type SNSClient } from '@aws-sdk/client-sns';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { buildEnvelope, type OutboxEvent } from '../../src/wire/envelope.js';
import { buildMessageAttributes } from '../../src/wire/attributes.js';
import { ThreadedClient } from '../../src/aws/threaded-client.js';

/**
 * Helpers for the consumer and subscribe tests: publishing changes the way the relay does, a TCP
 * proxy that can cut a target off, and a count of the SQS calls a client made.
 */
export const SOURCE_NAME = 'test-source';

let nextSeq = 1000;

export interface ChangeSpec {
  table?: string;
  op?: OutboxEvent['op'];
  id: number;
  row?: Record<string, unknown> | null;
  attributes?: Record<string, string>;
  seq?: number;
}

export function outboxEvent(spec: ChangeSpec): OutboxEvent {
  const [schema, table] = (spec.table ?? 'public.customers').split('.') as [string, string];
  const op = spec.op ?? 'insert';
  const seq = String(spec.seq ?? nextSeq++);
  const after = op === 'delete' || op === 'truncate' ? null : (spec.row ?? { id: spec.id, name: `n${spec.id}` });
  return {
    seq,
    xid: '1',
    tableSchema: schema,
    tableName: table,
    op,
    key: op === 'truncate' ? null : { id: spec.id },
    before: null,
    after,
    changed: op === 'update' && after ? Object.keys(after) : null,
    attributes: spec.attributes ?? null,
    changedAt: new Date(),
  };
}

/** Publishes events to SNS with PublishBatch (10 per call), with the relay's envelope and attributes. */
export async function publishEvents(sns: SNSClient, topicArn: string, events: OutboxEvent[]): Promise<void> {
  for (let i = 0; i < events.length; i += 10) {
    const chunk = events.slice(i, i + 10);
    const reply = await sns.send(
      new PublishBatchCommand({
        TopicArn: topicArn,
        PublishBatchRequestEntries: chunk.map((event, j) => ({
          Id: String(j),
          Message: JSON.stringify(buildEnvelope(SOURCE_NAME, event)),
          MessageAttributes: buildMessageAttributes(SOURCE_NAME, event).attributes,
        })),
      }),
    );
    if (reply.Failed?.length) throw new Error(`PublishBatch failed for ${reply.Failed.length} entries`);
  }
}

/** A TCP proxy to host:port; cut() drops every connection and refuses new ones until restore(). */
export interface TcpProxy {
  port: number;
  cut(): Promise<void>;
  restore(): Promise<void>;
  close(): Promise<void>;
}

export async function startTcpProxy(targetPort: number, targetHost = '127.0.0.1'): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  let server: Server;
  const listen = (port: number) =>
    new Promise<number>((resolve, reject) => {
      server = createServer((client) => {
        const upstream = connect(targetPort, targetHost);
        sockets.add(client).add(upstream);
        const drop = () => {
          client.destroy();
          upstream.destroy();
          sockets.delete(client);
          sockets.delete(upstream);
        };
        client.on('error', drop).on('close', drop);
        upstream.on('error', drop).on('close', drop);
        client.pipe(upstream).pipe(client);
      });
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
    });
  const port = await listen(0);
  const stop = () =>
    new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      sockets.clear();
      server.close(() => resolve());
    });
  return { port, cut: stop, restore: async () => void (await listen(port)), close: stop };
}

/** Counts the commands an AWS SDK client sends, by name (e.g. DeleteMessageBatchCommand). */
export function countCommands(client: SQSClient | SNSClient | ThreadedClient): Map<string, number> {
  const counts = new Map<string, number>();
  const count = (name: string) => counts.set(name, (counts.get(name) ?? 0) + 1);
  if (client instanceof ThreadedClient) {
    // its SDK client is in a worker thread: count the commands it is sent (once per send, as the middleware's initialize step does)
    const send = client.send.bind(client);
    client.send = (command, options) => {
      count((command as object).constructor.name);
      return send(command, options);
    };
    return counts;
  }
  (client as SQSClient).middlewareStack.add(
    (next, context) => async (args) => {
      count(context.commandName ?? 'unknown');
      return next(args);
    },
    { step: 'initialize', name: `countCommands${Math.random()}` },
  );
  return counts;
}
