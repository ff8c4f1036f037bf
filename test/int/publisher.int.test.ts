import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { CreateBucketCommand, GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import * as snsExports from '@aws-sdk/client-sns';
import { CreateTopicCommand, PublishBatchCommand, SNSClient, SubscribeCommand, type PublishBatchCommandInput, type PublishBatchCommandOutput } from '@aws-sdk/client-sns';
import { CreateQueueCommand, DeleteMessageBatchCommand, GetQueueAttributesCommand, ReceiveMessageCommand, SQSClient, type Message } from '@aws-sdk/client-sqs';
import { startFauxqs, type FauxqsServer } from 'fauxqs';
import type { SnsSender } from '../../src/aws/clients.js';
import { ThreadedClient } from '../../src/aws/threaded-client.js';
import { parseConfig, type Config } from '../../src/config/index.js';
import { validateEnvelope, type OutboxEvent } from '../../src/wire/envelope.js';
import { silentLogger } from '../../src/logger.js';
import { createMetrics, type Metrics } from '../../src/observability/metrics.js';
import { createPublisher, type PublisherOptions } from '../../src/relay/publisher/index.js';
import { MAX_BATCH_BYTES, MAX_BATCH_ENTRIES } from '../../src/wire/limits.js';
import { messageBytes } from '../../src/wire/message-size.js';
import type { QuarantineSink } from '../../src/relay/types.js';
import { waitFor } from '../helpers/wait.js';

const credentials = { accessKeyId: 'test', secretAccessKey: 'test' };
let server: FauxqsServer;
let sqs: SQSClient;
let s3: S3Client;

beforeAll(async () => {
  // for clients from the default chain, on the main thread or a worker thread
  Object.assign(process.env, { AWS_ACCESS_KEY_ID: credentials.accessKeyId, AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey });
  server = await startFauxqs({ port: 0, logger: false });
  sqs = new SQSClient({ region: 'us-east-1', endpoint: server.address, credentials });
  s3 = new S3Client({ region: 'us-east-1', endpoint: server.address, credentials, forcePathStyle: true });
});

afterAll(async () => {
  sqs?.destroy();
  s3?.destroy();
  await server?.stop();
});

// ---- helpers -------------------------------------------------------------------------------

/**
 * An SNS client that records every PublishBatch input, with an optional reply rewriter (fault
 * injector). By default it is the SDK's own client, as in the relay (aws.sdkThread false); `threaded: true`
 * runs the SDK on a worker thread. Recorded and rewritten around send(), once per call, as a
 * middleware of the initialize step would (the SDK's own retries happen below it).
 */
function recordingSns(endpoint: string, options: { maxAttempts?: number; threaded?: boolean } = {}) {
  const clientOptions = { region: 'us-east-1', endpoint, maxAttempts: options.maxAttempts ?? 3 };
  const client: SnsSender = (options.threaded ?? false) ? new ThreadedClient({ packageName: '@aws-sdk/client-sns', clientName: 'SNSClient', exports: snsExports }, clientOptions) : new SNSClient({ ...clientOptions, credentials });
  const calls: PublishBatchCommandInput[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const faults: {
    rewrite?: (input: PublishBatchCommandInput, output: PublishBatchCommandOutput) => void;
    throwAfter?: (input: PublishBatchCommandInput) => boolean;
    /** Holds the reply of a call that reached SNS for this long (a slow network). */
    delayReplyMs?: (input: PublishBatchCommandInput) => number;
  } = {};
  const sns: SnsSender = {
    send: (async (command: { input: object }, sendOptions?: object) => {
      if (!(command instanceof PublishBatchCommand)) return client.send(command as never, sendOptions);
      const input = command.input;
      calls.push(structuredClone(input));
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      try {
        const output = (await client.send(command, sendOptions)) as PublishBatchCommandOutput;
        faults.rewrite?.(input, output);
        const delay = faults.delayReplyMs?.(input) ?? 0;
        if (delay > 0) await new Promise((r) => setTimeout(r, delay));
        // The call reached SNS but the reply is "lost": the outcome is unknown to the publisher.
        if (faults.throwAfter?.(input)) throw Object.assign(new Error('socket hang up (injected)'), { name: 'TimeoutError' });
        return output;
      } finally {
        inFlight--;
      }
    }) as SnsSender['send'],
    destroy: () => client.destroy(),
  };
  return { sns, calls, faults, maxInFlight: () => maxInFlight };
}

/** Moves the entries whose event satisfies `fail` from Successful to Failed in a PublishBatch reply. */
function failEntries(fail: (seq: string) => boolean, senderFault = false) {
  return (input: PublishBatchCommandInput, output: PublishBatchCommandOutput) => {
    const seqOf = new Map(input.PublishBatchRequestEntries!.map((e) => [e.Id, JSON.parse(e.Message!).sequence as string]));
    const failing = (output.Successful ?? []).filter((s) => fail(seqOf.get(s.Id)!));
    output.Successful = (output.Successful ?? []).filter((s) => !failing.includes(s));
    output.Failed = [...(output.Failed ?? []), ...failing.map((s) => (senderFault ? { Id: s.Id!, Code: 'InvalidParameter', Message: 'injected: invalid attribute', SenderFault: true } : { Id: s.Id!, Code: 'InternalError', Message: 'injected', SenderFault: false }))];
  };
}

function assertLimits(calls: PublishBatchCommandInput[]) {
  expect(calls.length).toBeGreaterThan(0);
  for (const call of calls) {
    const entries = call.PublishBatchRequestEntries!;
    expect(entries.length).toBeGreaterThan(0);
    expect(entries.length).toBeLessThanOrEqual(MAX_BATCH_ENTRIES);
    expect(new Set(entries.map((e) => e.Id)).size).toBe(entries.length);
    const bytes = entries.reduce((n, e) => n + messageBytes(e.Message!, e.MessageAttributes ?? {}), 0);
    expect(bytes).toBeLessThanOrEqual(MAX_BATCH_BYTES);
  }
}

let topicCounter = 0;
async function topicWithQueue(endpoint: string, fifo = false) {
  const name = `pub-${process.pid}-${++topicCounter}${fifo ? '.fifo' : ''}`;
  const sns = new SNSClient({ region: 'us-east-1', endpoint, credentials });
  const sqsc = new SQSClient({ region: 'us-east-1', endpoint, credentials });
  const { TopicArn } = await sns.send(new CreateTopicCommand({ Name: name, ...(fifo ? { Attributes: { FifoTopic: 'true' } } : {}) }));
  const { QueueUrl } = await sqsc.send(new CreateQueueCommand({ QueueName: name, ...(fifo ? { Attributes: { FifoQueue: 'true' } } : {}) }));
  const attrs = await sqsc.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['QueueArn'] }));
  await sns.send(new SubscribeCommand({ TopicArn, Protocol: 'sqs', Endpoint: attrs.Attributes!.QueueArn, Attributes: { RawMessageDelivery: 'true' } }));
  sns.destroy();
  sqsc.destroy();
  return { name, topicArn: TopicArn!, queueUrl: QueueUrl! };
}

