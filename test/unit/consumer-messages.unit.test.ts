import type { Message, SQSClient } from '@aws-sdk/client-sqs';
import { describe, expect, it } from 'vitest';
import { isPermanent } from '../../src/consumer/breaker.js';
import { deadLetterMessage, redrivenMessage } from '../../src/consumer/dead-letter.js';
import { decodeMessage } from '../../src/consumer/decode.js';
import { queueNames } from '../../src/aws/resources.js';
import { queuePolicy } from '../../src/subscriptions/subscribe.js';
import { deleteMessages, sendMessages } from '../../src/aws/sqs-batch.js';
import { targetSchema } from '../../src/config/index.js';
import { buildEnvelope } from '../../src/wire/envelope.js';
import { OutboxError } from '../../src/errors.js';
import { outboxEvent } from '../helpers/consumer-fixtures.js';

const attr = (v: string) => ({ DataType: 'String', StringValue: v });

function received(attributes: Record<string, string>, extra: Partial<Message> = {}): Message {
  return { MessageId: 'm1', ReceiptHandle: 'r1', Body: '{}', MessageAttributes: Object.fromEntries(Object.entries(attributes).map(([k, v]) => [k, attr(v)])), ...extra };
}

/** An SQS client stand-in that records commands and answers with `reply(input)`. */
function fakeSqs(reply: (input: { Entries: { Id: string }[] }) => unknown) {
  const calls: { name: string; input: { Entries: { Id: string; MessageBody?: string }[] } }[] = [];
  const client = {
    send: async (command: { constructor: { name: string }; input: { Entries: { Id: string }[] } }) => {
      calls.push({ name: command.constructor.name, input: command.input });
      return reply(command.input);
    },
  } as unknown as SQSClient;
  return { client, calls };
}

describe('dead letters', () => {
  it('carry the reason and keep routing attributes first within the SQS limit of 10', () => {
    const original = { a1: '1', a2: '2', a3: '3', a4: '4', a5: '5', a6: '6', a7: '7', source: 's', table: 'public.t', operation: 'insert' };
    const out = deadLetterMessage({ message: received(original), code: 'SCHEMA_INVALID', reason: 'x'.repeat(5000) }, false);
    const names = Object.keys(out.attributes);
    expect(names).toHaveLength(10);
    expect(names.slice(0, 5)).toEqual(['outbox_error_code', 'outbox_error_reason', 'source', 'table', 'operation']);
    expect(out.attributes.outbox_error_reason!.StringValue).toHaveLength(1000);
    expect(out.groupId).toBeUndefined();
  });

  it('get FIFO ids from the received message, unique per receive', () => {
    const a = deadLetterMessage({ message: received({}, { Attributes: { MessageGroupId: 'g1' } }), code: 'UNPARSEABLE', reason: 'r' }, true);
    const b = deadLetterMessage({ message: received({}, { Attributes: { MessageGroupId: 'g1' }, ReceiptHandle: 'r2' }), code: 'UNPARSEABLE', reason: 'r' }, true);
    expect(a.groupId).toBe('g1');
    expect(a.deduplicationId).toMatch(/^[0-9a-f]{64}$/);
    expect(a.deduplicationId).not.toBe(b.deduplicationId);
  });

  it('lose their reason attributes when redriven', () => {
    const out = redrivenMessage(received({ outbox_error_code: 'X', outbox_error_reason: 'Y', table: 'public.t' }), false);
    expect(Object.keys(out.attributes)).toEqual(['table']);
  });
});

