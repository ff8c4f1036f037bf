-- outbox-relay 000011: excluded columns named without a catalog query.
-- Purpose: capture_statement() and capture_row() (sql/postgres/000009_capture_fast_path.sql) found
--          the current names of a table's excluded columns (kept by attribute number in the trigger
--          arguments, so a renamed excluded column stays excluded) with a query on pg_attribute, run
--          through SPI on every captured statement (every row, for capture_row()). That query was the
--          largest part of what an excluded column costs a writer: ≈ 108k instructions of the ≈ 178k
--          an UPDATE of a table with one excluded column costs over one without (bench/README.md,
--          "Excluded columns without a catalog query"). Both functions now read each name with
--          pg_identify_object_as_address() — a catalog-cache lookup by attribute number, evaluated
--          as a plain expression, executable by any role — and tables with excluded columns take the
--          one-IF common case too. The names are those of the same attribute numbers as before, read
--          in the same transaction: a dropped column yields its placeholder name, which no image has
--          as a key. The image without them becomes json by to_json() of the jsonb, which takes the
--          jsonb's text as it is, instead of a cast that parsed that text again: the same text. The
--          outbox rows, their order, the settings and the wake state are exactly as with 000009. No
--          trigger changes.
-- Params:  {{schema}} is the validated, quoted outbox schema name.
-- Released: never edit this file; add a new numbered file instead.

-- capture_statement() as in 000009, the excluded names read by attribute number. The common case
-- (one IF) is what 000007 computes when
--   extra_float_digits > '0' and IntervalStyle <> 'sql_standard' (the same text comparisons
--   negated: no setting is overridden, v_floats stays NULL),
--   the wake state starts with the current bucket and ':' (the partition is its last character:
--   the state is '<bucket>:<part>' and rotation.current_part is 0, 1 or 2).
CREATE OR REPLACE FUNCTION {{schema}}.capture_statement() RETURNS trigger
LANGUAGE plpgsql
AS $capture$
#variable_conflict use_variable
DECLARE
  v_now    timestamptz := pg_catalog.clock_timestamp();
  v_excl   text[];
  v_floats text;
  v_ivs    text;
  v_bucket text;
  v_state  text;
  v_part   smallint;
  v_attnum smallint;
BEGIN
  IF pg_catalog.current_setting('extra_float_digits') OPERATOR(pg_catalog.>) '0'
     AND pg_catalog.current_setting('IntervalStyle') OPERATOR(pg_catalog.<>) 'sql_standard'
     AND pg_catalog.starts_with(pg_catalog.current_setting(TG_ARGV[1], true),
                                (pg_catalog.date_part('epoch', v_now) OPERATOR(pg_catalog.*) 10)::bigint::text OPERATOR(pg_catalog.||) ':') THEN
    v_part := pg_catalog.right(pg_catalog.current_setting(TG_ARGV[1]), 1)::smallint;
  ELSE
    -- The full path, as in 000007 (the excluded names below).
    v_bucket := (pg_catalog.date_part('epoch', v_now) OPERATOR(pg_catalog.*) 10)::bigint::text;
    v_state := pg_catalog.current_setting(TG_ARGV[1], true);
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
  END IF;
  -- The excluded columns' names now, by attribute number (TG_ARGV[2]).
  IF TG_NARGS OPERATOR(pg_catalog.>) 2 THEN
    v_excl := '{}';
    FOREACH v_attnum IN ARRAY TG_ARGV[2]::smallint[] LOOP
      v_excl := v_excl OPERATOR(pg_catalog.||) (pg_catalog.pg_identify_object_as_address('pg_catalog.pg_class'::pg_catalog.regclass, TG_RELID, v_attnum)).object_names[3];
    END LOOP;
  END IF;
  IF TG_OP OPERATOR(pg_catalog.=) 'UPDATE' THEN
    -- old_rows is read only here: an INSERT or DELETE trigger has no such transition table.
    IF NOT EXISTS (SELECT FROM old_rows OFFSET 1) THEN
      -- At most one row changed: its two images pair without the plan below.
      INSERT INTO {{schema}}.events (part, seq, relid, table_schema, table_name, op, old_row, new_row, changed_at)
      SELECT v_part, pg_catalog.nextval('{{schema}}.event_seq'), TG_RELID, TG_TABLE_SCHEMA, TG_TABLE_NAME, 'update',
             CASE WHEN v_excl IS NULL THEN pg_catalog.to_json(o.*) ELSE pg_catalog.to_json(pg_catalog.to_jsonb(o.*) OPERATOR(pg_catalog.-) v_excl) END,
             CASE WHEN v_excl IS NULL THEN pg_catalog.to_json(n.*) ELSE pg_catalog.to_json(pg_catalog.to_jsonb(n.*) OPERATOR(pg_catalog.-) v_excl) END, v_now
        FROM old_rows o, new_rows n;
    ELSE
      INSERT INTO {{schema}}.events (part, seq, relid, table_schema, table_name, op, old_row, new_row, changed_at)
      SELECT v_part, pg_catalog.nextval('{{schema}}.event_seq'), TG_RELID, TG_TABLE_SCHEMA, TG_TABLE_NAME, 'update', p.o, p.n, v_now
        FROM (SELECT a.img AS o, b.img AS n
                FROM (SELECT CASE WHEN v_excl IS NULL THEN pg_catalog.to_json(o.*) ELSE pg_catalog.to_json(pg_catalog.to_jsonb(o.*) OPERATOR(pg_catalog.-) v_excl) END AS img,
                             pg_catalog.row_number() OVER () AS i
                        FROM old_rows o) a
                JOIN (SELECT CASE WHEN v_excl IS NULL THEN pg_catalog.to_json(n.*) ELSE pg_catalog.to_json(pg_catalog.to_jsonb(n.*) OPERATOR(pg_catalog.-) v_excl) END AS img,
                             pg_catalog.row_number() OVER () AS i
                        FROM new_rows n) b ON b.i OPERATOR(pg_catalog.=) a.i
               ORDER BY a.i) p;
    END IF;
  ELSIF TG_OP OPERATOR(pg_catalog.=) 'INSERT' THEN
    INSERT INTO {{schema}}.events (part, seq, relid, table_schema, table_name, op, new_row, changed_at)
    SELECT v_part, pg_catalog.nextval('{{schema}}.event_seq'), TG_RELID, TG_TABLE_SCHEMA, TG_TABLE_NAME, 'insert',
           CASE WHEN v_excl IS NULL THEN pg_catalog.to_json(n.*) ELSE pg_catalog.to_json(pg_catalog.to_jsonb(n.*) OPERATOR(pg_catalog.-) v_excl) END, v_now
      FROM new_rows n;
  ELSE
    INSERT INTO {{schema}}.events (part, seq, relid, table_schema, table_name, op, old_row, changed_at)
    SELECT v_part, pg_catalog.nextval('{{schema}}.event_seq'), TG_RELID, TG_TABLE_SCHEMA, TG_TABLE_NAME, 'delete',
           CASE WHEN v_excl IS NULL THEN pg_catalog.to_json(o.*) ELSE pg_catalog.to_json(pg_catalog.to_jsonb(o.*) OPERATOR(pg_catalog.-) v_excl) END, v_now
      FROM old_rows o;
  END IF;
  IF v_floats IS NOT NULL THEN
    PERFORM pg_catalog.set_config('extra_float_digits', v_floats, true), pg_catalog.set_config('IntervalStyle', v_ivs, true);
  END IF;
  RETURN NULL;