/** Receives (and deletes) until `count` distinct events arrived; returns every delivery, duplicates included. */
/**
 * Receives (and deletes) until `count` distinct events and at least `messages` messages (duplicates
 * included) have arrived, then what is left: PublishBatch has returned, so the queue holds every
 * message already, and a duplicate too many is counted, not left behind.
 */
async function receive(queueUrl: string, count: number, options: { messages?: number; timeoutMs?: number } = {}): Promise<Message[]> {
  const got: Message[] = [];
  const ids = new Set<string>();
  const receiveOnce = async () => {
    const r = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0, MessageAttributeNames: ['All'] }));
    const messages = r.Messages ?? [];
    if (messages.length > 0) {
      got.push(...messages);
      for (const m of messages) ids.add(JSON.parse(m.Body!).id);
      await sqs.send(new DeleteMessageBatchCommand({ QueueUrl: queueUrl, Entries: messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })) }));
    }
    return messages.length;
  };
  await waitFor(
    async () => {
      await receiveOnce();
      return ids.size >= count && got.length >= (options.messages ?? 0);
    },
    { timeoutMs: options.timeoutMs ?? 20_000, intervalMs: 10, what: `${count} events${options.messages ? ` in ${options.messages} messages` : ''} on the queue (got ${ids.size} in ${got.length})` },
  );
  while ((await receiveOnce()) > 0) {
    /* the rest, if any */
  }
  return got;
}

