import type pg from 'pg';
import { schemaChangeEvent, type OutboxEvent, type SchemaChange, type SchemaChangeItem } from '../../wire/envelope.js';
import { captureSettingsOptions } from '../../wire/capture-settings.js';
import type { Logger } from '../../logger.js';
import { runtimeSql } from '../../sql/files.js';
import { withTransaction } from '../../sql/pg-transaction.js';
import { decodeExpressions, jsonObject } from './capture-sql.js';
import type { ColumnInfo } from './catalog.js';
import { recordedSchemaEvent, toEvent, type EventRow } from './relay-events.js';
import { asColumnInfo, capturedShape, publicColumn, readShapes, type ShapeColumn, type TableShape } from './table-shape.js';

/** An outbox row as the relay reads it: capture v2 rows carry whole-row images (json text) and their column names. */
export interface RawEventRow extends EventRow {
  relid: string | null;
  old_row: string | null;
  new_row: string | null;
  names: string[] | null;
  /** A digest of the tracked tables and their catalog entries (relay_read_window.sql); absent when the reader does not ask for it. */
  tracked_state?: string;
}

interface TrackedRow {
  table_schema: string;
  table_name: string;
  key_columns: string[];
  attribute_columns: string[];
  excluded_attnums: number[];
  relid: string;
  shape: ShapeColumn[] | null;
  schema_problem: string | null;
  /** What the DDL event triggers recorded last (sql/postgres/000008_ddl_recorded_shapes.sql); null without them. */
  ddl_recorded: { schema: string; table: string; columns: ShapeColumn[] } | null;
  /** The name the stream knows the table by, when a re-track after an unpublished RENAME TO moved table_schema/table_name on. */
  published_schema: string | null;
  published_table: string | null;
}

/** A shape the relay published a schema change for; persisted once the change is acknowledged. */
export interface ShapeUpdate {
  /** Position of the schema-change event in the decoded page. */
  index: number;
  relid: string;
  from: { tableSchema: string; tableName: string };
  to: { tableSchema: string; tableName: string; shape: ShapeColumn[] };
  /** A drop_table: once it is acknowledged the table leaves tracked_tables (if it is still gone). */
  dropped?: boolean;
  /**
   * Columns it adds whose rows that existed before got a value the event cannot carry (a volatile
   * default, or a table rewritten since): warned about once the change is saved.
   */
  uncarried?: string[];
}

/** An event held back because its table lost a key or attribute column; kept whole in the quarantine. */
export interface HeldEvent {
  event: OutboxEvent;
  reason: string;
}

export interface DecodedPage {
  events: OutboxEvent[];
  shapeUpdates: ShapeUpdate[];
  held: HeldEvent[];
}

interface TableState {
  tracked: TrackedRow;
  /** The shape published last (persisted, or changed earlier in this page). */
  shape: ShapeColumn[];
  tableSchema: string;
  tableName: string;
  /** The table as the catalog has it now; undefined when it no longer exists. */
  catalog: TableShape | undefined;
  /** Column types by name, newest first: the catalog's, then every shape seen. */
  types: Map<string, ShapeColumn>;
  typesChecked: boolean;
}

/**
 * What table states are built from: the tracked_tables rows and the catalog shapes of the tables
 * (and partitions) rows were seen for, as read under one tracked_state digest.
 */
interface StateBase {
  digest: string | undefined;
  byRelid: Map<string, TrackedRow>;
  catalog: Map<string, TableShape>;
  /** Every oid the catalog was asked about, found or not (a dropped table is not asked again). */
  asked: Set<string>;
  /**
   * Partitions of tracked tables the catalog no longer links to them (detached or dropped), by oid:
   * the tracked table's oid, as tracked_partitions remembers it (sql/postgres/000012_tracked_partitions.sql).
   */
  detached: Map<string, string>;
}

interface Pending {
  row: RawEventRow;
  state: TableState;
  columns: ColumnInfo[];
  tableSchema: string;
  tableName: string;
}

