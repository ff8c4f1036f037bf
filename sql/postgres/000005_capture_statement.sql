-- outbox-relay 000005: statement-level capture for plain tables.
-- Purpose: capture_statement(), a statement trigger with transition tables that writes the same
--          outbox rows as capture_row() (sql/postgres/000004_capture_v2.sql: whole-row images as
--          json, excluded columns removed) with one INSERT … SELECT per statement, so a bulk
--          statement no longer pays an INSERT per row; it names no column either, so no DDL can
--          break it. Plain tables move to it; partitioned tables keep capture_row(), because a
--          statement trigger of a partitioned table does not fire for a statement that names one of
--          its partitions, while a row trigger is cloned onto every partition, present and future.
--          Both functions now keep the current outbox partition in the session's wake state
--          (below) instead of reading it from rotation for every row. Measured in bench/README.md.
-- Params:  {{schema}} is the validated, quoted outbox schema name.
-- Released: never edit this file; add a new numbered file instead.

-- Wake state: the session setting named by TG_ARGV[1] holds '<100 ms bucket>:<partition>'. The
-- first capture call of a session in each 100 ms bucket reads rotation.current_part, wakes the
-- relay (NOTIFY, delivered at commit) and stores both; later calls in the bucket use the stored
-- partition. A partition up to 100 ms stale is safe: an event is correct in any partition, since the
-- relay reads them all and truncates a partition only under ACCESS EXCLUSIVE after checking that
-- every event in it is published (sql/postgres/runtime/relay_rotate_check.sql). A value in another
-- format (a session that wrote before this migration) is simply refreshed.

-- The op CHECK goes: PostgreSQL prepares a CHECK expression again for every INSERT statement, which
-- measured ≈ 8–10 µs of CPU per captured statement (a third of the outbox INSERT); only the capture
-- functions, backfill and the relay write op, each with a constant.
ALTER TABLE {{schema}}.events DROP CONSTRAINT events_op_check;

-- The capture function of every tracked plain table. Statement-level, with transition tables: one
-- INSERT … SELECT per statement writes one outbox row per changed row, so a bulk statement pays once
-- for what a row trigger pays per row. It names no column of the table, so no DDL can break it.
--   TG_ARGV as for capture_row: [0] NOTIFY channel, [1] the session setting that throttles NOTIFY
--   and remembers the current partition, [2] (only with excluded columns) their attribute numbers.
-- Row order: seq follows the order PostgreSQL changed the rows (the transition tables keep it).
-- UPDATE pairs each old row with its new row by position: PostgreSQL appends both images of a row to
-- the two transition tables at once, so the n-th old row and the n-th new row are the same row's.
-- Excluded columns are looked up by number once per statement (a rename keeps them excluded).
-- Images are taken as o.* / n.*: a bare o or n would be a column of that name, if the table has one.
-- use_variable: the queries read the transition tables, so a column of the table could share a
-- variable's name (v_part, tg_relid, …); the variable is meant, never an error.
-- Values and settings as for capture_row.
CREATE FUNCTION {{schema}}.capture_statement() RETURNS trigger
LANGUAGE plpgsql
AS $capture$
#variable_conflict use_variable
DECLARE
  v_now    timestamptz := pg_catalog.clock_timestamp();
  v_excl   text[];
  v_floats text;
  v_ivs    text;
  v_bucket text := (pg_catalog.date_part('epoch', v_now) OPERATOR(pg_catalog.*) 10)::bigint::text;
  v_state  text := pg_catalog.current_setting(TG_ARGV[1], true);
  v_part   smallint;
