import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetQueueAttributesCommand, GetQueueUrlCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, runCli, spawnCli, type CliRun } from '../helpers/cli.js';
import { startEmulator, type Emulator } from '../helpers/fauxqs.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { waitFor } from '../helpers/wait.js';

/**
 * The CLI's contract, for every command, as a user's shell sees it (a subprocess): exit 0 done, 1
 * failed or found problems, 2 bad usage or configuration (README.md); with --json, standard output
 * holds exactly one JSON document and everything else (progress, notes, logs) goes to standard
 * error; one-shot commands log nothing below warn unless asked; errors name the setting to fix.
 */
const WORKDIR = mkdtempSync(join(tmpdir(), 'outbox-cli-contract-'));
const CONFIG = join(WORKDIR, 'outbox.config.yaml');
const BAD_FILTER = join(WORKDIR, 'bad-filter.yaml');
const CLOSED = 'http://127.0.0.1:9';
const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

let db: TestDatabase;
let emulator: Emulator;
let env: Record<string, string>;
let sqs: SQSClient;

/**
 * At most two CLI processes of this file at a time: the machine has two cores, and a burst of
 * processes would starve the timing-sensitive tests that run beside this file.
 */
const slots: (() => void)[] = [];
let running = 0;
async function throttled<T>(run: () => Promise<T>): Promise<T> {
  if (running >= 2) await new Promise<void>((resolve) => slots.push(resolve));
  running += 1;
  try {
    return await run();
  } finally {
    running -= 1;
    slots.shift()?.();
  }
}

function outbox(args: string[], extra: Record<string, string> = {}, config = CONFIG): Promise<CliRun> {
  return throttled(() => runCli(['--config', config, ...args], { cwd: WORKDIR, env: { ...env, ...extra }, timeoutMs: 60_000 }));
}

/** The whole of stdout is one JSON document. */
function json(run: CliRun): Record<string, unknown> {
  expect(run.stdout.trim().startsWith('{') || run.stdout.trim().startsWith('[')).toBe(true);
  return JSON.parse(run.stdout) as Record<string, unknown>;
}

