import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConfig, targetSchema } from '../../src/config/index.js';
import { ConfigError, OutboxError } from '../../src/errors.js';
import { classify, withThrottlingRetry } from '../../src/targets/dynamodb/errors.js';
import { itemKey, keySchemaFor } from '../../src/targets/dynamodb/keys.js';
import { canonicalAttribute, normalizeNumber, toAttributeValue, ValueMappingError } from '../../src/targets/dynamodb/values.js';
import { forEachLimited } from '../../src/targets/dynamodb/writer.js';
import { buildTransformer } from '../../src/targets/index.js';
import { loadUserTransforms, withUserTransforms } from '../../src/targets/user-transform.js';

describe('DynamoDB values', () => {
  it('keeps every digit of numbers as N text, maps bytes, json, null and booleans', () => {
    expect(toAttributeValue('123456789012345678901234567890.12345678', 'n', 'number')).toEqual({ N: '123456789012345678901234567890.12345678' });
    expect(toAttributeValue('9007199254740993', 'big', 'number')).toEqual({ N: '9007199254740993' });
    expect(toAttributeValue(0.1, 'f')).toEqual({ N: '0.1' });
    expect(toAttributeValue(42, 'zip', 'string')).toEqual({ S: '42' });
    expect(toAttributeValue('\\x00ff', 'b', 'binary')).toEqual({ B: Buffer.from([0, 255]) });
    expect(toAttributeValue(null, 'x')).toEqual({ NULL: true });
    expect(toAttributeValue({ a: [1, 'x', false] }, 'j')).toEqual({ M: { a: { L: [{ N: '1' }, { S: 'x' }, { BOOL: false }] } } });
    expect(toAttributeValue('007', 'code')).toEqual({ S: '007' });
  });

  it('refuses text that does not fit a declared type, naming the column and not the value', () => {
    expect(() => toAttributeValue('NaN', 'amount', 'number')).toThrow(ValueMappingError);
    expect(() => toAttributeValue('secret-text', 'amount', 'number')).toThrow(/column "amount" is typed number/);
    expect(() => toAttributeValue('secret-text', 'amount', 'number')).not.toThrow(/secret/);
    expect(() => toAttributeValue('abc', 'blob', 'binary')).toThrow(/column "blob" is typed binary/);
  });

  it('normalises numbers for comparison as DynamoDB does', () => {
    expect(normalizeNumber('1.50')).toBe('1.5');
    expect(normalizeNumber('-001.500e1')).toBe('-15');
    expect(normalizeNumber('0.000')).toBe('0');
    expect(normalizeNumber('12e-3')).toBe('0.012');
    expect(normalizeNumber('100')).toBe('100');
    expect(canonicalAttribute({ N: '2.50' })).toBe(canonicalAttribute({ N: '2.5' }));
    expect(canonicalAttribute({ M: { b: { N: '1' }, a: { S: 'x' } } })).toBe(canonicalAttribute({ M: { a: { S: 'x' }, b: { N: '1.0' } } }));
    expect(canonicalAttribute({ S: '1' })).not.toBe(canonicalAttribute({ N: '1' }));
  });
});