/**
 * Turns capture v2 rows into events (docs/capture.md): looks up each row's table by oid (partitions
 * by their tracked root — detached or dropped ones by tracked_partitions —, renamed tables by their oid), notices a new shape against the one last
 * published — an image whose column names differ, or catalog types that changed — and puts a
 * schema-change event before the first row of the new shape, then decodes the images in the
 * database (relay_decode.sql) into the exact event encoding. A row whose key or attribute column is
 * gone is held back (quarantined) with a message naming table and column; nothing fails the stream.
 * Rows written before capture v2 (and backfill snapshots) pass through unchanged.
 */
export class CaptureDecoder {
  constructor(
    /** A pool whose sessions use the decode settings (decodeSessionOptions). */
    private readonly pool: pg.Pool,
    private readonly quotedSchema: string,
    private readonly logger: Logger,
    /** Replay decodes against the shapes it finds and never announces schema changes. */
    private readonly announce = true,
  ) {}

  /** Kept between pages while the page's tracked_state digest is the one it was read under. */
  private base: StateBase | undefined;

  async decode(rows: RawEventRow[]): Promise<DecodedPage> {
    if (!rows.some((r) => r.relid !== null)) return { events: rows.map(toEvent), shapeUpdates: [], held: [] };
    const states = await this.loadStates(rows);
    const out: (OutboxEvent | Pending)[] = [];
    const shapeUpdates: ShapeUpdate[] = [];
    const held: HeldEvent[] = [];
    for (const row of rows) {
      if (row.relid === null) {
        out.push(toEvent(row));
        continue;
      }
      const state = states.get(row.relid);
      if (row.op === 'schema') {
        // Recorded by the DDL event triggers; replay never announces schema changes.
        if (!this.announce) continue;
        const shape = recordedShape(row);
        if (shape) {
          // A table's columns (and name) right after an ALTER TABLE, at the DDL's own seq.
          const change = state ? this.recorded(state, row, shape) : undefined;
          if (change) {
            shapeUpdates.push({ index: out.length, relid: state!.tracked.relid, ...change.update });
            out.push(change.event);
          }
          continue;
        }
        // A dropped tracked table.
        const table = state ? { tableSchema: state.tableSchema, tableName: state.tableName } : { tableSchema: row.table_schema, tableName: row.table_name };
        if (state) shapeUpdates.push({ index: out.length, relid: state.tracked.relid, from: table, to: { ...table, shape: state.shape }, dropped: true });
        out.push(recordedSchemaEvent(row, table, state ? state.shape.map(publicColumn) : null));
        continue;
      }
      if (!state) {
        held.push({ event: rawEvent(row, row.table_schema, row.table_name), reason: `Table ${row.table_schema}.${row.table_name} (oid ${row.relid}) is no longer tracked; its event cannot be decoded. Track the table again or delete the quarantined event. A partition created, written and detached or dropped before the relay read any of its rows is not known either, without the DDL event triggers (docs/capture.md, "Partitioned tables").` });
        continue;
      }
      const isRoot = row.relid === state.tracked.relid;
      if (this.announce) {
        const change = this.detect(state, row, isRoot);
        if (change) {
          shapeUpdates.push({ index: out.length, relid: state.tracked.relid, ...change.update });
          out.push(change.event);
        }
      }
      // A partition's rows are published under the partitioned table's name.
      const tableSchema = isRoot ? row.table_schema : state.tableSchema;
      const tableName = isRoot ? row.table_name : state.tableName;
      if (row.op === 'truncate') {
        out.push({ ...toEvent(row), tableSchema, tableName });
        continue;
      }
      const names = row.names ?? [];
      const missing = [...state.tracked.key_columns.map((c) => ['key', c]), ...state.tracked.attribute_columns.map((c) => ['attribute', c])].filter(([, c]) => !names.includes(c!));
      if (missing.length > 0) {
        const what = missing.map(([kind, c]) => `${kind} column ${JSON.stringify(c)}`).join(', ');
        held.push({
          event: rawEvent(row, tableSchema, tableName),
          reason: `Table ${tableSchema}.${tableName} no longer has its ${what} (dropped or renamed); its events are held in the quarantine. Re-track it naming the new columns (outbox track ${tableSchema}.${tableName} --key … --attributes …), then re-publish or delete the quarantined events.`,
        });
        continue;
      }
      out.push({ row, state, columns: imageColumns(state, names, this.announce), tableSchema, tableName });
    }
    for (const update of shapeUpdates) if (!update.dropped) await this.carryExisting(out[update.index] as OutboxEvent, update);
    return { events: await this.decodeImages(out), shapeUpdates, held };
  }

