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

/**
 * The SDK's logger middleware, taken off each client the product makes. It logs every call's input
 * and output to the client's `logger`, which the product never sets (the SDK's default logs
 * nothing), but it builds the log entry first: a copy of the whole input and output with sensitive
 * members masked — for a PublishBatch of 10 envelopes, ≈ 8 % of the call's CPU (bench/README.md,
 * "The SDK's logger middleware").
 */
export const SDK_LOGGER_MIDDLEWARE = 'loggerMiddleware';

/** The client, without the SDK's logger middleware (SDK_LOGGER_MIDDLEWARE). */
export function withoutSdkLogging<T extends { middlewareStack: { remove(name: string): boolean } }>(client: T): T {
  client.middlewareStack.remove(SDK_LOGGER_MIDDLEWARE);
  return client;
}

/** An SQS client as the relay's code uses it: the SDK's own client, or one in a worker thread (ThreadedClient). */
export type SqsSender = Pick<ThreadedClient<sqs.ServiceInputTypes, sqs.ServiceOutputTypes>, 'send' | 'destroy'>;
/** An SNS client as the relay's code uses it: the SDK's own client, or one in a worker thread (ThreadedClient). */
export type SnsSender = Pick<ThreadedClient<sns.ServiceInputTypes, sns.ServiceOutputTypes>, 'send' | 'destroy'>;

export function createSnsClient(config: Config): sns.SNSClient {
  return withoutSdkLogging(new sns.SNSClient(awsClientOptions(config)));
}

export function createSqsClient(config: Config): sqs.SQSClient {
  return withoutSdkLogging(new sqs.SQSClient(awsClientOptions(config)));
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
  return withoutSdkLogging(new S3Client({ ...awsClientOptions(config), forcePathStyle: Boolean(config.aws.endpoint) }));
}
