import { startFauxqs } from 'fauxqs';
import { quietAwsSdkNodeWarning } from '../../src/config/node-version.js';

// the test process talks to the emulator with the AWS SDK too: no nine-line warning per test file on Node 20
quietAwsSdkNodeWarning();

export interface Emulator {
  endpoint: string;
  /** Environment for a child process (or parseConfig) that points the AWS SDK at the emulator. */
  awsEnv: Record<string, string>;
  stop(): Promise<void>;
}

/** The SNS/SQS/S3 emulator, in-process, on a free port. */
export async function startEmulator(): Promise<Emulator> {
  const server = await startFauxqs({ port: 0, logger: false });
  return {
    endpoint: server.address,
    awsEnv: { AWS_REGION: 'us-east-1', AWS_ENDPOINT_URL: server.address, AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test' },
    stop: () => server.stop(),
  };
}
