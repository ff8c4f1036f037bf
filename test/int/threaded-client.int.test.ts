import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import type { Worker } from 'node:worker_threads';
import { CreateTopicCommand, ListTopicsCommand } from '@aws-sdk/client-sns';
import { CreateQueueCommand, GetQueueUrlCommand, QueueDoesNotExist, ReceiveMessageCommand, SendMessageCommand, SQSClient, SQSServiceException } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSqsClient, createThreadedSnsClient, createThreadedSqsClient } from '../../src/aws/clients.js';
import { ThreadedClient, ThreadedClientError } from '../../src/aws/threaded-client.js';
import { parseConfig, type Config } from '../../src/config/index.js';
import { ROOT } from '../helpers/cli.js';
import { startEmulator, type Emulator } from '../helpers/fauxqs.js';

let emulator: Emulator;
let config: Config;
let direct: SQSClient;
const clients: { destroy(): void }[] = [];

beforeAll(async () => {
  emulator = await startEmulator();
  Object.assign(process.env, emulator.awsEnv);
  config = parseConfig({ source: { url: 'postgres://unused@127.0.0.1/unused' } }, emulator.awsEnv);
  direct = createSqsClient(config);
});

afterAll(async () => {
  for (const c of clients) c.destroy();
  direct?.destroy();
  await emulator?.stop();
});

function threaded() {
  const client = createThreadedSqsClient(config);
  clients.push(client);
  return client;
}

const queueName = () => `threaded-${randomBytes(4).toString('hex')}`;
/** The client's worker, to end it as a crash would (the client keeps it private). */
/** The error a call rejects with (an Error saying so when it resolves instead). */
const failure = (call: Promise<unknown>) => call.then(() => new Error('the call resolved'), (e: unknown) => e as Error);
const workerOf = (client: ThreadedClient) => (client as unknown as { worker: Worker | undefined }).worker;