BEGIN
  v_floats := pg_catalog.current_setting('extra_float_digits');
  v_ivs := pg_catalog.current_setting('IntervalStyle');
  IF v_floats OPERATOR(pg_catalog.<=) '0' OR v_ivs OPERATOR(pg_catalog.=) 'sql_standard' THEN
    PERFORM pg_catalog.set_config('extra_float_digits', '1', true), pg_catalog.set_config('IntervalStyle', 'iso_8601', true);
  ELSE
    v_floats := NULL;
  END IF;
  -- The wake state '<100 ms bucket>:<partition>' (see the top of this file).
  IF pg_catalog.starts_with(v_state, v_bucket OPERATOR(pg_catalog.||) ':') THEN
    v_part := pg_catalog.substr(v_state, pg_catalog.length(v_bucket) OPERATOR(pg_catalog.+) 2)::smallint;
  ELSE
    v_part := (SELECT r.current_part FROM {{schema}}.rotation r);
    PERFORM pg_catalog.pg_notify(TG_ARGV[0], ''), pg_catalog.set_config(TG_ARGV[1], v_bucket OPERATOR(pg_catalog.||) ':' OPERATOR(pg_catalog.||) v_part, false);
  END IF;
  IF TG_NARGS OPERATOR(pg_catalog.>) 2 THEN
    SELECT coalesce(pg_catalog.array_agg(a.attname::text), '{}') INTO v_excl
      FROM pg_catalog.pg_attribute a
     WHERE a.attrelid OPERATOR(pg_catalog.=) TG_RELID
       AND a.attnum OPERATOR(pg_catalog.=) ANY (TG_ARGV[2]::smallint[]) AND NOT a.attisdropped;
  END IF;
  IF TG_OP OPERATOR(pg_catalog.=) 'UPDATE' THEN
    INSERT INTO {{schema}}.events (part, seq, relid, table_schema, table_name, op, old_row, new_row, changed_at)
    SELECT v_part, pg_catalog.nextval('{{schema}}.event_seq'), TG_RELID, TG_TABLE_SCHEMA, TG_TABLE_NAME, 'update', p.o, p.n, v_now
      FROM (SELECT a.img AS o, b.img AS n
              FROM (SELECT CASE WHEN v_excl IS NULL THEN pg_catalog.to_json(o.*) ELSE (pg_catalog.to_jsonb(o.*) OPERATOR(pg_catalog.-) v_excl)::json END AS img,
                           pg_catalog.row_number() OVER () AS i
                      FROM old_rows o) a
              JOIN (SELECT CASE WHEN v_excl IS NULL THEN pg_catalog.to_json(n.*) ELSE (pg_catalog.to_jsonb(n.*) OPERATOR(pg_catalog.-) v_excl)::json END AS img,
                           pg_catalog.row_number() OVER () AS i
                      FROM new_rows n) b ON b.i OPERATOR(pg_catalog.=) a.i
             ORDER BY a.i) p;
  ELSIF TG_OP OPERATOR(pg_catalog.=) 'INSERT' THEN
    INSERT INTO {{schema}}.events (part, seq, relid, table_schema, table_name, op, new_row, changed_at)
    SELECT v_part, pg_catalog.nextval('{{schema}}.event_seq'), TG_RELID, TG_TABLE_SCHEMA, TG_TABLE_NAME, 'insert',
           CASE WHEN v_excl IS NULL THEN pg_catalog.to_json(n.*) ELSE (pg_catalog.to_jsonb(n.*) OPERATOR(pg_catalog.-) v_excl)::json END, v_now
      FROM new_rows n;
  ELSE
    INSERT INTO {{schema}}.events (part, seq, relid, table_schema, table_name, op, old_row, changed_at)
    SELECT v_part, pg_catalog.nextval('{{schema}}.event_seq'), TG_RELID, TG_TABLE_SCHEMA, TG_TABLE_NAME, 'delete',
           CASE WHEN v_excl IS NULL THEN pg_catalog.to_json(o.*) ELSE (pg_catalog.to_jsonb(o.*) OPERATOR(pg_catalog.-) v_excl)::json END, v_now
      FROM old_rows o;
  END IF;
  IF v_floats IS NOT NULL THEN
    PERFORM pg_catalog.set_config('extra_float_digits', v_floats, true), pg_catalog.set_config('IntervalStyle', v_ivs, true);
  END IF;
  RETURN NULL;
