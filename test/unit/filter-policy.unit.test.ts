import { describe, expect, it } from 'vitest';
import { targetSchema } from '../../src/config/index.js';
import { buildFilterPolicy, checkFilterPolicy, countCombinations, isRowFiltered, summarizeFilterPolicy, targetFilterPolicy } from '../../src/share/filter-policy.js';
import { isOutboxError } from '../../src/errors.js';

const target = (over: Record<string, unknown> = {}) => targetSchema.parse({ kind: 'postgres', urlEnv: 'T_URL', tables: ['public.orders'], ...over });

function refusal(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (isOutboxError(err, 'FILTER_POLICY_INVALID')) return err.message;
    throw err;
  }
  throw new Error('expected FILTER_POLICY_INVALID');
}

describe('buildFilterPolicy', () => {
  it('matches the attributes the relay sets: table, operation, attribute columns as strings', () => {
    const policy = buildFilterPolicy(target({ tables: ['public.orders', 'public.items'], operations: ['insert', 'update'], where: { tenant_id: [1, '2'], status: ['open'] } }));
    expect(policy).toEqual({ table: ['public.orders', 'public.items'], $or: [{ operation: ['insert', 'update'], tenant_id: ['1', '2'], status: ['open'] }, { operation: ['schema'] }] });
    expect(countCombinations(policy)).toBe(2 * 2 * 2 * 1 + 2 * 1);
  });

  it('adds no operation key when every operation is wanted', () => {
    expect(buildFilterPolicy(target())).toEqual({ table: ['public.orders'] });
  });

  it('drops duplicate values', () => {
    expect(buildFilterPolicy(target({ tables: ['public.a', 'public.a'], operations: ['insert'], where: { t: ['1', 1] } }))).toEqual({ table: ['public.a'], $or: [{ operation: ['insert'], t: ['1'] }, { operation: ['schema'] }] });
  });

  it('lets truncates and schema changes of the tables through a target filtered by where (a truncate carries no attribute values)', () => {
    const policy = buildFilterPolicy(target({ where: { tenant_id: ['1', '2'] } }));
    expect(policy).toEqual({ table: ['public.orders'], $or: [{ tenant_id: ['1', '2'] }, { operation: ['truncate', 'schema'] }] });
    expect(countCombinations(policy)).toBe(2 + 2);
    expect(checkFilterPolicy(policy)).toEqual([]);
    const some = buildFilterPolicy(target({ operations: ['insert', 'update', 'truncate'], where: { tenant_id: ['1'] } }));
    expect(some).toEqual({ table: ['public.orders'], $or: [{ operation: ['insert', 'update'], tenant_id: ['1'] }, { operation: ['truncate', 'schema'] }] });
    expect(buildFilterPolicy(target({ operations: ['truncate'], where: { tenant_id: ['1'] } }))).toEqual({ table: ['public.orders'], operation: ['truncate', 'schema'] });
    expect(buildFilterPolicy(target({ operations: ['insert', 'truncate'] }))).toEqual({ table: ['public.orders'], operation: ['insert', 'truncate', 'schema'] });
  });

  it('matches a Number attribute column (publish.numberAttributes) with numbers, and with both when the tables disagree', () => {
    const numbers = { 'public.orders': ['tenant_id'] };
    expect(buildFilterPolicy(target({ operations: ['update'], where: { tenant_id: ['1', 2] } }), numbers)).toEqual({ table: ['public.orders'], $or: [{ operation: ['update'], tenant_id: [1, 2] }, { operation: ['schema'] }] });
    expect(buildFilterPolicy(target({ tables: ['public.orders', 'public.items'], operations: ['update'], where: { tenant_id: ['1'] } }), numbers)).toEqual({
      table: ['public.orders', 'public.items'],
      $or: [{ operation: ['update'], tenant_id: ['1', 1] }, { operation: ['schema'] }],
    });
  });
});

describe('isRowFiltered', () => {
  it('is true when a policy has conditions on attribute columns, $or branches included', () => {
    expect(isRowFiltered({ table: ['public.a'], operation: ['insert'], source: ['s'] })).toBe(false);
    expect(isRowFiltered({ table: ['public.a'], tenant: ['1'] })).toBe(true);
    expect(isRowFiltered({ table: ['public.a'], $or: [{ tenant: ['1'] }, { operation: ['truncate'] }] })).toBe(true);
    expect(isRowFiltered({ $or: [{ table: ['public.a'] }, { operation: ['truncate'] }] })).toBe(false);
  });
});

