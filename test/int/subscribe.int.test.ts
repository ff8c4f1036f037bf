import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { GetSubscriptionAttributesCommand, ListSubscriptionsByTopicCommand, type SNSClient } from '@aws-sdk/client-sns';
import { DeleteMessageCommand, GetQueueAttributesCommand, ReceiveMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSnsClient, createSqsClient } from '../../src/aws/clients.js';
import { parseConfig, type Config } from '../../src/config/index.js';
import { applySubscription, listSubscriptions, planSubscription, unsubscribe } from '../../src/subscriptions/subscribe.js';
import { isOutboxError } from '../../src/errors.js';
import { countCommands, outboxEvent, publishEvents } from '../helpers/consumer-fixtures.js';
import { startEmulator, type Emulator } from '../helpers/fauxqs.js';

const run = promisify(execFile);
let emulator: Emulator;
let sns: SNSClient;
let sqs: SQSClient;

function makeConfig(targets: Record<string, unknown>, topic = `sub-${randomBytes(4).toString('hex')}`): Config {
  return parseConfig(
    { source: { url: 'postgres://unused@127.0.0.1/unused' }, publish: { topics: { default: { name: topic } } }, targets },
    { ...emulator.awsEnv, T_URL: 'postgres://unused@127.0.0.1/unused' },
  );
}

const target = (over: Record<string, unknown> = {}) => ({ kind: 'postgres', urlEnv: 'T_URL', tables: ['public.orders'], ...over });

beforeAll(async () => {
  emulator = await startEmulator();
  Object.assign(process.env, emulator.awsEnv);
  const base = makeConfig({});
  sns = createSnsClient(base);
  sqs = createSqsClient(base);
});

afterAll(async () => {
  sns?.destroy();
  sqs?.destroy();
  await emulator?.stop();
});

async function queueAttributes(url: string): Promise<Record<string, string>> {
  return (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['All'] }))).Attributes ?? {};
}

