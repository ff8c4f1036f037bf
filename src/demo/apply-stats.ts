import { canonicalJson } from '../wire/envelope.js';
import type { ApplyOutcome, TargetChange, TargetWriter } from '../targets/index.js';

/**
 * What the demo's target saw, counted at the writer: each change the consumer applied (or skipped as
 * stale), by seq and key. One that comes back is a duplicate the version guard absorbed (SNS/SQS deliver at
 * least once); a stale first arrival is an older version overtaken by a newer one. The lag of a live
 * change is from its capture in the source (the trigger's clock) to its commit at the target.
 */
export class ApplyStats {
  readonly seen = new Set<string>();
  duplicates = 0;
  superseded = 0;
  rejected = 0;
  /** Lags of live changes (not backfill snapshots), in ms. */
  readonly lagsMs: number[] = [];
  /** The largest lag of the latest applied batch of live changes. */
  currentLagMs: number | null = null;

  /** A writer that applies through `inner` and counts what came back. */
  wrap(inner: TargetWriter): TargetWriter {
    return {
      kind: inner.kind,
      init: (options) => inner.init(options),
      close: () => inner.close(),
      apply: async (changes: TargetChange[]) => {
        const outcomes = await inner.apply(changes);
        this.record(changes, outcomes, Date.now());
        return outcomes;
      },
    };
  }

  private record(changes: TargetChange[], outcomes: ApplyOutcome[], now: number): void {
    let batchLag: number | null = null;
    changes.forEach((change, i) => {
      const outcome = outcomes[i];
      if (outcome?.status === 'rejected') {
        this.rejected += 1;
        return;
      }
      // A key change is two changes with one seq (delete of the old key, insert of the new one); the
      // two messages of a share move have the same key: seq and key tell changes apart.
      const id = `${change.seq}/${canonicalJson(change.key)}`;
      if (this.seen.has(id)) {
        this.duplicates += 1;
        return;
      }
      this.seen.add(id);
      if (outcome?.status === 'stale') this.superseded += 1;
      if (change.op === 'snapshot') return;
      const lag = Math.max(0, now - Date.parse(change.time));
      this.lagsMs.push(lag);
      batchLag = Math.max(batchLag ?? 0, lag);
    });
    if (batchLag !== null) this.currentLagMs = batchLag;
  }

  /** Changes that reached the target once (applied, or skipped as overtaken). */
  get delivered(): number {
    return this.seen.size;
  }

  percentile(p: number): number | null {
    if (this.lagsMs.length === 0) return null;
    const sorted = [...this.lagsMs].sort((a, b) => a - b);
    return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
  }
}
