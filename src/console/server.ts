import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isOutboxError } from '../errors.js';
import type { Logger } from '../logger.js';
import { PACKAGE_ROOT } from '../sql/files.js';
import { SESSION_COOKIE, bearerToken, cookieValue, hostHeaderAllowed, sessionValue, tokenMatches } from './access.js';
import { ActionBusyError, startAction, type ActionDeps, type ActionKind } from './actions.js';
import type { Collector, ConsoleState } from './collect.js';
import { redactPayload } from './redact.js';
import { latestPoints } from './series.js';

/**
 * The console's HTTP server (node:http): the page's three static files, the state as JSON and as a
 * server-sent event stream, and the actions. Routes:
 *   GET  /                 the page (index.html, app.js, app.css; they hold no data)
 *   GET  /api/state        the latest state (JSON)
 *   GET  /api/events       the state on every refresh (text/event-stream, event "state")
 *   POST /api/session      `Authorization: Bearer <token>` → a session cookie for the two above (non-loopback consoles)
 *   POST /api/targets/<name>/redrive | /verify   with `Authorization: Bearer <token>`; only with --allow-actions
 * Every payload goes through redactPayload. Nothing state-changing answers a GET.
 */
export interface ConsoleServerOptions {
  host: string;
  port: number;
  token: string | undefined;
  viewNeedsToken: boolean;
  allowActions: boolean;
  collector: Collector;
  actions: ActionDeps;
  /** Secret values scrubbed from every payload (redact.ts knownSecrets). */
  secrets: readonly string[];
  logger: Logger;
}

export interface ConsoleServer {
  server: Server;
  host: string;
  port: number;
  url: string;
  close(): Promise<void>;
}

/**
 * The page's files: next to this module (the build copies them into dist/console/static), else in
 * the package's src/console/static (running from source, or from a bundle of it).
 */
const STATIC_DIR = [fileURLToPath(new URL('./static/', import.meta.url)), join(PACKAGE_ROOT, 'src/console/static')].find((dir) => existsSync(join(dir, 'index.html'))) ?? join(PACKAGE_ROOT, 'src/console/static');
const STATIC_FILES: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/app.css': { file: 'app.css', type: 'text/css; charset=utf-8' },
};

const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};

const ACTION_ROUTE = /^\/api\/targets\/([A-Za-z0-9_-]{1,80})\/(redrive|verify)$/;

export async function startConsoleServer(options: ConsoleServerOptions): Promise<ConsoleServer> {
  const streams = new Set<ServerResponse>();
  const payload = (value: unknown) => redactPayload(JSON.stringify(value), options.secrets);
  // A new stream gets the whole state once (`state`); every refresh after that is a `tick`: the same
  // state with only the newest point of each chart series, which the page appends to its window.
  const onState = (state: ConsoleState) => {
    const { series, ...rest } = state;
    const data = `event: tick\ndata: ${payload({ ...rest, points: latestPoints(series) })}\n\n`;
    for (const res of streams) res.write(data);
  };
  options.collector.on('state', onState);

  const send = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    res.writeHead(status, { ...SECURITY_HEADERS, 'content-type': 'application/json; charset=utf-8', ...headers });
    res.end(payload(body));
  };
  const mayView = (req: IncomingMessage) => {
    if (!options.viewNeedsToken) return true;
    const cookie = cookieValue(req.headers.cookie, SESSION_COOKIE);
    return tokenMatches(options.token, bearerToken(req.headers.authorization)) || (options.token !== undefined && tokenMatches(sessionValue(options.token), cookie));
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    if (!hostHeaderAllowed(options.host, req.headers.host)) return send(res, 421, { error: 'this console answers to localhost and loopback addresses only' });
    const path = new URL(req.url ?? '/', 'http://console').pathname;
    const method = req.method ?? 'GET';
    const file = STATIC_FILES[path];
    if (file) {
      if (method !== 'GET' && method !== 'HEAD') return send(res, 405, { error: `${method} is not allowed here` }, { allow: 'GET' });
      res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': file.type });
      res.end(method === 'HEAD' ? undefined : await readFile(join(STATIC_DIR, file.file)));
      return;
    }
    if (path === '/api/state' || path === '/api/events') {
      if (method !== 'GET') return send(res, 405, { error: `${method} is not allowed here` }, { allow: 'GET' });
      if (!mayView(req)) return send(res, 401, { error: 'this console needs its token: enter OUTBOX_CONSOLE_TOKEN on the page' });
      if (path === '/api/state') return send(res, 200, options.collector.state() ?? (await options.collector.refresh()));
      res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': 'text/event-stream; charset=utf-8', connection: 'keep-alive' });
      res.write(`retry: ${Math.max(1_000, options.collector.state()?.intervalMs ?? 2_000)}\n\n`);
      const latest = options.collector.state();
      if (latest) res.write(`event: state\ndata: ${payload(latest)}\n\n`);
      streams.add(res);
      req.on('close', () => streams.delete(res));
      return;
    }
    if (path === '/api/session') {
      if (method !== 'POST') return send(res, 405, { error: 'POST with Authorization: Bearer <token>' }, { allow: 'POST' });
      if (!options.token || !tokenMatches(options.token, bearerToken(req.headers.authorization))) return send(res, 401, { error: 'wrong or missing token' });
      res.writeHead(204, { ...SECURITY_HEADERS, 'set-cookie': `${SESSION_COOKIE}=${sessionValue(options.token)}; HttpOnly; SameSite=Strict; Path=/api` });
      res.end();
      return;
    }
    const action = ACTION_ROUTE.exec(path);
    if (action) {
      if (method !== 'POST') return send(res, 405, { error: 'actions are POST requests with Authorization: Bearer <token>' }, { allow: 'POST' });
      if (!options.allowActions) return send(res, 403, { error: 'actions are off: start the console with --allow-actions (and OUTBOX_CONSOLE_TOKEN)' });
      if (!tokenMatches(options.token, bearerToken(req.headers.authorization))) return send(res, 401, { error: 'wrong or missing token (Authorization: Bearer <OUTBOX_CONSOLE_TOKEN>)' });
      const [, target, kind] = action as unknown as [string, string, ActionKind];
      try {
        const done = startAction(options.actions, target, kind);
        void done.catch(() => undefined);
        return send(res, 202, { target, action: kind, state: 'running' });
      } catch (err) {
        if (err instanceof ActionBusyError) return send(res, 409, { error: err.message });
        if (isOutboxError(err, 'TARGET_NOT_FOUND')) return send(res, 404, { error: err.message });
        throw err;
      }
    }
    return send(res, 404, { error: 'not found' });
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      options.logger.warn({ err: err instanceof Error ? err.message : String(err), path: req.url }, 'console request failed');
      if (!res.headersSent) send(res, 500, { error: 'internal error; the console log has it' });
      else res.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  const shown = address.address.includes(':') ? `[${address.address}]` : address.address;
  return {
    server,
    host: address.address,
    port: address.port,
    url: `http://${shown}:${address.port}/`,
    close: async () => {
      options.collector.off('state', onState);
      for (const res of streams) res.end();
      streams.clear();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
