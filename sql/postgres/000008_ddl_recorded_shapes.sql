-- outbox-relay 000008: schema changes recorded by the DDL event triggers when the DDL runs.
-- Purpose: with the event triggers of 000006 installed, an ALTER TABLE of a tracked table (ADD, DROP,
--          RENAME COLUMN, ALTER COLUMN … TYPE, RENAME TO, SET SCHEMA) and a column dropped with a
--          DROP TYPE / DROP DOMAIN … CASCADE write one `schema` row into the outbox in the DDL's own
--          transaction: the table's captured columns after the DDL (excluded columns left out, by
--          attribute number), with a seq between the rows written before the DDL and those after it.
--          The relay publishes the difference to the shape it published last at exactly that point
--          (docs/schema-changes.md), so a type change no longer waits for the next page, and a column
--          added to a table dropped before any row of the new shape was written is still announced.
--          tracked_tables.ddl_recorded keeps what was recorded last, so a DDL that changes none of
--          it (a constraint, an index, a rename of an excluded column) writes nothing, and the relay
--          knows which catalog changes a recorded row announces. Without the event triggers nothing
--          here runs: the relay notices changes from the rows and the catalog as before.
-- Params:  {{schema}} is the validated, quoted outbox schema name.
-- Released: never edit this file; add a new numbered file instead.

-- What the DDL event triggers recorded last for the table: {"schema", "table", "columns"}, the
-- columns as tracked_tables.shape spells them. NULL until one records.
ALTER TABLE {{schema}}.tracked_tables ADD COLUMN ddl_recorded jsonb;
-- The seq of the drop_table row of a tracked table that was dropped: the relay removes the row from
-- tracked_tables once it has published that drop (docs/capture.md, "Event triggers").
ALTER TABLE {{schema}}.tracked_tables ADD COLUMN dropped_seq bigint;
-- The name the stream knows the table by, when a re-track after a RENAME TO the relay has not
-- published yet moved table_schema/table_name to the new one; the relay publishes the rename_table
-- and clears them. NULL otherwise.
ALTER TABLE {{schema}}.tracked_tables ADD COLUMN published_schema text, ADD COLUMN published_table text;

-- The captured columns of a table as the catalog has them now, in the form of tracked_tables.shape
-- (the same columns and spellings as sql/postgres/runtime/table_shape.sql), excluded ones left out.
CREATE FUNCTION {{schema}}.ddl_captured_shape(p_relid oid, p_excluded int[]) RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $shape$
  SELECT coalesce(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
           'attnum', a.attnum::int, 'name', a.attname::text,
           'type', CASE WHEN tn.nspname OPERATOR(pg_catalog.=) 'pg_catalog' THEN pg_catalog.format_type(a.atttypid, a.atttypmod)
                        ELSE pg_catalog.quote_ident(tn.nspname) OPERATOR(pg_catalog.||) '.' OPERATOR(pg_catalog.||) pg_catalog.quote_ident(t.typname) END,
           'nullable', NOT a.attnotnull, 'typeName', bt.typname::text, 'typeKind', bt.typtype::text) ORDER BY a.attnum), '[]'::jsonb)
    FROM pg_catalog.pg_attribute a
    JOIN pg_catalog.pg_type t ON t.oid OPERATOR(pg_catalog.=) a.atttypid
    JOIN pg_catalog.pg_namespace tn ON tn.oid OPERATOR(pg_catalog.=) t.typnamespace
    JOIN pg_catalog.pg_type bt ON bt.oid OPERATOR(pg_catalog.=) CASE WHEN t.typtype OPERATOR(pg_catalog.=) 'd' THEN t.typbasetype ELSE t.oid END
   WHERE a.attrelid OPERATOR(pg_catalog.=) p_relid AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped
     AND NOT a.attnum OPERATOR(pg_catalog.=) ANY (coalesce(p_excluded, '{}'::int[]))
$shape$;

-- Records a tracked table's name and captured columns when they differ from what was recorded last
-- (or, before the first record, from what the relay published last): one `schema` row with its own
-- seq, taken while the DDL holds the table's lock, so every row of the old shape has a smaller seq
-- and every row of the new one a larger seq. Returns whether it wrote one. A table that no longer
-- exists, or is not tracked, records nothing.
CREATE FUNCTION {{schema}}.ddl_record_shape(p_relid oid) RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $ddl$
DECLARE
  t        record;
  v_state  jsonb;
