/**
 * The number of leading events that are acknowledged. Events acknowledged after a gap do not count:
 * the relay re-reads them later and they are published again (at-least-once).
 */
export function acknowledgedPrefix(acknowledged: readonly boolean[]): number {
  const gap = acknowledged.indexOf(false);
  return gap === -1 ? acknowledged.length : gap;
}
