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

/** An emulator whose server can go down and come back on the same port, its queues and messages kept. */
export interface RestartableEmulator extends Emulator {
  /** Closes the server (every connection dropped, new ones refused), waits downMs, listens again. */
  restart(downMs: number): Promise<void>;
}

interface FauxqsApp {
  listen(options: { port: number; host: string }): Promise<string>;
  close(): Promise<void>;
}

/**
 * fauxqs keeps its state in memory only, so restarting its process would delete every queue and
 * message — which SNS and SQS never do in an outage. This restarts its HTTP server instead, over the
 * same stores: what clients see of a broker restart (connections reset, refused while it is down),
 * with the broker's durability. fauxqs does not export its store classes; they are loaded from the
 * files next to its entry point.
 */
export async function startRestartableEmulator(): Promise<RestartableEmulator> {
  const { buildApp } = await import('fauxqs');
  // import.meta.resolve under Node (the benches); vitest has none, so there the repository's own
  // node_modules, where npm puts fauxqs (it exports an ESM entry only, which require.resolve cannot see).
  const entry = typeof import.meta.resolve === 'function' ? import.meta.resolve('fauxqs') : new URL('../../node_modules/fauxqs/dist/app.js', import.meta.url).href;
  const dist = new URL('.', entry);
  const load = async (file: string, name: string) => ((await import(new URL(file, dist).href)) as Record<string, new () => unknown>)[name]!;
  const [SqsStore, SnsStore, S3Store] = await Promise.all([load('sqs/sqsStore.js', 'SqsStore'), load('sns/snsStore.js', 'SnsStore'), load('s3/s3Store.js', 'S3Store')]);
  const stores = { sqsStore: new SqsStore(), snsStore: new SnsStore(), s3Store: new S3Store() } as NonNullable<Parameters<typeof buildApp>[0]>['stores'];
  let app = buildApp({ logger: false, stores }) as unknown as FauxqsApp;
  const address = await app.listen({ port: 0, host: '127.0.0.1' });
  const port = Number(new URL(address).port);
  const endpoint = `http://127.0.0.1:${port}`;
  return {
    endpoint,
    awsEnv: { AWS_REGION: 'us-east-1', AWS_ENDPOINT_URL: endpoint, AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test' },
    async restart(downMs) {
      await app.close();
      await new Promise((r) => setTimeout(r, downMs));
      app = buildApp({ logger: false, stores }) as unknown as FauxqsApp;
      await app.listen({ port, host: '127.0.0.1' });
    },
    stop: () => app.close(),
  };
}