BEGIN
  SELECT tt.table_schema, tt.table_name, tt.excluded_attnums, tt.shape, tt.ddl_recorded, n.nspname::text AS nspname, r.relname::text AS relname
    INTO t
    FROM {{schema}}.tracked_tables tt
    JOIN pg_catalog.pg_class r ON r.oid OPERATOR(pg_catalog.=) tt.relid
    JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) r.relnamespace
   WHERE tt.relid OPERATOR(pg_catalog.=) p_relid;
  IF NOT FOUND THEN
    RETURN false;
  END IF;
  v_state := pg_catalog.jsonb_build_object('schema', t.nspname, 'table', t.relname, 'columns', {{schema}}.ddl_captured_shape(p_relid, t.excluded_attnums));
  IF v_state OPERATOR(pg_catalog.=) coalesce(t.ddl_recorded, pg_catalog.jsonb_build_object('schema', t.table_schema, 'table', t.table_name, 'columns', t.shape)) THEN
    RETURN false;
  END IF;
  INSERT INTO {{schema}}.events (part, seq, relid, table_schema, table_name, op, after, changed_at)
  VALUES ((SELECT r.current_part FROM {{schema}}.rotation r), pg_catalog.nextval('{{schema}}.event_seq'), p_relid, t.nspname, t.relname, 'schema',
          pg_catalog.jsonb_build_object('shape', v_state OPERATOR(pg_catalog.->) 'columns'), pg_catalog.clock_timestamp());
  UPDATE {{schema}}.tracked_tables SET ddl_recorded = v_state WHERE relid OPERATOR(pg_catalog.=) p_relid;
  PERFORM pg_catalog.pg_notify('outbox_' OPERATOR(pg_catalog.||) n.nspname, '')
     FROM pg_catalog.pg_class c2 JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c2.relnamespace
    WHERE c2.oid OPERATOR(pg_catalog.=) '{{schema}}.rotation'::pg_catalog.regclass;
  RETURN true;
END
$ddl$;
-- Only the event trigger functions (SECURITY DEFINER, owned by the migrating role) call it.
REVOKE ALL ON FUNCTION {{schema}}.ddl_record_shape(oid) FROM PUBLIC;

-- ddl_command_end of ALTER TABLE, as in 000006 (the refusal of a RENAME of a key or attribute
-- column), then the record of every tracked table the command changed.
CREATE OR REPLACE FUNCTION {{schema}}.ddl_command_end() RETURNS event_trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $ddl$
DECLARE
  c      record;
  v_old  text;
  v_rel  oid;
BEGIN
  FOR c IN
    SELECT t.table_schema, t.table_name, t.key_columns, t.attribute_columns, t.shape, d.objid, d.objsubid, a.attname::text AS new_name,
           pg_catalog.format('%I.%I', n.nspname, r.relname) AS current_name
      FROM pg_catalog.pg_event_trigger_ddl_commands() d
      JOIN {{schema}}.tracked_tables t ON t.relid OPERATOR(pg_catalog.=) d.objid
      JOIN pg_catalog.pg_class r ON r.oid OPERATOR(pg_catalog.=) d.objid
      JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) r.relnamespace
      JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) d.objid AND a.attnum OPERATOR(pg_catalog.=) d.objsubid
     WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
       AND d.objsubid OPERATOR(pg_catalog.>) 0 AND d.object_type OPERATOR(pg_catalog.=) 'table column'
  LOOP
    SELECT s.value OPERATOR(pg_catalog.->>) 'name' INTO v_old
      FROM pg_catalog.jsonb_array_elements(coalesce(c.shape, '[]')) s
     WHERE (s.value OPERATOR(pg_catalog.->>) 'attnum')::int OPERATOR(pg_catalog.=) c.objsubid;
    IF v_old IS NULL THEN
      SELECT k.name INTO v_old
        FROM pg_catalog.unnest(c.key_columns OPERATOR(pg_catalog.||) c.attribute_columns) AS k(name)
       WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute x
                          WHERE x.attrelid OPERATOR(pg_catalog.=) c.objid AND x.attnum OPERATOR(pg_catalog.>) 0 AND NOT x.attisdropped
                            AND x.attname OPERATOR(pg_catalog.=) k.name)
       LIMIT 1;
    END IF;
    CONTINUE WHEN v_old IS NULL OR v_old OPERATOR(pg_catalog.=) c.new_name;
    PERFORM {{schema}}.ddl_refuse_column('rename', v_old, c.new_name, c.current_name, c.key_columns, c.attribute_columns);
  END LOOP;

  FOR v_rel IN
    SELECT DISTINCT d.objid
      FROM pg_catalog.pg_event_trigger_ddl_commands() d
     WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
       AND EXISTS (SELECT 1 FROM {{schema}}.tracked_tables t WHERE t.relid OPERATOR(pg_catalog.=) d.objid)
     ORDER BY d.objid
  LOOP
    PERFORM {{schema}}.ddl_record_shape(v_rel);
  END LOOP;