  /**
   * `ADD COLUMN … DEFAULT …` gives the rows that existed before a value without writing them, so no
   * change of theirs is captured. When PostgreSQL keeps that value in the catalog (a non-volatile
   * default, evaluated once at the ALTER: pg_attribute.attmissingval), the add_column item carries
   * it as `existing`, in the event encoding of the column, and each target fills its existing rows
   * with it (docs/schema-changes.md, "Columns added with a default"). A value the catalog no longer
   * has (a volatile default rewrote the table with one per row; a rewrite since) is named in
   * `uncarried`, for the warning. A partitioned table keeps missing values on its partitions only:
   * its columns are uncarried too.
   */
  private async carryExisting(event: OutboxEvent, update: ShapeUpdate): Promise<void> {
    const added = (event.schemaChange?.changes ?? []).filter((c) => c.kind === 'add_column');
    if (added.length === 0) return;
    const byName = new Map(update.to.shape.map((c) => [c.name, c]));
    const attnums = added.map((c) => byName.get(c.column ?? '')?.attnum).filter((n): n is number => n !== undefined);
    const res = await this.pool.query<{ attnum: number; name: string; has_default: boolean; image: string | null }>(runtimeSql('postgres', 'added_column_values'), [update.relid, attnums]);
    const uncarried: string[] = [];
    for (const item of added) {
      const column = byName.get(item.column ?? '');
      const found = column && res.rows.find((r) => r.attnum === column.attnum && r.name === column.name);
      if (!column || !found) continue;
      if (found.image === null) {
        if (found.has_default) uncarried.push(column.name);
        continue;
      }
      const info = asColumnInfo(column);
      let value: unknown;
      try {
        const decoded = await this.pool.query<{ value: Record<string, unknown> }>(
          runtimeSql('postgres', 'decode_added_column', { value: jsonObject('n', [info]), columns: decodeExpressions({ keyColumns: [], captured: [info], attributes: [] }).columns! }),
          [found.image],
        );
        value = decoded.rows[0]?.value[column.name];
      } catch (err) {
        // A value its type cannot read back from json: not carried (warned) rather than stall the stream.
        this.logger.debug({ table: `${update.to.tableSchema}.${update.to.tableName}`, column: column.name, err: (err as Error).message }, 'the value of an added column for the rows that existed before cannot be decoded');
        uncarried.push(column.name);
        continue;
      }
      if (value !== undefined && value !== null) item.existing = value;
    }
    if (uncarried.length > 0) update.uncarried = uncarried;
    else delete update.uncarried;
  }

  /** Records a table's problem for `outbox doctor`. */
  async recordProblem(relid: string, reason: string): Promise<void> {
    await this.pool.query(`UPDATE ${this.quotedSchema}.tracked_tables SET schema_problem = $2 WHERE relid = $1::oid AND schema_problem IS DISTINCT FROM $2`, [relid, reason]);
  }

