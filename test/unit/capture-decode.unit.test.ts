import { describe, expect, it } from 'vitest';
import { buildEnvelope, validateEnvelope, type OutboxEvent } from '../../src/wire/envelope.js';
import { diffShapes } from '../../src/source/postgres/relay-decode.js';
import type { ShapeColumn } from '../../src/source/postgres/table-shape.js';

const col = (attnum: number, name: string, type = 'integer'): ShapeColumn => ({ attnum, name, type, nullable: true, typeName: 'int4', typeKind: 'b' });

describe('diffShapes (columns matched by attribute number)', () => {
  it('tells add, drop, rename and type change apart', () => {
    const before = [col(1, 'id'), col(2, 'a', 'text'), col(3, 'b'), col(4, 'c')];
    const after = [col(1, 'id'), col(2, 'aa', 'text'), col(3, 'b', 'bigint'), col(5, 'c')];
    expect(diffShapes(before, after)).toEqual([
      { kind: 'rename_column', column: 'aa', from: 'a' },
      { kind: 'alter_type', column: 'b', from: 'integer', to: 'bigint' },
      { kind: 'drop_column', column: 'c' },
      { kind: 'add_column', column: 'c', type: 'integer' },
    ]);
    expect(diffShapes(before, before)).toEqual([]);
  });
});

const base: OutboxEvent = {
  seq: '42', xid: '7', tableSchema: 'public', tableName: 't', op: 'insert', key: { id: 1 }, before: null, after: { id: 1 }, changed: ['id'], attributes: null, changedAt: new Date('2026-01-01T00:00:00Z'),
};

describe('envelopes of capture v2 events', () => {
  it('a schema change is a valid v2 message: id <source>:<seq>:schema, subject /*, data.schemaChange', () => {
    const env = buildEnvelope('src', {
      ...base, op: 'schema', key: null, after: null, changed: null,
      schemaChange: { dialect: 'postgres', before: [{ name: 'id', type: 'integer', nullable: false }], after: [{ name: 'id', type: 'integer', nullable: false }, { name: 'c', type: 'text', nullable: true }], key: ['id'], changes: [{ kind: 'add_column', column: 'c', type: 'text' }] },
    });
    expect(env).toMatchObject({ id: 'src:42:schema', type: 'dev.outbox-relay.change.v2', subject: 'public.t/*', data: { op: 'schema', key: null } });
    expect(validateEnvelope(JSON.parse(JSON.stringify(env)))).toEqual([]);
  });

  it('the delete half of a key change has its own id (<source>:<seq>:old) and stays a valid v1 event', () => {
    const del = buildEnvelope('src', { ...base, op: 'delete', after: null, before: { id: 1 }, changed: null, keyChange: 'delete' });
    const ins = buildEnvelope('src', { ...base, key: { id: 2 }, after: { id: 2 } });
    expect([del.id, ins.id]).toEqual(['src:42:old', 'src:42']);
    expect(del.type).toBe('dev.outbox-relay.change.v1');
    expect(validateEnvelope(JSON.parse(JSON.stringify(del)))).toEqual([]);
  });
});