END
$capture$;

-- capture_row() as in 000004, with the wake state: the row trigger of partitioned tables.
CREATE OR REPLACE FUNCTION {{schema}}.capture_row() RETURNS trigger
LANGUAGE plpgsql
AS $capture$
DECLARE
  v_now    timestamptz := pg_catalog.clock_timestamp();
  v_old    json;
  v_new    json;
  v_excl   text[];
  v_floats text;
  v_ivs    text;
  v_bucket text := (pg_catalog.date_part('epoch', v_now) OPERATOR(pg_catalog.*) 10)::bigint::text;
  v_state  text := pg_catalog.current_setting(TG_ARGV[1], true);
  v_part   smallint;
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
  -- The wake state '<100 ms bucket>:<partition>' (see the top of this file).
  IF pg_catalog.starts_with(v_state, v_bucket OPERATOR(pg_catalog.||) ':') THEN
    v_part := pg_catalog.substr(v_state, pg_catalog.length(v_bucket) OPERATOR(pg_catalog.+) 2)::smallint;
  ELSE
    v_part := (SELECT r.current_part FROM {{schema}}.rotation r);
    PERFORM pg_catalog.pg_notify(TG_ARGV[0], ''), pg_catalog.set_config(TG_ARGV[1], v_bucket OPERATOR(pg_catalog.||) ':' OPERATOR(pg_catalog.||) v_part, false);
  END IF;
  INSERT INTO {{schema}}.events (part, seq, relid, table_schema, table_name, op, old_row, new_row, changed_at)
  VALUES (v_part, pg_catalog.nextval('{{schema}}.event_seq'), TG_RELID,
          TG_TABLE_SCHEMA, TG_TABLE_NAME, pg_catalog.lower(TG_OP), v_old, v_new, v_now);
  RETURN NULL;
END
$capture$;

-- Upgrade: every tracked plain table moves from the row trigger to the three statement triggers,
-- with the same arguments. Partitioned tables, and tables that no longer exist, are left as they are.
DO $upgrade$
DECLARE
  t record;
  v_outbox text := (SELECT n.nspname FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                     WHERE c.oid = '{{schema}}.rotation'::regclass);
  v_args text;
BEGIN
  FOR t IN SELECT tt.table_schema, tt.table_name, tt.excluded_attnums, c.oid::regclass AS rel
             FROM {{schema}}.tracked_tables tt JOIN pg_catalog.pg_class c ON c.oid = tt.relid
            WHERE c.relkind = 'r' AND tt.function_name = 'capture_row' LOOP
    v_args := pg_catalog.format('%L, %L', 'outbox_' || v_outbox, 'outbox_relay.wake_' || pg_catalog.lower(v_outbox));
    IF pg_catalog.cardinality(t.excluded_attnums) > 0 THEN v_args := v_args || pg_catalog.format(', %L', t.excluded_attnums::text); END IF;
    EXECUTE pg_catalog.format('DROP TRIGGER IF EXISTS outbox_capture_row ON %s', t.rel);
    EXECUTE pg_catalog.format('CREATE TRIGGER outbox_capture_insert AFTER INSERT ON %s REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION {{schema}}.capture_statement(%s)', t.rel, v_args);
    EXECUTE pg_catalog.format('CREATE TRIGGER outbox_capture_update AFTER UPDATE ON %s REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION {{schema}}.capture_statement(%s)', t.rel, v_args);
    EXECUTE pg_catalog.format('CREATE TRIGGER outbox_capture_delete AFTER DELETE ON %s REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION {{schema}}.capture_statement(%s)', t.rel, v_args);
    UPDATE {{schema}}.tracked_tables SET function_name = 'capture_statement'
     WHERE table_schema = t.table_schema AND table_name = t.table_name;
  END LOOP;
END
$upgrade$;
