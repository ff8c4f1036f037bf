import { describe, expect, it } from 'vitest';
import { buildFilterPolicy } from '../../src/consumer/filter-policy.js';
import { matchesFilterPolicy } from '../../src/consumer/filter-match.js';
import { filterPolicyWarnings } from '../../src/consumer/filter-warnings.js';

const ALL = ['insert', 'update', 'delete', 'truncate', 'snapshot'] as ('insert' | 'update' | 'delete' | 'truncate' | 'snapshot')[];

describe('matchesFilterPolicy (SNS MessageAttributes rules)', () => {
  const message = { source: 'orders-db', table: 'public.orders', operation: 'update', tenant_id: '7', changed: ['status', 'total'] };

  it('needs every key; a key matches when one condition does; a String.Array matches by any element', () => {
    expect(matchesFilterPolicy({ table: ['public.orders'], tenant_id: ['7', '8'] }, message)).toBe(true);
    expect(matchesFilterPolicy({ table: ['public.orders'], tenant_id: ['8'] }, message)).toBe(false);
    expect(matchesFilterPolicy({ changed: ['total'] }, message)).toBe(true);
    expect(matchesFilterPolicy({ changed: ['email'] }, message)).toBe(false);
  });

  it('an absent attribute matches only {"exists": false}', () => {
    expect(matchesFilterPolicy({ region: ['eu'] }, message)).toBe(false);
    expect(matchesFilterPolicy({ region: [{ 'anything-but': 'eu' }] }, message)).toBe(false);
    expect(matchesFilterPolicy({ region: [{ exists: false }] }, message)).toBe(true);
    expect(matchesFilterPolicy({ tenant_id: [{ exists: true }] }, message)).toBe(true);
  });

  it('knows prefix, suffix, equals-ignore-case, anything-but, numeric and $or', () => {
    expect(matchesFilterPolicy({ table: [{ prefix: 'public.' }] }, message)).toBe(true);
    expect(matchesFilterPolicy({ table: [{ suffix: '.items' }] }, message)).toBe(false);
    expect(matchesFilterPolicy({ operation: [{ 'equals-ignore-case': 'UPDATE' }] }, message)).toBe(true);
    expect(matchesFilterPolicy({ operation: [{ 'anything-but': ['delete', 'truncate'] }] }, message)).toBe(true);
    expect(matchesFilterPolicy({ operation: [{ 'anything-but': { prefix: 'up' } }] }, message)).toBe(false);
    expect(matchesFilterPolicy({ tenant_id: [{ numeric: ['>', 5, '<=', 7] }] }, message)).toBe(true);
    expect(matchesFilterPolicy({ tenant_id: [{ numeric: ['<', 5] }] }, message)).toBe(false);
    expect(matchesFilterPolicy({ table: ['public.orders'], $or: [{ tenant_id: ['1'] }, { operation: ['update'] }] }, message)).toBe(true);
    expect(matchesFilterPolicy({ table: ['public.orders'], $or: [{ tenant_id: ['1'] }, { operation: ['insert'] }] }, message)).toBe(false);
  });
});

describe('filterPolicyWarnings', () => {
  const target = (over: Record<string, unknown> = {}) => ({ tables: ['public.orders', 'public.items'], operations: ALL, ...over }) as Parameters<typeof filterPolicyWarnings>[0]['config'];
  const tracked = new Map([
    ['public.orders', ['tenant_id']],
    ['public.items', ['tenant_id', 'region']],
  ]);

  it('says nothing for a policy on tracked attributes that lets truncates through', () => {
    const config = target();
    expect(filterPolicyWarnings({ target: 't', config, policy: buildFilterPolicy({ ...config, where: {} }), sourceName: 's', tracked })).toEqual([]);
  });

  it('warns about a key no table of the target sets, and one some tables lack', () => {
    const warnings = filterPolicyWarnings({ target: 't', config: target(), policy: { table: ['public.orders', 'public.items'], colour: ['red'], region: ['eu'] }, sourceName: 's', tracked });
    expect(warnings[0]).toMatch(/^filter key "colour" \(targets\.t\.where\) is not an attribute column of any table of this target \(attribute columns — public\.orders: tenant_id; public\.items: tenant_id, region\)/);
    expect(warnings[1]).toMatch(/^filter key "region" \(targets\.t\.where\) is not an attribute column of public\.orders: changes of that table never match it/);
  });

  it('warns about an untracked table, and skips keys that only ask for absence', () => {
    const warnings = filterPolicyWarnings({ target: 't', config: target({ tables: ['public.orders', 'public.gone'] }), policy: { table: ['public.orders', 'public.gone'], colour: [{ exists: false }] }, sourceName: 's', tracked });
    expect(warnings).toEqual(['public.gone is not tracked, so no change of it is published: run outbox track public.gone']);
  });

  it('warns when truncates cannot pass a where condition, unless truncate is left out on purpose', () => {
    const config = target();
    const policy = buildFilterPolicy({ ...config, where: { tenant_id: ['7'] } });
    expect(filterPolicyWarnings({ target: 't', config, policy, sourceName: 's', tracked })).toEqual([expect.stringMatching(/^a TRUNCATE of public\.orders, public\.items would not reach this target/)]);
    const noTruncate = target({ operations: ['insert', 'update', 'delete', 'snapshot'] });
    expect(filterPolicyWarnings({ target: 't', config: noTruncate, policy: buildFilterPolicy({ ...noTruncate, where: { tenant_id: ['7'] } }), sourceName: 's', tracked })).toEqual([]);
    // a $or branch for truncates makes it pass
    const withBranch = { $or: [{ table: ['public.orders', 'public.items'], tenant_id: ['7'] }, { table: ['public.orders', 'public.items'], operation: ['truncate'] }] };
    expect(filterPolicyWarnings({ target: 't', config, policy: withBranch, sourceName: 's', tracked })).toEqual([]);
  });

  it('checks a raw policy for truncates whatever operations say, and works without the source', () => {
    const warnings = filterPolicyWarnings({ target: 't', config: target({ filterPolicy: { source: ['other-db'] } }), policy: { source: ['other-db'] }, sourceName: 's' });
    expect(warnings).toEqual([expect.stringMatching(/targets\.t\.filterPolicy needs more/)]);
  });
});
