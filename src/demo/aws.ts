import { DeleteTopicCommand, SNSClient } from '@aws-sdk/client-sns';
import { SQSClient } from '@aws-sdk/client-sqs';
import { createSnsClient, createSqsClient } from '../aws/clients.js';
import type { AmbientSettings, Config } from '../config/index.js';
import { unsubscribe } from '../subscriptions/index.js';
import { lookupTopicArn, targetOf, topicOf } from '../aws/resources.js';
import { OutboxError } from '../errors.js';

/**
 * SNS and SQS for the demo: the endpoint the user configured (AWS_ENDPOINT_URL, aws.endpoint), real
 * AWS with --aws, or else the fauxqs emulator started in this process. fauxqs is a devDependency,
 * so it is loaded only here, and its absence is a clear message rather than a crash.
 */
export interface DemoAws {
  /** Where SNS/SQS are, for people. */
  description: string;
  /** The settings the demo config takes (aws section). */
  settings: { region?: string; endpoint?: string };
  emulated: boolean;
  clients(config: Config): { sns: SNSClient; sqs: SQSClient };
  /** Removes the demo's subscription, queues and topic (nothing to do for the in-process emulator), then stops the emulator. */
  close(config: Config | undefined, options: { keepResources: boolean }): Promise<void>;
}

const EMULATOR_CREDENTIALS = { accessKeyId: 'test', secretAccessKey: 'test' };

export async function openDemoAws(ambient: AmbientSettings['aws'], useAws: boolean): Promise<DemoAws> {
  if (ambient.endpoint || useAws) {
    const clients = (config: Config) => ({ sns: createSnsClient(config), sqs: createSqsClient(config) });
    return {
      description: ambient.endpoint ? `endpoint ${ambient.endpoint}` : `AWS${ambient.region ? ` (${ambient.region})` : ''}, credentials from the SDK default chain`,
      settings: ambient,
      emulated: false,
      clients,
      async close(config, options) {
        if (options.keepResources || !config) return;
        const { sns, sqs } = clients(config);
        try {
          await removeResources(config, sns, sqs);
        } finally {
          sns.destroy();
          sqs.destroy();
        }
      },
    };
  }
  let startFauxqs: typeof import('fauxqs').startFauxqs;
  try {
    ({ startFauxqs } = await import('fauxqs'));
  } catch (err) {
    throw new OutboxError(
      'CONFIG_INVALID',
      'outbox demo starts the SNS/SQS emulator fauxqs in-process, but it is not installed (it is a devDependency: run `npm ci` in the repository). ' +
        'Or point AWS_ENDPOINT_URL at a running emulator, or pass --aws to use real AWS (credentials from the SDK default chain).',
      { cause: err },
    );
  }
  const server = await startFauxqs({ port: 0, logger: false });
  const settings = { region: ambient.region ?? 'us-east-1', endpoint: server.address };
  const client = <T>(Ctor: new (o: object) => T): T => new Ctor({ region: settings.region, endpoint: settings.endpoint, credentials: EMULATOR_CREDENTIALS, maxAttempts: 3 });
  return {
    description: `SNS/SQS emulator (fauxqs) in this process at ${server.address}`,
    settings,
    emulated: true,
    clients: () => ({ sns: client(SNSClient), sqs: client(SQSClient) }),
    close: () => server.stop(),
  };
}

async function removeResources(config: Config, sns: SNSClient, sqs: SQSClient): Promise<void> {
  const names = Object.keys(config.targets);
  for (const name of names) await unsubscribe(config, name, sns, sqs, { deleteQueues: true });
  const first = names[0];
  if (first === undefined) return;
  const arn = await lookupTopicArn(sns, topicOf(config, targetOf(config, first)));
  if (arn) await sns.send(new DeleteTopicCommand({ TopicArn: arn }));
}
