/**
 * The console's chart data: a fixed number of (time, value) points per series, oldest dropped first,
 * kept in memory only. Capacity is the history window divided by the sample interval, so a console
 * that runs for weeks holds the same few kilobytes.
 */
export interface Point {
  /** Unix time in milliseconds. */
  t: number;
  /** null: no figure at that time (the source or a scrape could not be read). */
  v: number | null;
}

export class Series {
  private readonly points: Point[] = [];

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`a series holds at least one point (got ${capacity})`);
  }

  push(t: number, v: number | null): void {
    this.points.push({ t, v });
    if (this.points.length > this.capacity) this.points.splice(0, this.points.length - this.capacity);
  }

  /** The points, oldest first. */
  values(): Point[] {
    return this.points.slice();
  }

  get length(): number {
    return this.points.length;
  }
}

/** Named series that all keep the same window (one per chart line: "backlog", "lag:warehouse", …). */
export class SeriesSet {
  private readonly series = new Map<string, Series>();

  constructor(readonly capacity: number) {}

  push(name: string, t: number, v: number | null): void {
    let s = this.series.get(name);
    if (!s) this.series.set(name, (s = new Series(this.capacity)));
    s.push(t, v);
  }

  /** Drops the series whose names are not in keep (a target removed from the config). */
  retain(keep: ReadonlySet<string>): void {
    for (const name of this.series.keys()) if (!keep.has(name)) this.series.delete(name);
  }

  toJSON(): Record<string, Point[]> {
    return Object.fromEntries([...this.series].map(([name, s]) => [name, s.values()]));
  }
}

/** How many points a window of historyMinutes holds at one point per intervalMs. */
export function seriesCapacity(historyMinutes: number, intervalMs: number): number {
  return Math.max(1, Math.ceil((historyMinutes * 60_000) / intervalMs));
}

/**
 * The newest point of each series: what a live page appends between two full states, so a tick over
 * server-sent events carries one point per chart line instead of the whole window.
 */
export function latestPoints(series: Record<string, Point[]>): Record<string, Point> {
  const latest: Record<string, Point> = {};
  for (const [name, points] of Object.entries(series)) {
    const point = points.at(-1);
    if (point) latest[name] = point;
  }
  return latest;
}
