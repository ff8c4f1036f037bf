/**
 * `outbox console` in a real browser (Debian's chromium, driven by playwright-core): the pipeline
 * runs (PostgreSQL source → relay → SNS/SQS emulator → consumer → PostgreSQL target), the page shows a
 * change's commit → apply lag, a change the target rejects appears as a dead letter (code, table,
 * key, never its values), and after the cause is fixed the redrive button (with the token) empties
 * the DLQ. Everything the server sends the page — the HTML and each server-sent event — is checked
 * for secrets of the environment and row values. With OUTBOX_UPDATE_SCREENSHOT=1 its screenshot
 * replaces docs/console.png.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../src/config/index.js';
import { startConsole, type ConsoleState } from '../../src/console/index.js';
import { silentLogger } from '../../src/logger.js';
import { createMetrics } from '../../src/observability/metrics.js';
import { startObservabilityServer } from '../../src/observability/server.js';
import type { RelayProcess } from '../../src/relay/start.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { REDIS_URL } from '../helpers/env.js';
import { startEmulator, type Emulator } from '../helpers/fauxqs.js';
import { pipelineConfig, startTarget, useEmulatorCredentials, type RunningTarget } from '../helpers/pipeline.js';
import { ROOT } from '../helpers/cli.js';
import { createMigratedSource } from '../helpers/source.js';
import { waitFor } from '../helpers/wait.js';
import { startRelay } from '../../src/relay/start.js';

const CHROMIUM = '/usr/bin/chromium';
const TOKEN = `console-token-${randomBytes(12).toString('hex')}`;
const DB_PASSWORD = `db-password-${randomBytes(6).toString('hex')}`;
const AWS_SECRET = `aws-secret-${randomBytes(8).toString('hex')}`;
const GOOD_VALUE = `row-value-${randomBytes(6).toString('hex')}`;
const POISON_VALUE = `poison-${randomBytes(6).toString('hex')}`;
const SECRET_VALUE = `excluded-${randomBytes(6).toString('hex')}`;

type Source = Awaited<ReturnType<typeof createMigratedSource>>;
let source: Source;
let target: TestDatabase;
let emulator: Emulator;
let relay: RelayProcess;
let consumer: RunningTarget;
let consumerMetrics: Awaited<ReturnType<typeof startObservabilityServer>>;
let running: Awaited<ReturnType<typeof startConsole>>;
let browser: BrowserContext;
let page: Page;
let profile: string;
const payloads: string[] = [];
const stream = new AbortController();

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium; .ci/run does it through ensure_chromium in .ci/tools.sh)`);
  useEmulatorCredentials();
  process.env.AWS_SECRET_ACCESS_KEY = AWS_SECRET;
  process.env.OUTBOX_CONSOLE_TOKEN = TOKEN;
  [source, target, emulator] = await Promise.all([createMigratedSource(), createTestDatabase('outbox_e2e_console'), startEmulator()]);
  await source.db.pool.query('CREATE TABLE public.items (id int PRIMARY KEY, name text NOT NULL, secret text)');
  await target.pool.query("CREATE TABLE public.items (id int PRIMARY KEY, name text NOT NULL, CONSTRAINT no_poison CHECK (name NOT LIKE 'poison-%'))");
  await source.source.track({ table: { schema: 'public', table: 'items' }, exclude: ['secret'] });

  const sourceUrl = new URL(source.db.url);
  sourceUrl.password = DB_PASSWORD; // trust authentication ignores it; the page must not show it
  const config: Config = pipelineConfig(
    {
      source: { url: sourceUrl.toString(), schema: 'outbox', name: 'console-e2e' },
      redis: { urls: [REDIS_URL], keyPrefix: `e2e-console-${randomBytes(4).toString('hex')}`, commandTimeoutMs: 200 },
      relay: { lockTtlMs: 2_000, pollIntervalMs: 100 },
      publish: { topics: { default: { name: `e2e-console-${randomBytes(4).toString('hex')}` } } },
      aws: { region: 'us-east-1', endpoint: emulator.endpoint },
      targets: {
        shop: { kind: 'postgres', urlEnv: 'SHOP_URL', tables: ['public.items'], stateSchema: 'sync_state', queue: { waitTimeSec: 1, visibilityTimeoutSec: 10, maxReceiveCount: 5, batchSize: 10 } },
      },
      log: { level: 'silent' },
    },
    { SHOP_URL: target.url, AWS_SECRET_ACCESS_KEY: AWS_SECRET },
  );
  const metrics = createMetrics();
  consumer = await startTarget(config, 'shop', { metrics });
  consumerMetrics = await startObservabilityServer(0, metrics, consumer.consumer.health());
  relay = await startRelay({ config, logger: silentLogger, instanceId: 'console-relay', metricsPort: 0 });
  running = await startConsole({
    config,
    logger: silentLogger,
    source: () => Promise.resolve(source.source),
    host: '127.0.0.1',
    port: 0,
    allowActions: true,
    token: TOKEN,
    scrape: [`relay=http://127.0.0.1:${relay.port}/metrics`, `shop=http://127.0.0.1:${consumerMetrics.port}/metrics`],
    intervalMs: 1_000,
    historyMinutes: 5,
    ambientSecrets: [AWS_SECRET, TOKEN],
  });
  void recordEvents();

  profile = mkdtempSync(join(tmpdir(), 'outbox-console-chromium-'));
  browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    viewport: { width: 1280, height: 900 },
  });
  page = browser.pages()[0] ?? (await browser.newPage());
}, 90_000);

afterAll(async () => {
  stream.abort();
  await browser?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
  await running?.close();
  await relay?.close();
  await consumer?.stop();
  await consumerMetrics?.close();
  await Promise.all([source?.close(), target?.drop(), emulator?.stop()]);
  delete process.env.OUTBOX_CONSOLE_TOKEN;
});

/** Every server-sent event the console sends, as a second subscriber next to the page's own. */
async function recordEvents(): Promise<void> {
  try {
    const res = await fetch(`${running.url}api/events`, { signal: stream.signal });
    const decoder = new TextDecoder();
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) payloads.push(decoder.decode(chunk, { stream: true }));
  } catch {
    // aborted at the end
  }
}