function config(publish: Record<string, unknown>, relay: Record<string, unknown> = {}): Config {
  return parseConfig({ source: { url: 'postgres://unused', name: 'itest' }, publish, relay: { publishConcurrency: 4, ...relay } }, {});
}

let seqCounter = 1_000;
function event(over: Partial<OutboxEvent> = {}): OutboxEvent {
  const seq = String(++seqCounter);
  return {
    seq,
    xid: '900',
    tableSchema: 'public',
    tableName: 'orders',
    op: 'insert',
    key: { id: seq },
    before: null,
    after: { id: seq, note: 'n' },
    changed: ['id', 'note'],
    attributes: { tenant_id: String(Number(seq) % 3) },
    changedAt: new Date(),
    ...over,
  };
}

const noQuarantine: QuarantineSink = async () => {
  throw new Error('quarantine must not be called here');
};

function publisherFor(opts: Partial<PublisherOptions> & Pick<PublisherOptions, 'config' | 'sns'>) {
  const metrics: Metrics = createMetrics();
  const publisher = createPublisher({ logger: silentLogger, metrics, quarantine: noQuarantine, s3, retry: { baseDelayMs: 5, maxDelayMs: 20 }, ...opts });
  return { publisher, metrics };
}

async function metricValue(metrics: Metrics, name: string, labels: Record<string, string> = {}): Promise<number> {
  const metric = metrics.registry.getSingleMetric(name);
  const values = (await metric!.get()).values.filter((v) => Object.entries(labels).every(([k, val]) => v.labels[k] === val));
  return values.reduce((n, v) => n + v.value, 0);
}

// ---- tests ---------------------------------------------------------------------------------

