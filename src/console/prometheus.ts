/**
 * Reads the relay's and consumers' /metrics (Prometheus text exposition format 0.0.4, as prom-client
 * writes it) into samples. Only sample lines matter to the console: `# HELP` / `# TYPE` lines are
 * skipped, and a histogram is its `_sum`, `_count` and `_bucket` samples like any other. (The npm
 * parser for this format drops the labels, sums and counts of histograms, which the lag needs.)
 */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const SAMPLE = /^([A-Za-z_:][A-Za-z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+-?\d+)?$/;
const LABEL = /([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?\s*/gy;

export function parseMetricsText(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const match = SAMPLE.exec(line);
    if (!match) continue;
    const labels: Record<string, string> = {};
    const body = match[2] ?? '';
    LABEL.lastIndex = 0;
    let consumed = 0;
    for (let m = LABEL.exec(body); m; m = LABEL.exec(body)) {
      labels[m[1]!] = m[2]!.replace(/\\(.)/g, (_all, c: string) => (c === 'n' ? '\n' : c));
      consumed = LABEL.lastIndex;
    }
    if (consumed !== body.length) continue; // not a sample line this reader understands
    const value = Number(match[3] === '+Inf' ? Infinity : match[3] === '-Inf' ? -Infinity : match[3]);
    if (Number.isNaN(value) && match[3] !== 'NaN') continue;
    samples.push({ name: match[1]!, labels, value });
  }
  return samples;
}

/** The samples of one metric whose labels include the given ones. */
export function select(samples: readonly Sample[], name: string, labels: Record<string, string> = {}): Sample[] {
  return samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
}

/** The sum of a metric over the matching samples; null when there is none. */
export function total(samples: readonly Sample[], name: string, labels: Record<string, string> = {}): number | null {
  const found = select(samples, name, labels);
  return found.length === 0 ? null : found.reduce((sum, s) => sum + s.value, 0);
}
