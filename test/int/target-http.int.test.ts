import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { targetSchema } from '../../src/config/index.js';
import { OutboxError } from '../../src/errors.js';
import { silentLogger } from '../../src/logger.js';
import { createTargetWriter, type TargetChange } from '../../src/targets/index.js';

/** The webhook target against a local node:http server that verifies signatures like a receiver would. */
const SECRET = 'webhook-secret';

interface Received {
  method: string;
  headers: IncomingMessage['headers'];
  body: string;
  signatureValid: boolean;
}

let server: Server;
let url: string;
const received: Received[] = [];
let respond: (req: IncomingMessage, res: ServerResponse) => void = (_req, res) => res.writeHead(204).end();

function verify(body: string, header: string | undefined): boolean {
  const expected = Buffer.from(`sha256=${createHmac('sha256', SECRET).update(body).digest('hex')}`);
  const given = Buffer.from(header ?? '');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      received.push({ method: req.method ?? '', headers: req.headers, body, signatureValid: verify(body, req.headers['x-outbox-signature'] as string | undefined) });
      respond(req, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

beforeEach(() => {
  received.length = 0;
  respond = (_req, res) => res.writeHead(204).end();
});

// The timeout is an upper bound: an answer on a loaded machine can take a while, so only the test of
// an endpoint that never answers uses a short one.
const targetWithTimeout = (timeoutMs: number) => targetSchema.parse({ kind: 'http', urlEnv: 'HOOK_URL', tables: ['public.items'], http: { secretEnv: 'HOOK_SECRET', timeoutMs, headers: { 'x-tenant': 'acme' } } });
const target = targetWithTimeout(30_000);
const writer = (t = target) => createTargetWriter('hook', t, { url, httpSecret: SECRET }, silentLogger);

function change(seq: number, op: TargetChange['op'] = 'update'): TargetChange {
  return { messageId: `m${seq}`, eventId: `src:${seq}`, sourceTable: 'public.items', table: 'public.items', op, seq: String(seq), key: { id: '1' }, row: op === 'delete' ? null : { id: '1', name: 'Ann ✓' }, time: '2024-03-05T10:11:12.000Z' };
}

describe('HTTP webhook target', () => {
  it('POSTs the change signed, with an idempotency key, a timestamp and the configured headers; 2xx is applied', async () => {
    const w = writer();
    expect(await w.apply([change(1), change(2, 'delete')])).toEqual([{ status: 'applied' }, { status: 'applied' }]);
    expect(received).toHaveLength(2);
    const [first, second] = received;
    expect(first!.method).toBe('POST');
    expect(first!.signatureValid).toBe(true);
    expect(second!.signatureValid).toBe(true);
    expect(first!.headers['idempotency-key']).toBe('src:1');
    expect(first!.headers['content-type']).toBe('application/json');
    expect(first!.headers['x-tenant']).toBe('acme');
    expect(Math.abs(Number(first!.headers['x-outbox-timestamp']) - Date.now() / 1000)).toBeLessThan(60);
    expect(JSON.parse(first!.body)).toEqual({ eventId: 'src:1', sourceTable: 'public.items', table: 'public.items', op: 'update', seq: '1', time: '2024-03-05T10:11:12.000Z', key: { id: '1' }, row: { id: '1', name: 'Ann ✓' } });
    expect(JSON.parse(second!.body)).toMatchObject({ op: 'delete', row: null });
    // a signature over a different body does not verify
    expect(verify(first!.body.replace('Ann', 'Bob'), first!.headers['x-outbox-signature'] as string)).toBe(false);
    await w.close();
  });

  it('4xx rejects the change with the status; the rest of the batch goes on', async () => {
    respond = (req, res) => res.writeHead(req.headers['idempotency-key'] === 'src:2' ? 422 : 200).end('{}');
    const outcomes = await writer().apply([change(1), change(2), change(3)]);
    expect(outcomes[0]).toEqual({ status: 'applied' });
    expect(outcomes[1]).toEqual({ status: 'rejected', reason: expect.stringContaining('HTTP 422') });
    expect(outcomes[2]).toEqual({ status: 'applied' });
  });

  it('5xx, 429 and timeouts throw retryable errors', async () => {
    for (const status of [500, 503, 429]) {
      respond = (_req, res) => res.writeHead(status).end();
      const err = await writer().apply([change(1)]).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(OutboxError);
      expect((err as OutboxError).retryable).toBe(true);
      expect((err as Error).message).toContain(`HTTP ${status}`);
    }
    respond = () => undefined; // never answers
    const started = Date.now();
    const err = await writer(targetWithTimeout(300)).apply([change(1)]).catch((e: unknown) => e);
    expect((err as OutboxError).retryable).toBe(true);
    expect((err as Error).message).toMatch(/no answer within 300 ms/);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('a connection error throws retryable; init reports an unreachable endpoint', async () => {
    const w = createTargetWriter('hook', target, { url: 'http://127.0.0.1:1/hook', httpSecret: SECRET }, silentLogger);
    const err = await w.apply([change(1)]).catch((e: unknown) => e);
    expect((err as OutboxError).retryable).toBe(true);
    expect((err as OutboxError).code).toBe('TARGET_UNAVAILABLE');
    expect(await w.init()).toEqual([expect.stringContaining('is not reachable')]);
    respond = (_req, res) => res.writeHead(405).end();
    expect(await writer().init()).toEqual([]);
  });
});

describe('HTTP webhook target and schema changes', () => {
  const schemaChange: TargetChange = {
    ...change(30),
    eventId: 'src:30:schema',
    op: 'schema',
    key: null,
    row: null,
    schemaChange: {
      dialect: 'postgres',
      items: [
        { kind: 'add_column', column: 'card', type: { dialect: 'postgres', type: 'integer', output: 'text' }, nullable: true },
        { kind: 'rename_column', from: 'name', column: 'full_name' },
        { kind: 'refuse', change: { kind: 'rename_table', from: 'public.items', to: 'public.goods' }, reason: 'keyed by the source name' },
      ],
    },
  };

  it('forwards a schema change under apply (op schema, in the target names), and acknowledges it unsent under ignore', async () => {
    expect(await writer().apply([schemaChange])).toEqual([{ status: 'applied' }]);
    expect(received).toHaveLength(1);
    expect(received[0]!.signatureValid).toBe(true);
    expect(JSON.parse(received[0]!.body)).toEqual({
      eventId: 'src:30:schema', sourceTable: 'public.items', table: 'public.items', op: 'schema', seq: '30', time: '2024-03-05T10:11:12.000Z', key: null, row: null,
      schemaChange: { dialect: 'postgres', changes: [{ kind: 'add_column', column: 'card', type: 'integer', as: 'text', nullable: true }, { kind: 'rename_column', from: 'name', column: 'full_name' }, { kind: 'rename_table', from: 'public.items', to: 'public.goods' }] },
    });
    received.length = 0;
    const ignoring = createTargetWriter('hook', { ...target, schemaChanges: 'ignore' }, { url, httpSecret: SECRET }, silentLogger);
    expect(await ignoring.apply([schemaChange, change(31)])).toEqual([{ status: 'applied' }, { status: 'applied' }]);
    expect(received.map((r) => JSON.parse(r.body).op)).toEqual(['update']);
  });
});
