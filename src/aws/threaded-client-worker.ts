/**
 * The worker thread's side of src/aws/threaded-client.ts, as the source the worker evaluates.
 *
 * It is a string rather than a module file so the worker starts the same way from the source (tsx,
 * vitest), the build (dist/) and a bundle of the CLI: nothing has to find a file next to this one.
 * It runs as a CommonJS script or as a module (a parent started with --input-type=module), so it
 * uses neither `require` nor top-level await directly.
 * The worker loads the SDK package the main thread resolved (workerData.modulePath, CommonJS), builds
 * one client from plain options (region, endpoint, maxAttempts: credentials come from the SDK's
 * default chain inside the worker), without the SDK's logger middleware, and serves one message protocol on its parent port:
 *
 *   main → worker   { type: 'call', id, command, input, abortable, requestTimeout? }   run `new sdk[command](input)`
 *                   { type: 'abort', id }                                  abort that call only
 *   worker → main   { id, ok: true, output }                               the command's output
 *                   { id, ok: false, error: { name, message, stack, props } }
 *
 * An error's own properties ($fault, $metadata, Code, …) travel when they survive a structured clone;
 * `$response` (the raw HTTP response, with a stream) never does. The worker writes no logs.
 */
export const WORKER_SOURCE = String.raw`
(async () => {
'use strict';
const { parentPort, workerData } = await import('node:worker_threads');
const { createRequire } = await import('node:module');
const sdk = createRequire(workerData.modulePath)(workerData.modulePath);
const Client = sdk[workerData.clientName];
const client = new Client(workerData.options);
// as src/aws/clients.ts does for the clients on the main thread (withoutSdkLogging)
client.middlewareStack.remove('loggerMiddleware');
const calls = new Map();

function cloneable(value) {
  try {
    structuredClone(value);
    return true;
  } catch {
    return false;
  }
}

function plainError(err) {
  if (err === null || typeof err !== 'object') return { name: 'Error', message: String(err), props: {} };
  const props = {};
  for (const key of Object.keys(err)) {
    if (key === '$response' || key === 'name' || key === 'message' || key === 'stack') continue;
    if (cloneable(err[key])) props[key] = err[key];
  }
  return { name: String(err.name ?? 'Error'), message: String(err.message ?? ''), stack: typeof err.stack === 'string' ? err.stack : undefined, props };
}

function reply(id, message) {
  try {
    parentPort.postMessage({ id, ...message });
  } catch (err) {
    parentPort.postMessage({ id, ok: false, error: plainError(new Error('the reply could not be sent to the main thread: ' + (err && err.message))) });
  }
}

async function call(message) {
  const Command = sdk[message.command];
  if (typeof message.command !== 'string' || !message.command.endsWith('Command') || typeof Command !== 'function') {
    reply(message.id, { ok: false, error: plainError(new TypeError('not a command of ' + workerData.clientName + ': ' + message.command)) });
    return;
  }
  // a signal only for a call the caller can abort (the SDK's handler then listens to it)
  const controller = message.abortable ? new AbortController() : undefined;
  if (controller) calls.set(message.id, controller);
  try {
    const options = controller ? { abortSignal: controller.signal } : {};
    if (message.requestTimeout !== undefined) options.requestTimeout = message.requestTimeout;
    const output = await client.send(new Command(message.input), options);
    reply(message.id, { ok: true, output });
  } catch (err) {
    reply(message.id, { ok: false, error: plainError(err) });
  } finally {
    calls.delete(message.id);
  }
}

parentPort.on('message', (message) => {
  if (message.type === 'abort') calls.get(message.id)?.abort();
  else if (message.type === 'call') void call(message);
});
})();
`;
