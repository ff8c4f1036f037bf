-- outbox-relay 000007: a cheaper capture of single-row UPDATE statements.
-- Purpose: capture_statement() (sql/postgres/000005_capture_statement.sql) pairs an UPDATE's old and
--          new rows by position with two window aggregates, a hash join and a sort, set up for every
--          statement. Most UPDATE statements change one row: when the old transition table holds at
--          most one row, its image and the one new row are written without that plan. Everything
--          else is as in 000005 (same outbox rows, same order, same settings and wake state). The
--          function is shared by every tracked plain table, so replacing it moves every installed
--          table over; no trigger changes. Measured in bench/README.md.
-- Params:  {{schema}} is the validated, quoted outbox schema name.
-- Released: never edit this file; add a new numbered file instead.

-- capture_statement() as in 000005, with the single-row UPDATE path. A statement that changed no
-- row takes it too (its transition tables are empty, so it writes nothing, as before).
CREATE OR REPLACE FUNCTION {{schema}}.capture_statement() RETURNS trigger
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
  -- The wake state '<100 ms bucket>:<partition>' (sql/postgres/000005_capture_statement.sql).
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
    -- old_rows is read only here: an INSERT or DELETE trigger has no such transition table.
    IF NOT EXISTS (SELECT FROM old_rows OFFSET 1) THEN
      -- At most one row changed: its two images pair without the plan below.
      INSERT INTO {{schema}}.events (part, seq, relid, table_schema, table_name, op, old_row, new_row, changed_at)
      SELECT v_part, pg_catalog.nextval('{{schema}}.event_seq'), TG_RELID, TG_TABLE_SCHEMA, TG_TABLE_NAME, 'update',
             CASE WHEN v_excl IS NULL THEN pg_catalog.to_json(o.*) ELSE (pg_catalog.to_jsonb(o.*) OPERATOR(pg_catalog.-) v_excl)::json END,
             CASE WHEN v_excl IS NULL THEN pg_catalog.to_json(n.*) ELSE (pg_catalog.to_jsonb(n.*) OPERATOR(pg_catalog.-) v_excl)::json END, v_now
        FROM old_rows o, new_rows n;
    ELSE
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
    END IF;
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
