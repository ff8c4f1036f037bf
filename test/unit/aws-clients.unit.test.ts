import { describe, expect, it } from 'vitest';
import { createS3Client, createSnsClient, createSqsClient, SDK_LOGGER_MIDDLEWARE } from '../../src/aws/clients.js';
import { WORKER_SOURCE } from '../../src/aws/threaded-client-worker.js';
import { parseConfig } from '../../src/config/index.js';
import { SNSClient } from '@aws-sdk/client-sns';

/**
 * The SDK clients the product makes carry no logger middleware (src/aws/clients.ts): it would build
 * a masked copy of every call's input and output for a logger that logs nothing.
 */
describe('the AWS clients', () => {
  const config = parseConfig({ source: { url: 'postgres://u@127.0.0.1/db' }, aws: { region: 'us-east-1', endpoint: 'http://127.0.0.1:1' } }, {});
  const names = (client: { middlewareStack: { identify(): string[] } }) => client.middlewareStack.identify().map((m) => m.split(' - ')[0]);

  it('the SDK adds a logger middleware to a client by default', () => {
    const plain = new SNSClient({ region: 'us-east-1' });
    expect(names(plain)).toContain(SDK_LOGGER_MIDDLEWARE);
    plain.destroy();
  });

  it('SNS, SQS and S3 clients are made without it, the rest of the stack kept', () => {
    for (const client of [createSnsClient(config), createSqsClient(config), createS3Client(config)]) {
      expect(names(client)).not.toContain(SDK_LOGGER_MIDDLEWARE);
      expect(names(client).length).toBeGreaterThan(5);
      client.destroy();
    }
  });

  it('the client in a worker thread is made without it too', () => {
    expect(WORKER_SOURCE).toContain(`client.middlewareStack.remove('${SDK_LOGGER_MIDDLEWARE}')`);
  });
});
