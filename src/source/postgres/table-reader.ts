import type pg from 'pg';
import type { RowImage } from '../../wire/envelope.js';
import type { Logger } from '../../logger.js';
import { runtimeSql } from '../../sql/files.js';
import { captureSettingsSql } from '../../wire/capture-settings.js';
import { quoteCatalogIdent, type TableName } from '../../sql/identifiers.js';
import type { RepairKey, SourceImage, SourceTableReader } from '../capabilities.js';
import { estimateRows } from './backfill-tracker.js';
import { emitRepairs } from './repair.js';
import { attributesImage, keyAfter, keyImage, keyIn, loadSnapshotTable, rowImage, type SnapshotTable } from './snapshot-sql.js';
import { quotedTable } from './track.js';

/** Session settings of the capture function: the images must be what a consumer receives (docs/encoding.md). */
const CAPTURE_SESSION_SQL = captureSettingsSql('session');

/**
 * Verify's reader of a PostgreSQL table: one session with the capture settings (taken on the first
 * read), reading the same images a snapshot event carries (snapshot-sql.ts) in key order; repair
 * writes through the pool.
 */
export async function openTableReader(pool: pg.Pool, schema: string, table: TableName): Promise<SourceTableReader> {
  return new PostgresTableReader(pool, schema, await loadSnapshotTable(pool, schema, table));
}

class PostgresTableReader implements SourceTableReader {
  readonly table: TableName;
  readonly keyColumns: string[];
  readonly attributeColumns: string[];
  private client: pg.PoolClient | undefined;

  constructor(
    private readonly pool: pg.Pool,
    private readonly schema: string,
    private readonly spec: SnapshotTable,
  ) {
    this.table = spec.table;
    this.keyColumns = spec.keyColumns.map((c) => c.name);
    this.attributeColumns = spec.attributes.map((c) => c.name);
  }

  async estimateRows(): Promise<number> {
    return estimateRows(await this.session(), quotedTable(this.spec.table));
  }

  async readChunk(after: RowImage | null, limit: number): Promise<SourceImage[]> {
    const sql = sourceSql(this.spec, after === null ? 'true' : keyAfter(this.spec, '$2'));
    return (await (await this.session()).query<SourceImage>(sql, after === null ? [limit] : [limit, JSON.stringify(after)])).rows;
  }

  async readKeys(keys: RowImage[]): Promise<SourceImage[]> {
    return (await (await this.session()).query<SourceImage>(sourceSql(this.spec, keyIn(this.spec, '$2')), [keys.length, JSON.stringify(keys)])).rows;
  }

  repair(keys: RepairKey[], logger: Logger) {
    return emitRepairs(this.pool, this.schema, this.spec, keys, logger);
  }

  close(discard = false): Promise<void> {
    this.client?.release(discard);
    this.client = undefined;
    return Promise.resolve();
  }

  private async session(): Promise<pg.PoolClient> {
    if (this.client) return this.client;
    const client = await this.pool.connect();
    try {
      await client.query(CAPTURE_SESSION_SQL);
    } catch (err) {
      client.release(true);
      throw err;
    }
    return (this.client = client);
  }
}

function sourceSql(spec: SnapshotTable, where: string): string {
  return runtimeSql('postgres', 'verify_source_chunk', {
    table: quotedTable(spec.table),
    key_image: keyImage(spec),
    image: rowImage(spec),
    attrs: attributesImage(spec),
    where,
    order: spec.keyColumns.map((c) => `n.${quoteCatalogIdent(c.name)}`).join(', '),
  });
}
