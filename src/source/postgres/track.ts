import type pg from 'pg';
import { OutboxError } from '../../errors.js';
import { resolveCaptureColumns } from '../capture-columns.js';
import { runtimeSql } from '../../sql/files.js';
import { assertIdentifier, formatTableName, quoteCatalogIdent, quoteIdent, quoteLiteral, type TableName } from '../../sql/identifiers.js';
import type { TrackSpec, TrackedTable } from '../types.js';
import { describeTable, type TableInfo } from './catalog.js';
import { captureFunctionName, notifyChannel, wakeSetting } from './capture-sql.js';
import { capturedShape, readShapes } from './table-shape.js';
import { withTransaction } from '../../sql/pg-transaction.js';
import { sleep } from '../../sleep.js';

export { MAX_ATTRIBUTE_COLUMNS } from '../capture-columns.js';

/**
 * Installs (or re-installs) the capture triggers of one table: the generic capture functions
 * (statement triggers for a plain table, sql/postgres/000005_capture_statement.sql; the row trigger of
 * sql/postgres/000004_capture_v2.sql for a partitioned one), so no later DDL on the table can break a
 * write (docs/capture.md). On a re-track,
 * a list the spec leaves undefined keeps what the table was tracked with: re-running
 * `outbox track t` after ADD COLUMN must never start capturing a column that was excluded.
 */
export async function trackTable(pool: pg.Pool, outboxSchema: string, spec: TrackSpec): Promise<TrackedTable> {
  const q = quoteIdent(outboxSchema, 'Outbox schema');
  quotedTable(spec.table); // validates the names before anything reaches the database
  const name = formatTableName(spec.table);
  if (spec.table.schema === outboxSchema) {
    throw new OutboxError('NOT_SUPPORTED', `Table ${name} is in the outbox schema "${outboxSchema}"; its own tables cannot be tracked (capture would capture itself).`, {
      context: { table: name },
    });
  }
  const given = {
    exclude: spec.exclude?.map((c) => assertIdentifier(c, `Excluded column of ${name}`)),
    attributes: spec.attributes?.map((c) => assertIdentifier(c, `Attribute column of ${name}`)),
    key: spec.key?.map((c) => assertIdentifier(c, `Key column of ${name}`)),
  };

  return withTransaction(pool, async (client) => {
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`outbox-relay:track:${outboxSchema}`]);
    const info = await describeTable(client, spec.table);
    const before = await client.query<{
      key_columns: string[];
      excluded_columns: string[];
      excluded_attnums: number[] | null;
      attribute_columns: string[];
      function_name: string;
      same_table: boolean;
      shape: unknown;
      published_schema: string;
      published_table: string;
    }>(
      `SELECT key_columns, excluded_columns, excluded_attnums, attribute_columns, function_name, relid IS NOT DISTINCT FROM $3 AS same_table, shape,
              coalesce(published_schema, table_schema) AS published_schema, coalesce(published_table, table_name) AS published_table
         FROM ${q}.tracked_tables
        WHERE relid = $3 OR (table_schema = $1 AND table_name = $2)
        ORDER BY relid IS NOT DISTINCT FROM $3 DESC LIMIT 1`,
      [spec.table.schema, spec.table.table, info.oid],
    );
    // The table as tracked before, found by oid first: after a RENAME TO the relay has not
    // published yet, the registry still has the old name, and a re-track under the new name must
    // keep its exclusions. The row under the old name goes; the upsert below takes its place, and keeps
    // what the relay published last — the shape, and the old name as published_schema/_table — so the
    // relay still announces what changed since, the rename_table included (docs/capture.md).
    const previous = before.rows[0];
    await client.query(`DELETE FROM ${q}.tracked_tables WHERE relid = $3 AND NOT (table_schema = $1 AND table_name = $2)`, [spec.table.schema, spec.table.table, info.oid]);
    // Exclusions are kept by attribute number: a re-track after a rename of an excluded column keeps
    // that column excluded under its new name (a dropped one is gone). Numbers hold only for the same
    // table: one dropped and created again under its name keeps its exclusions by name.
    const previousExcluded = previous
      ? previous.excluded_attnums?.length && previous.same_table
        ? info.columns.filter((c) => previous.excluded_attnums!.includes(c.attnum!)).map((c) => c.name)
        : previous.excluded_columns
      : [];
    const exclude = given.exclude ?? previousExcluded;
    const attributes = given.attributes ?? previous?.attribute_columns ?? [];
    const keyOverride = given.key?.length ? given.key : given.key === undefined && previous ? previous.key_columns : [];
    const keyColumns = resolveCaptureColumns({ name, columns: info.columns.map((c) => c.name), primaryKey: info.primaryKey, exclude, attributes, keyOverride });
    const excludedAttnums = info.columns.filter((c) => exclude.includes(c.name)).map((c) => c.attnum!);
    const shapes = await readShapes(client, [String(info.oid)]);
    const shape = capturedShape(shapes.get(String(info.oid))?.columns ?? [], excludedAttnums);
    const same = previous?.same_table === true;
    const published = same && (previous.published_schema !== spec.table.schema || previous.published_table !== spec.table.table) ? previous : undefined;
    const savedShape = same && previous.shape ? JSON.stringify(previous.shape) : JSON.stringify(shape);
    const captureFunction = info.kind === 'partitioned' ? ROW_FUNCTION : STATEMENT_FUNCTION;
    await client.query(runtimeSql('postgres', 'capture_triggers_drop', { table: quotedTable(spec.table) }));
    await client.query(
      runtimeSql('postgres', info.kind === 'partitioned' ? 'capture_triggers_partitioned' : 'capture_triggers', {
        table: quotedTable(spec.table),
        schema: q,
        args: captureTriggerArgs(outboxSchema, excludedAttnums),
      }),
    );
    if (previous && !isGenericFunction(previous.function_name)) await client.query(`DROP FUNCTION IF EXISTS ${q}.${quoteCatalogIdent(previous.function_name)}()`);
    const saved = await client.query(
      `INSERT INTO ${q}.tracked_tables (table_schema, table_name, key_columns, excluded_columns, attribute_columns, captured_columns, function_name,
                                        relid, excluded_attnums, shape, schema_problem, published_schema, published_table)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, NULL, $11, $12)
       ON CONFLICT (table_schema, table_name) DO UPDATE
          SET key_columns = EXCLUDED.key_columns, excluded_columns = EXCLUDED.excluded_columns,
              attribute_columns = EXCLUDED.attribute_columns, captured_columns = EXCLUDED.captured_columns,
              function_name = EXCLUDED.function_name, relid = EXCLUDED.relid, excluded_attnums = EXCLUDED.excluded_attnums,
              shape = EXCLUDED.shape, schema_problem = NULL, published_schema = EXCLUDED.published_schema, published_table = EXCLUDED.published_table,
              ddl_recorded = CASE WHEN ${q}.tracked_tables.relid IS NOT DISTINCT FROM EXCLUDED.relid THEN ${q}.tracked_tables.ddl_recorded END,
              dropped_seq = NULL, untracking = false
       RETURNING *`,
      [
        spec.table.schema,
        spec.table.table,
        keyColumns,
        exclude,
        attributes,
        shape.map((c) => c.name),
        captureFunction,
        info.oid,
        excludedAttnums,
        savedShape,
        published?.published_schema ?? null,
        published?.published_table ?? null,
      ],
    );
    return toTrackedTable(saved.rows[0]);
  });
}

