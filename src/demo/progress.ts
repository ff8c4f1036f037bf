import cliProgress from 'cli-progress';

/**
 * The demo's live view: changes written to the source vs changes applied at the target, and the lag
 * of the latest applied batch. A bar on a terminal; a plain line every few seconds otherwise.
 */
export interface SyncSnapshot {
  written: number;
  applied: number;
  lagMs: number | null;
}

export interface SyncProgress {
  update(snapshot: SyncSnapshot): void;
  stop(): void;
}

export function formatLag(ms: number | null): string {
  if (ms === null) return '-';
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}

export function createSyncProgress(options: { stream: NodeJS.WriteStream; printLine: (line: string) => void; intervalMs?: number }): SyncProgress {
  let last: SyncSnapshot = { written: 0, applied: 0, lagMs: null };
  if (options.stream.isTTY) {
    const bar = new cliProgress.SingleBar(
      { format: 'sync [{bar}] {value}/{total} changes applied | lag {lag} | {duration_formatted}', stream: options.stream, hideCursor: true, clearOnComplete: false, fps: 5 },
      cliProgress.Presets.shades_classic,
    );
    bar.start(1, 0, { lag: '-' });
    return {
      update(s) {
        last = s;
        bar.setTotal(Math.max(s.written, s.applied, 1));
        bar.update(s.applied, { lag: formatLag(s.lagMs) });
      },
      stop() {
        bar.stop();
      },
    };
  }
  const interval = options.intervalMs ?? 2000;
  let lastLine = 0;
  const line = () => options.printLine(`sync: ${last.applied}/${last.written} changes applied, lag ${formatLag(last.lagMs)}`);
  return {
    update(s) {
      last = s;
      if (Date.now() - lastLine >= interval) {
        lastLine = Date.now();
        line();
      }
    },
    stop: line,
  };
}
