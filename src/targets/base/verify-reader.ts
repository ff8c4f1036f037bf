import type { RowImage } from '../../wire/envelope.js';

/** What verify needs to know about one mapped target table. Column names are target names. */
export interface TargetTableSpec {
  /** Target table as the mapping names it ("schema.table" or "table"). */
  table: string;
  /** Target key columns, in the source primary key's order. */
  keyColumns: string[];
  /** Columns the transformed rows carry (the ones compared). */
  columns: string[];
  /** Source attribute columns and their target names (for the message attributes of repair deletes). */
  attributeColumns: { source: string; target: string }[];
}

/** A key range (after < key <= upTo; a missing bound is open) or a list of keys, as target key images. */
export type KeyFilter = { after: RowImage | null; upTo: RowImage | null } | { keys: RowImage[] };

export interface ChunkDigest {
  sourceCount: number;
  targetCount: number;
  /** Counts and hashes agree. */
  equal: boolean;
}

export interface Divergence {
  kind: 'missing' | 'extra' | 'different';
  /** Target key image. */
  key: RowImage;
  /** Differing column names (different only). */
  columns: string[];
  /** Attribute column texts of the target row (extra only), keyed by source column name. */
  attributes: Record<string, string> | null;
}

/** Reads one target table for verify; each database kind has one (src/targets/<kind>/verify-reader.ts), opened through its folder's index.ts. */
export interface TargetReader {
  readonly comparedColumns: string[];
  /** Counts and hashes of the transformed source rows of a range and of the target's rows in it. */
  digest(rows: RowImage[], filter: KeyFilter): Promise<ChunkDigest>;
  /** The keys that differ between the transformed source rows and the target's rows matching the filter. */
  diff(rows: RowImage[], filter: KeyFilter): Promise<Divergence[]>;
  close(): Promise<void>;
}
