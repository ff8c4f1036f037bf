import { randomBytes } from 'node:crypto';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { SNSClient } from '@aws-sdk/client-sns';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createS3Client, createSnsClient, createSqsClient } from '../../src/aws/clients.js';
import { queueDepth } from '../../src/aws/resources.js';
import { parseConfig, type Config } from '../../src/config/index.js';
import { openConsumer, type Consumer } from '../../src/consumer/index.js';
import { silentLogger } from '../../src/logger.js';
import { applySubscription, planSubscription, type SubscriptionResult } from '../../src/subscriptions/subscribe.js';
import { buildTransformer, createTargetWriter } from '../../src/targets/index.js';
import { outboxEvent, publishEvents } from '../helpers/consumer-fixtures.js';
import { startEmulator, type Emulator } from '../helpers/fauxqs.js';
import { waitFor } from '../helpers/wait.js';

/**
 * The consumer's receive loops against fauxqs and an HTTP target (a local server the test can make
 * hold a request): a slow batch in one loop does not hold back what waits in the queue.
 */
let emulator: Emulator;
let server: Server;
let config: Config;
let sns: SNSClient;
let sqs: SQSClient;
let subscription: SubscriptionResult;
/** The event ids the server answered, in order. */
const answered: string[] = [];
/** Requests the server holds until the test releases them. */
const held: { eventId: string; res: ServerResponse }[] = [];
let hold: (eventId: string) => boolean = () => false;

beforeAll(async () => {
  emulator = await startEmulator();
  Object.assign(process.env, emulator.awsEnv);
  server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const eventId = String(req.headers['idempotency-key'] ?? '');
      if (req.method === 'POST' && hold(eventId)) held.push({ eventId, res });
      else {
        if (req.method === 'POST') answered.push(eventId);
        res.writeHead(204).end();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  config = parseConfig(
    {
      source: { url: 'postgres://unused@127.0.0.1/unused' },
      publish: { topics: { default: { name: `loops-${randomBytes(4).toString('hex')}` } } },
      targets: {
        hook: {
          kind: 'http',
          urlEnv: 'HOOK_URL',
          tables: ['public.customers'],
          http: { timeoutMs: 120_000 },
          // three loops; a batch never fills (10 per receive, a handful sent), so the queue is never backlogged
          queue: { visibilityTimeoutSec: 30, waitTimeSec: 1, maxReceiveCount: 50, batchSize: 10, concurrency: 3 },
          // a breaker timeout far beyond the test: the held call ends when the test releases it
          breaker: { timeoutMs: 120_000, volumeThreshold: 1, errorThresholdPercentage: 50, resetTimeoutMs: 1_000 },
        },
      },
    },
    { ...emulator.awsEnv, HOOK_URL: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook` },
  );
  sns = createSnsClient(config);
  sqs = createSqsClient(config);
  subscription = await applySubscription(planSubscription(config, 'hook'), sns, sqs);
});

afterAll(async () => {
  for (const h of held.splice(0)) h.res.writeHead(204).end();
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve));
  sns?.destroy();
  sqs?.destroy();
  await emulator?.stop();
});

const eventId = (seq: number) => `test-source:${seq}`;

describe('consumer receive loops', () => {
  it('receives and applies what waits in the queue while another loop holds a slow batch, with one receive under way at a time', async () => {
    const target = config.targets.hook!;
    const writer = createTargetWriter('hook', target, config.targetSecrets('hook'), silentLogger);
    const client = createSqsClient(config);
    // receives under way at once, counted at the client
    let receiving = 0;
    let maxReceiving = 0;
    client.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName !== 'ReceiveMessageCommand') return next(args);
        maxReceiving = Math.max(maxReceiving, ++receiving);
        try {
          return await next(args);
        } finally {
          receiving -= 1;
        }
      },
      { step: 'initialize', name: 'countReceives' },
    );
    let consumer: Consumer | undefined;
    try {
      consumer = await openConsumer(config, 'hook', { sqs: client, s3: createS3Client(config), writer, transform: buildTransformer('hook', target, config.targetSecrets('hook')), logger: silentLogger });
      const applied: number[] = [];
      consumer.on('batch-applied', (e) => applied.push(e.applied));
      void consumer.start();

      const first = outboxEvent({ id: 1, row: { id: 1, name: 'slow' } });
      hold = (id) => id === eventId(Number(first.seq));
      await publishEvents(sns, subscription.topicArn, [first]);
      await waitFor(() => held.length === 1, { what: 'the first batch held at the target' });

      // a few more, less than a batch: only an idle loop can take them while the first batch is held
      const more = [2, 3, 4].map((id) => outboxEvent({ id }));
      await publishEvents(sns, subscription.topicArn, more);
      await waitFor(() => more.every((e) => answered.includes(eventId(Number(e.seq)))), { what: 'the later messages applied while the first batch is held' });
      await waitFor(() => applied.reduce((a, b) => a + b, 0) === 3, { what: 'their batches acknowledged' });
      const depth = await queueDepth(sqs, subscription.queueUrl);
      expect(depth).toMatchObject({ visible: 0, inFlight: 1 }); // only the held message is left
      expect(held).toHaveLength(1);
      expect(maxReceiving).toBe(1); // one loop received in the held loop's place; the third stayed idle

      held.splice(0).forEach((h) => h.res.writeHead(204).end());
      await waitFor(() => applied.reduce((a, b) => a + b, 0) === 4, { what: 'the held batch applied once released' });
      await waitFor(async () => {
        const d = await queueDepth(sqs, subscription.queueUrl);
        return d.visible === 0 && d.inFlight === 0;
      }, { what: 'the queue drained' });
    } finally {
      hold = () => false;
      for (const h of held.splice(0)) h.res.writeHead(204).end();
      await consumer?.stop();
      await writer.close();
      client.destroy();
    }
  });
});
