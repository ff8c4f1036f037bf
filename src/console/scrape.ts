import type { Config } from '../config/index.js';
import { OutboxError, describeError } from '../errors.js';
import { parseMetricsText, type Sample } from './prometheus.js';

/**
 * Where the console reads live relay and consumer figures: their /metrics endpoints. By default
 * those the config names (relay.metricsPort, targets.<name>.metricsPort on metrics.host, with
 * 0.0.0.0 read as this machine); `--scrape relay=URL` and `--scrape <target>=URL` add others (a
 * second relay instance on another port or machine, a consumer in a container).
 */
export interface ScrapeEndpoint {
  role: 'relay' | 'consumer';
  /** The target a consumer endpoint serves. */
  target?: string;
  url: string;
  /** host:port, for the page (never the URL's user or password). */
  label: string;
}

const ANY_ADDRESS = new Set(['0.0.0.0', '::', '[::]']);

function endpoint(role: ScrapeEndpoint['role'], url: URL, target?: string): ScrapeEndpoint {
  return { role, url: url.toString(), label: url.host, ...(target ? { target } : {}) };
}

function configured(host: string, port: number): URL {
  const name = ANY_ADDRESS.has(host) ? '127.0.0.1' : host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  return new URL(`http://${name}:${port}/metrics`);
}

/** The endpoints from the config and --scrape options; a bad option is a USAGE_INVALID error (exit 2). */
export function scrapeEndpoints(config: Config, options: readonly string[]): ScrapeEndpoint[] {
  const out: ScrapeEndpoint[] = [];
  if (config.relay.metricsPort) out.push(endpoint('relay', configured(config.metrics.host, config.relay.metricsPort)));
  for (const [name, target] of Object.entries(config.targets)) {
    if (target.metricsPort) out.push(endpoint('consumer', configured(config.metrics.host, target.metricsPort), name));
  }
  for (const option of options) {
    const eq = option.indexOf('=');
    const who = eq > 0 ? option.slice(0, eq) : '';
    let url: URL | undefined;
    try {
      url = new URL(option.slice(eq + 1));
    } catch {
      url = undefined;
    }
    if (!who || !url || !/^https?:$/.test(url.protocol)) {
      throw new OutboxError('USAGE_INVALID', `--scrape takes relay=URL or <target>=URL, such as relay=http://127.0.0.1:9464/metrics (got ${JSON.stringify(option)}).`, { context: { option: '--scrape' } });
    }
    if (who !== 'relay' && !(who in config.targets)) {
      throw new OutboxError('USAGE_INVALID', `--scrape ${who}=…: "${who}" is neither relay nor a target of the config (targets: ${Object.keys(config.targets).join(', ') || 'none'}).`, { context: { option: '--scrape' } });
    }
    if (url.pathname === '/') url.pathname = '/metrics';
    const added = endpoint(who === 'relay' ? 'relay' : 'consumer', url, who === 'relay' ? undefined : who);
    if (!out.some((e) => e.url === added.url && e.target === added.target)) out.push(added);
  }
  return out;
}

export type ScrapeResult = { ok: true; samples: Sample[]; at: number } | { ok: false; error: string; at: number };

/** Reads one endpoint; an unreachable or slow one is an error result, never a throw. */
export async function scrape(target: ScrapeEndpoint, timeoutMs: number, signal?: AbortSignal): Promise<ScrapeResult> {
  const at = Date.now();
  try {
    const timeout = AbortSignal.timeout(timeoutMs);
    const response = await fetch(target.url, { signal: signal ? AbortSignal.any([signal, timeout]) : timeout, headers: { accept: 'text/plain' } });
    if (!response.ok) return { ok: false, error: `HTTP ${response.status} from ${target.label}`, at };
    return { ok: true, samples: parseMetricsText(await response.text()), at };
  } catch (err) {
    const cause = (err as { cause?: unknown }).cause;
    return { ok: false, error: `${target.label} unreachable: ${describeError(cause ?? err)}`, at };
  }
}