describe('DynamoDB keys', () => {
  it('one column is the partition key, two add a sort key, three or more become outbox_key', () => {
    const S = () => 'S' as const;
    expect(keySchemaFor(['id'], S)).toEqual({ hash: { name: 'id', type: 'S' } });
    expect(keySchemaFor(['tenant', 'code'], (c) => (c === 'tenant' ? 'N' : 'S'))).toEqual({ hash: { name: 'tenant', type: 'N' }, range: { name: 'code', type: 'S' } });
    const composite = keySchemaFor(['a', 'b', 'c'], S);
    expect(composite).toEqual({ hash: { name: 'outbox_key', type: 'S' } });
    expect(itemKey({ c: 2, a: 1, b: 'x' }, composite)).toEqual({ outbox_key: { S: '{"a":1,"b":"x","c":2}' } });
    expect(itemKey({ tenant: 3, code: 'x' }, { hash: { name: 'tenant', type: 'N' }, range: { name: 'code', type: 'S' } })).toEqual({ tenant: { N: '3' }, code: { S: 'x' } });
    expect(() => itemKey({ id: 1 }, { hash: { name: 'uid', type: 'S' } })).toThrow(/does not match the table's key schema \(uid\)/);
    expect(() => itemKey({ id: 'abc' }, { hash: { name: 'id', type: 'N' } })).toThrow(/key column "id" must be a number/);
    expect(() => itemKey({ id: null }, { hash: { name: 'id', type: 'S' } })).toThrow(/is null/);
  });
});

describe('DynamoDB errors and retries', () => {
  const err = (name: string, status?: number) => Object.assign(new Error(name), { name, $metadata: { httpStatusCode: status } });
  it('classifies stale, throttled, permanent and unavailable', () => {
    expect(classify(err('ConditionalCheckFailedException', 400))).toBe('stale');
    expect(classify(err('ProvisionedThroughputExceededException', 400))).toBe('throttled');
    expect(classify(err('ThrottlingException', 400))).toBe('throttled');
    expect(classify(err('InternalServerError', 500))).toBe('throttled');
    expect(classify(err('ValidationException', 400))).toBe('permanent');
    expect(classify(err('UnrecognizedClientException', 400))).toBe('unavailable');
    expect(classify(new Error('socket hang up'))).toBe('throttled');
    expect(classify(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }))).toBe('throttled');
    expect(classify(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }))).toBe('unavailable');
  });

  it('retries throttling up to maxAttempts and counts it; other errors at once', async () => {
    const stats = { retries: 0 };
    let calls = 0;
    await expect(withThrottlingRetry(async () => (++calls < 3 ? Promise.reject(err('ThrottlingException', 400)) : 'ok'), 5, stats)).resolves.toBe('ok');
    expect([calls, stats.retries]).toEqual([3, 2]);
    calls = 0;
    await expect(withThrottlingRetry(async () => (++calls, Promise.reject(err('ThrottlingException', 400))), 3, stats)).rejects.toThrow('ThrottlingException');
    expect(calls).toBe(3);
    calls = 0;
    await expect(withThrottlingRetry(async () => (++calls, Promise.reject(err('ValidationException', 400))), 3, stats)).rejects.toThrow('ValidationException');
    expect(calls).toBe(1);
  });

  it('forEachLimited keeps at most the limit in flight and stops starting work after an error', async () => {
    let running = 0;
    let peak = 0;
    const done: number[] = [];
    await forEachLimited([...Array(20).keys()], 4, async (i) => {
      running += 1;
      peak = Math.max(peak, running);
      await new Promise((r) => setImmediate(r));
      running -= 1;
      done.push(i);
    });
    expect([peak, done.length]).toEqual([4, 20]);
    const started: number[] = [];
    await expect(forEachLimited([...Array(20).keys()], 2, async (i) => {
      started.push(i);
      if (i === 3) throw new Error('boom');
      await new Promise((r) => setImmediate(r));
    })).rejects.toThrow('boom');
    expect(started.length).toBeLessThan(8);
  });
});

describe('dynamodb config', () => {
  const base = { source: { url: 'postgres://a@b/c' } };
  it('a dynamodb target needs no urlEnv; other kinds still do; the dynamodb section belongs to dynamodb targets', () => {
    const cfg = parseConfig({ ...base, targets: { d: { kind: 'dynamodb', tables: ['public.t'], dynamodb: { attributeTypes: { 'public.t': { id: 'number' } } } } } }, {});
    expect(cfg.targets.d!.dynamodb!.concurrency).toBe(16);
    expect(cfg.targetSecrets('d').url).toBe('');
    const bad = (() => {
      try {
        parseConfig({ ...base, targets: { p: { kind: 'postgres', tables: ['public.t'], dynamodb: {} }, d: { kind: 'dynamodb', tables: ['public.t'], mapping: { 'public.t': { transform: 'x.txt' } } } } }, {});
      } catch (e) {
        return e as ConfigError;
      }
    })()!;
    expect(bad).toBeInstanceOf(ConfigError);
    const text = bad.problems.join('\n');
    expect(text).toMatch(/targets\.p\.urlEnv: is required for a postgres target/);
    expect(text).toMatch(/targets\.p\.dynamodb: applies to dynamodb targets only/);
    expect(text).toMatch(/transform: must be a path to a \.js, \.mjs, \.cjs, \.ts or \.mts module/);
  });
});