/** tracked_tables.function_name of a plain table: the statement triggers of 000005_capture_statement.sql. */
export const STATEMENT_FUNCTION = 'capture_statement';
/** tracked_tables.function_name of a partitioned table: the row trigger of 000004_capture_v2.sql. */
export const ROW_FUNCTION = 'capture_row';

/** Whether function_name is one of the shared capture functions (not a generated v1 one, dropped on re-track). */
export function isGenericFunction(name: string): boolean {
  return name === STATEMENT_FUNCTION || name === ROW_FUNCTION;
}

/** The capture triggers' arguments: NOTIFY channel, wake setting, and the excluded attribute numbers if any. */
export function captureTriggerArgs(outboxSchema: string, excludedAttnums: number[]): string {
  const args = [notifyChannel(outboxSchema), wakeSetting(outboxSchema)];
  if (excludedAttnums.length > 0) args.push(`{${excludedAttnums.join(',')}}`);
  return args.map(quoteLiteral).join(', ');
}

/** How long `outbox untrack` waits for the relay to publish a table's last captured changes. */
export const UNTRACK_WAIT_MS = 30_000;

/**
 * Removes a table's capture triggers and function. The relay decodes an event with its table's
 * tracked_tables row, so the row stays, marked `untracking` (sql/postgres/000014_untracking.sql),
 * until the relay has published every change captured before the triggers went; untrack waits for
 * that (`waitMs`), then deletes it. When the relay does not get there in time the capture stays
 * stopped and the error says to run untrack again. `force` deletes the row at once: the table's
 * unpublished changes then go to the quarantine as "no longer tracked".
 */