END
$capture$;

-- capture_row() (partitioned tables) as in 000009, the excluded names read by attribute number. The images are taken
-- in the INSERT itself (OLD is NULL for an INSERT and NEW for a DELETE, and to_json of NULL is NULL),
-- so the settings are restored after it instead of before: the images are taken under the same
-- settings as before, and nothing else in the INSERT formats a value.
CREATE OR REPLACE FUNCTION {{schema}}.capture_row() RETURNS trigger
LANGUAGE plpgsql
AS $capture$
DECLARE
  v_now    timestamptz := pg_catalog.clock_timestamp();
  v_excl   text[];
  v_floats text;
  v_ivs    text;
  v_bucket text;
  v_state  text;
  v_part   smallint;
  v_attnum smallint;
BEGIN
  IF pg_catalog.current_setting('extra_float_digits') OPERATOR(pg_catalog.>) '0'
     AND pg_catalog.current_setting('IntervalStyle') OPERATOR(pg_catalog.<>) 'sql_standard'
     AND pg_catalog.starts_with(pg_catalog.current_setting(TG_ARGV[1], true),
                                (pg_catalog.date_part('epoch', v_now) OPERATOR(pg_catalog.*) 10)::bigint::text OPERATOR(pg_catalog.||) ':') THEN
    v_part := pg_catalog.right(pg_catalog.current_setting(TG_ARGV[1]), 1)::smallint;
  ELSE
    -- The full path, as in 000005 (the excluded names below).
    v_bucket := (pg_catalog.date_part('epoch', v_now) OPERATOR(pg_catalog.*) 10)::bigint::text;
    v_state := pg_catalog.current_setting(TG_ARGV[1], true);
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
  END IF;
  -- The excluded columns' names now, by the root table's attribute numbers (TG_ARGV[2]): a
  -- partition may number its columns differently, its images use the same names.
  IF TG_NARGS OPERATOR(pg_catalog.>) 2 THEN
    v_excl := '{}';
    FOREACH v_attnum IN ARRAY TG_ARGV[2]::smallint[] LOOP
      v_excl := v_excl OPERATOR(pg_catalog.||) (pg_catalog.pg_identify_object_as_address('pg_catalog.pg_class'::pg_catalog.regclass,
                  coalesce(pg_catalog.pg_partition_root(TG_RELID), TG_RELID), v_attnum)).object_names[3];
    END LOOP;
  END IF;
  INSERT INTO {{schema}}.events (part, seq, relid, table_schema, table_name, op, old_row, new_row, changed_at)
  VALUES (v_part, pg_catalog.nextval('{{schema}}.event_seq'), TG_RELID, TG_TABLE_SCHEMA, TG_TABLE_NAME, pg_catalog.lower(TG_OP),
          CASE WHEN v_excl IS NULL THEN pg_catalog.to_json(OLD) ELSE pg_catalog.to_json(pg_catalog.to_jsonb(OLD) OPERATOR(pg_catalog.-) v_excl) END,
          CASE WHEN v_excl IS NULL THEN pg_catalog.to_json(NEW) ELSE pg_catalog.to_json(pg_catalog.to_jsonb(NEW) OPERATOR(pg_catalog.-) v_excl) END, v_now);
  IF v_floats IS NOT NULL THEN
    PERFORM pg_catalog.set_config('extra_float_digits', v_floats, true), pg_catalog.set_config('IntervalStyle', v_ivs, true);
  END IF;
  RETURN NULL;
END
$capture$;