  /**
   * Persists a shape once its schema change is acknowledged (and the table's new name, after a
   * rename). When another tracked table already has the new name, the shape is kept under the old
   * name and the conflict is recorded for `outbox doctor`; the stream goes on either way.
   */
  async persist(update: ShapeUpdate): Promise<void> {
    if (update.dropped) {
      // Its drop_table is published: nothing of the table is left to decode (docs/capture.md).
      await this.pool.query(`DELETE FROM ${this.quotedSchema}.tracked_tables WHERE relid = $1::oid AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_class WHERE oid = $1::oid)`, [update.relid]);
      return;
    }
    const shape = JSON.stringify(update.to.shape);
    const names = update.to.shape.map((c) => c.name);
    this.warnUncarried(update);
    try {
      await this.pool.query(
        `UPDATE ${this.quotedSchema}.tracked_tables SET shape = $2::jsonb, captured_columns = $3, table_schema = $4, table_name = $5, published_schema = NULL, published_table = NULL
          WHERE relid = $1::oid`,
        [update.relid, shape, names, update.to.tableSchema, update.to.tableName],
      );
    } catch (err) {
      if ((err as { code?: string }).code !== '23505') throw err;
      const problem = `Table ${update.from.tableSchema}.${update.from.tableName} was renamed to ${update.to.tableSchema}.${update.to.tableName}, a name another tracked table has. Untrack one of them.`;
      await this.pool.query(`UPDATE ${this.quotedSchema}.tracked_tables SET shape = $2::jsonb, captured_columns = $3, schema_problem = $4 WHERE relid = $1::oid`, [update.relid, shape, names, problem]);
      this.logger.error({ table: `${update.to.tableSchema}.${update.to.tableName}` }, problem);
    }
  }

  /**
   * Columns added with a value the rows that existed before hold at the source but the schema change
   * could not carry (carryExisting): targets add them empty, and only a change of each row (or a
   * repair) brings the value. Said once, when the schema change is saved, with what to run
   * (docs/schema-changes.md, "Columns added with a default").
   */
  private warnUncarried(update: ShapeUpdate): void {
    if (!update.uncarried?.length) return;
    const table = `${update.to.tableSchema}.${update.to.tableName}`;
    const columns = update.uncarried.map((c) => JSON.stringify(c)).join(', ');
    this.logger.warn(
      { table, columns: update.uncarried },
      `column ${columns} was added to ${table} with a default whose value for the rows that existed before the schema change cannot carry (a volatile default such as clock_timestamp() or random() gives each row its own; a table rewritten since, or a partitioned one, keeps none in the catalog) and no change of those rows is captured, so targets have no value there until each row changes. Once the consumers have applied the schema change, run outbox verify <target> --table ${table} --repair for each target of the table (or outbox backfill ${table} --restart)`,
    );
  }

