import { describe, expect, it } from 'vitest';
import type { OutboxEvent } from '../../src/envelope.js';
import { buildMessageAttributes, isValidAttributeName } from '../../src/relay/publisher/attributes.js';
import { deduplicationId, messageGroupId, toFifoId } from '../../src/relay/publisher/fifo-ids.js';

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

  it('publishes an attribute whose value an update changed as String.Array [old, new]', () => {
    const { attributes } = buildMessageAttributes('s', event({ attributes: { tenant_id: ['1', '2'], region: [null, 'eu'] } }));
    expect(attributes.tenant_id).toEqual({ DataType: 'String.Array', StringValue: '["1","2"]' });
    expect(attributes.region).toEqual({ DataType: 'String.Array', StringValue: '["eu"]' });
    const { dropped } = buildMessageAttributes('s', event({ attributes: { gone: [null, ''] } }));
    expect(dropped).toEqual([{ name: 'gone', reason: 'empty-value' }]);
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
