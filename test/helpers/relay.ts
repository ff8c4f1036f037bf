import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, Socket, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateTopicCommand, SNSClient, SubscribeCommand } from '@aws-sdk/client-sns';
import { CreateQueueCommand, DeleteMessageBatchCommand, GetQueueAttributesCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { parseConfig, type Config } from '../../src/config/index.js';
import type { ChangeEnvelope } from '../../src/wire/envelope.js';
import { waitFor } from './wait.js';

const credentials = { accessKeyId: 'test', secretAccessKey: 'test' };

/** Settings for a relay under test: short TTL and polls, a random Redis key prefix. */
export function relayConfigDoc(options: { sourceUrl: string; redisUrl: string; endpoint: string; topic: string; keyPrefix?: string; relay?: Record<string, unknown>; publish?: Record<string, unknown> }): Record<string, unknown> {
  return {
    source: { url: options.sourceUrl, schema: 'outbox', name: 'relay-test' },
    redis: { urls: [options.redisUrl], keyPrefix: options.keyPrefix ?? `test-${randomBytes(6).toString('hex')}`, commandTimeoutMs: 200 },
    relay: { lockTtlMs: 2_000, renewAtFraction: 0.5, pollIntervalMs: 100, readBatchSize: 500, publishConcurrency: 4, ...options.relay },
    publish: { topics: { default: { name: options.topic } }, ...options.publish },
    aws: { region: 'us-east-1', endpoint: options.endpoint },
    log: { level: 'info' },
  };
}

export function relayConfig(doc: Record<string, unknown>): Config {
  return parseConfig(structuredClone(doc), { AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test' }, 'test');
}

export function writeConfigFile(doc: Record<string, unknown>): string {
  const dir = mkdtempSync(join(tmpdir(), 'outbox-relay-'));
  const file = join(dir, 'outbox.config.yaml');
  writeFileSync(file, JSON.stringify(doc, null, 2));
  return file;
}

/** An SQS queue subscribed (raw delivery) to the topic; collects every message it receives. */
export interface QueueReader {
  received: ChangeEnvelope[];
  /** Receives until the queue has been empty for a moment. */
  drain(): Promise<ChangeEnvelope[]>;
  /** Receives until every seq has arrived at least once. */
  waitForSeqs(seqs: Iterable<string>, timeoutMs?: number): Promise<void>;
  close(): void;
}

export async function subscribeQueue(endpoint: string, topicName: string): Promise<QueueReader> {
  const sns = new SNSClient({ region: 'us-east-1', endpoint, credentials });
  const sqs = new SQSClient({ region: 'us-east-1', endpoint, credentials });
  const topic = await sns.send(new CreateTopicCommand({ Name: topicName }));
  const queueName = `q-${randomBytes(5).toString('hex')}`;
  const queue = await sqs.send(new CreateQueueCommand({ QueueName: queueName }));
  const attrs = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queue.QueueUrl!, AttributeNames: ['QueueArn'] }));
  await sns.send(new SubscribeCommand({ TopicArn: topic.TopicArn!, Protocol: 'sqs', Endpoint: attrs.Attributes!.QueueArn!, Attributes: { RawMessageDelivery: 'true' } }));
  sns.destroy();
  const received: ChangeEnvelope[] = [];
  const receiveOnce = async (): Promise<number> => {
    const res = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queue.QueueUrl!, MaxNumberOfMessages: 10, WaitTimeSeconds: 0, MessageAttributeNames: ['All'] }));
    const messages = res.Messages ?? [];
    if (messages.length === 0) return 0;
    for (const m of messages) received.push(JSON.parse(m.Body!) as ChangeEnvelope);
    await sqs.send(new DeleteMessageBatchCommand({ QueueUrl: queue.QueueUrl!, Entries: messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })) }));
    return messages.length;
  };
  return {
    received,
    async drain() {
      let empty = 0;
      while (empty < 3) {
        if ((await receiveOnce()) === 0) {
          empty += 1;
          await new Promise((r) => setTimeout(r, 50));
        } else empty = 0;
      }
      return received;
    },
    async waitForSeqs(seqs, timeoutMs = 30_000) {
      const want = new Set(seqs);
      await waitFor(
        async () => {
          while ((await receiveOnce()) > 0) {
            /* keep receiving */
          }
          for (const e of received) want.delete(e.sequence);
          return want.size === 0;
        },
        { timeoutMs, intervalMs: 50, what: `${want.size} event(s) on the queue` },
      );
    },
    close: () => sqs.destroy(),
  };
}

