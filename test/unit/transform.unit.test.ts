import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { targetSchema, type TargetConfig } from '../../src/config/index.js';
import type { ChangeData } from '../../src/wire/envelope.js';
import { ConfigError, OutboxError } from '../../src/errors.js';
import { buildTransformer, compileTablePlan, decryptValue, encryptValue, hashValue, isIdentityPlan, isPlainImage, maskValue, convertValue } from '../../src/targets/transform/index.js';

const KEY = randomBytes(32);
const meta = { messageId: 'm-1', eventId: 'src:42', time: '2024-03-05T10:11:12.000Z' };

function target(mapping: Record<string, unknown>, extra: Record<string, unknown> = {}): TargetConfig {
  return targetSchema.parse({ kind: 'postgres', urlEnv: 'TARGET_URL', tables: ['public.customers'], mapping: { 'public.customers': mapping }, encryption: { keyEnv: 'K', keyId: 'k1' }, hashSaltEnv: 'SALT', ...extra });
}

function change(op: ChangeData['op'], after: Record<string, unknown> | null = { id: '7', name: 'Ann', email: 'Ann@Example.com', card: '4111111111111111', note: 'hi' }): ChangeData {
  return { schema: 'public', table: 'customers', op, seq: '42', key: op === 'truncate' ? null : { id: '7' }, before: null, after: op === 'delete' || op === 'truncate' ? null : after, changed: null };
}

const secrets = { hashSalt: 'pepper', encryptionKey: KEY };

function caught(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected a throw');
}