export async function untrackTable(pool: pg.Pool, outboxSchema: string, table: TableName, options: { force?: boolean; waitMs?: number; pollMs?: number } = {}): Promise<boolean> {
  const q = quoteIdent(outboxSchema, 'Outbox schema');
  const quoted = quotedTable(table); // validates the names before anything reaches the database
  const name = formatTableName(table);
  const lock = (client: pg.ClientBase) => client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`outbox-relay:track:${outboxSchema}`]);
  const remove = async (client: pg.ClientBase, fn: string | undefined) => {
    const res = await client.query(`DELETE FROM ${q}.tracked_tables WHERE table_schema = $1 AND table_name = $2`, [table.schema, table.table]);
    const func = fn ?? captureFunctionName(table.schema, table.table);
    if (!isGenericFunction(func)) await client.query(`DROP FUNCTION IF EXISTS ${q}.${quoteCatalogIdent(func)}()`);
    return (res.rowCount ?? 0) > 0;
  };
  const backlog = async (client: pg.Pool | pg.ClientBase, relid: string) =>
    (await client.query<{ backlog: number }>(runtimeSql('postgres', 'table_backlog', { schema: q }), [relid, table.schema, table.table])).rows[0]?.backlog ?? 0;

  const first = await withTransaction(pool, async (client) => {
    await lock(client);
    const row = await client.query<{ function_name: string; relid: string | null }>(
      `SELECT function_name, relid::int8::text AS relid FROM ${q}.tracked_tables WHERE table_schema = $1 AND table_name = $2 FOR UPDATE`,
      [table.schema, table.table],
    );
    const exists = await client.query('SELECT to_regclass($1) IS NOT NULL AS present', [quoted]);
    // Dropping the triggers waits for every writer of the table: once it commits, the table's
    // captured changes are all in the outbox and no more come.
    if (exists.rows[0].present) await client.query(runtimeSql('postgres', 'capture_triggers_drop', { table: quoted }));
    const tracked = row.rows[0];
    if (!tracked || !tracked.relid || options.force) return { removed: await remove(client, tracked?.function_name) };
    await client.query(`UPDATE ${q}.tracked_tables SET untracking = true WHERE table_schema = $1 AND table_name = $2`, [table.schema, table.table]);
    return { relid: tracked.relid, fn: tracked.function_name };
  });
  if (first.removed !== undefined) return first.removed;

  // A re-track while untrack waits (its triggers are back) wins: the table stays tracked.
  const retracked = async (client: pg.Pool | pg.ClientBase) =>
    ((await client.query(`SELECT 1 FROM pg_catalog.pg_trigger WHERE tgrelid = $1::oid AND tgname LIKE 'outbox\\_capture\\_%'`, [first.relid])).rowCount ?? 0) > 0;
  const deadline = Date.now() + (options.waitMs ?? UNTRACK_WAIT_MS);
  let left = await backlog(pool, first.relid);
  let again = false;
  while (left > 0 && Date.now() < deadline && !(again = await retracked(pool))) {
    await sleep(options.pollMs ?? 200);
    left = await backlog(pool, first.relid);
  }
  const done = await withTransaction(pool, async (client) => {
    await lock(client);
    if (again || (await retracked(client))) {
      await client.query(`UPDATE ${q}.tracked_tables SET untracking = false WHERE relid = $1::oid`, [first.relid]);
      return 'retracked' as const;
    }
    if (left > 0) return 'backlog' as const;
    return remove(client, first.fn);
  });
  if (done === 'retracked') {
    throw new OutboxError(
      'TABLE_RETRACKED',
      `${name} was tracked again (\`outbox track\`) while untrack waited for the relay, so it stays tracked and its capture runs. Run \`outbox untrack ${name}\` again if it should stop.`,
      { context: { table: name } },
    );
  }
  if (done === 'backlog') {
    throw new OutboxError(
      'TABLE_HAS_BACKLOG',
      `Capture of ${name} is stopped, but the relay has not published its last ${left} captured change${left === 1 ? '' : 's'} yet, so the table stays in tracked_tables (marked untracking) for the relay to decode them. Make sure a relay runs (\`outbox status\` shows the table's backlog), then run \`outbox untrack ${name}\` again to finish; \`--force\` finishes now and sends those changes to the quarantine instead of the targets.`,
      { context: { table: name, backlog: left }, retryable: true },
    );
  }
  return done;
}

export async function listTrackedTables(db: pg.Pool | pg.ClientBase, outboxSchema: string): Promise<TrackedTable[]> {
  const q = quoteIdent(outboxSchema, 'Outbox schema');
  const res = await db.query(`SELECT * FROM ${q}.tracked_tables ORDER BY table_schema, table_name`);
  return res.rows.map(toTrackedTable);
}

export function quotedTable(table: TableName): string {
  return `${quoteIdent(table.schema, 'Schema')}.${quoteIdent(table.table, 'Table')}`;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
function toTrackedTable(row: any): TrackedTable {
  return {
    table: { schema: row.table_schema, table: row.table_name },
    keyColumns: row.key_columns,
    excludedColumns: row.excluded_columns,
    attributeColumns: row.attribute_columns,
    capturedColumns: row.captured_columns,
    mode: row.mode,
    trackedAt: row.tracked_at,
  };
}

export type { TableInfo };
