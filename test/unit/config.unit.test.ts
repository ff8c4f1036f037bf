import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_APPLY_CONCURRENCY, loadConfig, parseConfig } from '../../src/config/index.js';
import { ConfigError, isOutboxError } from '../../src/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'outbox-config-'));
function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('config', () => {
  it('parses the example config in the repository (its source URL comes from OUTBOX_SOURCE_URL, never from the example)', () => {
    const unset = configError(() => loadConfig({ file: 'outbox.config.example.yaml', env: {} }));
    expect(unset.problems).toEqual([expect.stringMatching(/^source\.url: OUTBOX_SOURCE_URL is not set and outbox\.config\.example\.yaml gives no source\.url/)]);
    const cfg = loadConfig({ file: 'outbox.config.example.yaml', env: { OUTBOX_SOURCE_URL: 'postgres://app@db/app' } });
    expect(cfg.source.dialect).toBe('postgres');
    expect(cfg.source.schema).toBe('outbox');
    expect(cfg.source.name).toBe('orders-db');
    expect(cfg.redis.urls).toEqual(['redis://127.0.0.1:6379']);
    expect(cfg.targets.warehouse?.kind).toBe('postgres');
    expect(cfg.targets.warehouse?.mapping['public.customers']?.rename).toEqual({ email: 'email_address' });
    expect(cfg.origin).toBe('outbox.config.example.yaml');
  });

  it('fills defaults for everything but the source URL', () => {
    const cfg = parseConfig({ source: { url: 'postgres://127.0.0.1/app' } }, {});
    expect(cfg.source.schema).toBe('outbox');
    expect(cfg.relay.lockTtlMs).toBe(10_000);
    expect(cfg.publish.defaultTopic).toBe('default');
    expect(cfg.log.level).toBe('info');
  });

  it('applies environment overrides, with several comma-separated Redis nodes', () => {
    const cfg = parseConfig(
      { source: { url: 'postgres://file/db', schema: 'outbox' } },
      { OUTBOX_SOURCE_URL: 'postgres://env/db', OUTBOX_SCHEMA: 'sync_out', OUTBOX_REDIS_URL: 'redis://a:6379, redis://b:6379,,redis://c:6379', AWS_REGION: 'eu-west-1', AWS_ENDPOINT_URL: 'http://127.0.0.1:4566' },
    );
    expect(cfg.source.url).toBe('postgres://env/db');
    expect(cfg.source.schema).toBe('sync_out');
    expect(cfg.redis.urls).toEqual(['redis://a:6379', 'redis://b:6379', 'redis://c:6379']);
    expect(cfg.aws).toEqual({ region: 'eu-west-1', endpoint: 'http://127.0.0.1:4566', sdkThread: false });
  });

  it('reports malformed YAML with its line number', () => {
    const path = file('broken.yaml', 'source:\n  url: postgres://x/db\n  schema: [outbox\nredis:\n  urls: []\n');
    const err = configError(() => loadConfig({ file: path, env: {} }));
    expect(err.code).toBe('CONFIG_INVALID');
    expect(err.problems).toHaveLength(1);
    expect(err.message).toMatch(/not valid YAML \(line \d+\)/);
    expect(err.message).toContain(path);
  });

  it('refuses a top level that is not a mapping', () => {
    const err = configError(() => loadConfig({ file: file('list.yaml', '- a\n- b\n'), env: {} }));
    expect(err.message).toContain('top level must be a mapping');
  });

  it('lists every problem at once, naming the setting and the bad value', () => {
    const path = file(
      'bad.yaml',
      [
        'source:',
        '  schema: "bad-name;drop"',
        '  poolSize: 0',
        '  colour: blue',
        'redis:',
        '  urls: ["http://user:hunter2@cache:6379"]',
        'relay:',
        '  lockTtlMs: 10',
        '  renewAtFraction: 2',
        'publish:',
        '  defaultTopic: missing',
        'log:',
        '  level: loud',
        '',
      ].join('\n'),
    );
    const err = configError(() => loadConfig({ file: path, env: {} }));
    const text = err.message;
    // one pass: the schema's problems and the cross-checks (publish.defaultTopic) together
    expect(err.problems).toHaveLength(9);
    expect(text).toMatch(/source\.url: OUTBOX_SOURCE_URL is not set and .*bad\.yaml gives no source\.url: set OUTBOX_SOURCE_URL/);
    expect(text).toMatch(/publish\.defaultTopic: names topic "missing", which publish\.topics does not define/);
    expect(text).toMatch(/source\.schema: .*"bad-name;drop"/);
    expect(text).toMatch(/source\.poolSize: .*got 0/);
    expect(text).toMatch(/source: unknown setting "colour"/);
    expect(text).toMatch(/redis\.urls\.0: must start with redis:\/\//);
    expect(text).toMatch(/relay\.lockTtlMs: .*got 10/);
    expect(text).toMatch(/relay\.renewAtFraction: .*got 2/);
    expect(text).toMatch(/log\.level: .*"loud"/);
    expect(text).not.toContain('hunter2');
  });

  it('checks cross-references: topics named by routes and targets must exist', () => {
    const err = configError(() =>
      parseConfig(
        {
          source: { url: 'postgres://x/db' },
          publish: { routes: { 'public.orders': 'orders' } },
          targets: { web: { kind: 'http', urlEnv: 'WEB_URL', topic: 'nope', tables: ['public.orders'], mapping: { 'public.other': {} } } },
        },
        {},
      ),
    );
    expect(err.problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^publish\.routes\["public\.orders"\]: names topic "orders"/),
        expect.stringMatching(/^targets\.web\.topic: names topic "nope"/),
        expect.stringMatching(/^targets\.web\.http: is required/),
        expect.stringMatching(/^targets\.web\.mapping\["public\.other"\]: maps table/),
      ]),
    );
  });

  it('never shows a password held in a URL setting', () => {
    const err = configError(() => parseConfig({ source: { url: 'postgres://app:s3cret-pw@db/app', poolSize: 'many' }, redis: { urls: ['tcp://:r3dis-pw@cache'] } }, {}));
    expect(err.message).not.toContain('s3cret-pw');
    expect(err.message).not.toContain('r3dis-pw');
    expect(err.message).toContain('redis.urls.0');
  });

  it('says which file is missing when --config names one that does not exist', () => {
    let caught: unknown;
    try {
      loadConfig({ file: join(dir, 'nope.yaml'), env: {} });
    } catch (err) {
      caught = err;
    }
    expect(isOutboxError(caught, 'CONFIG_NOT_FOUND')).toBe(true);
    expect((caught as Error).message).toContain('nope.yaml');
  });

  it('reads target secrets from the environment variables the config names', () => {
    const cfg = parseConfig({ source: { url: 'postgres://x/db' }, targets: { wh: { kind: 'postgres', urlEnv: 'WH_URL', tables: ['public.t'] } } }, { WH_URL: 'postgres://wh/db' });
    expect(cfg.targetSecrets('wh').url).toBe('postgres://wh/db');
    expect(() => cfg.targetSecrets('other')).toThrow(/Target "other" is not in the config/);
  });

  it('one pass: a badly named target still has its own settings checked; each setting is reported once; a variable is named', () => {
    const err = configError(() =>
      parseConfig(
        {
          source: { url: 'postgres://x/db' },
          publish: { topics: { default: { name: 'a', arn: 'not-an-arn' } } },
          targets: {
            'bad name': { kind: 'kafka', urlEnv: 'X', tables: ['public.a'], topic: 'nope', mapping: { 'public.a': { encrypt: ['c'], mask: { c: 'half' } } } },
          },
        },
        { OUTBOX_LOG_LEVEL: 'chatty' },
      ),
    );
    expect(err.problems).toEqual(
      expect.arrayContaining([
        'targets["bad name"]: the name "bad name" must be a plain SQL identifier: letters, digits and _, starting with a letter or _, at most 63 characters',
        'targets["bad name"].kind: Invalid option: expected one of "postgres"|"mysql"|"http"|"dynamodb" (got "kafka")',
        expect.stringMatching(/^targets\["bad name"\]\.mapping\["public\.a"\]\.mask\.c: must be "full" or \{ keepLast: N \}/),
        expect.stringMatching(/^targets\["bad name"\]\.topic: names topic "nope"/),
        expect.stringMatching(/^targets\["bad name"\]\.encryption: is required because a mapping encrypts columns/),
        expect.stringMatching(/^log\.level \(from OUTBOX_LOG_LEVEL\): .*\(got "chatty"\)/),
        expect.stringMatching(/^publish\.topics\.default\.arn: must be an SNS topic ARN/),
      ]),
    );
    const settings = err.problems.map((p) => p.slice(0, p.indexOf(': ')));
    expect(new Set(settings).size).toBe(settings.length);
  });

  it('metrics.host defaults to 127.0.0.1 and takes OUTBOX_METRICS_HOST', () => {
    expect(parseConfig({ source: { url: 'postgres://x/db' } }, {}).metrics.host).toBe('127.0.0.1');
    expect(parseConfig({ source: { url: 'postgres://x/db' } }, { OUTBOX_METRICS_HOST: '0.0.0.0' }).metrics.host).toBe('0.0.0.0');
    expect(configError(() => parseConfig({ source: { url: 'postgres://x/db' }, metrics: { host: 'not a host' } }, {})).problems[0]).toMatch(/^metrics\.host: must be a host name or an IP address/);
  });

  it('relay.readBatchBytes defaults to 4 MiB and refuses a bound under 1 KiB (a unit mistake), naming the setting', () => {
    expect(parseConfig({ source: { url: 'postgres://x/db' } }, {}).relay.readBatchBytes).toBe(4 * 1024 * 1024);
    expect(parseConfig({ source: { url: 'postgres://x/db' }, relay: { readBatchBytes: 1_048_576 } }, {}).relay.readBatchBytes).toBe(1_048_576);
    expect(configError(() => parseConfig({ source: { url: 'postgres://x/db' }, relay: { readBatchBytes: 4 } }, {})).problems[0]).toMatch(/^relay\.readBatchBytes: .*got 4/);
    expect(configError(() => parseConfig({ source: { url: 'postgres://x/db' }, relay: { readBatchBytes: '4MB' } }, {})).problems[0]).toMatch(/^relay\.readBatchBytes: .*number/i);
  });

  it('aws.sdkThread defaults to false (the SDK on the process\'s main thread) and takes only true or false', () => {
    expect(parseConfig({ source: { url: 'postgres://x/db' } }, {}).aws.sdkThread).toBe(false);
    expect(parseConfig({ source: { url: 'postgres://x/db' }, aws: { region: 'eu-west-1' } }, {}).aws.sdkThread).toBe(false);
    expect(parseConfig({ source: { url: 'postgres://x/db' }, aws: { sdkThread: true } }, {}).aws.sdkThread).toBe(true);
    expect(configError(() => parseConfig({ source: { url: 'postgres://x/db' }, aws: { sdkThread: 'no' } }, {})).problems[0]).toMatch(/^aws\.sdkThread: .*boolean/i);
  });

  it('queue.applyConcurrency defaults to DEFAULT_APPLY_CONCURRENCY (at most queue.concurrency) and must be a whole number from 1 to queue.concurrency', () => {
    const withQueue = (queue?: Record<string, unknown>) =>
      parseConfig({ source: { url: 'postgres://x/db' }, targets: { t: { kind: 'mysql', urlEnv: 'T_URL', tables: ['public.items'], ...(queue ? { queue } : {}) } } }, { T_URL: 'mysql://x/db' });
    expect(withQueue().targets.t!.queue.applyConcurrency).toBe(DEFAULT_APPLY_CONCURRENCY);
    expect(withQueue({ concurrency: 8 }).targets.t!.queue.applyConcurrency).toBe(DEFAULT_APPLY_CONCURRENCY);
    // one receive loop: the default cannot be more than it has batches
    expect(withQueue({ concurrency: 1 }).targets.t!.queue.applyConcurrency).toBe(1);
    expect(withQueue({ concurrency: 4, applyConcurrency: 4 }).targets.t!.queue.applyConcurrency).toBe(4);
    expect(configError(() => withQueue({ concurrency: 2, applyConcurrency: 3 })).problems[0]).toMatch(/^targets\.t\.queue\.applyConcurrency: must be at most queue\.concurrency: .*lower queue\.applyConcurrency or raise queue\.concurrency/);
    expect(configError(() => withQueue({ applyConcurrency: 0 })).problems[0]).toMatch(/^targets\.t\.queue\.applyConcurrency: .*got 0/);
    expect(configError(() => withQueue({ applyConcurrency: 1.5 })).problems[0]).toMatch(/^targets\.t\.queue\.applyConcurrency: /);
  });

  it('lockWaitTimeoutSec is unset by default, a whole number of seconds from 1 to 3600, and for database targets only', () => {
    const withTimeout = (kind: string, lockWaitTimeoutSec?: unknown) =>
      parseConfig({ source: { url: 'postgres://x/db' }, targets: { t: { kind, urlEnv: 'T_URL', tables: ['public.items'], ...(kind === 'http' ? { http: {} } : {}), ...(lockWaitTimeoutSec !== undefined ? { lockWaitTimeoutSec } : {}) } } }, { T_URL: `${kind}://x/db` });
    expect(withTimeout('postgres').targets.t!.lockWaitTimeoutSec).toBeUndefined();
    expect(withTimeout('postgres', 5).targets.t!.lockWaitTimeoutSec).toBe(5);
    expect(withTimeout('mysql', 3600).targets.t!.lockWaitTimeoutSec).toBe(3600);
    expect(configError(() => withTimeout('mysql', 0)).problems[0]).toMatch(/^targets\.t\.lockWaitTimeoutSec: .*got 0/);
    expect(configError(() => withTimeout('postgres', 0.5)).problems[0]).toMatch(/^targets\.t\.lockWaitTimeoutSec: /);
    expect(configError(() => withTimeout('http', 5)).problems).toEqual([expect.stringMatching(/^targets\.t\.lockWaitTimeoutSec: applies to PostgreSQL and MySQL targets only .*remove it/)]);
  });
});
