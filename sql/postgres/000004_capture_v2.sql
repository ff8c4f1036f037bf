-- outbox-relay 000004: capture v2 — one generic capture function for every tracked table.
-- Purpose: whole-row images (to_json) written by one shared row trigger that never names a column,
--          so ADD/DROP/RENAME COLUMN, ALTER COLUMN TYPE and RENAME TABLE never make an application
--          write fail and a column added is captured from its first change. Excluded columns are
--          kept by attribute number and removed inside the database (docs/capture.md). The relay
--          turns the images into the event encoding of docs/encoding.md. Upgrades every table
--          tracked by an earlier version to the new triggers in the same transaction.
-- Params:  {{schema}} is the validated, quoted outbox schema name.
-- Released: never edit this file; add a new numbered file instead.

-- v2 rows: relid is the table the trigger fired on (a partition for a partitioned table), old_row /
-- new_row its whole-row images as json (excluded columns removed). key, before, after, changed and
-- attributes stay for snapshot rows (backfill) and rows written before this migration.
ALTER TABLE {{schema}}.events ADD COLUMN relid oid, ADD COLUMN old_row json, ADD COLUMN new_row json;
ALTER TABLE {{schema}}.events DROP CONSTRAINT events_op_check;
ALTER TABLE {{schema}}.events ADD CONSTRAINT events_op_check CHECK (op IN ('insert', 'update', 'delete', 'truncate', 'snapshot', 'schema'));

-- relid: the tracked table, followed through renames; excluded_attnums: the excluded columns by
-- attribute number (a rename keeps them excluded); shape: the captured columns as the relay last
-- published them ([{attnum, name, type, nullable, typeName, typeKind}]), compared with each image;
-- schema_problem: why the relay holds the table's events back (a key or attribute column was
-- dropped or renamed), or NULL.
ALTER TABLE {{schema}}.tracked_tables
  ADD COLUMN relid oid,
  ADD COLUMN excluded_attnums smallint[] NOT NULL DEFAULT '{}',
  ADD COLUMN shape jsonb,
  ADD COLUMN schema_problem text;

-- The capture function of every tracked table. Row-level: one call per row, one INSERT. It names no
-- column of the table, so no DDL can break it.
--   TG_ARGV[0] NOTIFY channel, TG_ARGV[1] the session setting that throttles NOTIFY,
--   TG_ARGV[2] (only when the table has excluded columns) their attribute numbers, e.g. '{3,7}'.
-- Excluded columns are looked up by number in the catalog on every row of such a table: a rename
-- (or a drop and a new column of the old name) can never let one through. The numbers are the
-- tracked table's: a partition may number its columns differently, names are the same.
-- Values: to_json is unaffected by DateStyle and writes timestamptz with its offset (the relay reads
-- it back as an instant); the two settings that could lose information, extra_float_digits <= 0
-- (rounded floats) and IntervalStyle sql_standard (ambiguous negative intervals), are overridden for
-- the call only when the writer set them, so the common case pays no SET clause.
CREATE FUNCTION {{schema}}.capture_row() RETURNS trigger
LANGUAGE plpgsql
AS $capture$
DECLARE
  v_now    timestamptz := pg_catalog.clock_timestamp();
  v_old    json;
  v_new    json;
  v_excl   text[];
  v_floats text;
  v_ivs    text;
  v_bucket text;
BEGIN
  v_floats := pg_catalog.current_setting('extra_float_digits');
  v_ivs := pg_catalog.current_setting('IntervalStyle');
  IF v_floats OPERATOR(pg_catalog.<=) '0' OR v_ivs OPERATOR(pg_catalog.=) 'sql_standard' THEN
    PERFORM pg_catalog.set_config('extra_float_digits', '1', true), pg_catalog.set_config('IntervalStyle', 'iso_8601', true);
  ELSE
    v_floats := NULL;
  END IF;
  IF TG_NARGS OPERATOR(pg_catalog.>) 2 THEN
    SELECT pg_catalog.array_agg(a.attname::text) INTO v_excl
      FROM pg_catalog.pg_attribute a
     WHERE a.attrelid OPERATOR(pg_catalog.=) coalesce(pg_catalog.pg_partition_root(TG_RELID), TG_RELID)
       AND a.attnum OPERATOR(pg_catalog.=) ANY (TG_ARGV[2]::smallint[]) AND NOT a.attisdropped;
    v_excl := coalesce(v_excl, '{}');
    IF TG_OP OPERATOR(pg_catalog.<>) 'INSERT' THEN v_old := (pg_catalog.to_jsonb(OLD) OPERATOR(pg_catalog.-) v_excl)::json; END IF;
    IF TG_OP OPERATOR(pg_catalog.<>) 'DELETE' THEN v_new := (pg_catalog.to_jsonb(NEW) OPERATOR(pg_catalog.-) v_excl)::json; END IF;
  ELSE
    IF TG_OP OPERATOR(pg_catalog.<>) 'INSERT' THEN v_old := pg_catalog.to_json(OLD); END IF;
    IF TG_OP OPERATOR(pg_catalog.<>) 'DELETE' THEN v_new := pg_catalog.to_json(NEW); END IF;
  END IF;
  IF v_floats IS NOT NULL THEN
    PERFORM pg_catalog.set_config('extra_float_digits', v_floats, true), pg_catalog.set_config('IntervalStyle', v_ivs, true);
  END IF;
  INSERT INTO {{schema}}.events (part, seq, relid, table_schema, table_name, op, old_row, new_row, changed_at)
  VALUES ((SELECT r.current_part FROM {{schema}}.rotation r), pg_catalog.nextval('{{schema}}.event_seq'), TG_RELID,
          TG_TABLE_SCHEMA, TG_TABLE_NAME, pg_catalog.lower(TG_OP), v_old, v_new, v_now);
  -- Wake the relay at most once per 100 ms per session (docs/encoding.md, "Wake-up of the relay").
  v_bucket := (pg_catalog.date_part('epoch', v_now) OPERATOR(pg_catalog.*) 10)::bigint::text;
  IF pg_catalog.current_setting(TG_ARGV[1], true) IS DISTINCT FROM v_bucket THEN
    PERFORM pg_catalog.pg_notify(TG_ARGV[0], ''), pg_catalog.set_config(TG_ARGV[1], v_bucket, false);
  END IF;
  RETURN NULL;