describe('SNS publisher against the emulator', () => {
  it.each([
    { threaded: true, on: 'a worker thread' },
    { threaded: false, on: 'the main thread' },
  ])('publishes every event with its attributes, within 10 entries / 256 KiB per call, several calls in flight (the SDK on $on)', async ({ threaded }) => {
    const { name, queueUrl } = await topicWithQueue(server.address);
    const rec = recordingSns(server.address, { threaded });
    const { publisher, metrics } = publisherFor({ config: config({ topics: { default: { name } } }), sns: rec.sns });
    const big = 'x'.repeat(80_000);
    const events = Array.from({ length: 200 }, (_, i) => event(i % 3 === 0 ? { after: { big }, op: 'update', changed: ['big'] } : i % 7 === 0 ? { op: 'delete', changed: null, after: null } : {}));
    const outcome = await publisher.publish(events);
    expect(outcome).toEqual({ acknowledged: 200 });
    assertLimits(rec.calls);
    expect(rec.calls.some((c) => c.PublishBatchRequestEntries!.length < 10)).toBe(true); // the 80 kB events closed batches early
    expect(rec.maxInFlight()).toBeGreaterThan(1);

    const messages = await receive(queueUrl, 200);
    const bySeq = new Map(messages.map((m) => [JSON.parse(m.Body!).sequence as string, m]));
    for (const e of events) {
      const m = bySeq.get(e.seq)!;
      expect(m, `event ${e.seq}`).toBeDefined();
      const body = JSON.parse(m.Body!);
      expect(validateEnvelope(body)).toEqual([]);
      expect(body.data.after).toEqual(e.after);
      const attrs = m.MessageAttributes!;
      expect(attrs.source!.StringValue).toBe('itest');
      expect(attrs.table!.StringValue).toBe('public.orders');
      expect(attrs.operation!.StringValue).toBe(e.op);
      expect(attrs.tenant_id!.StringValue).toBe(e.attributes!.tenant_id);
      if (e.changed) expect(JSON.parse(attrs.changed!.StringValue!)).toEqual(e.changed);
      else expect(attrs.changed).toBeUndefined();
    }
    expect(await metricValue(metrics, 'outbox_events_published_total', { topic: 'default' })).toBe(200);
    await publisher.close();
    rec.sns.destroy();
  });

  it.each([
    { sdkThread: true, on: 'a worker thread' },
    { sdkThread: false, on: 'the main thread' },
  ])('with no client injected, sends its calls through the SDK on $on (aws.sdkThread: $sdkThread)', async ({ sdkThread }) => {
    const { name, queueUrl } = await topicWithQueue(server.address);
    // Spies that call through: they only say on which client each command was sent (the worker's SDK is not this thread's).
    const threadedSend = vi.spyOn(ThreadedClient.prototype, 'send');
    const sdkSend = vi.spyOn(SNSClient.prototype, 'send');
    try {
      const cfg = parseConfig({ source: { url: 'postgres://unused', name: 'itest' }, publish: { topics: { default: { name } } }, aws: { region: 'us-east-1', endpoint: server.address, sdkThread } }, {});
      const publisher = createPublisher({ config: cfg, logger: silentLogger, metrics: createMetrics(), quarantine: noQuarantine });
      const events = Array.from({ length: 25 }, () => event());
      expect(await publisher.publish(events)).toEqual({ acknowledged: 25 });
      await publisher.close();
      const commands = (spy: typeof threadedSend | typeof sdkSend) => spy.mock.calls.map(([command]) => (command as object).constructor.name);
      expect(commands(sdkThread ? threadedSend : sdkSend)).toEqual(['CreateTopicCommand', 'PublishBatchCommand', 'PublishBatchCommand', 'PublishBatchCommand']);
      expect(commands(sdkThread ? sdkSend : threadedSend)).toEqual([]);
      const messages = await receive(queueUrl, 25);
      expect(new Set(messages.map((m) => JSON.parse(m.Body!).sequence))).toEqual(new Set(events.map((e) => e.seq)));
    } finally {
      threadedSend.mockRestore();
      sdkSend.mockRestore();
    }
  });

  it('routes tables to their topics', async () => {
    const a = await topicWithQueue(server.address);
    const b = await topicWithQueue(server.address);
    const rec = recordingSns(server.address);
    const { publisher } = publisherFor({ config: config({ topics: { default: { name: a.name }, audit: { arn: b.topicArn } }, routes: { 'public.audit_log': 'audit' } }), sns: rec.sns });
    const events = [event(), event({ tableName: 'audit_log' }), event()];
    expect(await publisher.publish(events)).toEqual({ acknowledged: 3 });
    expect((await receive(a.queueUrl, 2)).map((m) => JSON.parse(m.Body!).data.table)).toEqual(['orders', 'orders']);
    expect((await receive(b.queueUrl, 1)).map((m) => JSON.parse(m.Body!).data.table)).toEqual(['audit_log']);
    await publisher.close();
    rec.sns.destroy();
  });

  it('retries only the failed entries of a reply', async () => {
    const { name, queueUrl } = await topicWithQueue(server.address);
    const rec = recordingSns(server.address);
    const events = Array.from({ length: 40 }, () => event());
    const flaky = new Set([events[5]!.seq, events[17]!.seq]);
    let failuresLeft = 4;
    rec.faults.rewrite = failEntries((seq) => flaky.has(seq) && failuresLeft-- > 0);
    const { publisher, metrics } = publisherFor({ config: config({ topics: { default: { name } } }), sns: rec.sns });
    expect(await publisher.publish(events)).toEqual({ acknowledged: 40 });
    // 4 batches, then retries that carry only the entries SNS rejected.
    const retries = rec.calls.slice(4);
    expect(retries.length).toBeGreaterThan(0);
    for (const call of retries) expect(call.PublishBatchRequestEntries!.every((e) => flaky.has(JSON.parse(e.Message!).sequence))).toBe(true);
    const messages = await receive(queueUrl, 40, { messages: 40 + 4 });
    // The injector rewrites replies of calls that did reach SNS, so each injected failure is a real
    // delivery followed by a retry: exactly those events arrive twice, no other.
    const seqs = messages.map((m) => JSON.parse(m.Body!).sequence as string);
    expect(seqs.filter((s, i) => seqs.indexOf(s) !== i).every((s) => flaky.has(s))).toBe(true);
    expect(messages).toHaveLength(40 + 4);
    expect(await metricValue(metrics, 'outbox_publish_errors_total', { kind: 'entry' })).toBe(4);
    await publisher.close();
    rec.sns.destroy();
  });

  it('acknowledges only the contiguous prefix when one event keeps failing', async () => {
    const { name } = await topicWithQueue(server.address);
    const rec = recordingSns(server.address);
    const events = Array.from({ length: 1000 }, () => event());
    rec.faults.rewrite = failEntries((seq) => seq === events[5]!.seq);
    const { publisher } = publisherFor({ config: config({ topics: { default: { name } } }), sns: rec.sns, retry: { attempts: 3, baseDelayMs: 1, maxDelayMs: 2 } });
    const outcome = await publisher.publish(events);
    expect(outcome.acknowledged).toBe(5);
    expect(outcome.error?.message).toMatch(new RegExp(`public\\.orders seq ${events[5]!.seq}`));
    expect(rec.calls.filter((c) => c.PublishBatchRequestEntries!.some((e) => JSON.parse(e.Message!).sequence === events[5]!.seq))).toHaveLength(3);
    await publisher.close();
    rec.sns.destroy();
  });

  it('quarantines an event SNS keeps refusing as the sender\'s fault, and the stream goes on', async () => {
    const { name, queueUrl } = await topicWithQueue(server.address);
    const rec = recordingSns(server.address);
    const events = Array.from({ length: 30 }, () => event());
    const bad = events[7]!;
    rec.faults.rewrite = failEntries((seq) => seq === bad.seq, true);
    const quarantined: { seq: string; reason: string }[] = [];
    const quarantine: QuarantineSink = async (e, _envelope, reason) => {
      quarantined.push({ seq: e.seq, reason });
    };
    const { publisher, metrics } = publisherFor({ config: config({ topics: { default: { name } } }), sns: rec.sns, quarantine, retry: { attempts: 3, baseDelayMs: 1, maxDelayMs: 2 } });
    expect(await publisher.publish(events)).toEqual({ acknowledged: 30 });
    expect(quarantined).toEqual([{ seq: bad.seq, reason: expect.stringMatching(/sender's fault \(InvalidParameter: injected: invalid attribute\)/) }]);
    expect(await metricValue(metrics, 'outbox_events_quarantined_total', { reason: 'rejected' })).toBe(1);
    // (The injector rewrites the reply after the emulator took the message, so only the others are checked.)
    const delivered = new Set((await receive(queueUrl, 30)).map((m) => JSON.parse(m.Body!).sequence as string));
    for (const e of events) if (e !== bad) expect(delivered.has(e.seq)).toBe(true);
    await publisher.close();
    rec.sns.destroy();
  });

  it('treats a call whose reply is lost as unknown: sends it again, duplicates allowed, never skipped', async () => {
    const { name, queueUrl } = await topicWithQueue(server.address);
    const rec = recordingSns(server.address);
    let lose = 2;
    rec.faults.throwAfter = () => lose-- > 0;
    const { publisher, metrics } = publisherFor({ config: config({ topics: { default: { name } } }, { publishConcurrency: 1 }), sns: rec.sns });
    const events = Array.from({ length: 15 }, () => event());
    expect(await publisher.publish(events)).toEqual({ acknowledged: 15 });
    const messages = await receive(queueUrl, 15);
    expect(messages.length).toBeGreaterThan(15); // the "lost" batch arrived twice or more
    expect(await metricValue(metrics, 'outbox_publish_errors_total', { kind: 'request' })).toBe(2);
    await publisher.close();
    rec.sns.destroy();
  });

  it('treats a breaker timeout as unknown: the call may have succeeded, it is sent again and not counted as done', async () => {
    const { name, queueUrl } = await topicWithQueue(server.address);
    const rec = recordingSns(server.address);
    let slow = 1;
    rec.faults.delayReplyMs = () => (slow-- > 0 ? 600 : 0);
    const breaker = { timeoutMs: 150, volumeThreshold: 10, errorThresholdPercentage: 50, resetTimeoutMs: 1_000, rollingCountTimeoutMs: 10_000 };
    const { publisher, metrics } = publisherFor({ config: config({ topics: { default: { name } } }, { publishConcurrency: 1, breaker }), sns: rec.sns });
    const events = Array.from({ length: 10 }, () => event());
    expect(await publisher.publish(events)).toEqual({ acknowledged: 10 });
    expect(rec.calls).toHaveLength(2);
    // The timed-out call had reached SNS: every event is on the queue twice.
    const messages = await receive(queueUrl, 10, { messages: 20 });
    const seqs = messages.map((m) => JSON.parse(m.Body!).sequence as string);
    expect(seqs).toHaveLength(20);
    for (const e of events) expect(seqs.filter((s) => s === e.seq)).toHaveLength(2);
    expect(await metricValue(metrics, 'outbox_publish_errors_total', { kind: 'request' })).toBe(1);
    await publisher.close();
    rec.sns.destroy();
  });

  it('publishes a share move as two plain-attribute messages: the old share gets the old side, the new share the new side, an unfiltered queue both', async () => {
    const { name, topicArn, queueUrl: everything } = await topicWithQueue(server.address);
    const subscribe = async (suffix: string, policy: Record<string, unknown>) => {
      const sns = new SNSClient({ region: 'us-east-1', endpoint: server.address, credentials });
      const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: `${name}-${suffix}` }));
      const attrs = await sqs.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['QueueArn'] }));
      await sns.send(new SubscribeCommand({ TopicArn: topicArn, Protocol: 'sqs', Endpoint: attrs.Attributes!.QueueArn, Attributes: { RawMessageDelivery: 'true', FilterPolicy: JSON.stringify(policy) } }));
      sns.destroy();
      return QueueUrl!;
    };
    const oldShare = await subscribe('old', { tenant_id: ['1'] });
    const newShare = await subscribe('new', { tenant_id: ['3'] });
    const big = await subscribe('big', { amount: [{ numeric: ['>=', 100] }] });
    const rec = recordingSns(server.address);
    const { publisher, metrics } = publisherFor({ config: config({ topics: { default: { name } }, numberAttributes: { 'public.orders': ['amount'] } }), sns: rec.sns });
    const move = event({ op: 'update', changed: ['tenant_id', 'amount'], attributes: { tenant_id: ['1', '3'], amount: ['250.00', '50.00'] } });
    const events = [event({ attributes: { tenant_id: '1', amount: '120' } }), move, event({ attributes: { tenant_id: '3', amount: '7' } })];
    expect(await publisher.publish(events)).toEqual({ acknowledged: 3 });
    expect(await metricValue(metrics, 'outbox_events_published_total')).toBe(4);
    const ids = async (queueUrl: string, count: number) => (await receive(queueUrl, count)).map((m) => JSON.parse(m.Body!) as { id: string; type: string; data: { move?: { side: string } } });
    const toOld = await ids(oldShare, 2);
    expect(toOld.map((b) => b.id).sort()).toEqual([`itest:${events[0]!.seq}`, `itest:${move.seq}:old`].sort());
    expect(toOld.find((b) => b.id.endsWith(':old'))!.data.move!.side).toBe('old');
    const toNew = await ids(newShare, 2);
    expect(toNew.map((b) => b.id).sort()).toEqual([`itest:${move.seq}`, `itest:${events[2]!.seq}`].sort());
    expect(toNew.find((b) => b.id === `itest:${move.seq}`)).toMatchObject({ type: 'dev.outbox-relay.change.v2', data: { move: { side: 'new' } } });
    // Numbers as Number attributes: the numeric condition takes the first event and the old side (250).
    expect((await ids(big, 2)).map((b) => b.id).sort()).toEqual([`itest:${events[0]!.seq}`, `itest:${move.seq}:old`].sort());
    expect((await ids(everything, 4)).map((b) => b.id)).toHaveLength(4);
    for (const call of rec.calls) for (const entry of call.PublishBatchRequestEntries!) for (const a of Object.entries(entry.MessageAttributes ?? {})) if (a[0] !== 'changed') expect(a[1].DataType).not.toBe('String.Array');
    await publisher.close();
    rec.sns.destroy();
  });

  it('acknowledges a moving event only when both of its messages are published', async () => {
    const { name } = await topicWithQueue(server.address);
    const rec = recordingSns(server.address);
    const events = [event(), event({ op: 'update', attributes: { tenant_id: ['1', '2'] } }), event()];
    rec.faults.rewrite = (input, output) => {
      const old = input.PublishBatchRequestEntries!.find((e) => JSON.parse(e.Message!).id.endsWith(':old'));
      if (!old) return;
      output.Successful = (output.Successful ?? []).filter((s) => s.Id !== old.Id);
      output.Failed = [...(output.Failed ?? []), { Id: old.Id!, Code: 'InternalError', Message: 'injected', SenderFault: false }];
    };
    const { publisher } = publisherFor({ config: config({ topics: { default: { name } } }), sns: rec.sns, retry: { attempts: 2, baseDelayMs: 1, maxDelayMs: 2 } });
    const outcome = await publisher.publish(events);
    expect(outcome.acknowledged).toBe(1);
    expect(rec.calls[0]!.PublishBatchRequestEntries!.map((e) => e.Id)).toEqual(['0', '1-old', '1', '2']);
    await publisher.close();
    rec.sns.destroy();
  });

  it('claim-checks an oversized event to S3, keeping its routing attributes', async () => {
    const { name, queueUrl } = await topicWithQueue(server.address);
    const bucket = `claims-${process.pid}`;
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    const rec = recordingSns(server.address);
    const { publisher, metrics } = publisherFor({ config: config({ topics: { default: { name } }, claimCheck: { bucket, prefix: 'big/' } }), sns: rec.sns });
    const huge = event({ op: 'update', after: { id: '1', blob: 'y'.repeat(300_000) }, changed: ['blob'], attributes: { tenant_id: '7' } });
    const events = [event(), huge, event()];
    expect(await publisher.publish(events)).toEqual({ acknowledged: 3 });
    assertLimits(rec.calls);
    const messages = await receive(queueUrl, 3);
    const m = messages.find((x) => JSON.parse(x.Body!).sequence === huge.seq)!;
    const body = JSON.parse(m.Body!);
    expect(validateEnvelope(body)).toEqual([]);
    expect(body.data).toBeUndefined();
    expect(body.claimcheck).toBe(`s3://${bucket}/big/itest:${huge.seq}`);
    expect(m.MessageAttributes!.tenant_id!.StringValue).toBe('7');
    expect(m.MessageAttributes!.operation!.StringValue).toBe('update');
    expect(JSON.parse(m.MessageAttributes!.changed!.StringValue!)).toEqual(['blob']);
    const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: `big/itest:${huge.seq}` }));
    const full = JSON.parse(await object.Body!.transformToString());
    expect(validateEnvelope(full)).toEqual([]);
    expect(full.data.after.blob).toHaveLength(300_000);
    expect(full.id).toBe(body.id);
    expect(await metricValue(metrics, 'outbox_events_claim_checked_total')).toBe(1);
    await publisher.close();
    rec.sns.destroy();
  });

  it('quarantines an oversized event when no bucket is configured, and the stream goes on', async () => {
    const { name, queueUrl } = await topicWithQueue(server.address);
    const rec = recordingSns(server.address);
    const quarantined: { seq: string; reason: string; size: number }[] = [];
    const quarantine: QuarantineSink = async (e, envelope, reason) => {
      quarantined.push({ seq: e.seq, reason, size: envelope.length });
    };
    const { publisher, metrics } = publisherFor({ config: config({ topics: { default: { name } } }), sns: rec.sns, quarantine });
    const huge = event({ after: { id: '1', blob: 'z'.repeat(270_000) } });
    const events = [event(), huge, event()];
    expect(await publisher.publish(events)).toEqual({ acknowledged: 3 });
    expect(quarantined).toHaveLength(1);
    expect(quarantined[0]!.seq).toBe(huge.seq);
    expect(quarantined[0]!.reason).toMatch(/exceeds the SNS limit of 262144 bytes/);
    expect(quarantined[0]!.size).toBeGreaterThan(270_000);
    const messages = await receive(queueUrl, 2);
    expect(messages.map((x) => JSON.parse(x.Body!).sequence).sort()).toEqual([events[0]!.seq, events[2]!.seq].sort());
    expect(await metricValue(metrics, 'outbox_events_quarantined_total', { reason: 'too-large' })).toBe(1);
    await publisher.close();
    rec.sns.destroy();
  });

  it('keeps per-key order on a FIFO topic with several calls in flight', async () => {
    const { name, queueUrl } = await topicWithQueue(server.address, true);
    const rec = recordingSns(server.address);
    const { publisher } = publisherFor({ config: config({ topics: { default: { name } } }), sns: rec.sns });
    const keys = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'];
    const events = Array.from({ length: 200 }, (_, i) => event({ op: 'update', key: { id: keys[(i * 7 + (i >> 3)) % keys.length] } }));
    expect(await publisher.publish(events)).toEqual({ acknowledged: 200 });
    assertLimits(rec.calls);
    for (const call of rec.calls) for (const e of call.PublishBatchRequestEntries!) expect(e.MessageDeduplicationId).toBe(JSON.parse(e.Message!).id);
    expect(rec.maxInFlight()).toBeGreaterThan(1);
    const messages = await receive(queueUrl, 200);
    const perKey = new Map<string, bigint[]>();
    for (const m of messages) {
      const body = JSON.parse(m.Body!);
      const list = perKey.get(body.subject) ?? [];
      list.push(BigInt(body.sequence));
      perKey.set(body.subject, list);
    }
    expect(perKey.size).toBe(keys.length);
    for (const [subject, seqs] of perKey) expect(seqs, subject).toEqual([...seqs].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0)));
    await publisher.close();
    rec.sns.destroy();
  });
});

