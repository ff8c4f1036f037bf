import type pg from 'pg';
import { tableMappingSchema, type TargetConfig, type TargetSecrets } from '../config/index.js';
import { canonicalJson, type ChangeData, type RowImage } from '../envelope.js';
import { OutboxError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../observability/metrics.js';
import { runtimeSql } from '../sql/files.js';
import { formatTableName, parseTableName, type TableName } from '../sql/identifiers.js';
import { quotedTable } from '../source/postgres/track.js';
import { buildTransformer, compileTablePlan, type Transformer } from '../targets/transform/index.js';
import { keyAfter, keyImage, keyIn, loadSnapshotTable, rowImage, type SnapshotTable } from '../backfill/snapshot-sql.js';
import { estimateRows } from '../backfill/tracker.js';
import { emitRepairs, type RepairKey, type RepairResult } from './repair.js';
import { assertVerifiable, openTargetReader, type VerifiableKind } from './target-reader.js';
import type { Divergence, KeyFilter, TargetReader, TargetTableSpec } from './types.js';

/**
 * Verify compares a source table, after the target's transform, with the target table, chunk by
 * chunk along the source key: for each chunk the counts and hashes of both sides (by the target's
 * reader: target-postgres.ts computes them in the target database, typed by the target table;
 * target-mysql.ts from canonical texts of both sides); a chunk that differs is narrowed down to keys. The
 * keys found are checked once more by key (this removes false reports from changes that were in
 * flight and from key ranges that collate differently at the target), then reported, and with
 * repair re-emitted into the outbox (repair.ts).
 */
export interface VerifyOptions {
  pool: pg.Pool;
  /** Outbox schema (unquoted). */
  schema: string;
  targetName: string;
  target: TargetConfig;
  secrets: TargetSecrets;
  /** Only this source table (must be one of the target's tables). */
  table?: TableName;
  chunkSize?: number;
  /** Keys shown per kind of divergence. */
  sampleSize?: number;
  repair?: boolean;
  logger: Logger;
  metrics?: Metrics;
  onProgress?: (p: VerifyProgress) => void;
}

export interface VerifyProgress {
  table: string;
  rowsDone: number;
  rowsEstimate: number;
}

export interface KeyReport {
  count: number;
  /** Target key images. */
  sample: RowImage[];
}

export interface TableReport {
  sourceTable: string;
  targetTable: string;
  sourceRows: number;
  chunks: number;
  mismatchedChunks: number;
  missing: KeyReport;
  extra: KeyReport;
  different: KeyReport & { columns: Record<string, number> };
  repair: RepairResult | null;
}

export interface VerifyReport {
  target: string;
  tables: TableReport[];
  drift: boolean;
  elapsedMs: number;
}

export const DEFAULT_CHUNK_SIZE = 1000;

export async function runVerify(options: VerifyOptions): Promise<VerifyReport> {
  const started = Date.now();
  const tables = options.table ? [formatTableName(options.table)] : options.target.tables;
  if (options.table && !options.target.tables.includes(tables[0]!)) {
    throw new OutboxError('CONFIG_INVALID', `Target "${options.targetName}" does not sync ${tables[0]}; its tables are ${options.target.tables.join(', ')}.`, { context: { target: options.targetName } });
  }
  const kind = options.target.kind;
  assertVerifiable(options.targetName, kind);
  const reports: TableReport[] = [];
  for (const name of tables) reports.push(await verifyTable(options, kind, parseTableName(name)));
  const drift = reports.some((r) => r.missing.count + r.extra.count + r.different.count > 0);
  return { target: options.targetName, tables: reports, drift, elapsedMs: Date.now() - started };
}

async function verifyTable(options: VerifyOptions, kind: VerifiableKind, table: TableName): Promise<TableReport> {
  const name = formatTableName(table);
  const log = options.logger.child({ component: 'verify', target: options.targetName, table: name });
  const spec = await loadSnapshotTable(options.pool, options.schema, table);
  const keyNames = spec.keyColumns.map((c) => c.name);
  const transform = buildTransformer(options.targetName, options.target, options.secrets, { keyColumns: { [name]: keyNames } });
  const { plan } = compileTablePlan({ targetName: options.targetName, sourceTable: name, mapping: options.target.mapping[name] ?? tableMappingSchema.parse({}), target: options.target, secrets: options.secrets, keyColumns: keyNames });
  const targetKey = new Map<string, string>();
  for (const k of keyNames) {
    const rule = plan.rules.get(k);
    if (rule?.convert || rule?.protect) {
      throw new OutboxError('VERIFY_UNSUPPORTED', `Key column "${k}" of ${name} is converted or protected by target "${options.targetName}"'s mapping, so source and target keys cannot be matched.`, { context: { table: name } });
    }
    targetKey.set(k, rule?.target ?? k);
  }
  const sourceKeyOf = (tKey: RowImage): RowImage => Object.fromEntries(keyNames.map((k) => [k, tKey[targetKey.get(k)!]]));

  const source = await options.pool.connect();
  let reader: TargetReader | undefined;
  let released = false;
  try {
    // Session settings of the capture function: the images must be what a consumer receives.
    await source.query("SET TimeZone = 'UTC'; SET IntervalStyle = 'iso_8601'; SET bytea_output = 'hex'; SET extra_float_digits = 1");
    const estimate = await estimateRows(source, quotedTable(table));
    const chunkSize = options.chunkSize ?? DEFAULT_CHUNK_SIZE;
    const found: Divergence[] = [];
    let chunks = 0;
    let mismatched = 0;
    let rowsDone = 0;
    let cursor: RowImage | null = null;
    let after: RowImage | null = null;
    for (;;) {
      const images = await readChunk(source, spec, cursor, chunkSize);
      const changes = images.map((img) => transformRow(transform, spec, img));
      if (!reader) {
        const columns = changes[0] ? Object.keys(changes[0].row) : [...targetKey.values()];
        const ttSpec: TargetTableSpec = {
          table: plan.targetTable,
          keyColumns: keyNames.map((k) => targetKey.get(k)!),
          columns,
          attributeColumns: spec.attributes.map((a) => ({ source: a.name, target: plan.rules.get(a.name)?.target ?? a.name })).filter((a) => !plan.excluded.has(a.source)),
        };
        reader = await openTargetReader(kind, options.secrets.url, ttSpec, log);
      }
      const last = images.length === chunkSize;
      const upTo = last ? changes.at(-1)!.key : null;
      const filter: KeyFilter = { after, upTo };
      const rows = changes.map((c) => c.row);
      const digest = await reader.digest(rows, filter);
      chunks += 1;
      if (!digest.equal) {
        mismatched += 1;
        found.push(...(await reader.diff(rows, filter)));
      }
      rowsDone += images.length;
      options.onProgress?.({ table: name, rowsDone, rowsEstimate: Math.max(estimate, rowsDone) });
      if (!last) break;
      cursor = images.at(-1)!.key;
      after = upTo;
    }

    // Second look, by key: what is still divergent now is reported.
    const confirmed: Divergence[] = [];
    for (let i = 0; i < found.length; i += chunkSize) {
      const keys = found.slice(i, i + chunkSize).map((d) => d.key);
      const images = await readKeys(source, spec, keys.map(sourceKeyOf));
      const rows = images.map((img) => transformRow(transform, spec, img).row);
      confirmed.push(...(await reader.diff(rows, { keys })));
    }
    const unique = new Map(confirmed.map((d) => [canonicalJson(d.key), d]));
    const divergent = [...unique.values()];
    source.release();
    released = true;

    const report = summarize(name, plan.targetTable, rowsDone, chunks, mismatched, divergent, options.sampleSize ?? 10);
    const gauge = options.metrics?.gauge('outbox_verify_divergent_keys', 'Keys that differ between source and target at the last verify', ['target', 'table', 'kind']);
    for (const kind of ['missing', 'extra', 'different'] as const) gauge?.set({ target: options.targetName, table: name, kind }, report[kind].count);
    log.info({ rows: rowsDone, chunks, mismatchedChunks: mismatched, missing: report.missing.count, extra: report.extra.count, different: report.different.count }, 'verify done');

    if (options.repair && divergent.length > 0) {
      const keys: RepairKey[] = divergent.map((d) => ({ key: sourceKeyOf(d.key), attributes: d.kind === 'extra' ? d.attributes : null }));
      report.repair = await emitRepairs(options.pool, options.schema, spec, keys, log);
      log.info({ ...report.repair }, 'repair events written to the outbox');
    }
    return report;
  } finally {
    if (!released) source.release(true);
    await reader?.close();
  }
}

interface SourceImage {
  key: RowImage;
  after: RowImage;
}

function transformRow(transform: Transformer, spec: SnapshotTable, img: SourceImage): { key: RowImage; row: RowImage } {
  const data: ChangeData = { schema: spec.table.schema, table: spec.table.table, op: 'snapshot', seq: '0', key: img.key, after: img.after };
  const change = transform(data, { messageId: 'verify', eventId: 'verify', time: new Date(0).toISOString() });
  return { key: change.key!, row: change.row! };
}

async function readChunk(client: pg.ClientBase, spec: SnapshotTable, cursor: RowImage | null, limit: number): Promise<SourceImage[]> {
  const sql = sourceSql(spec, cursor === null ? 'true' : keyAfter(spec, '$2'));
  const res = await client.query<SourceImage>(sql, cursor === null ? [limit] : [limit, JSON.stringify(cursor)]);
  return res.rows;
}

async function readKeys(client: pg.ClientBase, spec: SnapshotTable, keys: RowImage[]): Promise<SourceImage[]> {
  const res = await client.query<SourceImage>(sourceSql(spec, keyIn(spec, '$2')), [keys.length, JSON.stringify(keys)]);
  return res.rows;
}

function sourceSql(spec: SnapshotTable, where: string): string {
  return runtimeSql('postgres', 'verify_source_chunk', {
    table: quotedTable(spec.table),
    key_image: keyImage(spec),
    image: rowImage(spec),
    where,
    order: spec.keyColumns.map((c) => `n."${c.name.replace(/"/g, '""')}"`).join(', '),
  });
}

function summarize(sourceTable: string, targetTable: string, sourceRows: number, chunks: number, mismatchedChunks: number, divergent: Divergence[], sampleSize: number): TableReport {
  const of = (kind: Divergence['kind']) => divergent.filter((d) => d.kind === kind);
  const keys = (list: Divergence[]): KeyReport => ({ count: list.length, sample: list.slice(0, sampleSize).map((d) => d.key) });
  const different = of('different');
  const columns: Record<string, number> = {};
  for (const d of different) for (const c of d.columns) columns[c] = (columns[c] ?? 0) + 1;
  return {
    sourceTable,
    targetTable,
    sourceRows,
    chunks,
    mismatchedChunks,
    missing: keys(of('missing')),
    extra: keys(of('extra')),
    different: { ...keys(different), columns },
    repair: null,
  };
}
