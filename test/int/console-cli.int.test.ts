/**
 * `outbox console` as a user runs it: a subprocess, its exit codes for bad access options, and a
 * console on a non-loopback address whose data needs the token (a session cookie for the page's
 * event stream) while its actions stay off without --allow-actions.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, spawnCli, type CliChild } from '../helpers/cli.js';
import { createMigratedSource } from '../helpers/source.js';
import { waitFor } from '../helpers/wait.js';

const TOKEN = 'int-console-token-0123456789';
let source: Awaited<ReturnType<typeof createMigratedSource>>;
let child: CliChild | undefined;

beforeAll(async () => {
  source = await createMigratedSource();
});

afterAll(async () => {
  if (child && child.process.exitCode === null) {
    child.process.kill('SIGKILL');
    await child.exited;
  }
  await source?.close();
});

describe('outbox console (CLI)', () => {
  it('exits 2 with a message that names OUTBOX_CONSOLE_TOKEN when actions or a non-loopback host lack it', async () => {
    const env = { OUTBOX_SOURCE_URL: source.db.url };
    const runs = await Promise.all([
      runCli(['console', '--port', '0', '--allow-actions'], { env }),
      runCli(['console', '--port', '0', '--host', '0.0.0.0'], { env }),
      runCli(['console', '--port', '0', '--allow-actions'], { env: { ...env, OUTBOX_CONSOLE_TOKEN: 'short' } }),
      runCli(['console', '--port', '0', '--scrape', 'nosuch=http://127.0.0.1:1/metrics'], { env }),
    ]);
    expect(runs.map((r) => r.code)).toEqual([2, 2, 2, 2]);
    expect(runs[0]!.stderr).toMatch(/--allow-actions lets the page redrive and verify: set OUTBOX_CONSOLE_TOKEN/);
    expect(runs[1]!.stderr).toMatch(/--host 0\.0\.0\.0 is reachable from other machines: set OUTBOX_CONSOLE_TOKEN/);
    expect(runs[2]!.stderr).toMatch(/OUTBOX_CONSOLE_TOKEN is 5 characters long/);
    expect(runs[3]!.stderr).toMatch(/"nosuch" is neither relay nor a target/);
  });

  it('on a non-loopback host serves data only with the token, and refuses actions without --allow-actions', async () => {
    child = await spawnCli(['console', '--port', '0', '--host', '0.0.0.0', '--interval', '1'], { env: { OUTBOX_SOURCE_URL: source.db.url, OUTBOX_CONSOLE_TOKEN: TOKEN } });
    const port = await waitFor(() => /Console on http:\/\/[^:]+:(\d+)\//.exec(child!.output().stderr)?.[1], { what: 'the console to listen', timeoutMs: 30_000 });
    const base = `http://127.0.0.1:${port}`;

    const page = await fetch(`${base}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(await page.text()).toContain('outbox console');
    expect((await fetch(`${base}/api/state`)).status).toBe(401);
    expect((await fetch(`${base}/api/events`)).status).toBe(401);
    expect((await fetch(`${base}/api/session`, { method: 'POST', headers: { authorization: 'Bearer not-the-token-at-all' } })).status).toBe(401);

    const session = await fetch(`${base}/api/session`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` } });
    expect(session.status).toBe(204);
    const cookie = session.headers.get('set-cookie')!;
    expect(cookie).toMatch(/HttpOnly; SameSite=Strict/);
    expect(cookie).not.toContain(TOKEN);
    const state = await fetch(`${base}/api/state`, { headers: { cookie: cookie.split(';')[0]! } });
    expect(state.status).toBe(200);
    expect(await state.json()).toMatchObject({ actions: false, source: { schema: 'outbox', schemaVersion: { pending: 0 }, leader: { id: null } } });

    const action = await fetch(`${base}/api/targets/anything/redrive`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` } });
    expect(action.status).toBe(403);
    expect(await action.text()).toContain('--allow-actions');

    child.process.kill('SIGTERM');
    expect(await child.exited).toBe(0);
  });
});