describe('SNS unreachable', () => {
  it('opens the breaker, acknowledges nothing unpublished, and recovers after a restart', async () => {
    let own = await startFauxqs({ port: 0, logger: false });
    const port = own.port;
    const first = await topicWithQueue(own.address);
    const rec = recordingSns(own.address, { maxAttempts: 1 });
    const breaker = { timeoutMs: 2_000, volumeThreshold: 2, errorThresholdPercentage: 50, resetTimeoutMs: 500, rollingCountTimeoutMs: 10_000 };
    const { publisher, metrics } = publisherFor({ config: config({ topics: { default: { name: first.name } } }, { breaker }), sns: rec.sns, retry: { attempts: 3, baseDelayMs: 5, maxDelayMs: 10 } });
    const events = Array.from({ length: 30 }, () => event());
    expect(await publisher.publish(events.slice(0, 10))).toEqual({ acknowledged: 10 });

    await own.stop();
    const down = await publisher.publish(events.slice(10));
    expect(down.acknowledged).toBe(0);
    expect(down.error).toBeDefined();
    await waitFor(() => !publisher.available(), { what: 'breaker open' });
    expect(await metricValue(metrics, 'outbox_publish_breaker_state')).toBe(2);
    // Refused without trying: no call reaches the network, so nothing waits for a request timeout.
    const callsBefore = rec.calls.length;
    const started = Date.now();
    const fast = await publisher.publish(events.slice(10));
    expect(fast.acknowledged).toBe(0);
    expect(fast.error?.message).toMatch(/circuit breaker is open/);
    expect(rec.calls.length).toBe(callsBefore);
    expect(Date.now() - started).toBeLessThan(breaker.timeoutMs);

    own = await startFauxqs({ port, logger: false });
    try {
      // A fresh emulator has no topics: re-create the publisher's (same name, same ARN) and subscribe a queue.
      const sns = new SNSClient({ region: 'us-east-1', endpoint: own.address, credentials });
      const sqsc = new SQSClient({ region: 'us-east-1', endpoint: own.address, credentials });
      const { TopicArn } = await sns.send(new CreateTopicCommand({ Name: first.name }));
      const { QueueUrl } = await sqsc.send(new CreateQueueCommand({ QueueName: `${first.name}-after` }));
      const qa = await sqsc.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['QueueArn'] }));
      await sns.send(new SubscribeCommand({ TopicArn, Protocol: 'sqs', Endpoint: qa.Attributes!.QueueArn, Attributes: { RawMessageDelivery: 'true' } }));

      const remaining = events.slice(10);
      let done = 0;
      await waitFor(
        async () => {
          if (!publisher.available()) return false;
          const r = await publisher.publish(remaining.slice(done));
          done += r.acknowledged;
          return done === remaining.length;
        },
        { timeoutMs: 10_000, intervalMs: 50, what: 'publishing to resume' },
      );
      expect(publisher.breakerState()).toBe('closed');
      expect(await metricValue(metrics, 'outbox_publish_breaker_state')).toBe(0);
      const local = new SQSClient({ region: 'us-east-1', endpoint: own.address, credentials });
      const got = new Set<string>();
      await waitFor(async () => {
        const r = await local.send(new ReceiveMessageCommand({ QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }));
        for (const m of r.Messages ?? []) got.add(JSON.parse(m.Body!).sequence);
        if ((r.Messages ?? []).length) await local.send(new DeleteMessageBatchCommand({ QueueUrl, Entries: r.Messages!.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })) }));
        return got.size === remaining.length;
      }, { what: 'the 20 events published after recovery' });
      expect([...got].sort()).toEqual(remaining.map((e) => e.seq).sort());
      for (const c of [sns, sqsc, local]) c.destroy();
    } finally {
      await publisher.close();
      rec.sns.destroy();
      await own.stop();
    }
  });
});