END
$ddl$;

-- sql_drop, as in 000006 (the refusal of a dropped key or attribute column, the drop_table row of a
-- dropped tracked table, whose seq it now also keeps in tracked_tables.dropped_seq), then the record of every tracked table that lost a column and stays: a
-- DROP TYPE / DROP DOMAIN … CASCADE runs no ALTER TABLE, and for an ALTER TABLE … DROP COLUMN the
-- record made here leaves ddl_command_end nothing to add.
CREATE OR REPLACE FUNCTION {{schema}}.ddl_sql_drop() RETURNS event_trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $ddl$
DECLARE
  c      record;
  v_now  timestamptz := pg_catalog.clock_timestamp();
  v_rows bigint;
  v_rel  oid;
BEGIN
  FOR c IN
    SELECT t.key_columns, t.attribute_columns, o.address_names[3] AS col, pg_catalog.format('%I.%I', n.nspname, r.relname) AS current_name
      FROM pg_catalog.pg_event_trigger_dropped_objects() o
      JOIN {{schema}}.tracked_tables t ON t.relid OPERATOR(pg_catalog.=) o.objid
      JOIN pg_catalog.pg_class r ON r.oid OPERATOR(pg_catalog.=) o.objid
      JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) r.relnamespace
     WHERE o.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
       AND o.objsubid OPERATOR(pg_catalog.>) 0 AND o.object_type OPERATOR(pg_catalog.=) 'table column'
       AND o.address_names[3] OPERATOR(pg_catalog.=) ANY (t.key_columns OPERATOR(pg_catalog.||) t.attribute_columns)
  LOOP
    PERFORM {{schema}}.ddl_refuse_column('drop', c.col, NULL, c.current_name, c.key_columns, c.attribute_columns);
  END LOOP;

  WITH recorded AS (
    INSERT INTO {{schema}}.events (part, seq, relid, table_schema, table_name, op, after, changed_at)
    SELECT (SELECT r.current_part FROM {{schema}}.rotation r), pg_catalog.nextval('{{schema}}.event_seq'), d.objid,
           d.address_names[1], d.address_names[2], 'schema', '{"changes": [{"kind": "drop_table"}]}'::jsonb, v_now
      FROM (SELECT o.objid, o.address_names
              FROM pg_catalog.pg_event_trigger_dropped_objects() o
             WHERE o.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass AND o.objsubid OPERATOR(pg_catalog.=) 0
               AND EXISTS (SELECT 1 FROM {{schema}}.tracked_tables t WHERE t.relid OPERATOR(pg_catalog.=) o.objid)
             ORDER BY o.objid) d
    RETURNING relid, seq)
  UPDATE {{schema}}.tracked_tables t SET dropped_seq = recorded.seq FROM recorded WHERE t.relid OPERATOR(pg_catalog.=) recorded.relid;
  GET DIAGNOSTICS v_rows = ROW_COUNT;
  IF v_rows OPERATOR(pg_catalog.>) 0 THEN
    PERFORM pg_catalog.pg_notify('outbox_' OPERATOR(pg_catalog.||) n.nspname, '')
       FROM pg_catalog.pg_class c2 JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c2.relnamespace
      WHERE c2.oid OPERATOR(pg_catalog.=) '{{schema}}.rotation'::pg_catalog.regclass;
  END IF;

  FOR v_rel IN
    SELECT DISTINCT o.objid
      FROM pg_catalog.pg_event_trigger_dropped_objects() o
     WHERE o.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
       AND o.objsubid OPERATOR(pg_catalog.>) 0 AND o.object_type OPERATOR(pg_catalog.=) 'table column'
       AND EXISTS (SELECT 1 FROM {{schema}}.tracked_tables t WHERE t.relid OPERATOR(pg_catalog.=) o.objid)
     ORDER BY o.objid
  LOOP
    PERFORM {{schema}}.ddl_record_shape(v_rel);
  END LOOP;
END
$ddl$;