describe('targetFilterPolicy', () => {
  it('accepts the built policy and reports its size', () => {
    const result = targetFilterPolicy('warehouse', target({ where: { tenant_id: ['1'] } }));
    expect(result.origin).toBe('built');
    expect(result.combinations).toBe(1 + 2);
    expect(result.bytes).toBe(JSON.stringify(result.policy).length);
  });

  it('takes a raw policy as given', () => {
    const raw = { table: [{ prefix: 'public.' }], operation: [{ 'anything-but': ['truncate'] }] };
    const result = targetFilterPolicy('t', target({ filterPolicy: raw }));
    expect(result).toMatchObject({ origin: 'raw', policy: raw });
  });

  it('refuses more than 5 keys, naming the target and the settings to change', () => {
    const message = refusal(() => targetFilterPolicy('warehouse', target({ operations: ['insert'], where: { a: ['1'], b: ['1'], c: ['1'], d: ['1'] } })));
    expect(message).toContain('Target "warehouse"');
    expect(message).toContain('6 keys');
    expect(message).toContain('targets.warehouse.tables / operations / where');
    expect(message).toContain('nothing was sent to AWS');
  });

  it('refuses more than 150 value combinations', () => {
    const tables = Array.from({ length: 20 }, (_, i) => `public.t${i}`);
    const message = refusal(() => targetFilterPolicy('big', target({ tables, operations: ['insert', 'update'], where: { tenant: ['1', '2', '3', '4'] } })));
    expect(message).toContain('180 value combinations');
    expect(message).toContain('at most 150');
  });

  it('accepts exactly 150 combinations', () => {
    const tables = Array.from({ length: 25 }, (_, i) => `public.t${i}`);
    // 25 tables × 5 values of x, plus 25 × the schema-change branch.
    expect(targetFilterPolicy('ok', target({ tables, operations: ['insert', 'update', 'delete', 'snapshot'], where: { x: ['1', '2', '3', '4', '5'] } })).combinations).toBe(150);
  });

  it('refuses a policy over 256 KB', () => {
    const message = refusal(() => targetFilterPolicy('huge', target({ filterPolicy: { tenant: ['x'.repeat(270 * 1024)] } })));
    expect(message).toMatch(/is \d+ bytes; SNS allows at most 262144/);
    expect(message).toContain('targets.huge.filterPolicy');
  });

  it('lists every problem at once', () => {
    const message = refusal(() => targetFilterPolicy('t', target({ filterPolicy: { a: 'x', b: [{ regex: '.*' }], c: [] } })));
    expect(message).toContain('"a" must map to a list of conditions');
    expect(message).toContain('unknown operator "regex"');
    expect(message).toContain('"c" has an empty list');
  });
});

describe('checkFilterPolicy', () => {
  it.each([
    [{ a: [{ exists: true }] }],
    [{ a: [{ exists: false }] }],
    [{ a: [{ prefix: 'pub' }, { suffix: 'x' }, { 'equals-ignore-case': 'Open' }] }],
    [{ a: [{ 'anything-but': ['x', 'y'] }, { 'anything-but': 3 }, { 'anything-but': { prefix: 'tmp' } }] }],
    [{ a: [{ numeric: ['>=', 0, '<', 100] }, { numeric: ['=', 1.5] }] }],
    [{ ip: [{ cidr: '10.0.0.0/24' }] }],
    [{ a: ['x', 1], $or: [{ b: ['1'] }, { c: ['2'] }] }],
  ])('accepts %j', (policy) => {
    expect(checkFilterPolicy(policy)).toEqual([]);
  });

  it.each([
    [[], /must be a JSON object/],
    [{}, /empty/],
    [{ a: [null] }, /null is not a condition/],
    [{ a: [true] }, /true is not a condition/],
    [{ a: [{ exists: 'yes' }] }, /"exists" takes true or false/],
    [{ a: [{ prefix: 'a', suffix: 'b' }] }, /exactly one operator/],
    [{ a: [{ numeric: ['>', 'x'] }] }, /compares with numbers/],
    [{ a: [{ numeric: ['~', 1] }] }, /operator "~" is unknown/],
    [{ a: [{ numeric: ['>', 10, '<', 5] }] }, /range is empty/],
    [{ a: [{ numeric: ['<', 1, '>', 5] }] }, /ranges are/],
    [{ a: [2_000_000_000] }, /outside the range/],
    [{ a: [1.1234567] }, /more than 5 decimal places/],
    [{ a: [{ 'anything-but': ['x', 1] }] }, /either strings or numbers/],
    [{ a: [{ cidr: 'nope' }] }, /address block/],
    [{ 'bad key!': ['x'] }, /not a message attribute name/],
    [{ a: { nested: ['x'] } }, /must map to a list of conditions/],
    [{ $or: [{ a: ['1'] }] }, /\$or" must be a list of at least two/],
  ])('refuses %j', (policy, problem) => {
    expect(checkFilterPolicy(policy).join('\n')).toMatch(problem);
  });

  it('counts $or branches together with the keys around them', () => {
    const policy = { t: ['1', '2'], $or: [{ a: ['1', '2', '3'] }, { b: ['1'] }] };
    expect(countCombinations(policy)).toBe(2 * 3 + 2 * 1);
    const wide = { a: ['1'], b: ['1'], c: ['1'], d: ['1'], $or: [{ e: ['1'] }, { f: ['1'], g: ['1'] }] };
    expect(checkFilterPolicy(wide).join('\n')).toMatch(/6 keys .* \(in a \$or branch/);
  });

  it('summarizes a policy in one line', () => {
    expect(summarizeFilterPolicy({ table: ['public.a', 'public.b'], tenant: [{ prefix: 'x' }] })).toBe('table=public.a,public.b tenant={"prefix":"x"}');
    expect(summarizeFilterPolicy(undefined)).toBe('(everything)');
  });
});
