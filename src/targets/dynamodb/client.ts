import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { withoutSdkLogging } from '../../aws/clients.js';

/**
 * The DynamoDB client of the writer and the verify reader: region and endpoint when given (else the
 * SDK's chain), no SDK logger middleware, and maxAttempts 1 — throttling is retried (and counted)
 * by withThrottlingRetry (errors.ts), not a second time inside the SDK.
 */
export function createDynamodbClient(options: { region?: string | undefined; endpoint?: string | undefined }): DynamoDBClient {
  return withoutSdkLogging(new DynamoDBClient({ ...(options.region ? { region: options.region } : {}), ...(options.endpoint ? { endpoint: options.endpoint } : {}), maxAttempts: 1 }));
}