  /**
   * The tracked tables and catalog shapes the page's rows need. They are read again when the page's
   * tracked_state digest differs from the one they were read under (a track, re-track, untrack, a
   * recorded problem or a persisted shape changes tracked_tables; ALTER TABLE, a rename, a type
   * change or a partition attached changes the catalog), when a row names an oid not asked about
   * yet, and on every page of a reader without the digest. Each page builds its table states from
   * this base afresh, so a schema change noticed in a page that is not advanced is noticed again.
   */
  private async loadBase(rows: RawEventRow[]): Promise<StateBase> {
    const digest = rows[0]?.tracked_state;
    const relids = [...new Set(rows.filter((r) => r.relid !== null).map((r) => r.relid!))];
    const cached = this.base;
    if (cached && digest !== undefined && cached.digest === digest && relids.every((r) => cached.asked.has(r))) return cached;
    // tracked_tables and the catalog from one snapshot: the DDL event triggers update ddl_recorded in
    // the DDL's own transaction, so the two agree on which DDL has happened. Read in two snapshots, a
    // DDL committed between them made the catalog look changed without a record of it (detect() then
    // announced the change at a row written before it, and the recorded row after it undid part of it).
    // The partitions the catalog has now under each tracked table, remembered before any row of
    // this page is looked up: one detached or dropped later is still found (tracked_partitions).
    // Its own statement, outside the snapshot below; replay only reads.
    if (this.announce) await this.pool.query(`SELECT ${this.quotedSchema}.record_partitions(NULL)`);
    const { byRelid, catalog, missingRoots, ask, detached } = await withTransaction(
      this.pool,
      async (client) => {
        const tracked = await client.query<TrackedRow>(
          `SELECT table_schema, table_name, key_columns, attribute_columns, excluded_attnums, relid::int8::text AS relid, shape, schema_problem, ddl_recorded,
                  published_schema, published_table
             FROM ${this.quotedSchema}.tracked_tables WHERE relid IS NOT NULL`,
        );
        const byRelid = new Map(tracked.rows.map((t) => [t.relid, t]));
        const wanted = [...new Set([...relids, ...(cached && cached.digest === digest ? cached.asked : [])])];
        const ask = [...new Set([...wanted, ...wanted.map((r) => byRelid.get(r)?.relid).filter((r): r is string => !!r)])];
        const catalog = await readShapes(client, ask);
        // A table the catalog does not link to a tracked one: a partition detached or dropped since
        // its rows were written, when tracked_partitions saw it under a tracked table.
        const unlinked = ask.filter((r) => !byRelid.has(catalog.get(r)?.root ?? r));
        const detached = new Map<string, string>();
        if (unlinked.length > 0) {
          const res = await client.query<{ relid: string; root: string }>(
            `SELECT relid::int8::text AS relid, root_relid::int8::text AS root FROM ${this.quotedSchema}.tracked_partitions WHERE relid = ANY ($1::oid[])`,
            [unlinked],
          );
          for (const r of res.rows) if (byRelid.has(r.root)) detached.set(r.relid, r.root);
        }
        // A partition's root, then the roots' own shapes.
        const missingRoots = [...new Set([...ask.map((r) => catalog.get(r)?.root ?? r), ...detached.values()])].filter((r) => !catalog.has(r) && !ask.includes(r));
        for (const [relid, shape] of await readShapes(client, missingRoots)) catalog.set(relid, shape);
        return { byRelid, catalog, missingRoots, ask, detached };
      },
      { isolation: 'repeatable read' },
    );
    const base = { digest, byRelid, catalog, asked: new Set([...ask, ...missingRoots]), detached };
    if (digest !== undefined) this.base = base;
    return base;
  }

  private async loadStates(rows: RawEventRow[]): Promise<Map<string, TableState>> {
    const { byRelid, catalog, detached } = await this.loadBase(rows);
    const relids = [...new Set(rows.filter((r) => r.relid !== null).map((r) => r.relid!))];
    // The catalog's root first (a detached partition tracked on its own is its own root), else the
    // tracked table a detached or dropped partition belonged to.
    const roots = new Map(
      relids.map((r) => {
        const root = catalog.get(r)?.root ?? r;
        return [r, byRelid.has(root) ? root : (detached.get(r) ?? root)];
      }),
    );
    const states = new Map<string, TableState>();
    const byRoot = new Map<string, TableState>();
    for (const relid of relids) {
      const root = roots.get(relid)!;
      const t = byRelid.get(root);
      if (!t) continue;
      let state = byRoot.get(root);
      if (!state) {
        const now = catalog.get(root);
        const current = now ? capturedShape(now.columns, t.excluded_attnums) : undefined;
        const shape = t.shape ?? current ?? [];
        const types = new Map<string, ShapeColumn>();
        for (const c of [...shape, ...(current ?? [])]) types.set(c.name, c);
        state = { tracked: t, shape, tableSchema: t.published_schema ?? t.table_schema, tableName: t.published_table ?? t.table_name, catalog: now, types, typesChecked: false };
        byRoot.set(root, state);
      }
      states.set(relid, state);
    }
    return states;
  }