describe('transformer', () => {
  it('passes everything through with an empty mapping, carrying meta, seq and the source table', () => {
    const t = buildTransformer('t1', target({}), secrets)(change('insert'), meta);
    expect(t).toEqual({ ...meta, sourceTable: 'public.customers', table: 'public.customers', op: 'insert', seq: '42', key: { id: '7' }, row: change('insert').after });
  });

  it('maps an update whatever its attribute values: the share rule is the consumer\'s (test/unit/share.unit.test.ts)', () => {
    const t1 = target({}, { where: { tenant_id: ['1', 3] } });
    const moved = buildTransformer('t1', t1, secrets)(change('update', { id: '7', name: 'Ann', tenant_id: 2 }), meta);
    expect(moved).toMatchObject({ op: 'update', key: { id: '7' }, row: { tenant_id: 2 } });
  });

  it('renames the table and columns, keys included', () => {
    const t = buildTransformer('t1', target({ table: 'crm.clients', rename: { id: 'client_id', name: 'full_name' } }), secrets)(change('update'), meta);
    expect(t.table).toBe('crm.clients');
    expect(t.key).toEqual({ client_id: '7' });
    expect(t.row).toEqual({ client_id: '7', full_name: 'Ann', email: 'Ann@Example.com', card: '4111111111111111', note: 'hi' });
  });

  it('include keeps the listed columns and the key, drops the rest by default', () => {
    const t = buildTransformer('t1', target({ include: ['name'] }), secrets)(change('insert'), meta);
    expect(t.row).toEqual({ id: '7', name: 'Ann' });
  });

  it('exclude removes columns', () => {
    const t = buildTransformer('t1', target({ exclude: ['card', 'note'] }), secrets)(change('insert'), meta);
    expect(t.row).toEqual({ id: '7', name: 'Ann', email: 'Ann@Example.com' });
  });

  it('unknown columns: pass, drop, quarantine', () => {
    const known = { rename: { name: 'full_name' }, exclude: ['card'] };
    expect(buildTransformer('t1', target({ ...known, unknownColumns: 'pass' }), secrets)(change('insert'), meta).row).toEqual({ id: '7', full_name: 'Ann', email: 'Ann@Example.com', note: 'hi' });
    expect(buildTransformer('t1', target({ ...known, unknownColumns: 'drop' }), secrets)(change('insert'), meta).row).toEqual({ id: '7', full_name: 'Ann' });
    const quarantine = buildTransformer('t1', target({ ...known, unknownColumns: 'quarantine' }), secrets);
    expect(() => quarantine(change('insert'), meta)).toThrow(/column "email" is not known to the mapping/);
    const err = caught(() => quarantine(change('insert'), meta));
    expect(err).toBeInstanceOf(OutboxError);
    expect((err as OutboxError).code).toBe('TRANSFORM_FAILED');
    expect((err as OutboxError).context).toMatchObject({ target: 't1', table: 'public.customers', column: 'email' });
    expect((err as Error).message).not.toContain('Ann');
    // with include, anything outside it is unknown; pass then keeps it
    expect(buildTransformer('t1', target({ include: ['name'], unknownColumns: 'pass' }), secrets)(change('insert'), meta).row).toMatchObject({ email: 'Ann@Example.com' });
    expect(() => buildTransformer('t1', target({ include: ['name'], unknownColumns: 'quarantine' }), secrets)(change('insert'), meta)).toThrow(/"email"/);
  });

  it('masks fully or keeping the last N characters, keeping the length', () => {
    expect(maskValue('4111111111111111', { keepLast: 4, char: '*' })).toBe('************1111');
    expect(maskValue('secret', 'full')).toBe('******');
    expect(maskValue('ab', { keepLast: 4, char: '#' })).toBe('ab');
    expect(maskValue('héllo🌍', { keepLast: 1, char: 'x' })).toBe('xxxxx🌍');
    const t = buildTransformer('t1', target({ mask: { card: { keepLast: 4 }, note: 'full' } }), secrets)(change('insert'), meta);
    expect(t.row).toMatchObject({ card: '************1111', note: '**' });
  });

  it('hashes with HMAC-SHA256 and the salt, deterministically; keys may be hashed when asked', () => {
    const t = buildTransformer('t1', target({ hash: ['email', 'id'], convert: { email: 'lowercase' } }), secrets)(change('insert'), meta);
    expect(t.row!.email).toBe(hashValue('ann@example.com', 'pepper'));
    expect(t.row!.email).toMatch(/^[0-9a-f]{64}$/);
    expect(t.key).toEqual({ id: hashValue('7', 'pepper') });
    expect(t.row!.id).toBe(t.key!.id);
    expect(hashValue('ann@example.com', 'other')).not.toBe(t.row!.email);
  });

  it('encrypts with AES-256-GCM into a self-describing value that decrypts with the key (and only with it)', () => {
    const t = buildTransformer('t1', target({ encrypt: ['email', 'card'] }), secrets)(change('insert'), meta);
    const email = t.row!.email as string;
    expect(email).toMatch(/^enc:v1:k1:[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+$/);
    expect(email).not.toContain('Ann');
    expect(decryptValue(email, { k1: KEY })).toBe('Ann@Example.com');
    expect(decryptValue(t.row!.card as string, new Map([['k1', KEY]]))).toBe('4111111111111111');
    // the same value encrypts differently each time (random IV)
    expect(buildTransformer('t1', target({ encrypt: ['email'] }), secrets)(change('insert'), meta).row!.email).not.toBe(email);
    // rotation: a reader holding old and new keys reads both
    const newer = encryptValue({ a: [1, 'ü'] }, randomBytes(32), 'k2');
    expect(() => decryptValue(newer, { k1: KEY })).toThrow(/no key is known for key id "k2"/);
    expect(() => decryptValue(email, { k1: randomBytes(32) })).toThrow(/authentication failed/);
    const tampered = email.slice(0, -4) + (email.endsWith('AAAA') ? 'BBBB' : 'AAAA');
    expect(() => decryptValue(tampered, { k1: KEY })).toThrow(OutboxError);
    // the key id is authenticated: relabelling a value fails
    expect(() => decryptValue(email.replace('enc:v1:k1:', 'enc:v1:k9:'), { k9: KEY })).toThrow(/authentication failed/);
    const n = encryptValue(12.5, KEY, 'k1');
    expect(decryptValue(n, { k1: KEY })).toBe(12.5);
  });

  it('converts values and fails clearly on a bad one', () => {
    expect(convertValue('12.50', 'number')).toBe(12.5);
    expect(convertValue(3, 'string')).toBe('3');
    expect(convertValue({ b: 1, a: 2 }, 'string')).toBe('{"a":2,"b":1}');
    expect(convertValue('t', 'boolean')).toBe(true);
    expect(convertValue(0, 'boolean')).toBe(false);
    expect(convertValue('2024-03-05T12:11:12.123456+02:00', 'timestamp-ms')).toBe(Date.UTC(2024, 2, 5, 10, 11, 12, 123));
    expect(convertValue('2024-03-05T23:30:00-02:00', 'iso-date')).toBe('2024-03-06');
    expect(convertValue(' Ab ', 'trim')).toBe('Ab');
    expect(convertValue('Ab', 'uppercase')).toBe('AB');
    const tr = buildTransformer('t1', target({ convert: { name: 'number', note: 'uppercase' } }), secrets);
    expect(() => tr(change('insert'), meta)).toThrow(/column "name": convert number: cannot convert a string to a finite number/);
    expect(buildTransformer('t1', target({ convert: { note: 'uppercase' } }), secrets)(change('insert', { id: '7', note: null }), meta).row).toEqual({ id: '7', note: null });
  });

  it('delete carries the key only, truncate neither', () => {
    const tr = buildTransformer('t1', target({ rename: { id: 'cid' } }), secrets);
    expect(tr(change('delete'), meta)).toMatchObject({ op: 'delete', key: { cid: '7' }, row: null });
    expect(tr(change('truncate'), meta)).toMatchObject({ op: 'truncate', key: null, row: null });
  });

  it('refuses mappings that cannot work, listing every problem', () => {
    const build = (mapping: Record<string, unknown>, extra: Record<string, unknown> = {}, s: object = secrets, keys?: string[]) =>
      buildTransformer('t1', target(mapping, extra), s, keys ? { keyColumns: { 'public.customers': keys } } : {});
    expect(() => build({ mask: { id: 'full' } }, {}, secrets, ['id'])).toThrow(/"id" is a key column; masking/);
    expect(() => build({ encrypt: ['id'] }, {}, secrets, ['id'])).toThrow(/"id" is a key column; encryption is randomized/);
    expect(() => build({ exclude: ['id'] }, {}, secrets, ['id'])).toThrow(/keys cannot be excluded/);
    expect(() => build({ hash: ['id'] }, {}, secrets, ['id'])).not.toThrow();
    expect(() => build({ hash: ['email'] }, {}, { encryptionKey: KEY })).toThrow(/hashSaltEnv: is required/);
    expect(() => build({ encrypt: ['email'] }, {}, { hashSalt: 'x' })).toThrow(/encryption: a key/);
    expect(() => build({ hash: ['email'], encrypt: ['email'] })).toThrow(/already in hash/);
    expect(() => build({ include: ['name'], mask: { card: 'full' } })).toThrow(/include: does not list column "card"/);
    expect(() => build({ rename: { name: 'x', email: 'x' } })).toThrow(/would both become "x"/);
    const err = caught(() => build({ include: ['name'], mask: { card: 'full' }, hash: ['card'] }, {}, {}));
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).problems.length).toBeGreaterThanOrEqual(3);
    // at run time, a key column masked or encrypted fails the change with the same explanation
    expect(() => build({ mask: { id: 'full' } })(change('insert'), meta)).toThrow(/"id" is a key column/);
  });

  it('refuses changes for tables the target does not list, and bad seqs', () => {
    const tr = buildTransformer('t1', target({}), secrets);
    expect(() => tr({ ...change('insert'), table: 'orders' }, meta)).toThrow(/public.orders: the table is not listed/);
    expect(() => tr({ ...change('insert'), seq: '12a' }, meta)).toThrow(/valid seq/);
    expect(() => tr({ ...change('insert'), after: null }, meta)).toThrow(/no after image/);
  });

  describe('a mapping that leaves images as they are (copied, not mapped column by column)', () => {
    const planOf = (mapping: Record<string, unknown>) => compileTablePlan({ targetName: 't1', sourceTable: 'public.customers', mapping: target(mapping).mapping['public.customers']!, target: target(mapping), secrets }).plan;

    it('is only the empty mapping (or one that names nothing about columns)', () => {
      expect(isIdentityPlan(planOf({}))).toBe(true);
      expect(isIdentityPlan(planOf({ table: 'crm.clients', onTruncate: 'ignore', unknownColumns: 'pass' }))).toBe(true);
      for (const mapping of [{ rename: { name: 'n' } }, { exclude: ['card'] }, { include: ['name'] }, { convert: { id: 'number' } }, { mask: { card: 'full' } }, { hash: ['email'] }, { encrypt: ['card'] }, { unknownColumns: 'drop' }, { unknownColumns: 'quarantine' }]) {
        expect(isIdentityPlan(planOf(mapping)), JSON.stringify(mapping)).toBe(false);
      }
    });

    it('is taken only for images the column-by-column path would copy unchanged', () => {
      expect(isPlainImage({ id: 1, name: null, doc: { a: [1, 2] } })).toBe(true);
      expect(isPlainImage({ id: 1, name: undefined })).toBe(false);
      expect(isPlainImage(JSON.parse('{"id": 1, "__proto__": {"x": 1}}') as Record<string, unknown>)).toBe(false);
    });

    it('gives what the column-by-column path gives, as a copy, and refuses the same changes', () => {
      const fast = buildTransformer('t1', target({}), secrets);
      // Excluding a column no image has: the column-by-column path, with the same result.
      const slow = buildTransformer('t1', target({ exclude: ['not_a_column'] }), secrets);
      const images: Record<string, unknown>[] = [
        { id: '7', name: 'Ann', score: '12.50', at: '2024-03-05T10:11:12Z', doc: { tags: ['a', 'b'], n: 1 }, flag: true, none: null },
        { id: 8, 'odd "name"': 'x', 'ünï': 'ç', '': 'empty name' },
        { id: '9', name: undefined },
        JSON.parse('{"id": "10", "__proto__": {"polluted": true}, "name": "p"}') as Record<string, unknown>,
      ];
      for (const after of images) {
        for (const op of ['insert', 'update', 'snapshot', 'delete'] as const) {
          const data = { ...change(op, after), key: { id: after.id } };
          const got = fast(data, meta);
          expect(got).toEqual(slow(data, meta));
          expect(Object.getPrototypeOf(got.row ?? {})).toBe(Object.getPrototypeOf(slow(data, meta).row ?? {}));
          expect(got.key).not.toBe(data.key);
          if (op !== 'delete') expect(got.row).not.toBe(data.after);
        }
      }
      for (const bad of [{ ...change('insert'), seq: '4x' }, { ...change('insert'), after: null }, { ...change('update'), key: {} }, { ...change('insert'), key: null }, { ...change('insert'), table: 'orders' }]) {
        const fastError = caught(() => fast(bad, meta)) as OutboxError;
        const slowError = caught(() => slow(bad, meta)) as OutboxError;
        expect(fastError).toBeInstanceOf(OutboxError);
        expect(fastError.message).toBe(slowError.message);
      }
    });
  });
});
