import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/index.js';
import { shareAware } from '../../src/consumer/open.js';
import type { ChangeData } from '../../src/wire/envelope.js';
import { baseAttributes } from '../../src/wire/attributes.js';
import { assertRowShare, decideShare, policyWarnings, targetShare } from '../../src/share/target-share.js';
import { buildTransformer } from '../../src/targets/index.js';

const config = parseConfig(
  {
    source: { url: 'postgres://unused@127.0.0.1/unused', name: 'shop' },
    publish: { numberAttributes: { 'public.orders': ['amount'] } },
    targets: {
      eu: { kind: 'postgres', urlEnv: 'T_URL', tables: ['public.customers'], where: { tenant_id: ['1', '2'] } },
      keep: { kind: 'postgres', urlEnv: 'K_URL', tables: ['public.customers'], operations: ['insert', 'update', 'snapshot'], where: { tenant_id: ['1', '2'] } },
      all: { kind: 'postgres', urlEnv: 'A_URL', tables: ['public.customers'] },
      big: { kind: 'postgres', urlEnv: 'T_URL', tables: ['public.orders'], filterPolicy: { table: ['public.orders'], amount: [{ numeric: ['>=', 100] }] } },
      changes: { kind: 'postgres', urlEnv: 'C_URL', tables: ['public.orders'], filterPolicy: { changed: ['amount'] } },
    },
  },
  { T_URL: 'postgres://x@127.0.0.1/x', K_URL: 'postgres://x@127.0.0.1/k', A_URL: 'postgres://x@127.0.0.1/a', C_URL: 'postgres://x@127.0.0.1/c' },
);

const share = (name: string) => targetShare(name, config.targets[name]!, config.publish.numberAttributes);
const MESSAGE = { source: 'outbox-relay:shop' };

function moveData(side: 'old' | 'new', from: string, to: string): ChangeData {
  return {
    schema: 'public',
    table: 'customers',
    op: 'update',
    seq: '9',
    key: { id: '7' },
    before: { id: '7', tenant_id: Number(from) },
    after: { id: '7', tenant_id: Number(to) },
    changed: ['tenant_id'],
    move: { side, old: { tenant_id: from }, new: { tenant_id: to } },
  };
}

describe('decideShare', () => {
  it('deletes where the row leaves the share, keeps it where it moves inside the share', () => {
    expect(decideShare(share('eu'), config.targets.eu!.operations, moveData('old', '2', '3'), MESSAGE)).toBe('delete');
    expect(decideShare(share('eu'), config.targets.eu!.operations, moveData('old', '1', '2'), MESSAGE)).toBe('apply');
    expect(decideShare(share('eu'), config.targets.eu!.operations, moveData('new', '3', '2'), MESSAGE)).toBe('apply');
    // A target without a condition on the column receives both sides, and applies both as the update.
    expect(decideShare(share('all'), config.targets.all!.operations, moveData('old', '2', '3'), MESSAGE)).toBe('apply');
  });

  it('skips a move out of the share for a target that takes no deletes', () => {
    expect(decideShare(share('keep'), config.targets.keep!.operations, moveData('old', '2', '3'), MESSAGE)).toBe('skip');
  });

  it('judges Number attributes as numbers (raw numeric policy)', () => {
    const data: ChangeData = { schema: 'public', table: 'orders', op: 'update', seq: '3', key: { id: '1' }, after: { id: '1', amount: '50' }, changed: ['amount'], move: { side: 'old', old: { amount: 150 }, new: { amount: 50 } } };
    expect(decideShare(share('big'), config.targets.big!.operations, data, MESSAGE)).toBe('delete');
    expect(decideShare(share('big'), config.targets.big!.operations, { ...data, move: { side: 'old', old: { amount: 150 }, new: { amount: 100 } } }, MESSAGE)).toBe('apply');
  });

  it('judges an update from an older relay ([old, new] as String.Array) by its new value', () => {
    const data: ChangeData = { schema: 'public', table: 'customers', op: 'update', seq: '9', key: { id: '7' }, after: { id: '7', tenant_id: 3 }, changed: ['tenant_id'] };
    const v1 = (values: string[]) => ({ ...MESSAGE, attributes: { ...baseAttributes('shop', 'public.customers', 'update', ['tenant_id']), tenant_id: { DataType: 'String.Array', StringValue: JSON.stringify(values) } } });
    expect(decideShare(share('eu'), config.targets.eu!.operations, data, v1(['2', '3']))).toBe('delete');
    expect(decideShare(share('eu'), config.targets.eu!.operations, data, v1(['3', '2']))).toBe('apply');
    const plain = { ...MESSAGE, attributes: { ...baseAttributes('shop', 'public.customers', 'update', ['name']), tenant_id: { DataType: 'String', StringValue: '2' } } };
    expect(decideShare(share('eu'), config.targets.eu!.operations, data, plain)).toBe('apply');
  });
});