beforeAll(async () => {
  db = await createTestDatabase();
  emulator = await startEmulator();
  sqs = new SQSClient({ region: 'us-east-1', endpoint: emulator.endpoint, credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
  env = { OUTBOX_SOURCE_URL: db.url, COPY_URL: db.url, ...emulator.awsEnv };
  await db.pool.query(`
    CREATE TABLE public.orders (id bigint PRIMARY KEY, region text, total numeric);
    CREATE TABLE public.untracked (id int PRIMARY KEY);
    CREATE SCHEMA replica;
    CREATE TABLE replica.orders (id bigint PRIMARY KEY, region text, total numeric);`);
  const topic = `contract-${randomBytes(4).toString('hex')}`;
  const targets = [
    'targets:',
    '  copy: { kind: postgres, urlEnv: COPY_URL, tables: [public.orders], mapping: { public.orders: { table: replica.orders } } }',
    '  broken: { kind: postgres, urlEnv: COPY_URL, tables: [public.orders], mapping: { public.orders: { table: replica.nosuch } } }',
    '  filtered: { kind: postgres, urlEnv: COPY_URL, tables: [public.orders], where: { region: ["eu"] } }',
  ];
  writeFileSync(CONFIG, [`source: { name: cli-contract }`, `publish: { topics: { default: { name: ${topic} } } }`, ...targets].join('\n'));
  writeFileSync(BAD_FILTER, [`publish: { topics: { default: { name: ${topic} } } }`, 'targets:', '  raw: { kind: postgres, urlEnv: COPY_URL, tables: [public.orders], filterPolicy: { table: [] } }'].join('\n'));
});

afterAll(async () => {
  sqs?.destroy();
  await emulator?.stop();
  await db?.drop();
  rmSync(WORKDIR, { recursive: true, force: true });
});

describe('outbox CLI contract (subprocess)', () => {
  it('--version prints the package version; help exits 0; an unknown command or option exits 2', async () => {
    const [v, help, unknown, option] = await Promise.all([outbox(['--version']), outbox(['dlq', '--help']), outbox(['frobnicate']), outbox(['status', '--frobnicate'])]);
    expect(v).toMatchObject({ code: 0, stdout: `${version}\n`, stderr: '' });
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('without consuming them');
    expect(unknown.code).toBe(2);
    expect(option.code).toBe(2);
    expect(option.stderr).toContain("unknown option '--frobnicate'");
  }, 180_000);

  it('migrate, track, untrack, status, doctor: 0 with pure JSON, 1 when the source is down, 2 for bad input', async () => {
    const migrate = await outbox(['migrate', '--json']);
    expect(migrate.stderr).toBe('');
    expect(migrate.code).toBe(0);
    expect(json(migrate)).toMatchObject({ schema: 'outbox', current: expect.any(Number) });

    const [track, untrackOther, status] = await Promise.all([
      outbox(['track', 'public.orders', '--attributes', 'total', '--json']),
      outbox(['untrack', 'public.untracked', '--json']),
      outbox(['status', '--json']),
    ]);
    expect(track.code).toBe(0);
    expect(json(track)).toMatchObject({ table: 'public.orders', keyColumns: ['id'], attributeColumns: ['total'] });
    expect(untrackOther.code).toBe(0);
    expect(json(untrackOther)).toEqual({ table: 'public.untracked', wasTracked: false });
    expect(status.code).toBe(0);
    expect(json(status)).toMatchObject({ schema: 'outbox' });

    const doctor = await outbox(['doctor', '--json']);
    expect(doctor.code).toBe(0);
    expect(json(doctor)).toMatchObject({ ok: true, errors: 0 });

    const down = { OUTBOX_SOURCE_URL: 'postgres://app:Sup3rS3cret@127.0.0.1:1/app' };
    const failures = await Promise.all([
      outbox(['migrate'], down),
      outbox(['track', 'public.orders'], down),
      outbox(['untrack', 'public.orders'], down),
      outbox(['status', '--json'], down),
      outbox(['doctor'], { OUTBOX_SCHEMA: 'not_installed' }),
    ]);
    expect(failures.map((r) => r.code)).toEqual([1, 1, 1, 1, 1]);
    for (const run of failures.slice(0, 4)) {
      expect(run.stderr).toContain('cannot reach the source database at 127.0.0.1:1 — is it running? (source.url / OUTBOX_SOURCE_URL)');
      expect(run.stdout).toBe('');
      expect(run.stderr).not.toContain('Sup3rS3cret');
    }
    expect(failures[4]!.stdout).toContain('not installed');

    const usage = await Promise.all([
      outbox(['track', 'public.x;drop']),
      outbox(['untrack', 'no-dot']),
      outbox(['status'], {}, join(WORKDIR, 'missing.yaml')),
      outbox(['doctor', '--log-format', 'xml']),
      outbox(['migrate'], { OUTBOX_SOURCE_URL: '' }, join(WORKDIR, 'none.yaml')),
    ]);
    expect(usage.map((r) => r.code)).toEqual([2, 2, 2, 2, 2]);
    expect(usage[3]!.stderr).toContain('--log-format must be one of json, human');
  }, 180_000);

  it('an unset OUTBOX_SOURCE_URL says so, naming the variable (no example URL is tried)', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'outbox-cli-empty-'));
    const run = await runCli(['status'], { cwd: empty, env: {} });
    rmSync(empty, { recursive: true, force: true });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('source.url: OUTBOX_SOURCE_URL is not set and there is no config file');
  }, 180_000);

  it('subscribe, subscriptions, unsubscribe: dry-run warnings, 2 for an unknown target or a bad filter policy, 1 when SNS is down', async () => {
    const dry = await outbox(['subscribe', 'filtered', '--dry-run', '--json']);
    expect(dry.code).toBe(0);
    const plan = json(dry) as { warnings: string[]; checkedAttributes: boolean };
    expect(plan.checkedAttributes).toBe(true);
    expect(plan.warnings).toEqual([
      expect.stringMatching(/^filter key "region" \(targets\.filtered\.where\) is not an attribute column of any table of this target \(attribute columns — public\.orders: total\)/),
    ]);
    const human = await outbox(['subscribe', 'filtered', '--dry-run']);
    expect(human.code).toBe(0);
    expect(human.stderr).toMatch(/^WARNING filter key "region"/m);
    expect(human.stdout).toContain('no AWS call made');

    const [copy, broken] = await Promise.all([outbox(['subscribe', 'copy', '--json']), outbox(['subscribe', 'filtered'])]);
    expect(copy.code).toBe(0);
    expect(json(copy)).toMatchObject({ created: { queue: true, dlq: true, subscription: true }, warnings: [] });
    expect(broken.code).toBe(0);

    const [list, gone] = await Promise.all([outbox(['subscriptions', '--json']), outbox(['unsubscribe', 'filtered', '--json'])]);
    // no NodeVersionSupportWarning from the AWS SDK, on any Node (on Node 20 the CLI reports it its own way)
    for (const run of [copy, list]) expect(run.stderr).not.toContain('NodeVersionSupportWarning');
    expect(list.code).toBe(0);
    expect((json(list) as unknown as { target: string }[]).map((r) => r.target).sort()).toEqual(['broken', 'copy', 'filtered']);
    expect(gone.code).toBe(0);
    expect(json(gone)).toMatchObject({ target: 'filtered' });

    const usage = await Promise.all([
      outbox(['subscribe', 'nope', '--dry-run']),
      outbox(['subscribe', 'raw', '--dry-run'], {}, BAD_FILTER),
      outbox(['unsubscribe', 'nope']),
      outbox(['subscriptions'], {}, join(WORKDIR, 'missing.yaml')),
    ]);
    expect(usage.map((r) => r.code)).toEqual([2, 2, 2, 2]);
    expect(usage[0]!.stderr).toContain('Target "nope" is not in the config');
    expect(usage[1]!.stderr).toContain('SNS filter policy that SNS would refuse');

    const snsDown = await Promise.all([outbox(['subscribe', 'copy'], { AWS_ENDPOINT_URL: CLOSED }), outbox(['subscriptions'], { AWS_ENDPOINT_URL: CLOSED }), outbox(['unsubscribe', 'copy'], { AWS_ENDPOINT_URL: CLOSED })]);
    for (const run of snsDown) {
      expect(run.code).toBe(1);
      expect(run.stderr).toContain('cannot reach the AWS endpoint (SNS, SQS, S3) at 127.0.0.1:9 — is it running? (aws.endpoint / AWS_ENDPOINT_URL)');
    }
    const { AWS_REGION: _region, ...withoutRegion } = env;
    const noRegion = await throttled(() => runCli(['--config', CONFIG, 'subscriptions'], { cwd: WORKDIR, env: withoutRegion }));
    expect(noRegion.code).toBe(1);
    expect(noRegion.stderr).toContain('AWS region not set: set AWS_REGION or aws.region');
  }, 180_000);

  it('target init, verify, backfill, replay: 0 with pure JSON and progress on stderr, 1 for problems or drift, 2 for bad input', async () => {
    const init = await outbox(['target', 'init', 'copy', '--json']);
    expect(init.code).toBe(0);
    expect(json(init)).toMatchObject({ target: 'copy', ready: true, problems: [] });
    const verify = await outbox(['verify', 'copy', '--json']);
    expect(verify.code).toBe(0);
    expect(json(verify)).toMatchObject({ drift: false });

    await db.pool.query(`INSERT INTO public.orders SELECT g, 'eu', g FROM generate_series(1, 50) g`);
    const [drift, brokenInit] = await Promise.all([outbox(['verify', 'copy', '--json']), outbox(['target', 'init', 'broken', '--json'])]);
    expect(drift.code).toBe(1);
    expect(json(drift)).toMatchObject({ drift: true });
    expect(brokenInit.code).toBe(1);
    expect((json(brokenInit) as { problems: string[] }).problems.length).toBeGreaterThan(0);

    const backfill = await outbox(['backfill', 'public.orders', '--batch-size', '20', '--json']);
    expect(backfill.code).toBe(0);
    expect(json(backfill)).toMatchObject({ status: 'completed', rows: 50, batches: 3 });
    expect(backfill.stderr).toMatch(/^backfill public\.orders: 50\/50 rows/m);
    expect(backfill.stderr).not.toContain('"level"');

    const replay = await outbox(['replay', '--dry-run', '--json']);
    expect(replay.code).toBe(0);
    expect(json(replay)).toMatchObject({ dryRun: true, matched: 0, published: 0 });

    const problems = await Promise.all([outbox(['backfill', 'public.untracked']), outbox(['replay', '--dry-run'], { OUTBOX_SOURCE_URL: 'postgres://x@127.0.0.1:1/x' })]);
    expect(problems.map((r) => r.code)).toEqual([1, 1]);

    const usage = await Promise.all([
      outbox(['backfill', 'public.orders', '--batch-size', '-3']),
      outbox(['backfill', 'public.orders', '--batch-size', 'x']),
      outbox(['verify', 'copy', '--chunk-size', '0']),
      outbox(['verify', 'nope']),
      outbox(['target', 'init', 'nope']),
      outbox(['replay', '--since', 'yesterday']),
      outbox(['backfill', 'public.orders', '--metrics-port', '70000']),
    ]);
    expect(usage.map((r) => r.code)).toEqual([2, 2, 2, 2, 2, 2, 2]);
    expect(usage[0]!.stderr).toContain('--batch-size must be a whole number from 1 to 1000000 (got "-3")');
  }, 180_000);

  it('logs of one-shot commands: readable warnings only by default, JSON lines with --log-format json, each key once', async () => {
    const quiet = await outbox(['backfill', 'public.orders', '--restart', '--json']);
    expect(quiet.code).toBe(0);
    expect(quiet.stderr.split('\n').filter((l) => l.startsWith('{'))).toEqual([]);
    const loud = await outbox(['backfill', 'public.orders', '--restart', '--json', '--log-format', 'json']);
    expect(loud.code).toBe(0);
    json(loud);
    const lines = loud.stderr.split('\n').filter((l) => l.startsWith('{'));
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) {
      expect(JSON.parse(line)).toMatchObject({ level: expect.any(String), msg: expect.any(String) });
      expect(line.match(/"component":/g)?.length ?? 0).toBeLessThanOrEqual(1);
    }
    const verbose = await outbox(['backfill', 'public.orders', '--restart', '--verbose']);
    expect(verbose.stderr).toMatch(/^outbox: info: /m);
  }, 180_000);

  it('redrive and dlq: a dead letter is read without being consumed; 1 while the DLQ holds messages, for a missing queue; 2 for bad input', async () => {
    const empty = await outbox(['dlq', 'copy', '--json']);
    expect(empty.code).toBe(0);
    expect(json(empty)).toMatchObject({ target: 'copy', queue: 'outbox-copy-dlq', messages: [] });

    const dlqUrl = (await sqs.send(new GetQueueUrlCommand({ QueueName: 'outbox-copy-dlq' }))).QueueUrl!;
    const body = JSON.stringify({ specversion: '1.0', id: 'cli-contract:7', type: 'dev.outbox-relay.change.v1', subject: 'public.orders/{"id":"7"}', time: '2026-01-01T00:00:00.000Z', data: { schema: 'public', table: 'orders', op: 'update', seq: '7', key: { id: '7' }, after: { id: '7', region: 'secret-region-value' } } });
    await sqs.send(
      new SendMessageCommand({
        QueueUrl: dlqUrl,
        MessageBody: body,
        MessageAttributes: {
          outbox_error_code: { DataType: 'String', StringValue: 'TARGET_REJECTED' },
          outbox_error_reason: { DataType: 'String', StringValue: 'column "region" violates a check constraint' },
          table: { DataType: 'String', StringValue: 'public.orders' },
          changed: { DataType: 'String.Array', StringValue: '["region"]' },
        },
      }),
    );
    const read = await waitFor(async () => {
      const run = await outbox(['dlq', 'copy', '--json']);
      return run.code === 1 ? run : undefined;
    });
    const report = json(read) as { messages: Record<string, unknown>[] };
    expect(report.messages).toEqual([
      expect.objectContaining({
        movedBy: 'consumer',
        code: 'TARGET_REJECTED',
        reason: 'column "region" violates a check constraint',
        attributes: { table: 'public.orders', changed: ['region'] },
        event: expect.objectContaining({ id: 'cli-contract:7', table: 'public.orders', op: 'update', seq: '7', key: { id: '7' } }),
      }),
    ]);
    expect(read.stdout).not.toContain('secret-region-value');
    const human = await outbox(['dlq', 'copy']);
    expect(human.code).toBe(1);
    expect(human.stdout).toContain('TARGET_REJECTED');
    expect(human.stdout).not.toContain('secret-region-value');
    const preview = await outbox(['dlq', 'copy', '--preview', '1000', '--json']);
    expect((json(preview) as { messages: { bodyPreview: string }[] }).messages[0]!.bodyPreview).toContain('secret-region-value');

    // still there, visible at once: the reads consumed nothing
    const left = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: dlqUrl, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] }));
    expect(left.Attributes).toMatchObject({ ApproximateNumberOfMessages: '1', ApproximateNumberOfMessagesNotVisible: '0' });

    const redrive = await outbox(['redrive', 'copy', '--json']);
    expect(redrive.code).toBe(0);
    expect(json(redrive), redrive.stdout + redrive.stderr).toMatchObject({ target: 'copy', moved: 1, failed: 0 });

    const results = await Promise.all([
      outbox(['dlq', 'broken']),
      outbox(['redrive', 'broken']),
      outbox(['dlq', 'copy', '--limit', 'x']),
      outbox(['redrive', 'copy', '--limit', '0']),
      outbox(['dlq', 'nope']),
    ]);
    expect(results.map((r) => r.code)).toEqual([1, 1, 2, 2, 2]);
    expect(results[0]!.stderr).toContain('Queue outbox-broken-dlq of target "broken" does not exist. Run: outbox subscribe broken');
  }, 180_000);

  it('relay and consume: 0 after SIGTERM with JSON logs on stderr and nothing on stdout; 1 when they cannot start; 2 for bad input', async () => {
    const relay = await spawnCli(['--config', CONFIG, 'relay', '--instance-id', 'contract', '--metrics-port', '0'], { cwd: WORKDIR, env });
    const consume = await spawnCli(['--config', CONFIG, 'consume', 'copy', '--metrics-port', '0'], { cwd: WORKDIR, env });
    await waitFor(() => relay.output().stderr.includes('"relay started"') && consume.output().stderr.includes('"consuming"'), { timeoutMs: 30_000, what: 'relay and consumer to start' });
    relay.process.kill('SIGTERM');
    consume.process.kill('SIGTERM');
    expect(await relay.exited).toBe(0);
    expect(await consume.exited).toBe(0);
    for (const child of [relay, consume]) {
      const { stdout, stderr } = child.output();
      expect(stdout).toBe('');
      const logs = stderr.split('\n').filter((l) => l.startsWith('{'));
      expect(logs.length).toBeGreaterThan(0);
      for (const line of logs) expect(line.match(/"component":/g)?.length ?? 0, line).toBeLessThanOrEqual(1);
    }
    expect(relay.output().stderr).toMatch(/"metricsHost":"127\.0\.0\.1"/);

    const results = await Promise.all([
      outbox(['relay'], { OUTBOX_SOURCE_URL: 'postgres://x@127.0.0.1:1/x' }),
      outbox(['consume', 'broken']),
      outbox(['relay', '--metrics-port', 'x']),
      outbox(['consume', 'nope']),
      outbox(['consume', 'copy', '--metrics-host', 'not a host']),
      throttled(() => runCli(['demo', '--changes', '0'], { cwd: WORKDIR, env })),
    ]);
    expect(results.map((r) => r.code)).toEqual([1, 1, 2, 2, 2, 2]);
    expect(results[0]!.stderr).toContain('cannot reach the source database at 127.0.0.1:1');
  }, 180_000);
});