  /**
   * A schema change, when this row shows one: its image has other column names than the shape
   * published last (added, dropped, renamed columns: exact, the row is the first of its shape), the
   * catalog has other types for the same columns (noticed at the first row of the table read after
   * the change), or the table was renamed (at its first row under the new name).
   */
  private detect(state: TableState, row: RawEventRow, isRoot: boolean): { event: OutboxEvent; update: Omit<ShapeUpdate, 'index' | 'relid'> } | undefined {
    const now = state.catalog;
    if (!now) return undefined;
    const names = row.names ?? state.shape.map((c) => c.name);
    const sameNames = names.length === state.shape.length && state.shape.every((c) => names.includes(c.name));
    // A type change the DDL event triggers recorded is announced by its recorded row, in its place.
    const recorded = state.tracked.ddl_recorded?.columns;
    const typesRecorded =
      recorded !== undefined &&
      now.columns.every((n) => {
        const r = recorded.find((c) => c.attnum === n.attnum);
        return !r || r.type === n.type;
      });
    const typesChanged = !state.typesChecked && !typesRecorded && state.shape.some((c) => now.columns.some((n) => n.attnum === c.attnum && n.name === c.name && n.type !== c.type));
    state.typesChecked = true;
    const renamed = isRoot && (row.table_schema !== state.tableSchema || row.table_name !== state.tableName) && row.table_schema === now.tableSchema && row.table_name === now.tableName;
    if (sameNames && !typesChanged && !renamed) return undefined;
    const current = rowShape(state, now, names);
    const changes = diffShapes(state.shape, current);
    if (renamed) changes.push({ kind: 'rename_table', from: `${state.tableSchema}.${state.tableName}`, to: `${now.tableSchema}.${now.tableName}` });
    if (changes.length === 0) return undefined;
    const from = { tableSchema: state.tableSchema, tableName: state.tableName };
    // The table's name changes in the stream at its first row under the new name, not before.
    const to = renamed ? { tableSchema: now.tableSchema, tableName: now.tableName } : from;
    const schemaChange: SchemaChange = {
      dialect: 'postgres',
      before: state.shape.map(publicColumn),
      after: current.map(publicColumn),
      key: state.tracked.key_columns.filter((k) => current.some((c) => c.name === k)),
      changes,
    };
    state.shape = current;
    state.tableSchema = to.tableSchema;
    state.tableName = to.tableName;
    for (const c of current) state.types.set(c.name, c);
    this.logger.info({ table: `${to.tableSchema}.${to.tableName}`, seq: row.seq, changes: changes.map((c) => c.kind) }, 'schema change of a tracked table noticed; published before its first row of the new shape');
    return {
      event: schemaChangeEvent({ seq: row.seq, xid: row.xid, changedAt: row.changed_at }, to, schemaChange),
      update: { from, to: { ...to, shape: current } },
    };
  }

  /**
   * The schema change of a row the DDL event triggers recorded: the table's captured columns and
   * name right after the DDL, against the shape published last (or changed earlier in this page).
   * Nothing when they are the same: the change was announced already (noticed from an earlier
   * row), or it changed nothing published (a rename of an excluded column, a constraint).
   */
  private recorded(state: TableState, row: RawEventRow, shape: ShapeColumn[]): { event: OutboxEvent; update: Omit<ShapeUpdate, 'index' | 'relid'> } | undefined {
    const from = { tableSchema: state.tableSchema, tableName: state.tableName };
    const to = { tableSchema: row.table_schema, tableName: row.table_name };
    const changes = diffShapes(state.shape, shape);
    if (to.tableSchema !== from.tableSchema || to.tableName !== from.tableName) changes.push({ kind: 'rename_table', from: `${from.tableSchema}.${from.tableName}`, to: `${to.tableSchema}.${to.tableName}` });
    const before = state.shape;
    state.shape = shape;
    for (const c of shape) state.types.set(c.name, c);
    if (changes.length === 0) return undefined;
    state.tableSchema = to.tableSchema;
    state.tableName = to.tableName;
    const schemaChange: SchemaChange = {
      dialect: 'postgres',
      before: before.map(publicColumn),
      after: shape.map(publicColumn),
      key: state.tracked.key_columns.filter((k) => shape.some((c) => c.name === k)),
      changes,
    };
    this.logger.info({ table: `${to.tableSchema}.${to.tableName}`, seq: row.seq, changes: changes.map((c) => c.kind) }, 'schema change of a tracked table recorded at DDL time; published in its place');
    return { event: schemaChangeEvent({ seq: row.seq, xid: row.xid, changedAt: row.changed_at }, to, schemaChange), update: { from, to: { ...to, shape } } };
  }

