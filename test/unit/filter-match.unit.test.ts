import { describe, expect, it } from 'vitest';
import { matchesFilterPolicy, type WireAttributes } from '../../src/share/match.js';

const str = (v: string) => ({ DataType: 'String', StringValue: v });
const num = (v: string | number) => ({ DataType: 'Number', StringValue: String(v) });
const arr = (v: unknown[]) => ({ DataType: 'String.Array', StringValue: JSON.stringify(v) });

const msg: WireAttributes = {
  source: str('shop'),
  table: str('public.orders'),
  operation: str('update'),
  changed: arr(['status', 'total']),
  tenant: str('acme-eu'),
  status: str('Paid'),
  amount: num('150.5'),
  ip: str('10.0.3.7'),
  ip6: str('2001:db8::17'),
};

const matches = (policy: unknown, attributes: WireAttributes = msg) => matchesFilterPolicy(policy, attributes);

describe('matchesFilterPolicy (SNS MessageAttributes scope)', () => {
  it('matches exact strings, case-sensitively, ORing the values of a key and ANDing the keys', () => {
    expect(matches({ table: ['public.orders'] })).toBe(true);
    expect(matches({ table: ['public.items', 'public.orders'], operation: ['update'] })).toBe(true);
    expect(matches({ table: ['public.orders'], operation: ['insert'] })).toBe(false);
    expect(matches({ status: ['paid'] })).toBe(false);
    expect(matches({ missing: ['x'] })).toBe(false);
  });

  it('matches prefix, suffix and equals-ignore-case on strings', () => {
    expect(matches({ tenant: [{ prefix: 'acme-' }] })).toBe(true);
    expect(matches({ tenant: [{ prefix: 'eu' }] })).toBe(false);
    expect(matches({ tenant: [{ suffix: '-eu' }] })).toBe(true);
    expect(matches({ tenant: [{ suffix: '-us' }] })).toBe(false);
    expect(matches({ status: [{ 'equals-ignore-case': 'PAID' }] })).toBe(true);
    expect(matches({ status: [{ 'equals-ignore-case': 'open' }] })).toBe(false);
  });

  it('matches anything-but: values, lists, prefixes; never an absent attribute', () => {
    expect(matches({ status: [{ 'anything-but': 'Open' }] })).toBe(true);
    expect(matches({ status: [{ 'anything-but': ['Open', 'Paid'] }] })).toBe(false);
    expect(matches({ tenant: [{ 'anything-but': { prefix: 'acme' } }] })).toBe(false);
    expect(matches({ tenant: [{ 'anything-but': { suffix: '-us' } }] })).toBe(true);
    expect(matches({ status: [{ 'anything-but': { 'equals-ignore-case': 'PAID' } }] })).toBe(false);
    expect(matches({ amount: [{ 'anything-but': [100, 200] }] })).toBe(true);
    expect(matches({ amount: [{ 'anything-but': [150.5] }] })).toBe(false);
    expect(matches({ missing: [{ 'anything-but': 'x' }] })).toBe(false);
  });

  it('matches exists true and false', () => {
    expect(matches({ tenant: [{ exists: true }] })).toBe(true);
    expect(matches({ missing: [{ exists: true }] })).toBe(false);
    expect(matches({ missing: [{ exists: false }] })).toBe(true);
    expect(matches({ tenant: [{ exists: false }] })).toBe(false);
    expect(matches({ region: [{ exists: false }, 'eu'] })).toBe(true);
  });

  it('matches numbers and numeric ranges on Number attributes only, with 5 decimals of accuracy', () => {
    expect(matches({ amount: [150.5] })).toBe(true);
    expect(matches({ amount: [{ numeric: ['=', 150.5] }] })).toBe(true);
    expect(matches({ amount: [{ numeric: ['>', 100, '<=', 150.5] }] })).toBe(true);
    expect(matches({ amount: [{ numeric: ['>=', 100, '<', 150.5] }] })).toBe(false);
    expect(matches({ amount: [{ numeric: ['<', 0] }] })).toBe(false);
    expect(matches({ x: [{ numeric: ['=', 301.5] }] }, { x: num('3.015e2') })).toBe(true);
    expect(matches({ x: [1] }, { x: num('1.000001') })).toBe(true);
    expect(matches({ x: [1] }, { x: num('1.0001') })).toBe(false);
    // A String attribute that reads like a number is a string: numbers do not match it, strings do.
    expect(matches({ x: [5] }, { x: str('5') })).toBe(false);
    expect(matches({ x: [{ numeric: ['=', 5] }] }, { x: str('5') })).toBe(false);
    expect(matches({ x: ['5'] }, { x: num('5') })).toBe(false);
    expect(matches({ x: ['5', 5] }, { x: str('5') })).toBe(true);
    expect(matches({ x: ['5', 5] }, { x: num('5') })).toBe(true);
    expect(matches({ x: [{ prefix: '5' }] }, { x: num('5') })).toBe(false);
    expect(matches({ x: [{ numeric: ['>', 0] }] }, { x: num('not a number') })).toBe(false);
  });

  it('matches cidr blocks, IPv4 and IPv6', () => {
    expect(matches({ ip: [{ cidr: '10.0.0.0/16' }] })).toBe(true);
    expect(matches({ ip: [{ cidr: '10.0.2.0/24' }] })).toBe(false);
    expect(matches({ ip6: [{ cidr: '2001:db8::/32' }] })).toBe(true);
    expect(matches({ ip6: [{ cidr: '2001:db9::/32' }] })).toBe(false);
    expect(matches({ ip: [{ cidr: '2001:db8::/32' }] })).toBe(false);
    expect(matches({ tenant: [{ cidr: '10.0.0.0/8' }] })).toBe(false);
  });

  it('matches any element of a String.Array', () => {
    expect(matches({ changed: ['total'] })).toBe(true);
    expect(matches({ changed: ['email'] })).toBe(false);
    expect(matches({ changed: [{ prefix: 'sta' }] })).toBe(true);
    expect(matches({ changed: [{ 'anything-but': ['status'] }] })).toBe(true);
    expect(matches({ changed: [{ 'anything-but': ['status', 'total'] }] })).toBe(false);
    expect(matches({ x: [3] }, { x: arr(['a', 3]) })).toBe(true);
    expect(matches({ x: ['true'] }, { x: arr([true]) })).toBe(true);
  });

  it('matches $or groups ANDed with the keys around them, nested too', () => {
    const policy = { table: ['public.orders'], $or: [{ tenant: ['other'] }, { operation: ['truncate'] }, { amount: [{ numeric: ['>', 100] }] }] };
    expect(matches(policy)).toBe(true);
    expect(matches({ ...policy, table: ['public.items'] })).toBe(false);
    expect(matches({ table: ['public.orders'], $or: [{ tenant: ['other'] }, { operation: ['truncate'] }] })).toBe(false);
    expect(matches({ table: ['public.orders'], $or: [{ tenant: ['x'] }, { operation: ['truncate'] }] }, { table: str('public.orders'), operation: str('truncate') })).toBe(true);
    expect(matches({ $or: [{ $or: [{ tenant: ['x'] }, { status: ['Paid'] }] }, { operation: ['insert'] }] })).toBe(true);
  });

  it('ignores Binary attributes and refuses what is not a policy', () => {
    expect(matches({ blob: [{ exists: false }] }, { blob: { DataType: 'Binary' } })).toBe(true);
    expect(matches(null)).toBe(false);
    expect(matches([])).toBe(false);
    expect(matches({ tenant: [{ regex: '.*' }] })).toBe(false);
    expect(matches({})).toBe(true);
  });
});
