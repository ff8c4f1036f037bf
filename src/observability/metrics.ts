import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * One registry per process. Components create their metrics through it (every name starts with
 * outbox_), so tests can make a fresh registry each time. docs/operations.md ("Metrics") lists them.
 */
export interface Metrics {
  registry: Registry;
  counter(name: string, help: string, labelNames?: readonly string[]): Counter<string>;
  gauge(name: string, help: string, labelNames?: readonly string[]): Gauge<string>;
  histogram(name: string, help: string, buckets: number[], labelNames?: readonly string[]): Histogram<string>;
}

export interface MetricsOptions {
  /** Process and Node.js runtime metrics (memory, CPU, event loop, GC), named outbox_process_* and outbox_nodejs_*. */
  defaultMetrics?: boolean;
  /**
   * Labels on every series of this process. Processes set `source` (source.name), so alerts and
   * dashboards can tell the relays of two sources apart.
   */
  labels?: Record<string, string>;
}

export function createMetrics(options: MetricsOptions = {}): Metrics {
  const registry = new Registry();
  if (options.labels) registry.setDefaultLabels(options.labels);
  // prom-client's own names already start with process_ / nodejs_: the prefix makes them outbox_process_*.
  if (options.defaultMetrics) collectDefaultMetrics({ register: registry, prefix: 'outbox_' });
  const get = <T>(name: string, make: () => T): T => (registry.getSingleMetric(name) as T | undefined) ?? make();
  return {
    registry,
    counter: (name, help, labelNames = []) => get(name, () => new Counter({ name, help, labelNames, registers: [registry] })),
    gauge: (name, help, labelNames = []) => get(name, () => new Gauge({ name, help, labelNames, registers: [registry] })),
    histogram: (name, help, buckets, labelNames = []) => get(name, () => new Histogram({ name, help, buckets, labelNames, registers: [registry] })),
  };
}

/** Latency buckets in seconds, from 1 ms to 30 s. */
export const LATENCY_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
