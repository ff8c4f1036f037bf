import { cpus, loadavg } from 'node:os';

/** The machine's load, printed with every figure: on shared cores it moves figures more than anything. */
export function machineLoad(): string {
  return `load average ${loadavg().map((l) => l.toFixed(1)).join(' ')} on ${cpus().length} CPUs`;
}

/** "0.93× baseline (goal ≥ 0.9: met)" */
export function ratioLine(value: number, baseline: number, goal?: { atLeast?: number; atMost?: number }): string {
  const ratio = value / baseline;
  let judged = '';
  if (goal?.atLeast !== undefined) judged = ` (goal ≥ ${goal.atLeast}: ${ratio >= goal.atLeast ? 'met' : 'MISSED'})`;
  if (goal?.atMost !== undefined) judged = ` (goal ≤ ${goal.atMost}: ${ratio <= goal.atMost ? 'met' : 'MISSED'})`;
  return `${ratio.toFixed(2)}×${judged}`;
}

/**
 * Runs a bench's main and exits: with process.exitCode (0 unless main set it) when it resolves, 1
 * after printing the error when it fails (`onError` first, e.g. to kill child processes). The exit
 * ends handles a failed run may have left open.
 */
export function runBench(main: () => Promise<void>, onError?: () => void): void {
  main().then(
    () => process.exit(process.exitCode ?? 0),
    (err: unknown) => {
      console.error(err);
      onError?.();
      process.exit(1);
    },
  );
}
