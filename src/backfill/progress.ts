import cliProgress from 'cli-progress';

/**
 * Progress of long work (backfill, verify) for people: a bar with count, rate and ETA on a terminal,
 * a plain line every few seconds otherwise (logs, CI). The caller says where lines go.
 */
export interface ProgressReporter {
  update(done: number, total?: number | null): void;
  stop(): void;
}

export interface ProgressOptions {
  label: string;
  unit: string;
  total: number | null;
  initial?: number;
  /** The terminal stream for the bar; when it is not a TTY, plain lines go through printLine. */
  stream: NodeJS.WriteStream;
  printLine: (line: string) => void;
  /** Plain mode: at most one line per interval. */
  intervalMs?: number;
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  if (seconds < 90) return `${Math.round(seconds)}s`;
  if (seconds < 5400) return `${Math.round(seconds / 60)}m`;
  return `${(seconds / 3600).toFixed(1)}h`;
}

export function createProgress(options: ProgressOptions): ProgressReporter {
  const startedAt = Date.now();
  const initial = options.initial ?? 0;
  let total = options.total;
  let done = initial;
  const rate = () => {
    const secs = (Date.now() - startedAt) / 1000;
    return secs > 0 ? (done - initial) / secs : 0;
  };
  const eta = () => {
    const r = rate();
    return total !== null && r > 0 ? formatDuration(Math.max(0, total - done) / r) : '?';
  };

  if (options.stream.isTTY) {
    const bar = new cliProgress.SingleBar(
      {
        format: `${options.label} [{bar}] {percentage}% | {value}/{total} ${options.unit} | {rate} ${options.unit}/s | ETA {etaText}`,
        stream: options.stream,
        hideCursor: true,
        clearOnComplete: false,
        fps: 5,
      },
      cliProgress.Presets.shades_classic,
    );
    bar.start(Math.max(total ?? done, done, 1), done, { rate: '0', etaText: '?' });
    return {
      update(value, newTotal) {
        done = value;
        if (newTotal !== undefined) total = newTotal;
        bar.setTotal(Math.max(total ?? done, done, 1));
        bar.update(done, { rate: Math.round(rate()).toString(), etaText: eta() });
      },
      stop() {
        bar.update(done, { rate: Math.round(rate()).toString(), etaText: '0s' });
        bar.stop();
      },
    };
  }

  const interval = options.intervalMs ?? 2000;
  let lastLine = 0;
  const line = () => {
    const pct = total ? ` (${Math.min(100, Math.floor((done / Math.max(total, done)) * 100))}%)` : '';
    options.printLine(`${options.label}: ${done}${total !== null ? `/${Math.max(total, done)}` : ''} ${options.unit}${pct}, ${Math.round(rate())} ${options.unit}/s, ETA ${eta()}`);
  };
  return {
    update(value, newTotal) {
      done = value;
      if (newTotal !== undefined) total = newTotal;
      if (Date.now() - lastLine >= interval) {
        lastLine = Date.now();
        line();
      }
    },
    stop() {
      line();
    },
  };
}
