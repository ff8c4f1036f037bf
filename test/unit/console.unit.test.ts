import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/index.js';
import { describeDeadLetter } from '../../src/consumer/index.js';
import { bearerToken, checkConsoleAccess, cookieValue, hostHeaderAllowed, isLoopbackHost, sessionValue, tokenMatches } from '../../src/console/access.js';
import { FigureTracker, breakerState } from '../../src/console/figures.js';
import { parseMetricsText, total } from '../../src/console/prometheus.js';
import { deadLetterView, knownSecrets, maskReason, redactPayload } from '../../src/console/redact.js';
import { scrapeEndpoints } from '../../src/console/scrape.js';
import { Series, SeriesSet, latestPoints, seriesCapacity } from '../../src/console/series.js';
import { isOutboxError } from '../../src/errors.js';

const TOKEN = 'a-long-enough-console-token';

function usageError(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(isOutboxError(err, 'USAGE_INVALID')).toBe(true);
    return (err as Error).message;
  }
  throw new Error('expected a USAGE_INVALID error');
}

describe('console access', () => {
  it('tells loopback addresses from the others', () => {
    for (const host of ['127.0.0.1', '127.1.2.3', 'localhost', '::1', '[::1]', '::ffff:127.0.0.1']) expect(isLoopbackHost(host), host).toBe(true);
    for (const host of ['0.0.0.0', '::', '10.0.0.5', 'console.example.com', '128.0.0.1', '::2']) expect(isLoopbackHost(host), host).toBe(false);
  });

  it('needs the token for actions and for a non-loopback host, and says what to set', () => {
    expect(checkConsoleAccess({ host: '127.0.0.1', allowActions: false, token: undefined })).toEqual({ viewNeedsToken: false });
    expect(usageError(() => checkConsoleAccess({ host: '127.0.0.1', allowActions: true, token: undefined }))).toMatch(/--allow-actions .*OUTBOX_CONSOLE_TOKEN/);
    expect(usageError(() => checkConsoleAccess({ host: '0.0.0.0', allowActions: false, token: '' }))).toMatch(/--host 0\.0\.0\.0 is reachable from other machines: set OUTBOX_CONSOLE_TOKEN.*leave the console on 127\.0\.0\.1\.$/);
    expect(usageError(() => checkConsoleAccess({ host: '0.0.0.0', allowActions: true, token: 'short' }))).toMatch(/is 5 characters long; give it at least 16/);
    expect(checkConsoleAccess({ host: '127.0.0.1', allowActions: true, token: TOKEN })).toEqual({ viewNeedsToken: false });
    expect(checkConsoleAccess({ host: '0.0.0.0', allowActions: false, token: TOKEN })).toEqual({ viewNeedsToken: true });
  });

  it('compares tokens exactly, whatever their lengths', () => {
    expect(tokenMatches(TOKEN, TOKEN)).toBe(true);
    expect(tokenMatches(TOKEN, `${TOKEN}x`)).toBe(false);
    expect(tokenMatches(TOKEN, TOKEN.slice(0, -1))).toBe(false);
    expect(tokenMatches(TOKEN, '')).toBe(false);
    expect(tokenMatches(TOKEN, undefined)).toBe(false);
    expect(tokenMatches(undefined, 'anything')).toBe(false);
    expect(tokenMatches('', '')).toBe(false);
  });

  it('reads the bearer token and the session cookie; the cookie never holds the token', () => {
    expect(bearerToken(`Bearer ${TOKEN}`)).toBe(TOKEN);
    expect(bearerToken(`bearer  ${TOKEN} `)).toBe(TOKEN);
    expect(bearerToken(`Basic ${TOKEN}`)).toBeUndefined();
    expect(bearerToken(undefined)).toBeUndefined();
    expect(cookieValue('a=1; outbox_console_session=abc%3D; b=2', 'outbox_console_session')).toBe('abc=');
    expect(cookieValue('a=1', 'outbox_console_session')).toBeUndefined();
    expect(sessionValue(TOKEN)).not.toContain(TOKEN);
    expect(sessionValue(TOKEN)).toBe(sessionValue(TOKEN));
    expect(sessionValue(TOKEN)).not.toBe(sessionValue(`${TOKEN}2`));
  });

  it('on loopback answers only requests addressed to a loopback name (no DNS rebinding)', () => {
    expect(hostHeaderAllowed('127.0.0.1', '127.0.0.1:8080')).toBe(true);
    expect(hostHeaderAllowed('127.0.0.1', 'localhost:8080')).toBe(true);
    expect(hostHeaderAllowed('127.0.0.1', '[::1]:8080')).toBe(true);
    expect(hostHeaderAllowed('127.0.0.1', 'attacker.example:8080')).toBe(false);
    expect(hostHeaderAllowed('127.0.0.1', undefined)).toBe(false);
    expect(hostHeaderAllowed('0.0.0.0', 'console.example.com')).toBe(true);
  });
});