END
$capture$;

-- TRUNCATE of a tracked table: one statement-level event. TG_ARGV as for capture_row.
CREATE FUNCTION {{schema}}.capture_truncate() RETURNS trigger
LANGUAGE plpgsql
AS $capture$
BEGIN
  INSERT INTO {{schema}}.events (part, seq, relid, table_schema, table_name, op, changed_at)
  VALUES ((SELECT r.current_part FROM {{schema}}.rotation r), pg_catalog.nextval('{{schema}}.event_seq'), TG_RELID,
          TG_TABLE_SCHEMA, TG_TABLE_NAME, 'truncate', pg_catalog.clock_timestamp());
  PERFORM pg_catalog.pg_notify(TG_ARGV[0], '');
  RETURN NULL;
END
$capture$;

-- Upgrade: every table tracked by an earlier version gets the generic triggers now; its generated
-- function and four statement triggers go. A table that no longer exists is left for `outbox doctor`.
DO $upgrade$
DECLARE
  t record;
  v_rel regclass;
  v_attnums smallint[];
  v_outbox text := (SELECT n.nspname FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                     WHERE c.oid = '{{schema}}.rotation'::regclass);
  v_args text;
BEGIN
  FOR t IN SELECT * FROM {{schema}}.tracked_tables LOOP
    v_rel := pg_catalog.to_regclass(pg_catalog.format('%I.%I', t.table_schema, t.table_name));
    CONTINUE WHEN v_rel IS NULL;
    SELECT coalesce(pg_catalog.array_agg(a.attnum ORDER BY a.attnum), '{}') INTO v_attnums
      FROM pg_catalog.pg_attribute a
     WHERE a.attrelid = v_rel AND a.attnum > 0 AND NOT a.attisdropped AND a.attname = ANY (t.excluded_columns);
    -- The shape the relay compares images with: the columns v1 captured, spelled as
    -- sql/postgres/runtime/table_shape.sql spells them (a column added since is announced).
    UPDATE {{schema}}.tracked_tables
       SET relid = v_rel, excluded_attnums = v_attnums, function_name = 'capture_row',
           shape = (SELECT coalesce(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
                          'name', a.attname, 'type', CASE WHEN tn.nspname = 'pg_catalog' THEN pg_catalog.format_type(a.atttypid, a.atttypmod)
                                                          ELSE pg_catalog.quote_ident(tn.nspname) || '.' || pg_catalog.quote_ident(ty.typname) END,
                          'nullable', NOT a.attnotnull, 'attnum', a.attnum::int, 'typeName', bt.typname, 'typeKind', bt.typtype) ORDER BY a.attnum), '[]')
                      FROM pg_catalog.pg_attribute a
                      JOIN pg_catalog.pg_type ty ON ty.oid = a.atttypid
                      JOIN pg_catalog.pg_namespace tn ON tn.oid = ty.typnamespace
                      JOIN pg_catalog.pg_type bt ON bt.oid = CASE WHEN ty.typtype = 'd' THEN ty.typbasetype ELSE ty.oid END
                     WHERE a.attrelid = v_rel AND a.attnum > 0 AND NOT a.attisdropped AND a.attname = ANY (t.captured_columns))
     WHERE table_schema = t.table_schema AND table_name = t.table_name;
    v_args := pg_catalog.format('%L, %L', 'outbox_' || v_outbox, 'outbox_relay.wake_' || pg_catalog.lower(v_outbox));
    IF pg_catalog.cardinality(v_attnums) > 0 THEN v_args := v_args || pg_catalog.format(', %L', v_attnums::text); END IF;
    EXECUTE pg_catalog.format('DROP TRIGGER IF EXISTS outbox_capture_insert ON %s', v_rel);
    EXECUTE pg_catalog.format('DROP TRIGGER IF EXISTS outbox_capture_update ON %s', v_rel);
    EXECUTE pg_catalog.format('DROP TRIGGER IF EXISTS outbox_capture_delete ON %s', v_rel);
    EXECUTE pg_catalog.format('DROP TRIGGER IF EXISTS outbox_capture_truncate ON %s', v_rel);
    EXECUTE pg_catalog.format('CREATE TRIGGER outbox_capture_row AFTER INSERT OR UPDATE OR DELETE ON %s FOR EACH ROW EXECUTE FUNCTION {{schema}}.capture_row(%s)', v_rel, v_args);
    EXECUTE pg_catalog.format('CREATE TRIGGER outbox_capture_truncate AFTER TRUNCATE ON %s FOR EACH STATEMENT EXECUTE FUNCTION {{schema}}.capture_truncate(%s)', v_rel, v_args);
    EXECUTE pg_catalog.format('DROP FUNCTION IF EXISTS {{schema}}.%I()', t.function_name);
  END LOOP;
END
$upgrade$;