/** Reads a Prometheus metric from a /metrics endpoint (summed over its labels). */
export async function scrapeMetric(port: number, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const lines = text.split('\n').filter((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
  return lines.reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
}

/** Counts how often each seq arrived: lost ones are missing, duplicates have count > 1. */
export function tally(envelopes: ChangeEnvelope[], expected: Iterable<string>): { missing: string[]; duplicates: number; unexpected: string[] } {
  const counts = new Map<string, number>();
  for (const e of envelopes) counts.set(e.sequence, (counts.get(e.sequence) ?? 0) + 1);
  const want = new Set(expected);
  return {
    missing: [...want].filter((s) => !counts.has(s)),
    duplicates: [...counts.values()].reduce((sum, n) => sum + n - 1, 0),
    unexpected: [...counts.keys()].filter((s) => !want.has(s)),
  };
}

/** A redis-server of the test's own (never stop the shared one), on a free port, that can be stopped and started again. */
export interface PrivateRedis {
  url: string;
  stop(): Promise<void>;
  start(): Promise<void>;
}

export async function startPrivateRedis(): Promise<PrivateRedis> {
  const port = await freePort();
  let proc: ChildProcess | undefined;
  const start = async () => {
    proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    await waitFor(() => canConnect(port), { timeoutMs: 10_000, what: 'private redis-server' });
  };
  await start();
  return {
    url: `redis://127.0.0.1:${port}`,
    start,
    async stop() {
      const p = proc;
      proc = undefined;
      if (!p || p.exitCode !== null) return;
      const exited = new Promise((r) => p.once('exit', r));
      p.kill('SIGKILL');
      await exited;
    },
  };
}

/** A TCP proxy in front of a server; block() drops every connection and refuses new ones. */
export interface TcpProxy {
  url: string;
  block(): void;
  unblock(): void;
  close(): Promise<void>;
}

export async function startTcpProxy(target: string): Promise<TcpProxy> {
  const { hostname, port } = new URL(target);
  let blocked = false;
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    if (blocked) return client.destroy();
    const upstream = new Socket();
    upstream.connect(Number(port), hostname);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => {
        sockets.delete(s);
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    block() {
      blocked = true;
      for (const s of sockets) s.destroy();
    },
    unblock() {
      blocked = false;
    },
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

/** A relay run as its own process through the CLI, with its JSON log lines collected. */
export interface RelayChild {
  proc: ChildProcess;
  logs: Record<string, unknown>[];
  waitForLog(predicate: (line: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  exited: Promise<number | null>;
}

/**
 * Starts `outbox relay` as a process. nodeArgs start the CLI (default: through the tsx loader, which
 * compiles on start; tests pass cliNodeArgs() from ./cli.ts, a bundle that starts in a fraction of it).
 */
export function spawnRelay(configFile: string, instanceId: string, options: { env?: Record<string, string>; args?: string[]; nodeArgs?: string[] } = {}): RelayChild {
  const env = options.env ?? {};
  const proc = spawn(process.execPath, [...(options.nodeArgs ?? ['--import', 'tsx', 'src/cli/run.ts']), '--config', configFile, 'relay', '--instance-id', instanceId, ...(options.args ?? [])], {
    env: { ...process.env, AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test', OUTBOX_LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const logs: Record<string, unknown>[] = [];
  let buffer = '';
  proc.stderr!.on('data', (chunk: Buffer) => {
    buffer += chunk.toString('utf8');
    let nl: number;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      try {
        logs.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        logs.push({ msg: line, raw: true });
      }
    }
  });
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  return {
    proc,
    logs,
    exited,
    waitForLog: (predicate, timeoutMs = 20_000) => waitFor(() => logs.find(predicate), { timeoutMs, what: `a log line from ${instanceId}` }),
  };
}

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as AddressInfo).port;
  await new Promise((r) => server.close(r));
  return port;
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = new Socket();
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
    s.connect(port, '127.0.0.1');
  });
}
