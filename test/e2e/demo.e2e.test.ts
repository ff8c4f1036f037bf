/**
 * `outbox demo` as a newcomer runs it: a subprocess against the local PostgreSQL and Redis, with the
 * SNS/SQS emulator started inside it. It must end with the target equal to the source, print the
 * summary, and remove everything it created; a source it cannot reach is a clear error.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, type CliRun } from '../helpers/cli.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { REDIS_URL } from '../helpers/env.js';

/** The environment is built from scratch, so a developer's AWS_ENDPOINT_URL or OUTBOX_* settings do not leak in. */
function demo(args: string[]): Promise<CliRun> {
  return runCli(['demo', ...args], { env: { OUTBOX_REDIS_URL: REDIS_URL }, timeoutMs: 90_000 });
}

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase('outbox_demo_e2e');
});
afterAll(async () => {
  await db?.drop();
});

describe('outbox demo', () => {
  it('runs the whole pipeline, ends with the target equal to the source, and removes what it created', async () => {
    const run = await demo(['--source-url', db.url, '--changes', '300', '--rate', '200']);
    expect(run.stderr).not.toMatch(/outbox: /);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    const out = run.stdout;
    for (const step of ['outbox migrate', 'outbox track', 'outbox subscribe', 'outbox target init', 'outbox backfill', 'outbox verify']) expect(out).toContain(`• ${step}`);
    expect(out).toContain('Summary: the target equals the source.');
    expect(out).toMatch(/changes\s+300 written \(.*key change.*\) → \d+ events, plus 600 backfilled rows/);
    const delivered = /delivered\s+(\d+) of (\d+) at the target; duplicates absorbed (\d+)/.exec(out);
    expect(delivered, out).not.toBeNull();
    expect(Number(delivered![1])).toBe(Number(delivered![2]));
    expect(Number(delivered![2])).toBeGreaterThan(900);
    expect(out).toMatch(/lag\s+p50 \d+(\.\d)? m?s, p99 \d+(\.\d)? m?s/);
    expect(out.match(/verify\s+demo_\w+\.(customers|orders) → demo_\w+_copy\.\1: \d+ rows, in sync/g)).toHaveLength(2);
    expect(out).toContain('removed');

    const runId = /outbox migrate: schema outbox_demo_([0-9a-f]+)/.exec(out)![1]!;
    const schemas = await db.pool.query(`SELECT nspname FROM pg_namespace WHERE nspname LIKE $1`, [`%demo_${runId}%`]);
    expect(schemas.rows).toEqual([]);
    const databases = await db.pool.query(`SELECT datname FROM pg_database WHERE datname = $1`, [`outbox_demo_target_${runId}`]);
    expect(databases.rows).toEqual([]);
  });

  it('says clearly when the source cannot be reached, and exits 1', async () => {
    const run = await demo(['--source-url', 'postgres://postgres@127.0.0.1:1/nowhere', '--changes', '10']);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('Cannot connect to the source PostgreSQL at 127.0.0.1:1/nowhere');
    expect(run.stderr).toContain('--source-url');
  });

  it('refuses a bad option with exit 2', async () => {
    const run = await demo(['--changes', '0']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('--changes must be a whole number from 1 to 1000000');
  });
});
