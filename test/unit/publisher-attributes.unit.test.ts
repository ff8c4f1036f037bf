import { readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { describe, expect, it } from 'vitest';
import { MOVE_EVENT_TYPE, validateEnvelope, type OutboxEvent } from '../../src/wire/envelope.js';
import { buildMessageAttributes, isSnsNumber, isValidAttributeName, messageSides } from '../../src/wire/attributes.js';
import { deduplicationId, messageGroupId, toFifoId } from '../../src/relay/publisher/fifo-ids.js';
import { prepareMessages, toBatchEntry } from '../../src/relay/publisher/prepare.js';
import type { ResolvedTopic } from '../../src/relay/publisher/topics.js';

function event(over: Partial<OutboxEvent> = {}): OutboxEvent {
  return {
    seq: '42',
    xid: '7',
    tableSchema: 'public',
    tableName: 'orders',
    op: 'update',
    key: { id: '1' },
    before: null,
    after: { id: '1', status: 'paid' },
    changed: ['status'],
    attributes: null,
    changedAt: new Date('2024-01-01T00:00:00Z'),
    ...over,
  };
}

describe('buildMessageAttributes', () => {
  it('sets source, table, operation and changed (String.Array)', () => {
    const { attributes, dropped } = buildMessageAttributes('shop', event({ attributes: { tenant_id: '3', status: 'paid' } }));
    expect(attributes).toEqual({
      source: { DataType: 'String', StringValue: 'shop' },
      table: { DataType: 'String', StringValue: 'public.orders' },
      operation: { DataType: 'String', StringValue: 'update' },
      changed: { DataType: 'String.Array', StringValue: '["status"]' },
      status: { DataType: 'String', StringValue: 'paid' },
      tenant_id: { DataType: 'String', StringValue: '3' },
    });
    expect(dropped).toEqual([]);
  });

  it('takes the old or the new value of an attribute an update changed, as a plain String', () => {
    const moved = event({ attributes: { tenant_id: ['1', '2'], region: [null, 'eu'], kind: 'a' } });
    const current = buildMessageAttributes('s', moved).attributes;
    expect(current.tenant_id).toEqual({ DataType: 'String', StringValue: '2' });
    expect(current.region).toEqual({ DataType: 'String', StringValue: 'eu' });
    const old = buildMessageAttributes('s', moved, { side: 'old' });
    expect(old.attributes.tenant_id).toEqual({ DataType: 'String', StringValue: '1' });
    expect(old.attributes.region).toBeUndefined();
    expect(old.dropped).toEqual([{ name: 'region', reason: 'empty-value' }]);
    expect(old.attributes.kind).toEqual({ DataType: 'String', StringValue: 'a' });
    expect(Object.values(current).some((a) => a.DataType === 'String.Array' && a !== current.changed)).toBe(false);
    const { dropped } = buildMessageAttributes('s', event({ attributes: { gone: [null, ''] } }));
    expect(dropped).toEqual([{ name: 'gone', reason: 'empty-value' }]);
  });

  it('sends publish.numberAttributes columns as Number when the value is a number SNS takes, else as String', () => {
    const numberColumns = new Set(['amount', 'code']);
    const built = buildMessageAttributes('s', event({ attributes: { amount: '-12.50', code: 'A1', tenant: '7' } }), { numberColumns });
    expect(built.attributes.amount).toEqual({ DataType: 'Number', StringValue: '-12.50' });
    expect(built.attributes.code).toEqual({ DataType: 'String', StringValue: 'A1' });
    expect(built.attributes.tenant).toEqual({ DataType: 'String', StringValue: '7' });
    expect(built.asString).toEqual(['code']);
    for (const ok of ['0', '-1', '1.5', '.5', '1e9', '12345678901234567890123456789012345678']) expect(isSnsNumber(ok)).toBe(true);
    for (const bad of ['', '1.', 'NaN', 'Infinity', '0x10', '1 2', '123456789012345678901234567890123456789', '1e400']) expect(isSnsNumber(bad)).toBe(false);
  });

  it('omits changed when there are no changed columns', () => {
    expect(buildMessageAttributes('s', event({ changed: null })).attributes.changed).toBeUndefined();
    expect(buildMessageAttributes('s', event({ changed: [] })).attributes.changed).toBeUndefined();
  });

  it('keeps at most 10 attributes and reports what it drops (names only)', () => {
    const attrs = Object.fromEntries(Array.from({ length: 9 }, (_, i) => [`a${i}`, `v${i}`]));
    const { attributes, dropped } = buildMessageAttributes('s', event({ attributes: { ...attrs, table: 'x', 'aws.bad': 'y', empty: '' } }));
    expect(Object.keys(attributes)).toHaveLength(10);
    expect(Object.keys(attributes)).toEqual(['source', 'table', 'operation', 'changed', 'a0', 'a1', 'a2', 'a3', 'a4', 'a5']);
    expect(attributes.table!.StringValue).toBe('public.orders');
    expect(dropped).toEqual(
      expect.arrayContaining([
        { name: 'a6', reason: 'too-many' },
        { name: 'a8', reason: 'too-many' },
        { name: 'table', reason: 'reserved-name' },
        { name: 'aws.bad', reason: 'invalid-name' },
        { name: 'empty', reason: 'empty-value' },
      ]),
    );
    expect(JSON.stringify(dropped)).not.toContain('v6');
  });

  it('validates attribute names the way SNS does', () => {
    for (const ok of ['tenant_id', 'a-b', 'a.b', 'X9']) expect(isValidAttributeName(ok)).toBe(true);
    for (const bad of ['', '.a', 'a.', 'a..b', 'AWS.x', 'amazon.y', 'has space', 'é', 'x'.repeat(257)]) expect(isValidAttributeName(bad)).toBe(false);
  });
});

describe('FIFO ids', () => {
  it('groups by table and canonical key', () => {
    expect(messageGroupId(event({ key: { b: '2', a: '1' } }))).toBe('public.orders/{"a":"1","b":"2"}');
    expect(messageGroupId(event({ key: { a: '1', b: '2' } }))).toBe(messageGroupId(event({ key: { b: '2', a: '1' } })));
    expect(messageGroupId(event({ op: 'truncate', key: null }))).toBe('public.orders/*');
  });

  it('hashes a group id that is too long or has characters SNS refuses', () => {
    const long = messageGroupId(event({ key: { id: 'x'.repeat(200) } }));
    expect(long).toMatch(/^[0-9a-f]{64}$/);
    expect(messageGroupId(event({ key: { id: 'x'.repeat(200) } }))).toBe(long);
    expect(messageGroupId(event({ key: { id: 'a b' } }))).toMatch(/^[0-9a-f]{64}$/);
    expect(messageGroupId(event({ key: { id: 'ü' } }))).toMatch(/^[0-9a-f]{64}$/);
    expect(messageGroupId(event({ key: { id: 'a b' } }))).not.toBe(messageGroupId(event({ key: { id: 'a_b' } })));
  });

  it('uses the event id as deduplication id, sanitised to ≤ 128 valid characters', () => {
    expect(deduplicationId('shop:42')).toBe('shop:42');
    expect(deduplicationId(`${'s'.repeat(127)}:1`)).toMatch(/^[0-9a-f]{64}$/);
    expect(toFifoId('x'.repeat(128))).toBe('x'.repeat(128));
    expect(toFifoId('x'.repeat(129))).toHaveLength(64);
  });
});

describe('messages of a share move', () => {
  const topic: ResolvedTopic = { key: 'default', arn: 'arn:aws:sns:us-east-1:000000000000:t', fifo: false };
  const fifo: ResolvedTopic = { ...topic, arn: 'arn:aws:sns:us-east-1:000000000000:t.fifo', fifo: true };
  const move = event({ seq: '42', attributes: { tenant_id: ['1', '3'], region: 'eu' }, after: { id: '1', status: 'paid', tenant_id: 3 } });

  it('publishes an event that moves nothing as one message, byte for byte the v1 envelope', () => {
    for (const e of [event({ attributes: { tenant_id: '1' } }), event({ attributes: { tenant_id: ['1', '1'] } }), event({ op: 'insert', attributes: null })]) {
      const [only, ...rest] = prepareMessages(0, e, 'shop', topic);
      expect(rest).toEqual([]);
      expect(only!.side).toBeUndefined();
      expect(only!.envelope.type).toBe('dev.outbox-relay.change.v1');
      expect(only!.envelope.id).toBe('shop:42');
      expect(only!.envelope.data).not.toHaveProperty('move');
      expect(toBatchEntry(only!).Id).toBe('0');
    }
  });

  it('publishes an update that changed an attribute as two messages with the same seq: old values, then new values', () => {
    const [old, moved] = prepareMessages(5, move, 'shop', topic);
    expect(old!.side).toBe('old');
    expect(moved!.side).toBe('new');
    expect(old!.attributes.tenant_id).toEqual({ DataType: 'String', StringValue: '1' });
    expect(moved!.attributes.tenant_id).toEqual({ DataType: 'String', StringValue: '3' });
    expect(old!.attributes.region).toEqual(moved!.attributes.region);
    expect([old!.envelope.id, moved!.envelope.id]).toEqual(['shop:42:old', 'shop:42']);
    expect([toBatchEntry(old!).Id, toBatchEntry(moved!).Id]).toEqual(['5-old', '5']);
    for (const m of [old!, moved!]) {
      expect(m.index).toBe(5);
      expect(m.envelope.type).toBe(MOVE_EVENT_TYPE);
      expect(m.envelope.sequence).toBe('42');
      expect(m.envelope.data).toMatchObject({ op: 'update', seq: '42', after: move.after, move: { side: m.side, old: { tenant_id: '1', region: 'eu' }, new: { tenant_id: '3', region: 'eu' } } });
      expect(validateEnvelope(JSON.parse(m.body))).toEqual([]);
    }
  });

  it('gives each message of a move its own FIFO deduplication id in the row group', () => {
    const [old, moved] = prepareMessages(0, move, 'shop', fifo);
    expect(old!.groupId).toBe(moved!.groupId);
    expect(old!.dedupId).not.toBe(moved!.dedupId);
  });

  it('moves from and to NULL (the attribute is absent on that side) and carries Number values as numbers', () => {
    const sides = messageSides('s', event({ attributes: { tenant_id: [null, '4'], amount: ['10', '20'] } }), new Set(['amount']));
    expect(sides.map((s) => s.side)).toEqual(['old', 'new']);
    expect(sides[0]!.built.attributes.tenant_id).toBeUndefined();
    expect(sides[0]!.columns).toEqual({ amount: 10 });
    expect(sides[1]!.columns).toEqual({ amount: 20, tenant_id: '4' });
    expect(sides[1]!.built.attributes.amount).toEqual({ DataType: 'Number', StringValue: '20' });
  });

  it('is no move when the changed attribute is not sent (too many attributes), or its values are equal as Numbers', () => {
    const many = Object.fromEntries(Array.from({ length: 6 }, (_, i) => [`a${i}`, 'x']));
    expect(messageSides('s', event({ attributes: { ...many, z: ['1', '2'] } }))).toHaveLength(1);
    expect(messageSides('s', event({ attributes: { amount: ['1.0', '1'] } }), new Set(['amount']))).toHaveLength(1);
  });

  it('keeps every event but a move valid against the v1 schema, so v1 consumers read them as before', () => {
    const ajv = new Ajv2020({ allErrors: true, strict: false });
    addFormats.default(ajv, ['date-time']);
    const v1 = ajv.compile(JSON.parse(readFileSync(new URL('../../schema/change-event.v1.json', import.meta.url), 'utf8')));
    for (const e of [event({ attributes: { tenant_id: '1' } }), event({ op: 'delete', after: null, attributes: { tenant_id: '1' } }), event({ op: 'truncate', key: null, after: null })]) {
      expect(v1(JSON.parse(prepareMessages(0, e, 'shop', topic)[0]!.body))).toBe(true);
    }
    // The two messages of a move are v2: a v1 consumer refuses them (to its DLQ) rather than misapply them.
    for (const m of prepareMessages(0, move, 'shop', topic)) expect(v1(JSON.parse(m.body))).toBe(false);
  });

  it('rejects a v2 message without move, and a v1 message with one', () => {
    const [old] = prepareMessages(0, move, 'shop', topic);
    const body = JSON.parse(old!.body) as { type: string; data: Record<string, unknown> };
    expect(validateEnvelope({ ...body, data: { ...body.data, move: undefined } }).join()).toMatch(/move/);
    expect(validateEnvelope({ ...body, type: 'dev.outbox-relay.change.v1' })).not.toEqual([]);
    expect(validateEnvelope({ ...body, data: { ...body.data, move: { side: 'sideways', old: {}, new: {} } } })).not.toEqual([]);
  });
});