describe('console series', () => {
  it('keeps the newest points up to its capacity, oldest first', () => {
    const s = new Series(3);
    for (let i = 1; i <= 5; i++) s.push(i * 1000, i === 4 ? null : i);
    expect(s.values()).toEqual([
      { t: 3000, v: 3 },
      { t: 4000, v: null },
      { t: 5000, v: 5 },
    ]);
    expect(s.length).toBe(3);
    expect(() => new Series(0)).toThrow(RangeError);
  });

  it('sizes the window from minutes and interval, and drops series no longer wanted', () => {
    expect(seriesCapacity(15, 2000)).toBe(450);
    expect(seriesCapacity(1, 7000)).toBe(9);
    const set = new SeriesSet(2);
    set.push('backlog', 1, 10);
    set.push('lag:a', 1, 0.5);
    set.push('backlog', 2, 11);
    set.push('backlog', 3, 12);
    set.retain(new Set(['backlog']));
    expect(set.toJSON()).toEqual({ backlog: [{ t: 2, v: 11 }, { t: 3, v: 12 }] });
  });

  it('a tick carries only the newest point of each series', () => {
    expect(latestPoints({ backlog: [{ t: 1, v: 3 }, { t: 2, v: null }], 'lag:a': [{ t: 2, v: 0.4 }], empty: [] })).toEqual({ backlog: { t: 2, v: null }, 'lag:a': { t: 2, v: 0.4 } });
  });
});

describe('console metrics reading', () => {
  const text = (published: number, lagSum: number, lagCount: number) => `# HELP outbox_events_published_total Events SNS acknowledged
# TYPE outbox_events_published_total counter
outbox_events_published_total{topic="a",source="shop"} ${published}
outbox_events_published_total{topic="b",source="shop"} 1
outbox_relay_leader{source="shop"} 1
outbox_relay_epoch{source="shop"} 7
outbox_publish_breaker_state 2
outbox_consumer_commit_to_apply_seconds_bucket{le="+Inf",target="w"} ${lagCount}
outbox_consumer_commit_to_apply_seconds_sum{target="w"} ${lagSum}
outbox_consumer_commit_to_apply_seconds_count{target="w"} ${lagCount}
outbox_consumer_breaker_state{target="w"} 1
outbox_consumer_halted{target="w"} 0
weird_label{note="a \\"quoted\\" \\\\ value\\nnext"} NaN
not a sample line
`;

  it('parses sample lines with escaped labels and special values', () => {
    const samples = parseMetricsText(text(3, 1.5, 3));
    expect(total(samples, 'outbox_events_published_total')).toBe(4);
    expect(total(samples, 'outbox_events_published_total', { topic: 'a' })).toBe(3);
    expect(total(samples, 'missing_metric')).toBeNull();
    expect(samples.find((s) => s.name === 'weird_label')?.labels.note).toBe('a "quoted" \\ value\nnext');
    expect(samples.find((s) => s.name === 'outbox_consumer_commit_to_apply_seconds_bucket')?.value).toBe(3);
    expect(samples.filter((s) => s.name === 'not')).toEqual([]);
  });

  it('turns two scrapes into rates and the mean lag of the interval; a process that has not counted yet counts 0', () => {
    const tracker = new FigureTracker();
    expect(tracker.relay('r', parseMetricsText(text(3, 0, 0)), 1_000)).toEqual({ leader: true, epoch: 7, publishRate: null, breaker: 'open' });
    expect(tracker.relay('r', parseMetricsText(text(13, 0, 0)), 3_000).publishRate).toBe(5);
    expect(tracker.consumer('c', 'w', parseMetricsText(''), 1_000).lagSeconds).toBeNull();
    const figures = tracker.consumer('c', 'w', parseMetricsText(text(0, 3, 2)), 2_000);
    expect(figures).toMatchObject({ lagSeconds: 1.5, breaker: 'half-open', halted: false });
    // a restart resets the counters: no figure for that interval
    expect(tracker.consumer('c', 'w', parseMetricsText(text(0, 0.5, 1)), 3_000).lagSeconds).toBeNull();
    expect([breakerState(0), breakerState(1), breakerState(2), breakerState(null)]).toEqual(['closed', 'half-open', 'open', null]);
  });
});