describe('subscribe', () => {
  it('creates queue, DLQ, queue policy and a filtered raw subscription; a second run changes nothing and duplicates nothing', async () => {
    const config = makeConfig({ orders: target({ where: { tenant: ['7'] }, queue: { maxReceiveCount: 3, visibilityTimeoutSec: 30 } }) });
    const first = await applySubscription(planSubscription(config, 'orders'), sns, sqs);
    expect(first.created).toEqual({ queue: true, dlq: true, subscription: true });
    expect(first.queueUrl).toContain('outbox-orders');
    expect(first.dlqUrl).toContain('outbox-orders-dlq');

    const attrs = await queueAttributes(first.queueUrl);
    expect(JSON.parse(attrs.RedrivePolicy!)).toEqual({ deadLetterTargetArn: first.dlqArn, maxReceiveCount: 3 });
    expect(attrs.VisibilityTimeout).toBe('30');
    const policy = JSON.parse(attrs.Policy!) as { Statement: { Condition: unknown; Action: string }[] };
    expect(policy.Statement).toHaveLength(1);
    expect(policy.Statement[0]).toMatchObject({ Action: 'sqs:SendMessage', Condition: { ArnEquals: { 'aws:SourceArn': first.topicArn } } });
    const sub = (await sns.send(new GetSubscriptionAttributesCommand({ SubscriptionArn: first.subscriptionArn }))).Attributes!;
    expect(sub.RawMessageDelivery).toBe('true');
    // The truncates of the table carry no tenant attribute: they get a branch of their own.
    expect(JSON.parse(sub.FilterPolicy!)).toEqual({ table: ['public.orders'], $or: [{ tenant: ['7'] }, { operation: ['truncate', 'schema'] }] });

    const second = await applySubscription(planSubscription(config, 'orders'), sns, sqs);
    expect(second.created).toEqual({ queue: false, dlq: false, subscription: false });
    expect(second.subscriptionArn).toBe(first.subscriptionArn);
    expect(second.updatedSubscriptionAttributes).toEqual([]);
    expect(JSON.parse((await queueAttributes(first.queueUrl)).Policy!).Statement).toHaveLength(1);
    const subs = await sns.send(new ListSubscriptionsByTopicCommand({ TopicArn: first.topicArn }));
    expect(subs.Subscriptions).toHaveLength(1);

    // A changed config updates the filter policy and the queue in place.
    const changed = makeConfig({ orders: target({ where: { tenant: ['7', '8'] }, queue: { maxReceiveCount: 9 } }) }, config.publish.topics.default!.name);
    const third = await applySubscription(planSubscription(changed, 'orders'), sns, sqs);
    expect(third.subscriptionArn).toBe(first.subscriptionArn);
    expect(third.updatedSubscriptionAttributes).toEqual(['FilterPolicy']);
    expect(JSON.parse((await queueAttributes(first.queueUrl)).RedrivePolicy!).maxReceiveCount).toBe(9);
    expect((await sns.send(new ListSubscriptionsByTopicCommand({ TopicArn: first.topicArn }))).Subscriptions).toHaveLength(1);

    // The subscription delivers only matching messages, raw.
    await publishEvents(sns, first.topicArn, [outboxEvent({ table: 'public.orders', id: 1, attributes: { tenant: '8' } }), outboxEvent({ table: 'public.orders', id: 2, attributes: { tenant: '9' } })]);
    const got = await sqs.send(new ReceiveMessageCommand({ QueueUrl: first.queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }));
    expect(got.Messages).toHaveLength(1);
    expect(JSON.parse(got.Messages![0]!.Body!)).toMatchObject({ specversion: '1.0', data: { key: { id: 1 } } });
    await sqs.send(new DeleteMessageCommand({ QueueUrl: first.queueUrl, ReceiptHandle: got.Messages![0]!.ReceiptHandle }));
    await publishEvents(sns, first.topicArn, [outboxEvent({ table: 'public.orders', op: 'truncate', id: 0 }), outboxEvent({ table: 'public.items', op: 'truncate', id: 0 })]);
    const truncates = await sqs.send(new ReceiveMessageCommand({ QueueUrl: first.queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }));
    expect(truncates.Messages?.map((m) => JSON.parse(m.Body!) as { data: { op: string; table: string } }).map((e) => `${e.data.op} ${e.data.table}`)).toEqual(['truncate orders']);
  });

  it('refuses a bad filter policy before any AWS call, naming the target', async () => {
    const config = makeConfig({ wide: target({ operations: ['insert'], where: { a: ['1'], b: ['1'], c: ['1'], d: ['1'] } }) });
    const snsCalls = countCommands(sns);
    const sqsCalls = countCommands(sqs);
    let error: unknown;
    try {
      await applySubscription(planSubscription(config, 'wide'), sns, sqs);
    } catch (err) {
      error = err;
    }
    expect(isOutboxError(error, 'FILTER_POLICY_INVALID')).toBe(true);
    expect((error as Error).message).toContain('Target "wide"');
    expect((error as Error).message).toContain('6 keys');
    expect(snsCalls.size + sqsCalls.size).toBe(0);
  });

  it('makes FIFO queues for a FIFO topic', async () => {
    const config = makeConfig({ ledger: target() }, `sub-${randomBytes(4).toString('hex')}.fifo`);
    const result = await applySubscription(planSubscription(config, 'ledger'), sns, sqs);
    expect(result.queueUrl).toMatch(/outbox-ledger\.fifo$/);
    expect(result.dlqUrl).toMatch(/outbox-ledger-dlq\.fifo$/);
    expect((await queueAttributes(result.queueUrl)).FifoQueue).toBe('true');
  });

  it('lists subscriptions with depths, and unsubscribe keeps the queues unless asked', async () => {
    const config = makeConfig({ one: target(), two: target({ tables: ['public.items'] }) });
    const one = await applySubscription(planSubscription(config, 'one'), sns, sqs);
    await publishEvents(sns, one.topicArn, [outboxEvent({ table: 'public.orders', id: 1 }), outboxEvent({ table: 'public.orders', id: 2 })]);
    const listed = await listSubscriptions(config, sns, sqs);
    expect(listed.find((l) => l.target === 'one')).toMatchObject({ subscriptionArn: one.subscriptionArn, filterPolicy: { table: ['public.orders'] }, queueDepth: { visible: 2, inFlight: 0 }, dlqDepth: { visible: 0, inFlight: 0 } });
    expect(listed.find((l) => l.target === 'two')).toMatchObject({ subscriptionArn: null, queueDepth: null });

    expect((await unsubscribe(config, 'one', sns, sqs)).subscriptionArn).toBe(one.subscriptionArn);
    expect((await sns.send(new ListSubscriptionsByTopicCommand({ TopicArn: one.topicArn }))).Subscriptions).toHaveLength(0);
    expect((await listSubscriptions(config, sns, sqs)).find((l) => l.target === 'one')).toMatchObject({ subscriptionArn: null, queueDepth: { visible: 2 } });
    expect((await unsubscribe(config, 'one', sns, sqs, { deleteQueues: true })).deletedQueues).toEqual(['outbox-one', 'outbox-one-dlq']);
  });

  it('lists a target whose subscription and queues are deleted while it is being listed as missing, not as a failure', async () => {
    const config = makeConfig({ going: target() });
    await applySubscription(planSubscription(config, 'going'), sns, sqs);
    // The moment the listing asks for the queue's ARN, an `outbox unsubscribe --delete-queues` runs.
    const racing = createSqsClient(config);
    let raced = false;
    racing.middlewareStack.add(
      (next, context) => async (args) => {
        if (!raced && context.commandName === 'GetQueueAttributesCommand') {
          raced = true;
          await unsubscribe(config, 'going', sns, sqs, { deleteQueues: true });
        }
        return next(args);
      },
      { step: 'initialize', name: 'unsubscribeMidListing' },
    );
    try {
      const [row] = await listSubscriptions(config, sns, racing);
      expect(raced).toBe(true);
      expect(row).toMatchObject({ target: 'going', subscriptionArn: null, filterPolicy: null, queueDepth: null, dlqDepth: null });
    } finally {
      racing.destroy();
    }
  });

  it('outbox subscribe --dry-run prints the plan and calls nothing; a bad policy exits 2 (bad config) with the reason', async () => {
    const topic = `cli-${randomBytes(4).toString('hex')}`;
    const yaml = (where: string) => `source: { url: postgres://unused@127.0.0.1/unused }\npublish: { topics: { default: { name: ${topic} } } }\ntargets:\n  shop: { kind: postgres, urlEnv: T_URL, tables: [public.orders], where: ${where} }\n`;
    const { writeFileSync, mkdtempSync } = await import('node:fs');
    const dir = mkdtempSync('/tmp/outbox-subscribe-');
    writeFileSync(`${dir}/good.yaml`, yaml('{ tenant: ["1"] }'));
    writeFileSync(`${dir}/bad.yaml`, yaml('{ a: ["1"], b: ["1"], c: ["1"], d: ["1"], e: ["1"] }'));
    const cli = (file: string) =>
      run(process.execPath, ['--import', 'tsx', '-e', `import('./src/cli/main.ts').then(m => m.main(['node', 'outbox', '-c', '${file}', 'subscribe', 'shop', '--dry-run'])).then(c => process.exit(c))`], {
        env: { ...process.env, ...emulator.awsEnv, T_URL: 'x', AWS_ENDPOINT_URL: 'http://127.0.0.1:9' },
      }).then(
        (r) => ({ code: 0, ...r }),
        (e: { code: number; stdout: string; stderr: string }) => e,
      );
    const good = await cli(`${dir}/good.yaml`);
    expect(good.code).toBe(0);
    expect(good.stdout).toContain('no AWS call made');
    expect(good.stdout).toContain('outbox-shop-dlq');
    expect(good.stdout).toContain('"tenant": [');
    const bad = await cli(`${dir}/bad.yaml`);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('Target "shop" has an SNS filter policy that SNS would refuse');
    expect(bad.stderr).toContain('6 keys');
  });
});
