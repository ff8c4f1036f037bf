import { describe, expect, it } from 'vitest';
import { buildFilterPolicy } from '../../src/share/filter-policy.js';
import { filterPolicyWarnings } from '../../src/subscriptions/filter-warnings.js';

const ALL = ['insert', 'update', 'delete', 'truncate', 'snapshot'] as ('insert' | 'update' | 'delete' | 'truncate' | 'snapshot')[];

describe('filterPolicyWarnings', () => {
  const target = (over: Record<string, unknown> = {}) => ({ tables: ['public.orders', 'public.items'], operations: ALL, ...over }) as Parameters<typeof filterPolicyWarnings>[0]['config'];
  const tracked = new Map([
    ['public.orders', ['tenant_id']],
    ['public.items', ['tenant_id', 'region']],
  ]);

  it('says nothing for a policy on tracked attributes', () => {
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

  it('works without the source: nothing to compare with', () => {
    expect(filterPolicyWarnings({ target: 't', config: target(), policy: { colour: ['red'] }, sourceName: 's' })).toEqual([]);
  });
});