describe('user transforms', () => {
  const dir = mkdtempSync(join(tmpdir(), 'outbox-transform-'));
  const target = (file: string, kind = 'dynamodb') => targetSchema.parse({ kind, urlEnv: 'U', tables: ['public.t'], mapping: { 'public.t': { table: 'docs', rename: { name: 'title' }, transform: file } } });
  const meta = { messageId: 'm', eventId: 'e', time: '2024-01-01T00:00:00Z' };
  const change = (op: 'insert' | 'delete' = 'insert') => ({ schema: 'public', table: 't', op, seq: '9', key: { id: '1' }, after: op === 'delete' ? null : { id: '1', name: 'n' } });

  it('loads a module once, validates its path and export, and maps one change to several rows after the built-in mapping', async () => {
    const file = join(dir, 'split.mjs');
    writeFileSync(file, `export default (c) => [{ key: c.key, row: { ...c.row, seen: c.seq } }, { table: 'audit', key: { id: c.key.id + ':' + c.seq }, row: { op: c.op } }];`);
    const t = target(file);
    const fns = await loadUserTransforms('x', t);
    const out = withUserTransforms('x', buildTransformer('x', t, {}), fns, t)(change(), meta);
    expect(out).toEqual([
      expect.objectContaining({ table: 'docs', op: 'insert', seq: '9', key: { id: '1' }, row: { id: '1', title: 'n', seen: '9' } }),
      expect.objectContaining({ table: 'audit', op: 'insert', seq: '9', key: { id: '1:9' }, row: { op: 'insert' } }),
    ]);
    await expect(loadUserTransforms('x', target(join(dir, 'missing.js')))).rejects.toThrow(ConfigError);
    const none = join(dir, 'none.mjs');
    writeFileSync(none, 'export const x = 1;');
    await expect(loadUserTransforms('x', target(none))).rejects.toMatchObject({ problems: [expect.stringMatching(/exports no function/)] });
  });

  it('nothing acknowledges, a throw dead-letters with its message, bad rows are refused, part/merge only for DynamoDB', async () => {
    const file = join(dir, 'rules.mjs');
    writeFileSync(
      file,
      `export function transform(c) {
         if (c.op === 'delete') return null;
         if (c.row.title === 'boom') throw new Error('no boom allowed');
         if (c.row.title === 'nokey') return { row: c.row };
         if (c.row.title === 'async') return Promise.resolve([]);
         return { key: c.key, part: ['p', 'x'], row: c.row };
       }`,
    );
    const t = target(file);
    const run = withUserTransforms('x', buildTransformer('x', t, {}), await loadUserTransforms('x', t), t);
    const named = (name: string) => ({ ...change(), after: { id: '1', name } });
    expect(run(change('delete'), meta)).toBeNull();
    expect(() => run(named('boom'), meta)).toThrow(OutboxError);
    expect(() => run(named('boom'), meta)).toThrow(/the transform .*rules\.mjs threw: no boom allowed/);
    expect(() => run(named('nokey'), meta)).toThrow(/without a key/);
    expect(() => run(named('async'), meta)).toThrow(/returned a promise/);
    expect(run(named('ok'), meta)).toEqual([expect.objectContaining({ part: ['p', 'x'] })]);
    const pg = target(file, 'postgres');
    const pgRun = withUserTransforms('x', buildTransformer('x', pg, {}), await loadUserTransforms('x', pg), pg);
    expect(() => pgRun(named('ok'), meta)).toThrow(/only a dynamodb target writes/);
  });

  it('a DynamoDB target acknowledges schema-change events without work (it is schemaless)', () => {
    const t = targetSchema.parse({ kind: 'dynamodb', tables: ['public.t'] });
    const schemaEvent = { schema: 'public', table: 't', op: 'schema' as const, seq: '5', key: null, schemaChange: { dialect: 'postgres' as const, before: null, after: [{ name: 'id', type: 'bigint', nullable: false }], key: ['id'], changes: [{ kind: 'add_column' as const, column: 'id', type: 'bigint' }] } };
    expect(withUserTransforms('x', buildTransformer('x', t, {}), new Map(), t)(schemaEvent, meta)).toBeNull();
  });
});