describe('decodeMessage', () => {
  const envelope = buildEnvelope('src', outboxEvent({ id: 1 }));
  const { data, ...small } = envelope;
  const claim = { ...small, claimcheck: 's3://bucket/key' };

  it('accepts a change event', async () => {
    expect(await decodeMessage(JSON.stringify(envelope), undefined)).toEqual({ ok: true, envelope });
  });

  it('reports poison with a reason that names the problem', async () => {
    expect(await decodeMessage('nope', undefined)).toMatchObject({ ok: false, code: 'UNPARSEABLE' });
    const invalid = await decodeMessage(JSON.stringify({ ...envelope, data: { ...data, op: 'merge' } }), undefined);
    expect(invalid).toMatchObject({ ok: false, code: 'SCHEMA_INVALID' });
    expect(!invalid.ok && invalid.reason).toContain('/data/op');
  });

  it('fetches a claim-checked event, and dead-letters one whose object is gone or is another event', async () => {
    expect(await decodeMessage(JSON.stringify(claim), async () => JSON.stringify(envelope))).toEqual({ ok: true, envelope });
    expect(await decodeMessage(JSON.stringify(claim), async () => undefined)).toMatchObject({ ok: false, code: 'CLAIMCHECK_MISSING' });
    const other = buildEnvelope('src', outboxEvent({ id: 2 }));
    expect(await decodeMessage(JSON.stringify(claim), async () => JSON.stringify(other))).toMatchObject({ ok: false, code: 'CLAIMCHECK_MISSING' });
  });

  it('throws (message retried later) when S3 cannot be read', async () => {
    await expect(decodeMessage(JSON.stringify(claim), async () => Promise.reject(new Error('S3 down')))).rejects.toThrow('S3 down');
  });

  it('decodes an event that carries its data without a promise; only a claim-check one waits (and rejects, never throws, without S3)', async () => {
    expect(decodeMessage(JSON.stringify(envelope), undefined)).not.toBeInstanceOf(Promise);
    expect(decodeMessage('nope', undefined)).toMatchObject({ ok: false, code: 'UNPARSEABLE' });
    const fetched = decodeMessage(JSON.stringify(claim), async () => JSON.stringify(envelope));
    expect(fetched).toBeInstanceOf(Promise);
    expect(await fetched).toEqual({ ok: true, envelope });
    const noS3 = decodeMessage(JSON.stringify(claim), undefined);
    expect(noS3).toBeInstanceOf(Promise);
    await expect(noS3).rejects.toThrow(/no S3 client/);
  });
});

describe('SQS batches', () => {
  it('treat entries the reply marks failed, or does not mention, as not deleted', async () => {
    const { client } = fakeSqs(() => ({ Successful: [{ Id: '0' }], Failed: [{ Id: '1', Code: 'ReceiptHandleIsInvalid', SenderFault: true }] }));
    const messages = [received({}), received({}, { MessageId: 'm2' }), received({}, { MessageId: 'm3' })];
    const result = await deleteMessages(client, 'q', messages);
    expect(result.succeeded).toEqual([messages[0]]);
    expect(result.failed.map((f) => [f.item.MessageId, f.code])).toEqual([
      ['m2', 'ReceiptHandleIsInvalid'],
      ['m3', 'NoReply'],
    ]);
  });

  it('split sends by 10 entries and by 256 KiB', async () => {
    const { client, calls } = fakeSqs((input) => ({ Successful: input.Entries.map((e) => ({ Id: e.Id })) }));
    const bodies = [...Array.from({ length: 12 }, () => 'small'), 'x'.repeat(200 * 1024), 'y'.repeat(200 * 1024)];
    const result = await sendMessages(client, 'q', bodies, (body) => ({ body, attributes: {} }));
    expect(result.succeeded).toHaveLength(14);
    expect(calls.map((c) => c.input.Entries.length)).toEqual([10, 3, 1]);
  });
});

describe('subscription pieces', () => {
  it('names queues from the target, FIFO for a FIFO topic', () => {
    const t = targetSchema.parse({ kind: 'postgres', urlEnv: 'U', tables: ['public.a'] });
    expect(queueNames('shop', t, { key: 'default', fifo: false })).toEqual({ queue: 'outbox-shop', dlq: 'outbox-shop-dlq', fifo: false });
    expect(queueNames('shop', t, { key: 'default', fifo: true })).toEqual({ queue: 'outbox-shop.fifo', dlq: 'outbox-shop-dlq.fifo', fifo: true });
    const named = targetSchema.parse({ kind: 'postgres', urlEnv: 'U', tables: ['public.a'], queue: { name: 'orders' } });
    expect(() => queueNames('shop', named, { key: 'default', fifo: true })).toThrow(/must end in \.fifo/);
  });

  it('replaces its own queue-policy statement and keeps the others', () => {
    const first = queuePolicy(undefined, 'arn:q', 'arn:t1');
    const withOther = JSON.stringify({ Statement: [...JSON.parse(first).Statement, { Sid: 'theirs' }] });
    const again = JSON.parse(queuePolicy(withOther, 'arn:q', 'arn:t2')) as { Statement: { Sid: string; Condition?: unknown }[] };
    expect(again.Statement.map((s) => s.Sid)).toEqual(['theirs', 'outbox-relay-topic-send']);
    expect(again.Statement[1]!.Condition).toEqual({ ArnEquals: { 'aws:SourceArn': 'arn:t2' } });
  });

  it('lets only target failures count against the breaker', () => {
    expect(isPermanent(new Error('connection refused'))).toBe(false);
    expect(isPermanent(new OutboxError('TARGET_UNAVAILABLE', 'down', { retryable: true }))).toBe(false);
    expect(isPermanent(new OutboxError('TARGET_UNAVAILABLE', 'down'))).toBe(false);
    expect(isPermanent(new OutboxError('CONFIG_INVALID', 'bad mapping'))).toBe(true);
  });
});
