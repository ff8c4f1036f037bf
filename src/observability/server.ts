import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Metrics } from './metrics.js';

export interface HealthChecks {
  /** The process is alive and its loop is not wedged. */
  live(): boolean;
  /** The process does what it is for (a relay: knows whether it leads; a consumer: can reach its queue). */
  ready(): boolean;
}

/** Where the metrics server listens when nothing says otherwise: this machine only (the container image sets 0.0.0.0). */
export const DEFAULT_METRICS_HOST = '127.0.0.1';

/** Serves /metrics (Prometheus), /healthz and /readyz on the given host and port (0 picks a free port). */
export async function startObservabilityServer(
  port: number,
  metrics: Metrics,
  health: HealthChecks,
  host = DEFAULT_METRICS_HOST,
): Promise<{ server: Server; host: string; port: number; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/metrics') {
      metrics.registry.metrics().then(
        (body) => {
          res.writeHead(200, { 'content-type': metrics.registry.contentType });
          res.end(body);
        },
        (err: Error) => {
          res.writeHead(500);
          res.end(err.message);
        },
      );
      return;
    }
    if (path === '/healthz' || path === '/readyz') {
      const ok = path === '/healthz' ? health.live() : health.ready();
      res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' });
      res.end(ok ? 'ok\n' : 'not ready\n');
      return;
    }
    res.writeHead(404);
    res.end();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return {
    server,
    host,
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
