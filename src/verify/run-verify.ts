import { tableMappingSchema, writtenTable, type Config, type TargetConfig, type TargetSecrets } from '../config/index.js';
import { canonicalJson, type ChangeData, type RowImage } from '../wire/envelope.js';
import { targetOf } from '../aws/resources.js';
import { OutboxError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../observability/metrics.js';
import { formatTableName, parseTableName, type TableName } from '../sql/identifiers.js';
import type { RepairKey, RepairResult, SourceImage, SourceTableReader } from '../source/capabilities.js';
import type { SourceAdapter } from '../source/types.js';
import { buildTransformer, compileTablePlan, type Transformer } from '../targets/transform/index.js';
import { buildMessageAttributes } from '../wire/attributes.js';
import { assertRowShare, targetShare, type TargetShare } from '../share/target-share.js';
import { assertVerifiable, openTargetReader, type VerifiableKind } from './target-reader.js';
import type { Divergence, KeyFilter, TargetReader, TargetTableSpec } from '../targets/index.js';

/**
 * Verify compares a target's share of a source table, after the target's transform, with the target
 * table, chunk by chunk along the source key: for each chunk the counts and hashes of both sides (by
 * the target's reader: src/targets/postgres/verify-reader.ts computes them in the target database,
 * typed by the target table; src/targets/mysql/verify-reader.ts from canonical texts of both sides); a chunk that differs is narrowed down
 * to keys. A source row is in the share when the message attributes a snapshot of it would carry
 * pass the target's filter policy (src/share/target-share.ts); rows outside it are expected absent.
 * The keys found are checked once more by key (this removes false reports from changes that were in
 * flight and from key ranges that collate differently at the target), then reported, and with
 * repair re-emitted into the outbox (the source dialect's repair.ts). The source side is read
 * through the source adapter's table reader (src/source/capabilities.ts).
 *
 * What a target's operations mean for verify: without insert or update it cannot follow the
 * source's rows, so it cannot be verified; without delete or truncate it legitimately keeps rows
 * the source no longer has (or that left its share), so extra rows are reported as kept, not as
 * drift; repair needs snapshot (it re-emits snapshot events).
 */
export interface VerifyOptions {
  /** The source whose tracked tables are compared; its dialect reads them (and writes repairs). */
  source: SourceAdapter;
  targetName: string;
  target: TargetConfig;
  secrets: TargetSecrets;
  /** The source name the relay publishes (source.name): the `source` attribute a filter policy may test. */
  sourceName?: string;
  /** publish.numberAttributes: how attribute columns are typed on the wire. */
  numberAttributes?: Config['publish']['numberAttributes'];
  /**
   * The config's other targets. Those that write the same target table (same kind, URL variable and
   * mapped table) are verified together with this one: the table holds the union of their shares.
   */
  otherTargets?: Record<string, TargetConfig>;
  /** Only this source table (must be one of the target's tables). */
  table?: TableName;
  /** aws.region, for a DynamoDB target (the SDK chain when absent). */
  awsRegion?: string;
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
  /** Extra rows of a target that receives no deletes or truncates: expected, not drift. */
  kept: KeyReport;
  different: KeyReport & { columns: Record<string, number> };
  /** Source rows outside the target's share (expected absent at the target). */
  outsideShare: number;
  /** Other targets writing the same table, whose shares the table holds too (compared as one union). */
  sharedWith: string[];
  repair: RepairResult | null;
}

export interface VerifyReport {
  target: string;
  tables: TableReport[];
  drift: boolean;
  elapsedMs: number;
}

export const DEFAULT_CHUNK_SIZE = 1000;

/**
 * What runVerify takes from the config for one target: the target (TARGET_NOT_FOUND when the config
 * has none of that name), its secrets, the source's name and attribute typing, the other targets
 * (whose shares of a table it compares as one) and the AWS region (a DynamoDB target).
 */
export function configVerifyOptions(config: Config, targetName: string): Pick<VerifyOptions, 'targetName' | 'target' | 'secrets' | 'sourceName' | 'numberAttributes' | 'otherTargets' | 'awsRegion'> {
  return {
    targetName,
    target: targetOf(config, targetName),
    secrets: config.targetSecrets(targetName),
    sourceName: config.source.name,
    numberAttributes: config.publish.numberAttributes,
    otherTargets: config.targets,
    awsRegion: config.aws.region,
  };
}

export async function runVerify(options: VerifyOptions): Promise<VerifyReport> {
  const started = Date.now();
  const tables = options.table ? [formatTableName(options.table)] : options.target.tables;
  if (options.table && !options.target.tables.includes(tables[0]!)) {
    throw new OutboxError('CONFIG_INVALID', `Target "${options.targetName}" does not sync ${tables[0]}; its tables are ${options.target.tables.join(', ')}.`, { context: { target: options.targetName } });
  }
  const kind = options.target.kind;
  assertVerifiable(options.targetName, kind);
  const reports: TableReport[] = [];
  for (const name of tables) {
    const writers = { [options.targetName]: options.target, ...sameTableWriters(options, name) };
    const shares = Object.entries(writers).map(([n, t]) => targetShare(n, t, options.numberAttributes ?? {}));
    for (const share of shares) assertRowShare(share);
    for (const [n, t] of Object.entries(writers)) assertOperations(n, t, Boolean(options.repair));
    reports.push(await verifyTable(options, kind, parseTableName(name), shares, Object.values(writers)));
  }
  const drift = reports.some((r) => r.missing.count + r.extra.count + r.different.count > 0);
  return { target: options.targetName, tables: reports, drift, elapsedMs: Date.now() - started };
}

/** Refuses what verify cannot judge from a target's operations (see the top of this file). */
function assertOperations(targetName: string, target: TargetConfig, repair: boolean): void {
  const coded = target.tables.filter((t) => target.mapping[t]?.transform);
  if (coded.length > 0) {
    throw new OutboxError('VERIFY_UNSUPPORTED', `Target "${targetName}" maps ${coded.join(', ')} through user code (mapping.transform), whose rows verify cannot derive from the source; verify a target without transform modules.`, { context: { target: targetName } });
  }
  const lacking = (['insert', 'update'] as const).filter((op) => !target.operations.includes(op));
  if (lacking.length > 0) {
    throw new OutboxError('VERIFY_UNSUPPORTED', `Target "${targetName}" does not receive ${lacking.join(' or ')} events (targets.${targetName}.operations), so its rows legitimately differ from the source: verify cannot tell drift from design. Add ${lacking.join(' and ')} to its operations to verify it.`, { context: { target: targetName } });
  }
  if (repair && !target.operations.includes('snapshot')) {
    throw new OutboxError('VERIFY_UNSUPPORTED', `Repair re-emits snapshot events, which target "${targetName}" does not receive (targets.${targetName}.operations). Add snapshot to its operations, or run verify without --repair.`, { context: { target: targetName } });
  }
}

/** The other targets that write the target table this target writes for a source table. */
function sameTableWriters(options: VerifyOptions, sourceTable: string): Record<string, TargetConfig> {
  const mine = writtenTable(options.target, sourceTable);
  return Object.fromEntries(Object.entries(options.otherTargets ?? {}).filter(([name, t]) => name !== options.targetName && t.tables.includes(sourceTable) && writtenTable(t, sourceTable) === mine));
}

async function verifyTable(options: VerifyOptions, kind: VerifiableKind, table: TableName, shares: TargetShare[], writers: TargetConfig[]): Promise<TableReport> {
  const name = formatTableName(table);
  const log = options.logger.child({ component: 'verify', target: options.targetName, table: name });
  // The reader takes its session on the first read, inside the try below.
  const source = await options.source.openTableReader(table);
  const keyNames = source.keyColumns;
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
  const numberColumns = new Set(options.numberAttributes?.[name] ?? []);
  const sourceName = options.sourceName ?? 'outbox-relay';
  /** Whether the table's shares hold a source row: the attributes its snapshot would carry pass a policy. */
  const rowFiltered = shares.every((s) => s.rowFiltered);
  const inShare = (img: Pick<SourceImage, 'key' | 'after' | 'attributes'>): boolean => {
    if (!rowFiltered) return true;
    const attributes = buildMessageAttributes(sourceName, { seq: '0', xid: '0', tableSchema: table.schema, tableName: table.table, op: 'snapshot', key: img.key, before: null, after: img.after, changed: null, attributes: img.attributes, changedAt: new Date(0) }, { numberColumns }).attributes;
    return shares.some((s) => s.holds(attributes));
  };
  const tolerateExtra = writers.some((t) => !t.operations.includes('delete') || !t.operations.includes('truncate'));

  let reader: TargetReader | undefined;
  let released = false;
  // The next source chunk is read while the current one is compared at the target.
  let nextChunk: Promise<SourceImage[]> | null = null;
  try {
    const estimate = await source.estimateRows();
    const chunkSize = options.chunkSize ?? DEFAULT_CHUNK_SIZE;
    const found: Divergence[] = [];
    let chunks = 0;
    let mismatched = 0;
    let rowsDone = 0;
    let outsideShare = 0;
    let after: RowImage | null = null;
    nextChunk = readAhead(source, null, chunkSize);
    for (;;) {
      const images: SourceImage[] = await nextChunk!;
      nextChunk = images.length === chunkSize ? readAhead(source, images.at(-1)!.key, chunkSize) : null;
      const changes = images.map((img) => transformRow(transform, table, img));
      if (!reader) {
        const columns = changes[0] ? Object.keys(changes[0].row) : [...targetKey.values()];
        const ttSpec: TargetTableSpec = {
          table: plan.targetTable,
          keyColumns: keyNames.map((k) => targetKey.get(k)!),
          columns,
          attributeColumns: source.attributeColumns.map((a) => ({ source: a, target: plan.rules.get(a)?.target ?? a })).filter((a) => !plan.excluded.has(a.source)),
        };
        reader = await openTargetReader(kind, options.secrets.url, ttSpec, log, { target: options.target, sourceTable: name, ...(options.awsRegion ? { region: options.awsRegion } : {}) });
      }
      const last = images.length === chunkSize;
      const upTo = last ? changes.at(-1)!.key : null;
      const filter: KeyFilter = { after, upTo };
      const held = images.map(inShare);
      outsideShare += held.filter((h) => !h).length;
      const rows = changes.filter((_, i) => held[i]).map((c) => c.row);
      const digest = await reader.digest(rows, filter);
      chunks += 1;
      if (!digest.equal) {
        mismatched += 1;
        found.push(...(await reader.diff(rows, filter)));
      }
      rowsDone += images.length;
      options.onProgress?.({ table: name, rowsDone, rowsEstimate: Math.max(estimate, rowsDone) });
      if (!last) break;
      after = upTo;
    }

    // Second look, by key: what is still divergent now is reported.
    const confirmed: Divergence[] = [];
    for (let i = 0; i < found.length; i += chunkSize) {
      const keys = found.slice(i, i + chunkSize).map((d) => d.key);
      const images = (await source.readKeys(keys.map(sourceKeyOf))).filter(inShare);
      const rows = images.map((img) => transformRow(transform, table, img).row);
      confirmed.push(...(await reader.diff(rows, { keys })));
    }
    const unique = new Map(confirmed.map((d) => [canonicalJson(d.key), d]));
    const all = [...unique.values()];
    const divergent = tolerateExtra ? all.filter((d) => d.kind !== 'extra') : all;
    const kept = tolerateExtra ? all.filter((d) => d.kind === 'extra') : [];
    await source.close();
    released = true;

    const report = summarize(name, plan.targetTable, rowsDone, chunks, mismatched, divergent, kept, outsideShare, options.sampleSize ?? 10);
    report.sharedWith = shares.slice(1).map((s) => s.target);
    const gauge = options.metrics?.gauge('outbox_verify_divergent_keys', 'Keys that differed between the source and the target at the last verify, by target, table and kind (missing, extra, different).', ['target', 'table', 'kind']);
    for (const kind of ['missing', 'extra', 'different'] as const) gauge?.set({ target: options.targetName, table: name, kind }, report[kind].count);
    log.info({ rows: rowsDone, chunks, mismatchedChunks: mismatched, outsideShare, missing: report.missing.count, extra: report.extra.count, kept: report.kept.count, different: report.different.count }, 'verify done');

    if (options.repair && divergent.length > 0) {
      const keys: RepairKey[] = divergent.map((d) =>
        d.kind === 'extra' ? { key: sourceKeyOf(d.key), evict: true, attributes: d.attributes ?? shareAttributes(options.target, source) } : { key: sourceKeyOf(d.key), evict: false, attributes: null },
      );
      const unroutable = keys.filter((k) => k.evict && k.attributes === null && rowFiltered).length;
      if (unroutable > 0) log.warn({ keys: unroutable }, 'extra rows whose attribute columns the target table lacks: their repair events carry no attribute values, which this filtered target\'s policy may not take. Keep the share columns in the target table, or delete those rows by hand');
      // A row outside the share by its own (target) values too — the target's `where` was narrowed
      // since it was written: neither side of its repair event passes this target's filter policy.
      const outside = keys.filter((k) => k.evict && k.attributes !== null && rowFiltered && !inShare({ key: k.key, after: {}, attributes: k.attributes })).length;
      if (outside > 0) {
        log.warn(
          { keys: outside },
          `${outside} extra row(s) at target "${options.targetName}" are outside its share by their own values too (its where or filterPolicy was narrowed since they were written): no event reaches this target for them through its filter policy, so --repair cannot remove them. Delete them at the target by hand (verify lists them under "extra"); docs/operations.md, "Changing a target's filter"`,
        );
      }
      report.repair = await source.repair(keys, log);
      log.info({ ...report.repair }, 'repair events written to the outbox');
    }
    return report;
  } finally {
    await nextChunk?.catch(() => undefined);
    if (!released) await source.close(true);
    await reader?.close();
  }
}

/** Starts reading the chunk after `cursor`; a failure is seen where the chunk is awaited, never as an unhandled rejection. */
function readAhead(source: SourceTableReader, cursor: RowImage | null, chunkSize: number): Promise<SourceImage[]> {
  const chunk = source.readChunk(cursor, chunkSize);
  chunk.catch(() => undefined);
  return chunk;
}

/**
 * Attribute values that route a repair event to a filtered target whose table lacks the share's
 * columns: the first value `where` allows for each of them (source column names). Null when the
 * target has no `where` or the table tracks none of its columns.
 */
function shareAttributes(target: TargetConfig, source: SourceTableReader): Record<string, string> | null {
  const tracked = new Set(source.attributeColumns);
  const entries = Object.entries(target.where).filter(([column]) => tracked.has(column));
  return entries.length > 0 ? Object.fromEntries(entries.map(([column, values]) => [column, String(values[0])])) : null;
}

function transformRow(transform: Transformer, table: TableName, img: SourceImage): { key: RowImage; row: RowImage } {
  const data: ChangeData = { schema: table.schema, table: table.table, op: 'snapshot', seq: '0', key: img.key, after: img.after };
  const change = transform(data, { messageId: 'verify', eventId: 'verify', time: new Date(0).toISOString() });
  return { key: change.key!, row: change.row! };
}

function summarize(sourceTable: string, targetTable: string, sourceRows: number, chunks: number, mismatchedChunks: number, divergent: Divergence[], kept: Divergence[], outsideShare: number, sampleSize: number): TableReport {
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
    kept: keys(kept),
    different: { ...keys(different), columns },
    outsideShare,
    sharedWith: [],
    repair: null,
  };
}
