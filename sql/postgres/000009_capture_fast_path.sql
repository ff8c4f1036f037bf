-- outbox-relay 000009: fewer PL/pgSQL statements per captured statement.
-- Purpose: capture_statement() (sql/postgres/000007_capture_single_row.sql) and capture_row()
--          (sql/postgres/000005_capture_statement.sql) ran about ten PL/pgSQL statements before
--          their INSERT (the settings check, the wake state, the branch on excluded columns), and
--          PostgreSQL pays ≈ 3–4k instructions of interpreter set-up for each, whatever it computes
--          (bench/README.md, "Outbox row decomposition"). Both now test the common case in one IF:
--          no excluded column, no setting that loses information, and a wake state of the current
--          100 ms bucket. Then only the partition is read from the wake state and the INSERT runs;
--          in every other case the full path of 000005/000007 runs, unchanged. The outbox rows, their
--          order, the partition chosen, the settings and the wake state are exactly as before, so
--          events written before this migration and after it are read alike, and a session that
--          wrote before it goes on writing. No trigger changes: replacing the two functions moves
--          every tracked table over.
-- Params:  {{schema}} is the validated, quoted outbox schema name.
-- Released: never edit this file; add a new numbered file instead.

-- capture_statement() as in 000007. The common case (one IF) is what 000007 computes when
--   TG_NARGS = 2 (no excluded column: v_excl stays NULL),
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
BEGIN
  IF TG_NARGS OPERATOR(pg_catalog.=) 2
     AND pg_catalog.current_setting('extra_float_digits') OPERATOR(pg_catalog.>) '0'
     AND pg_catalog.current_setting('IntervalStyle') OPERATOR(pg_catalog.<>) 'sql_standard'
     AND pg_catalog.starts_with(pg_catalog.current_setting(TG_ARGV[1], true),
                                (pg_catalog.date_part('epoch', v_now) OPERATOR(pg_catalog.*) 10)::bigint::text OPERATOR(pg_catalog.||) ':') THEN
    v_part := pg_catalog.right(pg_catalog.current_setting(TG_ARGV[1]), 1)::smallint;
  ELSE
    -- The full path, as in 000007.
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
    IF TG_NARGS OPERATOR(pg_catalog.>) 2 THEN
      SELECT coalesce(pg_catalog.array_agg(a.attname::text), '{}') INTO v_excl
        FROM pg_catalog.pg_attribute a
       WHERE a.attrelid OPERATOR(pg_catalog.=) TG_RELID
         AND a.attnum OPERATOR(pg_catalog.=) ANY (TG_ARGV[2]::smallint[]) AND NOT a.attisdropped;
    END IF;
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

-- capture_row() (partitioned tables) as in 000005, with the same common case. The images are taken
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
BEGIN
  IF TG_NARGS OPERATOR(pg_catalog.=) 2
     AND pg_catalog.current_setting('extra_float_digits') OPERATOR(pg_catalog.>) '0'
     AND pg_catalog.current_setting('IntervalStyle') OPERATOR(pg_catalog.<>) 'sql_standard'
     AND pg_catalog.starts_with(pg_catalog.current_setting(TG_ARGV[1], true),
                                (pg_catalog.date_part('epoch', v_now) OPERATOR(pg_catalog.*) 10)::bigint::text OPERATOR(pg_catalog.||) ':') THEN
    v_part := pg_catalog.right(pg_catalog.current_setting(TG_ARGV[1]), 1)::smallint;
  ELSE
    -- The full path, as in 000005.
    v_bucket := (pg_catalog.date_part('epoch', v_now) OPERATOR(pg_catalog.*) 10)::bigint::text;
    v_state := pg_catalog.current_setting(TG_ARGV[1], true);
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
    END IF;
    -- The wake state '<100 ms bucket>:<partition>' (sql/postgres/000005_capture_statement.sql).
    IF pg_catalog.starts_with(v_state, v_bucket OPERATOR(pg_catalog.||) ':') THEN
      v_part := pg_catalog.substr(v_state, pg_catalog.length(v_bucket) OPERATOR(pg_catalog.+) 2)::smallint;
    ELSE
      v_part := (SELECT r.current_part FROM {{schema}}.rotation r);
      PERFORM pg_catalog.pg_notify(TG_ARGV[0], ''), pg_catalog.set_config(TG_ARGV[1], v_bucket OPERATOR(pg_catalog.||) ':' OPERATOR(pg_catalog.||) v_part, false);
    END IF;
  END IF;
  INSERT INTO {{schema}}.events (part, seq, relid, table_schema, table_name, op, old_row, new_row, changed_at)
  VALUES (v_part, pg_catalog.nextval('{{schema}}.event_seq'), TG_RELID, TG_TABLE_SCHEMA, TG_TABLE_NAME, pg_catalog.lower(TG_OP),
          CASE WHEN v_excl IS NULL THEN pg_catalog.to_json(OLD) ELSE (pg_catalog.to_jsonb(OLD) OPERATOR(pg_catalog.-) v_excl)::json END,
          CASE WHEN v_excl IS NULL THEN pg_catalog.to_json(NEW) ELSE (pg_catalog.to_jsonb(NEW) OPERATOR(pg_catalog.-) v_excl)::json END, v_now);
  IF v_floats IS NOT NULL THEN
    PERFORM pg_catalog.set_config('extra_float_digits', v_floats, true), pg_catalog.set_config('IntervalStyle', v_ivs, true);
  END IF;
  RETURN NULL;
END
$capture$;