describe('shareAware transform', () => {
  it('turns the old side of a move out of the share into a delete of the key, and skips it for a target without deletes', () => {
    const meta = { messageId: 'm', eventId: 'shop:9:old', time: '2024-01-01T00:00:00Z', source: 'outbox-relay:shop' };
    const eu = shareAware(config, 'eu', buildTransformer('eu', config.targets.eu!, {}));
    expect(eu(moveData('old', '2', '3'), meta)).toMatchObject({ op: 'delete', seq: '9', key: { id: '7' }, row: null });
    expect(eu(moveData('old', '1', '2'), meta)).toMatchObject({ op: 'update', row: { id: '7', tenant_id: 2 } });
    const keep = shareAware(config, 'keep', buildTransformer('keep', config.targets.keep!, {}));
    expect(keep(moveData('old', '2', '3'), meta)).toBeNull();
  });
});

describe('target shares', () => {
  it('holds a row when an upsert with its attribute values reaches the target', () => {
    const attrs = (tenant: string) => ({ ...baseAttributes('shop', 'public.customers', 'snapshot', null), tenant_id: { DataType: 'String', StringValue: tenant } });
    expect(share('eu').holds(attrs('1'))).toBe(true);
    expect(share('eu').holds(attrs('3'))).toBe(false);
    expect(share('eu').rowFiltered).toBe(true);
    expect(share('all').rowFiltered).toBe(false);
    expect(share('all').holds(attrs('3'))).toBe(true);
  });

  it('warns when a raw policy drops the truncates of a table, not when the built one lets them through', () => {
    const warnings = (name: string, numbers = config.publish.numberAttributes) => policyWarnings(targetShare(name, config.targets[name]!, numbers), config.targets[name]!, 'shop', numbers);
    expect(warnings('eu')).toEqual([]);
    expect(warnings('big').join()).toMatch(/drops the truncates of public\.orders/);
    expect(warnings('keep')).toEqual([]);
    // Numeric conditions need a Number attribute; string conditions a String one.
    expect(warnings('big').join()).not.toMatch(/numeric conditions/);
    expect(warnings('big', {}).join()).toMatch(/"amount" has numeric conditions, but it is sent as a String attribute/);
    expect(warnings('eu', { 'public.customers': ['tenant_id'] })).toEqual([]);
    expect(policyWarnings(share('eu'), config.targets.eu!, 'shop', { 'public.customers': ['tenant_id'] }).join()).toMatch(/"tenant_id" is sent as a Number attribute/);
  });

  it('refuses to verify a policy on changed columns', () => {
    expect(() => assertRowShare(share('changes'))).toThrow(/selects changes rather than rows/);
    expect(() => assertRowShare(share('eu'))).not.toThrow();
  });
});

describe('config', () => {
  it('refuses where values that are not numbers for a Number attribute, and two targets on one table with two version stores', () => {
    const bad = () =>
      parseConfig(
        {
          source: { url: 'postgres://u@h/d' },
          publish: { numberAttributes: { 'public.orders': ['amount'] } },
          targets: {
            a: { kind: 'postgres', urlEnv: 'T_URL', tables: ['public.orders'], where: { amount: ['ten'] } },
            b: { kind: 'postgres', urlEnv: 'T_URL', tables: ['public.orders'], stateSchema: 'other' },
          },
        },
        { T_URL: 'postgres://x@h/x' },
      );
    expect(bad).toThrow(/targets\.a\.where\.amount: lists "ten", but amount is published as a Number attribute/);
    expect(bad).toThrow(/targets\.b\.stateSchema: is "other", but target "a" writes the same table/);
  });
});
