import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { logSettings } from '../../src/cli/context.js';
import { exitCodeFor } from '../../src/cli/exit-codes.js';
import { explainError, networkFailure } from '../../src/cli/explain-error.js';
import { parseConfig } from '../../src/config/index.js';
import { nodeSupport } from '../../src/config/node-version.js';
import { ConfigError, OutboxError } from '../../src/errors.js';
import { componentLogger, createLogger } from '../../src/logger.js';
import { CommanderError, InvalidArgumentError } from 'commander';

function capture(): { stream: Writable; lines: () => string[] } {
  const chunks: string[] = [];
  const stream = new Writable({ write: (chunk: Buffer, _e, done) => (chunks.push(chunk.toString()), done()) });
  return { stream, lines: () => chunks.join('').split('\n').filter(Boolean) };
}

describe('logs', () => {
  it('a component under a component writes each key once', async () => {
    const out = capture();
    const root = createLogger('info', out.stream);
    const relay = componentLogger(root, { component: 'relay', instanceId: 'a' });
    componentLogger(relay, { component: 'publisher' }).info({ topics: 1 }, 'resolved');
    root.flush();
    await new Promise((r) => setTimeout(r, 20));
    const line = out.lines()[0]!;
    expect(line.match(/"component"/g)).toHaveLength(1);
    expect(JSON.parse(line)).toMatchObject({ component: 'publisher', instanceId: 'a', service: 'outbox-relay', msg: 'resolved', topics: 1 });
  });

  it('human lines: level, message and fields, without the base bindings', () => {
    const out = capture();
    const logger = createLogger('warn', out.stream, 'human');
    logger.info('not shown');
    componentLogger(logger, { component: 'backfill' }).warn({ table: 'public.t', batch: 3 }, 'batch retried');
    expect(out.lines()).toEqual(['outbox: warn: batch retried (component=backfill, table=public.t, batch=3)']);
  });

  it('one-shot commands log warnings by default; --verbose, --log-format json and services follow log.level', () => {
    expect(logSettings('info', { service: false })).toEqual({ level: 'warn', format: 'human' });
    expect(logSettings('error', { service: false })).toEqual({ level: 'error', format: 'human' });
    expect(logSettings('info', { service: false, verbose: true })).toEqual({ level: 'info', format: 'human' });
    expect(logSettings('trace', { service: false, verbose: true })).toEqual({ level: 'trace', format: 'human' });
    expect(logSettings('info', { service: false, format: 'json' })).toEqual({ level: 'info', format: 'json' });
    expect(logSettings('info', { service: true })).toEqual({ level: 'info', format: 'json' });
    expect(logSettings('info', { service: true, verbose: true, format: 'human' })).toEqual({ level: 'debug', format: 'human' });
  });
});

describe('exit codes', () => {
  it('2 for usage and config problems, 1 for everything else, 0 for help and version', () => {
    expect(exitCodeFor(new CommanderError(0, 'commander.version', ''))).toBe(0);
    expect(exitCodeFor(new CommanderError(1, 'commander.unknownCommand', ''))).toBe(2);
    expect(exitCodeFor(new InvalidArgumentError('bad'))).toBe(2);
    expect(exitCodeFor(new ConfigError(['x'], 'f'))).toBe(2);
    for (const code of ['TARGET_NOT_FOUND', 'FILTER_POLICY_INVALID', 'IDENTIFIER_INVALID', 'CONFIG_NOT_FOUND', 'USAGE_INVALID'] as const) expect(exitCodeFor(new OutboxError(code, 'x'))).toBe(2);
    for (const code of ['QUEUE_NOT_FOUND', 'TABLE_NOT_FOUND', 'SCHEMA_NOT_INSTALLED', 'PUBLISH_FAILED'] as const) expect(exitCodeFor(new OutboxError(code, 'x'))).toBe(1);
    expect(exitCodeFor(new Error('boom'))).toBe(1);
  });
});

describe('explainError', () => {
  const config = parseConfig(
    { source: { url: 'postgres://app:pw@db.internal:5433/app' }, aws: { endpoint: 'http://localhost:4566' }, redis: { urls: ['redis://cache:6380'] }, targets: { wh: { kind: 'mysql', urlEnv: 'WH_URL', tables: ['public.t'] } } },
    { WH_URL: 'mysql://u@127.0.0.1:3306/w' },
  );
  const refused = (address: string, port: number) => Object.assign(new Error(`connect ECONNREFUSED ${address}:${port}`), { code: 'ECONNREFUSED', address, port });

  it('names the endpoint and the setting behind an address', () => {
    expect(explainError(refused('127.0.0.1', 4566), config)).toBe('cannot reach the AWS endpoint (SNS, SQS, S3) at 127.0.0.1:4566 — is it running? (aws.endpoint / AWS_ENDPOINT_URL)');
    expect(explainError(refused('127.0.0.1', 3306), config)).toBe('cannot reach target "wh" at 127.0.0.1:3306 — is it running? (targets.wh.urlEnv / WH_URL)');
    expect(explainError(Object.assign(new Error('getaddrinfo ENOTFOUND db.internal'), { code: 'ENOTFOUND', hostname: 'db.internal' }), config)).toBe(
      'cannot resolve the host of the source database at db.internal — is the host name right? (source.url / OUTBOX_SOURCE_URL)',
    );
    const aggregate = Object.assign(new AggregateError([refused('::1', 6380), refused('127.0.0.1', 6380)], ''), { code: 'ECONNREFUSED' });
    expect(networkFailure(aggregate)).toMatchObject({ code: 'ECONNREFUSED', port: 6380 });
    expect(explainError(refused('10.1.2.3', 9999), config)).toBe('cannot reach 10.1.2.3:9999 — is it running? (check the host and port in the config and the environment)');
  });

  it('says what to set for AWS region and credentials', () => {
    expect(explainError(new Error('Region is missing'))).toMatch(/^AWS region not set: set AWS_REGION or aws\.region/);
    expect(explainError(Object.assign(new Error('Could not load credentials from any providers'), { name: 'CredentialsProviderError' }))).toMatch(/^AWS credentials not found: set AWS_ACCESS_KEY_ID/);
  });
});

describe('node support', () => {
  it('22 and 24 are supported; 20 gets one line saying what to run', () => {
    expect(nodeSupport('v22.23.5')).toMatchObject({ supported: true, warning: null });
    expect(nodeSupport('v24.1.0').supported).toBe(true);
    expect(nodeSupport('v20.20.2').warning).toBe('Node v20.20.2 is past its end of life: run outbox-relay on Node 22 or 24 (LTS) in production.');
  });
});
