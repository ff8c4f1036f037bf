/**
 * Where a command's output goes. Standard output holds the result only: text for people, or with
 * --json exactly one JSON document. Everything else — progress, notes, warnings, logs — goes to
 * standard error, so `outbox … --json | jq` always reads clean JSON.
 */
export function print(line = ''): void {
  process.stdout.write(`${line}\n`);
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v), 2)}\n`);
}

/** A line for the person at the terminal that is not the result: progress, "stopping…", hints. */
export function note(line: string): void {
  process.stderr.write(`${line}\n`);
}

export function printError(message: string): void {
  process.stderr.write(`outbox: ${message}\n`);
}

/** The stream progress bars draw on. */
export const progressStream: NodeJS.WriteStream = process.stderr;

export function splitList(value: string | undefined): string[] {
  return (value ?? '').split(',').map((s) => s.trim()).filter(Boolean);
}

export function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd()).join('\n');
}