  /** Decodes the pending rows in the database, one query per table and image shape. */
  private async decodeImages(out: (OutboxEvent | Pending)[]): Promise<OutboxEvent[]> {
    const groups = new Map<string, number[]>();
    out.forEach((item, i) => {
      if (!('row' in item)) return;
      const key = JSON.stringify([item.state.tracked.relid, item.columns.map((c) => [c.name, c.formatted])]);
      const list = groups.get(key) ?? [];
      list.push(i);
      groups.set(key, list);
    });
    const decoded = new Map<number, OutboxEvent[]>();
    for (const indexes of groups.values()) {
      const first = out[indexes[0]!] as Pending;
      const rows = await this.decodeGroup(first, indexes.map((i) => out[i] as Pending), indexes);
      for (const [i, events] of rows) decoded.set(i, events);
    }
    return out.flatMap((item, i) => ('row' in item ? decoded.get(i) ?? [] : [item]));
  }

  private async decodeGroup(first: Pending, items: Pending[], indexes: number[]): Promise<Map<number, OutboxEvent[]>> {
    const spec = { keyColumns: first.state.tracked.key_columns, captured: first.columns, attributes: first.state.tracked.attribute_columns };
    const params = [indexes, items.map((p) => p.row.old_row), items.map((p) => p.row.new_row)];
    let res: pg.QueryResult<DecodedRow>;
    try {
      res = await this.pool.query<DecodedRow>(runtimeSql('postgres', 'relay_decode', decodeExpressions(spec)), params);
    } catch (err) {
      // Images of a shape the current types cannot read (a type change with rows of the old type in
      // flight): read every column as text rather than stall the stream.
      this.logger.warn({ table: `${first.tableSchema}.${first.tableName}`, err: (err as Error).message }, 'images do not fit the current column types; decoding them as text');
      const asText = first.columns.map((c) => ({ ...c, typeName: 'text', formatted: 'text', typeKind: 'b' }));
      res = await this.pool.query<DecodedRow>(runtimeSql('postgres', 'relay_decode', decodeExpressions({ ...spec, captured: asText })), params);
    }
    const result = new Map<number, OutboxEvent[]>();
    const all = first.columns.map((c) => c.name);
    const byIndex = new Map(items.map((p, k) => [indexes[k]!, p]));
    for (const d of res.rows) {
      const p = byIndex.get(d.i)!;
      const base = { seq: p.row.seq, xid: p.row.xid, tableSchema: p.tableSchema, tableName: p.tableName, changedAt: p.row.changed_at };
      const events: OutboxEvent[] = [];
      if (p.row.op === 'insert') events.push({ ...base, op: 'insert', key: d.key_new, before: null, after: d.after, changed: all, attributes: d.attrs_new });
      else if (p.row.op === 'delete') events.push({ ...base, op: 'delete', key: d.key_old, before: d.before, after: null, changed: null, attributes: d.attrs_old });
      else if (d.key_changed) {
        // A key change is a delete of the old key and an insert of the new one (docs/encoding.md).
        events.push({ ...base, op: 'delete', key: d.key_old, before: d.before, after: null, changed: null, attributes: d.attrs_old, keyChange: 'delete' });
        events.push({ ...base, op: 'insert', key: d.key_new, before: null, after: d.after, changed: all, attributes: d.attrs_new });
      } else if (d.changed && d.changed.length > 0) {
        events.push({ ...base, op: 'update', key: d.key_new, before: d.before, after: d.after, changed: d.changed, attributes: d.attrs_update });
      }
      // An update that changed no captured column (only excluded ones, or nothing) publishes nothing.
      result.set(d.i, events);
    }
    return result;
  }
}

