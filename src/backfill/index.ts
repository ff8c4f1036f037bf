import type { BackfillRequest, BackfillResult } from '../source/capabilities.js';
import type { SourceAdapter } from '../source/types.js';

export { DEFAULT_BATCH_SIZE, type BackfillProgress, type BackfillRequest, type BackfillResult } from '../source/capabilities.js';

export interface BackfillOptions extends BackfillRequest {
  /** The source whose tracked table is backfilled; its dialect writes the snapshot events. */
  source: SourceAdapter;
}

/**
 * Initial full sync of a tracked table: snapshot events for every row in resumable keyset batches,
 * recorded in the source's backfill tracker (docs/backfill.md). The dialect's adapter does the work
 * (backfill.ts in its folder under src/source); a dialect without it fails with NOT_SUPPORTED.
 */
export function runBackfill({ source, ...request }: BackfillOptions): Promise<BackfillResult> {
  return source.backfill(request);
}
