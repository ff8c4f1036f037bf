import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createConsumerMetrics } from '../../src/consumer/metrics.js';
import { createMetrics } from '../../src/observability/metrics.js';
import { createPublisherMetrics } from '../../src/relay/publisher/metrics.js';
import { createRelayMetrics } from '../../src/relay/relay-metrics.js';
import { ROOT } from '../helpers/cli.js';

/** Every metric a relay or consumer process exposes, as Prometheus scrapes it. */
async function exposition(): Promise<string> {
  const metrics = createMetrics({ defaultMetrics: true, labels: { source: 'orders-db' } });
  createRelayMetrics(metrics);
  createPublisherMetrics(metrics);
  const consumer = createConsumerMetrics(metrics);
  consumer.applied.inc({ target: 'warehouse' });
  createRelayMetrics(metrics).leader.set(1);
  return metrics.registry.metrics();
}

describe('metrics', () => {
  it('every name starts with outbox_ once (no outbox_process_process_*), and the process metrics are there', async () => {
    const text = await exposition();
    const names = [...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]!);
    expect(names.filter((n) => !n.startsWith('outbox_'))).toEqual([]);
    expect(names.filter((n) => /outbox_(process|nodejs)_(process|nodejs)_/.test(n))).toEqual([]);
    expect(names).toEqual(expect.arrayContaining(['outbox_process_resident_memory_bytes', 'outbox_nodejs_heap_size_used_bytes', 'outbox_process_cpu_seconds_total']));
  });

  it('every series carries the source label', async () => {
    const series = (await exposition()).split('\n').filter((l) => l && !l.startsWith('#'));
    expect(series.filter((l) => !l.includes('source="orders-db"'))).toEqual([]);
  });

  it('one counter for what SNS acknowledged, one for what the cursor moved past; no duplicate publish-error counter', async () => {
    const text = await exposition();
    expect(text).toContain('# TYPE outbox_events_published_total counter');
    expect(text).toContain('# TYPE outbox_relay_events_advanced_total counter');
    expect(text).not.toMatch(/outbox_relay_events_published_total|outbox_relay_publish_errors_total|outbox_relay_publisher_available/);
  });

  it('each of our metrics has a full HELP sentence and is listed in docs/operations.md', async () => {
    const text = await exposition();
    const operations = readFileSync(join(ROOT, 'docs', 'operations.md'), 'utf8');
    const ours = [...text.matchAll(/^# HELP (outbox_\S+) (.*)$/gm)].filter((m) => !/^outbox_(process|nodejs)_/.test(m[1]!));
    expect(ours.length).toBeGreaterThan(25);
    for (const [, name, help] of ours) {
      expect(help, name).toMatch(/^[A-Z0-9].{30,}[.)]$/);
      expect(operations, `docs/operations.md does not list ${name}`).toContain(`\`${name}\``);
    }
  });
});
