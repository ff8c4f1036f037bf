import * as sns from '@aws-sdk/client-sns';
import * as sqs from '@aws-sdk/client-sqs';
import { S3Client } from '@aws-sdk/client-s3';
import type { Config } from '../config/index.js';
import { ThreadedClient, type ThreadedClientOptions } from './threaded-client.js';

/**
 * AWS clients from the SDK's standard chain: region and endpoint from config (itself overridden by
 * AWS_REGION / AWS_ENDPOINT_URL), credentials from the default provider chain.
 */
export function awsClientOptions(config: Config): ThreadedClientOptions {
  return {
    ...(config.aws.region ? { region: config.aws.region } : {}),
    ...(config.aws.endpoint ? { endpoint: config.aws.endpoint } : {}),
    maxAttempts: 3,
  };
}

/** An SQS client as the relay's code uses it: the SDK's own client, or one in a worker thread (ThreadedClient). */
export type SqsSender = Pick<ThreadedClient<sqs.ServiceInputTypes, sqs.ServiceOutputTypes>, 'send' | 'destroy'>;
/** An SNS client as the relay's code uses it: the SDK's own client, or one in a worker thread (ThreadedClient). */
export type SnsSender = Pick<ThreadedClient<sns.ServiceInputTypes, sns.ServiceOutputTypes>, 'send' | 'destroy'>;

export function createSnsClient(config: Config): sns.SNSClient {
  return new sns.SNSClient(awsClientOptions(config));
}

export function createSqsClient(config: Config): sqs.SQSClient {
  return new sqs.SQSClient(awsClientOptions(config));
}

/** An SQS client whose SDK work runs on its own worker thread (src/aws/threaded-client.ts). */
export function createThreadedSqsClient(config: Config): ThreadedClient<sqs.ServiceInputTypes, sqs.ServiceOutputTypes> {
  return new ThreadedClient({ packageName: '@aws-sdk/client-sqs', clientName: 'SQSClient', exports: sqs }, awsClientOptions(config));
}

/** An SNS client whose SDK work runs on its own worker thread (src/aws/threaded-client.ts). */
export function createThreadedSnsClient(config: Config): ThreadedClient<sns.ServiceInputTypes, sns.ServiceOutputTypes> {
  return new ThreadedClient({ packageName: '@aws-sdk/client-sns', clientName: 'SNSClient', exports: sns }, awsClientOptions(config));
}

/** A consumer's SQS client: on its own worker thread when the config's aws.sdkThread is true (docs/operations.md). */
export function createConsumerSqsClient(config: Config): SqsSender {
  return config.aws.sdkThread ? createThreadedSqsClient(config) : createSqsClient(config);
}

export function createS3Client(config: Config): S3Client {
  return new S3Client({ ...awsClientOptions(config), forcePathStyle: Boolean(config.aws.endpoint) });
}