describe('console payload redaction', () => {
  it('masks quoted values in reasons and keeps quoted identifiers', () => {
    expect(maskReason(`Incorrect integer value: 'abc' for column "tenant_id" at row 1`)).toBe(`Incorrect integer value: '…' for column "tenant_id" at row 1`);
    expect(maskReason('value "jane@example.com" is not allowed')).toBe('value "…" is not allowed');
    expect(maskReason("Duplicate entry 'it''s' for key 'PRIMARY'")).toBe("Duplicate entry '…' for key '…'");
    expect(maskReason('bad row\nDETAIL: Failing row contains (1, secret).')).toBe('bad row\nDETAIL: …');
    expect(maskReason('x'.repeat(400))).toHaveLength(301);
  });

  it('shows a dead letter as code, reason, table, key and time: no body, no attribute values', () => {
    const body = JSON.stringify({ id: 'e1', type: 'outbox.change', time: '2026-01-01T00:00:00Z', subject: 'public.t/{"id":7}', data: { schema: 'public', table: 't', op: 'update', seq: '42', key: { id: 7 }, after: { id: 7, name: 'row value' } } });
    const record = describeDeadLetter(
      {
        MessageId: 'm1',
        Body: body,
        MessageAttributes: { tenant_id: { DataType: 'String', StringValue: 'tenant-secret' }, outbox_error_code: { DataType: 'String', StringValue: 'TARGET_REJECTED' }, outbox_error_reason: { DataType: 'String', StringValue: "value 'row value' rejected" } },
        Attributes: { SentTimestamp: '1767225600000' },
      },
      500,
    );
    const view = deadLetterView(record);
    expect(view).toEqual({ messageId: 'm1', code: 'TARGET_REJECTED', reason: "value '…' rejected", table: 'public.t', op: 'update', seq: '42', key: { id: 7 }, time: '2026-01-01T00:00:00Z' });
    expect(JSON.stringify(view)).not.toMatch(/row value|tenant-secret/);
    const bySqs = deadLetterView(describeDeadLetter({ MessageId: 'm2', Body: 'not json' }));
    expect(bySqs).toMatchObject({ code: null, table: null, key: null });
    expect(bySqs.reason).toMatch(/moved by SQS after maxReceiveCount/);
  });

  it('scrubs every known secret and URL credentials from a payload', () => {
    const config = parseConfig(
      { source: { url: 'postgres://app:s3cret-password@db.internal:5432/shop' }, targets: { w: { kind: 'http', urlEnv: 'HOOK_URL', tables: ['public.t'], http: { secretEnv: 'HOOK_SECRET' } }, gone: { kind: 'postgres', urlEnv: 'UNSET_URL', tables: ['public.t'] } } },
      { HOOK_URL: 'https://hooks.example/in?key=abcdef123456', HOOK_SECRET: 'signing-secret-1' },
      'test',
    );
    const secrets = knownSecrets(config, ['aws-secret-value', 'pw']);
    expect(secrets).toEqual(expect.arrayContaining(['aws-secret-value', 'postgres://app:s3cret-password@db.internal:5432/shop', 's3cret-password', 'https://hooks.example/in?key=abcdef123456', 'signing-secret-1']));
    expect(secrets).not.toContain('pw');
    const payload = JSON.stringify({ error: 'connect to postgres://app:s3cret-password@db.internal:5432/shop failed', other: 'mysql://root:hunter2@h/db', s: 'aws-secret-value "signing-secret-1"' });
    const out = redactPayload(payload, secrets);
    expect(out).not.toMatch(/s3cret-password|hunter2|aws-secret-value|signing-secret-1/);
    expect(JSON.parse(out)).toEqual({ error: 'connect to [redacted] failed', other: 'mysql://root:***@h/db', s: '[redacted] "[redacted]"' });
  });
});

describe('console scrape endpoints', () => {
  const config = parseConfig({ source: { url: 'postgres://x@h/db' }, relay: { metricsPort: 9464 }, metrics: { host: '0.0.0.0' }, targets: { w: { kind: 'postgres', urlEnv: 'U', tables: ['public.t'], metricsPort: 9465 } } }, {}, 'test');

  it('reads the ports of the config (0.0.0.0 as this machine) and adds --scrape endpoints', () => {
    expect(scrapeEndpoints(config, ['relay=http://user:pw@10.0.0.2:9464', 'w=http://127.0.0.1:9466/metrics'])).toEqual([
      { role: 'relay', url: 'http://127.0.0.1:9464/metrics', label: '127.0.0.1:9464' },
      { role: 'consumer', target: 'w', url: 'http://127.0.0.1:9465/metrics', label: '127.0.0.1:9465' },
      { role: 'relay', url: 'http://user:pw@10.0.0.2:9464/metrics', label: '10.0.0.2:9464' },
      { role: 'consumer', target: 'w', url: 'http://127.0.0.1:9466/metrics', label: '127.0.0.1:9466' },
    ]);
  });

  it('refuses a bad --scrape with a message that names the option', () => {
    expect(usageError(() => scrapeEndpoints(config, ['http://127.0.0.1:1']))).toMatch(/--scrape takes relay=URL or <target>=URL/);
    expect(usageError(() => scrapeEndpoints(config, ['relay=ftp://h/x']))).toMatch(/--scrape takes/);
    expect(usageError(() => scrapeEndpoints(config, ['nosuch=http://h:1']))).toMatch(/"nosuch" is neither relay nor a target of the config \(targets: w\)/);
  });
});