async function state(): Promise<ConsoleState> {
  return (await (await fetch(`${running.url}api/state`)).json()) as ConsoleState;
}

/** fetch() does not let a caller set Host; node:http does. */
function statusWithHost(url: string, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    get(url, { headers: { host } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    }).on('error', reject);
  });
}

const shopCell = (cls: string) => page.locator(`tr[data-target="shop"] td.${cls}`);

describe('outbox console', () => {
  it('shows a change\'s lag and a dead letter, redrives it with the token, and never sends a secret or a row value', async () => {
    await page.goto(running.url);
    await page.locator('#connection.live').waitFor({ timeout: 15_000 });
    await page.fill('#token', TOKEN);
    await page.click('#token-submit');
    // the page builds its charts from one full state and then one point per series per tick
    const backlogPoints = async () => ((await page.locator('#chart-backlog polyline[data-series="backlog"]').getAttribute('points').catch(() => null)) ?? '').split(' ').filter(Boolean).length;
    const pointsAtStart = await backlogPoints();
    await waitFor(async () => (await backlogPoints()) >= pointsAtStart + 2, { what: 'the backlog chart growing by ticks', timeoutMs: 20_000 });

    await source.db.pool.query('INSERT INTO public.items (id, name, secret) VALUES (1, $1, $2)', [GOOD_VALUE, SECRET_VALUE]);
    await waitFor(async () => (await target.pool.query('SELECT 1 FROM public.items WHERE id = 1')).rowCount === 1, { what: 'the first change at the target', timeoutMs: 20_000 });
    await waitFor(async () => /\d s$/.test((await shopCell('lag').textContent()) ?? ''), { what: 'the lag on the page', timeoutMs: 20_000 });
    expect((await state()).targets[0]!.lagSeconds).toBeGreaterThan(0);

    await source.db.pool.query('INSERT INTO public.items (id, name, secret) VALUES (2, $1, $2)', [POISON_VALUE, SECRET_VALUE]);
    const letter = page.locator('[data-dlq="shop"] tr.dead-letter');
    await letter.first().waitFor({ timeout: 30_000 });
    const row = await letter.first().innerText();
    expect(row).toContain('TARGET_REJECTED');
    expect(row).toContain('public.items');
    expect(row).toContain('{"id":2}');
    expect(row).toContain('no_poison');
    await waitFor(async () => (await shopCell('dlq').textContent()) === '1', { what: 'DLQ depth 1 on the page' });
    // OUTBOX_UPDATE_SCREENSHOT=1 refreshes the README's picture; otherwise it goes to the throwaway profile folder
    await page.screenshot({ path: process.env.OUTBOX_UPDATE_SCREENSHOT ? join(ROOT, 'docs/console.png') : join(profile, 'console.png'), fullPage: true });

    // state-changing requests: POST only, and only with the token
    const redriveUrl = `${running.url}api/targets/shop/redrive`;
    expect((await fetch(redriveUrl)).status).toBe(405);
    expect((await fetch(redriveUrl, { method: 'POST' })).status).toBe(401);
    expect((await fetch(redriveUrl, { method: 'POST', headers: { authorization: 'Bearer wrong-token-wrong-token' } })).status).toBe(401);
    expect(await statusWithHost(`${running.url}api/state`, 'attacker.example')).toBe(421); // a DNS-rebound page sends its own name

    await target.pool.query('ALTER TABLE public.items DROP CONSTRAINT no_poison');
    await page.click('[data-dlq="shop"] button[data-action="redrive"]');
    await page.locator('[data-dlq="shop"] [data-testid="action"]', { hasText: 'redrive done: moved 1 message(s)' }).waitFor({ timeout: 20_000 });
    await waitFor(async () => (await shopCell('dlq').textContent()) === '0', { what: 'an empty DLQ on the page', timeoutMs: 20_000 });
    await page.locator('[data-dlq="shop"] .empty', { hasText: 'DLQ empty' }).waitFor();
    await waitFor(async () => (await target.pool.query('SELECT 1 FROM public.items WHERE id = 2')).rowCount === 1, { what: 'the redriven change at the target', timeoutMs: 20_000 });

    const events = payloads.join('').split('\n\n').filter((e) => e.startsWith('event: '));
    const ticks = events.filter((e) => e.startsWith('event: tick\n')).map((e) => JSON.parse(e.slice(e.indexOf('data: ') + 6)) as Record<string, unknown>);
    expect(ticks.length).toBeGreaterThan(2);
    for (const tick of ticks) {
      expect(tick).not.toHaveProperty('series');
      expect(Object.keys(tick.points as object)).toContain('backlog');
    }
    const seen = [await page.content(), ...payloads].join('\n');
    expect(payloads.join('').length).toBeGreaterThan(1000);
    for (const secret of [TOKEN, DB_PASSWORD, AWS_SECRET, target.url, GOOD_VALUE, POISON_VALUE, SECRET_VALUE]) expect(seen).not.toContain(secret);
  }, 60_000);
});
