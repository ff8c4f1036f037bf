import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { WORKER_SOURCE } from './threaded-client-worker.js';

/**
 * An AWS SDK client whose work runs on a worker thread: `send(command)` forwards the command's name
 * and input to a real client in the worker and returns its output, so the SDK's CPU (middleware,
 * signing, the wire protocol, sockets) leaves the calling thread. The SQS and SNS clients are used
 * this way (createThreadedSqsClient / createThreadedSnsClient in src/aws/clients.ts).
 *
 * - Errors come back with their name, message, stack and own properties ($fault, $metadata, Code,
 *   …), as an instance of the service's exception class when it has one (`QueueDoesNotExist`), so
 *   code that looks at `name`, `$metadata` or `instanceof` behaves as with the client itself. Only
 *   `$response` (the raw HTTP response) stays in the worker.
 * - `abortSignal` aborts that one call: the caller's promise rejects at once with an `AbortError`
 *   (as the SDK's own does) and the worker aborts the request; other calls carry on.
 * - `destroy()` ends the worker and rejects the calls in flight.
 * - The worker holds the process open only while a call is in flight (it is unref'd when idle).
 * - A worker that fails or exits rejects its calls in flight with a `ThreadedClientError`; the next
 *   call starts a new worker. Whether a rejected call reached AWS is unknown, as with a dropped
 *   connection, and each caller's own retry handling applies.
 *
 * The RPC is a small MessagePort protocol (src/aws/threaded-client-worker.ts) rather than a worker
 * pool: a pool's cancellation ends the whole worker (with every other long poll in it), and a
 * client needs one long-lived worker with many calls in flight, not a task queue.
 */

/** An SDK command, as far as sending it needs: its input, and the output its handler resolves to. */
export interface SdkCommand<I, O> {
  readonly input: I;
  resolveMiddleware(stack: never, configuration: never, options: never): (args: { input: I }) => Promise<{ output: O }>;
}

export interface SendOptions {
  abortSignal?: AbortSignal;
  requestTimeout?: number;
}

/** What the relay's code needs of an SQS or SNS client: the SDK's own client and ThreadedClient both have it. */
export interface AwsSender<In extends object = object, Out extends object = object> {
  send<I extends In, O extends Out>(command: SdkCommand<I, O>, options?: SendOptions): Promise<O>;
  destroy(): void;
}

/** The plain client options that cross to the worker (no credentials: the worker's default chain finds them). */
export interface ThreadedClientOptions {
  region?: string;
  endpoint?: string;
  maxAttempts?: number;
}

/** A service the worker can build a client for: its package, client class and exports (commands, exception classes). */
export interface ThreadedService {
  packageName: '@aws-sdk/client-sqs' | '@aws-sdk/client-sns';
  clientName: 'SQSClient' | 'SNSClient';
  exports: Record<string, unknown>;
}

/** A call the worker could not complete because it failed, exited, or the client was destroyed. */
export class ThreadedClientError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ThreadedClientError';
  }
}

interface PlainError {
  name: string;
  message: string;
  stack?: string;
  props: Record<string, unknown>;
}

type Reply = { id: number; ok: true; output: unknown } | { id: number; ok: false; error: PlainError };

interface Pending {
  resolve(output: unknown): void;
  reject(err: unknown): void;
}

const require = createRequire(import.meta.url);

export class ThreadedClient<In extends object = object, Out extends object = object> implements AwsSender<In, Out> {
  private readonly modulePath: string;
  private worker: Worker | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private destroyed = false;
  /** Workers started so far (1 while the first one lives; more after a worker failed and was replaced). */
  workersStarted = 0;

  constructor(
    private readonly service: ThreadedService,
    private readonly options: ThreadedClientOptions = {},
  ) {
    this.modulePath = require.resolve(service.packageName);
  }

  /** The worker's thread id while one runs (for diagnostics and tests). */
  get threadId(): number | undefined {
    return this.worker?.threadId;
  }