interface DecodedRow {
  i: number;
  key_old: Record<string, unknown> | null;
  key_new: Record<string, unknown> | null;
  before: Record<string, unknown> | null;
  after: Record<string, unknown> | null;
  attrs_old: Record<string, string> | null;
  attrs_new: Record<string, string> | null;
  attrs_update: Record<string, string | string[]> | null;
  key_changed: boolean | null;
  changed: string[] | null;
}

/** The session settings the decode runs with (the values are rendered in them; docs/encoding.md). */
export const DECODE_SESSION_OPTIONS = captureSettingsOptions({ search_path: 'pg_catalog,pg_temp' });

/**
 * The shape a row was written with: its image's columns, each as the catalog has it now when the
 * catalog still has that column under that name (so a type change shows), else as last seen (the
 * column was renamed or dropped after this row was written). The catalog may be ahead of the row:
 * a column added after it is announced with the first row that has it.
 */
function rowShape(state: TableState, now: TableShape, names: string[]): ShapeColumn[] {
  const columns = names.map((name) => {
    const previous = state.shape.find((c) => c.name === name);
    if (previous) {
      const same = now.columns.find((c) => c.attnum === previous.attnum);
      return same && same.name === name ? same : previous;
    }
    return now.columns.find((c) => c.name === name) ?? state.types.get(name) ?? { attnum: Number.MAX_SAFE_INTEGER, name, type: 'text', nullable: true, typeName: 'text', typeKind: 'b' };
  });
  return columns.sort((a, b) => a.attnum - b.attnum);
}

/**
 * The columns of an image in table order, each with the type it is read back with: the type of the
 * shape in effect at the row (so a row written before a recorded ALTER COLUMN … TYPE is read with
 * the old type), else the newest known.
 */
function imageColumns(state: TableState, names: string[], inStream: boolean): ColumnInfo[] {
  const known = names.map((name) => (inStream ? state.shape.find((c) => c.name === name) : undefined) ?? state.types.get(name));
  return names
    .map((name, k) => ({ name, column: known[k] }))
    .sort((a, b) => (a.column?.attnum ?? Number.MAX_SAFE_INTEGER) - (b.column?.attnum ?? Number.MAX_SAFE_INTEGER))
    .map(({ name, column }) => (column ? { ...asColumnInfo(column), name } : { name, typeName: 'text', formatted: 'text', typeKind: 'b' }));
}

/** What changed between two shapes, matched by attribute number (a rename keeps it). */
export function diffShapes(before: ShapeColumn[], after: ShapeColumn[]): SchemaChangeItem[] {
  const changes: SchemaChangeItem[] = [];
  for (const old of before) {
    const now = after.find((c) => c.attnum === old.attnum);
    if (!now) changes.push({ kind: 'drop_column', column: old.name });
    else {
      if (now.name !== old.name) changes.push({ kind: 'rename_column', column: now.name, from: old.name });
      if (now.type !== old.type) changes.push({ kind: 'alter_type', column: now.name, from: old.type, to: now.type });
    }
  }
  for (const now of after) if (!before.some((c) => c.attnum === now.attnum)) changes.push({ kind: 'add_column', column: now.name, type: now.type });
  return changes;
}

/** The columns an op 'schema' row recorded at DDL time carry (`after.shape`); undefined for a drop_table. */
function recordedShape(row: RawEventRow): ShapeColumn[] | undefined {
  const shape = (row.after as { shape?: unknown } | null)?.shape;
  return Array.isArray(shape) ? (shape as ShapeColumn[]) : undefined;
}

/** A row's event with its images as written, for the quarantine (never published as is). */
function rawEvent(row: RawEventRow, tableSchema: string, tableName: string): OutboxEvent {
  const parse = (text: string | null) => (text === null ? null : (JSON.parse(text) as Record<string, unknown>));
  return { ...toEvent(row), tableSchema, tableName, before: parse(row.old_row), after: parse(row.new_row) };
}