describe('ThreadedClient', () => {
  it('sends SQS and SNS commands through a worker thread and returns their output', async () => {
    const sqs = threaded();
    const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: queueName() }));
    expect(QueueUrl).toMatch(/^http/);
    expect(sqs.threadId).toBeGreaterThan(0);
    const sent = await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: 'hello', MessageAttributes: { bin: { DataType: 'Binary', BinaryValue: Buffer.from([1, 2, 3]) } } }));
    expect(sent.MessageId).toBeTruthy();
    expect(sent.$metadata.httpStatusCode).toBe(200);
    const got = await sqs.send(new ReceiveMessageCommand({ QueueUrl, MessageAttributeNames: ['All'], WaitTimeSeconds: 1 }));
    expect(got.Messages?.map((m) => m.Body)).toEqual(['hello']);
    expect([...(got.Messages![0]!.MessageAttributes!.bin!.BinaryValue ?? [])]).toEqual([1, 2, 3]);

    const sns = createThreadedSnsClient(config);
    clients.push(sns);
    const { TopicArn } = await sns.send(new CreateTopicCommand({ Name: queueName() }));
    const topics = await sns.send(new ListTopicsCommand({}));
    expect(topics.Topics?.map((t) => t.TopicArn)).toContain(TopicArn);
    expect(sns.threadId).not.toBe(sqs.threadId);
  });

  it("brings an error back as the SDK's own: class, name, message, $fault, $metadata, Code", async () => {
    const missing = { QueueName: queueName() };
    const fromSdk = (await direct.send(new GetQueueUrlCommand(missing)).catch((e: unknown) => e)) as SQSServiceException & { Code?: string };
    const fromThread = (await threaded()
      .send(new GetQueueUrlCommand(missing))
      .catch((e: unknown) => e)) as SQSServiceException & { Code?: string };
    expect(fromSdk).toBeInstanceOf(QueueDoesNotExist);
    expect(fromThread).toBeInstanceOf(QueueDoesNotExist);
    expect(fromThread).toBeInstanceOf(SQSServiceException);
    expect(fromThread).toBeInstanceOf(Error);
    expect(fromThread.name).toBe(fromSdk.name);
    expect(fromThread.message).toBe(fromSdk.message);
    expect(fromThread.$fault).toBe(fromSdk.$fault);
    expect(fromThread.Code).toBe(fromSdk.Code);
    expect(fromThread.$metadata.httpStatusCode).toBe(fromSdk.$metadata.httpStatusCode);
    expect(fromThread.$metadata.attempts).toBe(fromSdk.$metadata.attempts);
    expect(fromThread.stack).toContain('QueueDoesNotExist');
  });

  it('aborts one call (a long poll) while another goes on, and refuses a call already aborted', async () => {
    const sqs = threaded();
    const { QueueUrl: first } = await sqs.send(new CreateQueueCommand({ QueueName: queueName() }));
    const { QueueUrl: second } = await sqs.send(new CreateQueueCommand({ QueueName: queueName() }));
    const abort = new AbortController();
    const started = Date.now();
    const aborted = failure(sqs.send(new ReceiveMessageCommand({ QueueUrl: first, WaitTimeSeconds: 20 }), { abortSignal: abort.signal }));
    const polling = sqs.send(new ReceiveMessageCommand({ QueueUrl: second, WaitTimeSeconds: 20 }));
    abort.abort();
    expect((await aborted).name).toBe('AbortError');
    expect(Date.now() - started).toBeLessThan(5_000);
    await sqs.send(new SendMessageCommand({ QueueUrl: second, MessageBody: 'still polling' }));
    const got = await polling;
    expect(got.Messages?.map((m) => m.Body)).toEqual(['still polling']);
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(sqs.workersStarted).toBe(1);
    await expect(sqs.send(new ReceiveMessageCommand({ QueueUrl: first }), { abortSignal: AbortSignal.abort() })).rejects.toMatchObject({ name: 'AbortError' });
  });

  it('destroy() ends the worker and rejects the calls in flight and later ones', async () => {
    const sqs = threaded();
    const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: queueName() }));
    const worker = workerOf(sqs)!;
    const exited = new Promise<number>((resolve) => worker.once('exit', resolve));
    const polling = failure(sqs.send(new ReceiveMessageCommand({ QueueUrl, WaitTimeSeconds: 20 })));
    sqs.destroy();
    const err = await polling;
    expect(err).toBeInstanceOf(ThreadedClientError);
    expect(err.message).toMatch(/destroyed/);
    await exited;
    expect(sqs.threadId).toBeUndefined();
    await expect(sqs.send(new GetQueueUrlCommand({ QueueName: 'x' }))).rejects.toBeInstanceOf(ThreadedClientError);
  });

  it('rejects the calls of a worker that exits or fails with a clear error, and the next call starts a new worker', async () => {
    const sqs = threaded();
    const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: queueName() }));
    const polling = failure(sqs.send(new ReceiveMessageCommand({ QueueUrl, WaitTimeSeconds: 20 })));
    const first = sqs.threadId;
    await workerOf(sqs)!.terminate();
    const err = await polling;
    expect(err).toBeInstanceOf(ThreadedClientError);
    expect(err.message).toMatch(/SQSClient's worker thread exited .*next call starts a new worker/);
    // Another queue: the emulator may still hold the dead worker's long poll on the first one and
    // hand it the message (then invisible for its visibility timeout) before it sees the socket close.
    const { QueueUrl: after } = await sqs.send(new CreateQueueCommand({ QueueName: queueName() }));
    await sqs.send(new SendMessageCommand({ QueueUrl: after, MessageBody: 'after the crash' }));
    expect(sqs.workersStarted).toBe(2);
    expect(sqs.threadId).not.toBe(first);
    const got = await sqs.send(new ReceiveMessageCommand({ QueueUrl: after, WaitTimeSeconds: 1 }));
    expect(got.Messages?.map((m) => m.Body)).toEqual(['after the crash']);

    // an uncaught error in the worker (here: a message it cannot read) fails its calls with that error as the cause
    const polling2 = failure(sqs.send(new ReceiveMessageCommand({ QueueUrl, WaitTimeSeconds: 20 })));
    workerOf(sqs)!.postMessage(null);
    const failed = await polling2;
    expect(failed).toBeInstanceOf(ThreadedClientError);
    expect(failed.message).toMatch(/SQSClient's worker thread failed: .*null/);
    expect(failed.cause).toBeInstanceOf(Error);
    await expect(sqs.send(new GetQueueUrlCommand({ QueueName: 'x' }))).rejects.toMatchObject({ name: 'QueueDoesNotExist' });
    expect(sqs.workersStarted).toBe(3);
  });

  it('refuses a command of another service and an input that cannot cross to the worker', async () => {
    const sqs = threaded();
    await expect(sqs.send(new ListTopicsCommand({}) as never)).rejects.toThrow(/not a command of @aws-sdk\/client-sqs: ListTopicsCommand/);
    const input = { QueueName: queueName(), Attributes: { Policy: (() => 1) as unknown as string } };
    await expect(sqs.send(new CreateQueueCommand(input))).rejects.toThrow(/cannot be sent to the client's worker thread/);
    // the worker is fine afterwards
    await expect(sqs.send(new CreateQueueCommand({ QueueName: queueName() }))).resolves.toMatchObject({ QueueUrl: expect.stringMatching(/^http/) });
  });

  it('does not keep a process alive once its calls are done (no destroy)', async () => {
    const script = [
      "import { ThreadedClient } from './src/aws/threaded-client.ts';",
      "import * as sqs from '@aws-sdk/client-sqs';",
      `const client = new ThreadedClient({ packageName: '@aws-sdk/client-sqs', clientName: 'SQSClient', exports: sqs }, { region: 'us-east-1', endpoint: ${JSON.stringify(emulator.endpoint)} });`,
      'const reply = await client.send(new sqs.ListQueuesCommand({}));',
      "console.log('status', reply.$metadata.httpStatusCode);",
    ].join('\n');
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: ROOT, env: { ...process.env, ...emulator.awsEnv }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const code = await new Promise<number | null>((resolve) => {
      const timer = setTimeout(() => {
        child.kill();
        resolve(null);
      }, 30_000);
      child.on('exit', (c) => {
        clearTimeout(timer);
        resolve(c);
      });
    });
    expect(out).toContain('status 200');
    expect(code).toBe(0);
  });
});
