import { SNSClient } from '@aws-sdk/client-sns';
import { SQSClient } from '@aws-sdk/client-sqs';
import { S3Client } from '@aws-sdk/client-s3';
import type { Config } from '../config/index.js';

/**
 * AWS clients from the SDK's standard chain: region and endpoint from config (itself overridden by
 * AWS_REGION / AWS_ENDPOINT_URL), credentials from the default provider chain.
 */
function common(config: Config) {
  return {
    ...(config.aws.region ? { region: config.aws.region } : {}),
    ...(config.aws.endpoint ? { endpoint: config.aws.endpoint } : {}),
    maxAttempts: 3,
  };
}

export function createSnsClient(config: Config): SNSClient {
  return new SNSClient(common(config));
}

export function createSqsClient(config: Config): SQSClient {
  return new SQSClient(common(config));
}

export function createS3Client(config: Config): S3Client {
  return new S3Client({ ...common(config), forcePathStyle: Boolean(config.aws.endpoint) });
}
