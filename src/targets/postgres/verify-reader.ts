import pg from 'pg';
import type { RowImage } from '../../wire/envelope.js';
import { OutboxError, describeError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import { runtimeSql } from '../../sql/files.js';
import { captureSettingsSql } from '../../wire/capture-settings.js';
import type { ChunkDigest, Divergence, KeyFilter, TargetReader, TargetTableSpec } from '../base/verify-reader.js';
import { quoteLiteral } from '../../sql/identifiers.js';
import { quoteColumn, resolveTable } from './sql.js';

/**
 * Reads a PostgreSQL target for verify. Both sides of a comparison are computed in the target
 * database: the transformed source rows are typed by the target table (jsonb_populate_recordset, the
 * way the target writer stores them), so a value compares equal exactly when the writer would have
 * stored it unchanged.
 */
export async function openPostgresTargetReader(url: string, spec: TargetTableSpec, logger: Logger): Promise<TargetReader> {
  const table = resolveTable(spec.table);
  const client = new pg.Client({ connectionString: url, application_name: 'outbox-relay verify' });
  client.on('error', (err) => logger.warn({ err: describeError(err) }, 'target connection failed'));
  try {
    await client.connect();
  } catch (err) {
    throw new OutboxError('TARGET_UNAVAILABLE', `Cannot connect to the target database of ${spec.table} (${describeError(err)}). Check its URL variable and that it is up.`, { cause: err, retryable: true });
  }
  // Text output of row values depends on these; both sides are rendered in this one session.
  await client.query(captureSettingsSql('session'));
  const described = await client.query<{ name: string; formatted: string }>(
    `SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS formatted
       FROM pg_catalog.pg_attribute a
      WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`,
    [table.sql],
  );
  if (described.rows.length === 0) {
    await client.end();
    throw new OutboxError('TABLE_NOT_FOUND', `Target table ${table.qualified} does not exist in the target database. Start the consumer (it checks its tables), or create the table, then verify again.`, {
      context: { table: table.qualified },
    });
  }
  const types = new Map(described.rows.map((r) => [r.name, r.formatted]));
  const missingKeys = spec.keyColumns.filter((k) => !types.has(k));
  if (missingKeys.length > 0) {
    await client.end();
    throw new OutboxError('COLUMN_NOT_FOUND', `Target table ${table.qualified} has no key column ${missingKeys.join(', ')}. Check the mapping's renames.`, { context: { table: table.qualified } });
  }
  const compared = spec.columns.filter((c) => types.has(c));
  const absent = spec.columns.filter((c) => !types.has(c));
  if (absent.length > 0) logger.warn({ table: table.qualified, columns: absent }, 'target table lacks mapped columns; they are not compared');

  const r = (alias: string, c: string) => `${alias}.${quoteColumn(c)}`;
  const rowText = (alias: string) => `ROW(${compared.map((c) => r(alias, c)).join(', ')})::text`;
  const order = spec.keyColumns.map((c) => r('r', c)).join(', ');
  const keyRow = `(${spec.keyColumns.map((c) => r('r', c)).join(', ')})`;
  const keyValue = (image: string, c: string) => `((${image}) ->> ${quoteLiteral(c)})::${types.get(c)}`;
  const bound = (param: string) => `(${spec.keyColumns.map((c) => keyValue(`${param}::jsonb`, c)).join(', ')})`;

  function filterOf(filter: KeyFilter, first: number): { sql: string; params: string[] } {
    if ('keys' in filter) {
      return {
        sql: `${keyRow} IN (SELECT ${spec.keyColumns.map((c) => keyValue('k.value', c)).join(', ')} FROM jsonb_array_elements($${first}::jsonb) k)`,
        params: [JSON.stringify(filter.keys)],
      };
    }
    const parts: string[] = [];
    const params: string[] = [];
    if (filter.after) {
      params.push(JSON.stringify(filter.after));
      parts.push(`${keyRow} > ${bound(`$${first + params.length - 1}`)}`);
    }
    if (filter.upTo) {
      params.push(JSON.stringify(filter.upTo));
      parts.push(`${keyRow} <= ${bound(`$${first + params.length - 1}`)}`);
    }
    return { sql: parts.length ? parts.join(' AND ') : 'true', params };
  }

  const firstKey = quoteColumn(spec.keyColumns[0]!);
  const attrs = spec.attributeColumns.filter((a) => types.has(a.target));
  const diffParams = {
    table: table.sql,
    join: spec.keyColumns.map((c) => `s.${quoteColumn(c)} = t.${quoteColumn(c)}`).join(' AND '),
    first_key: firstKey,
    key_json: `jsonb_build_object(${spec.keyColumns.map((c) => `${quoteLiteral(c)}, coalesce(s.${quoteColumn(c)}, t.${quoteColumn(c)})`).join(', ')})`,
    row_s: rowText('s'),
    row_t: rowText('t'),
    changed: compared.length
      ? `array_remove(ARRAY[${compared.map((c) => `CASE WHEN ROW(s.${quoteColumn(c)})::text IS DISTINCT FROM ROW(t.${quoteColumn(c)})::text THEN ${quoteLiteral(c)} END`).join(', ')}]::text[], NULL)`
      : `'{}'::text[]`,
    attrs: attrs.length ? `jsonb_build_object(${attrs.map((a) => `${quoteLiteral(a.source)}, t.${quoteColumn(a.target)}::text`).join(', ')})` : 'NULL::jsonb',
  };

  return {
    comparedColumns: compared,
    async digest(rows: RowImage[], filter: KeyFilter): Promise<ChunkDigest> {
      const f = filterOf(filter, 2);
      const res = await client.query<{ source_count: number; target_count: number; source_hash: string; target_hash: string }>(
        runtimeSql('postgres', 'verify_target_digest', { table: table.sql, row_text: rowText('r'), order, range: f.sql }),
        [JSON.stringify(rows), ...f.params],
      );
      const d = res.rows[0]!;
      return { sourceCount: d.source_count, targetCount: d.target_count, equal: d.source_count === d.target_count && d.source_hash === d.target_hash };
    },
    async diff(rows: RowImage[], filter: KeyFilter): Promise<Divergence[]> {
      const f = filterOf(filter, 2);
      const res = await client.query<{ kind: Divergence['kind']; key: RowImage; columns: string[] | null; attributes: Record<string, string> | null }>(
        runtimeSql('postgres', 'verify_target_diff', { ...diffParams, filter: f.sql }),
        [JSON.stringify(rows), ...f.params],
      );
      return res.rows.map((d) => ({ kind: d.kind, key: d.key, columns: d.columns ?? [], attributes: d.attributes }));
    },
    async close() {
      await client.end().catch(() => undefined);
    },
  };
}