  send<I extends In, O extends Out>(command: SdkCommand<I, O>, options: SendOptions = {}): Promise<O> {
    if (this.destroyed) return Promise.reject(new ThreadedClientError(`the ${this.service.clientName} was destroyed`));
    const name = (command as object).constructor.name;
    if (this.service.exports[name] !== command.constructor) return Promise.reject(new TypeError(`not a command of ${this.service.packageName}: ${name}`));
    const signal = options.abortSignal;
    if (signal?.aborted) return Promise.reject(abortError());
    const worker = this.ensureWorker();
    const id = this.nextId++;
    return new Promise<O>((resolve, reject) => {
      const onAbort = () => {
        if (!this.pending.has(id)) return;
        this.settle(id);
        worker.postMessage({ type: 'abort', id });
        reject(abortError());
      };
      this.pending.set(id, {
        resolve: (output) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(output as O);
        },
        reject: (err) => {
          signal?.removeEventListener('abort', onAbort);
          reject(err);
        },
      });
      signal?.addEventListener('abort', onAbort, { once: true });
      if (this.pending.size === 1) worker.ref();
      try {
        worker.postMessage({ type: 'call', id, command: name, input: command.input, ...(options.requestTimeout !== undefined ? { requestTimeout: options.requestTimeout } : {}) });
      } catch (err) {
        // the input does not survive a structured clone (a function, a stream)
        this.take(id)?.reject(new TypeError(`${name}: the input cannot be sent to the client's worker thread: ${(err as Error).message}`));
      }
    });
  }

  /** Ends the worker; calls in flight reject with a ThreadedClientError. Later calls reject too. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    const worker = this.worker;
    this.worker = undefined;
    this.rejectAll(new ThreadedClientError(`the ${this.service.clientName} was destroyed while the call was in flight`));
    if (worker) void worker.terminate();
  }

  private ensureWorker(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      name: `outbox ${this.service.clientName}`,
      workerData: { modulePath: this.modulePath, clientName: this.service.clientName, options: this.options },
    });
    worker.unref();
    let failure: Error | undefined;
    worker.on('message', (reply: Reply) => {
      const call = this.take(reply.id);
      if (!call) return; // aborted or rejected already
      if (reply.ok) call.resolve(reply.output);
      else call.reject(this.revive(reply.error));
    });
    worker.on('error', (err) => (failure = err));
    worker.on('messageerror', (err) => (failure = err));
    worker.on('exit', (code) => {
      if (this.worker !== worker) return; // destroyed, or already replaced
      this.worker = undefined;
      const why = failure ? `failed: ${failure.message}` : `exited (code ${code})`;
      this.rejectAll(new ThreadedClientError(`the ${this.service.clientName}'s worker thread ${why}; the call may or may not have reached AWS, and the next call starts a new worker`, failure ? { cause: failure } : {}));
    });
    this.worker = worker;
    this.workersStarted += 1;
    return worker;
  }

  /** Removes a call from the table (unref'ing the worker when it was the last one) and returns it. */
  private take(id: number): Pending | undefined {
    const call = this.pending.get(id);
    if (call) this.settle(id);
    return call;
  }

  private settle(id: number): void {
    this.pending.delete(id);
    if (this.pending.size === 0) this.worker?.unref();
  }

  private rejectAll(err: Error): void {
    const calls = [...this.pending.values()];
    this.pending.clear();
    for (const call of calls) call.reject(err);
  }

  /** The worker's error as the SDK would have thrown it: the service's exception class when it has one of that name. */
  private revive(plain: PlainError): Error {
    const base = this.service.exports[`${this.service.clientName.replace(/Client$/, '')}ServiceException`];
    const cls = this.service.exports[plain.name];
    const known = typeof cls === 'function' && typeof base === 'function' && (cls === base || (cls.prototype as object) instanceof base);
    const err = (known ? Object.create(cls.prototype as object) : new Error(plain.message)) as Error;
    Object.assign(err, plain.props);
    Object.defineProperty(err, 'name', { value: plain.name, writable: true, configurable: true, enumerable: known });
    Object.defineProperty(err, 'message', { value: plain.message, writable: true, configurable: true, enumerable: false });
    if (plain.stack !== undefined) Object.defineProperty(err, 'stack', { value: plain.stack, writable: true, configurable: true, enumerable: false });
    return err;
  }
}

/** The error the SDK's HTTP handler rejects an aborted request with. */
function abortError(): Error {
  const err = new Error('Request aborted');
  err.name = 'AbortError';
  return err;
}
