-- outbox-relay 000006: the functions of the optional DDL event triggers.
-- Purpose: where the migrating role may create event triggers (a superuser on PostgreSQL 15), DDL of
--          a tracked table is handled when it runs instead of when the relay reads the next row
--          (docs/capture.md, "Event triggers"): a DROP or RENAME of a key or attribute column is
--          refused with an error naming the table, the column and the fix, and a DROP of a tracked
--          table writes a schema event (drop_table) into the outbox, ordered with the table's rows.
--          This file only creates the two functions (and the refusal they share), which any role may do; `outbox migrate` then
--          creates the event triggers themselves when the role may (sql/postgres/runtime/
--          event_triggers_install.sql) and says so when it may not. Without them capture works as
--          before: no DDL makes a write fail, and the relay notices every change.
-- Params:  the validated, quoted outbox schema name (placeholder schema).
-- Released: never edit this file; add a new numbered file instead.

-- Both run for DDL of any role: SECURITY DEFINER, so a role that alters a tracked table needs no
-- right on the outbox schema; the owner is the role that migrated it. Every name they use is
-- schema-qualified and search_path is fixed.

-- Refuses a DROP or RENAME of a key or attribute column of a tracked table (returns when the
-- column is neither): the error names the table, the column and the fix. Shared by both functions.
CREATE FUNCTION {{schema}}.ddl_refuse_column(p_action text, p_column text, p_new_name text, p_table text, p_keys text[], p_attributes text[]) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $ddl$
DECLARE
  v_kind text;
  v_fix  text;
BEGIN
  IF p_column OPERATOR(pg_catalog.=) ANY (p_keys) THEN
    v_kind := 'key';
    v_fix := '--key';
  ELSIF p_column OPERATOR(pg_catalog.=) ANY (p_attributes) THEN
    v_kind := 'attribute';
    v_fix := '--attributes';
  ELSE
    RETURN;
  END IF;
  RAISE EXCEPTION 'outbox-relay: cannot % column % of table %: the table is tracked with it as % column',
        p_action, pg_catalog.quote_ident(p_column),
        p_table OPERATOR(pg_catalog.||) CASE WHEN p_action OPERATOR(pg_catalog.=) 'rename' THEN ' to ' OPERATOR(pg_catalog.||) pg_catalog.quote_ident(p_new_name) ELSE '' END,
        CASE v_kind WHEN 'key' THEN 'a key' ELSE 'an attribute' END
    USING ERRCODE = 'dependent_objects_still_exist',
          DETAIL = pg_catalog.format('Targets and subscriptions know the table''s rows by its %s columns (%s); %s.',
                                     v_kind, pg_catalog.array_to_string(CASE v_kind WHEN 'key' THEN p_keys ELSE p_attributes END, ', '),
                                     CASE WHEN p_action OPERATOR(pg_catalog.=) 'rename' THEN 'a renamed one would hold its events back' ELSE 'without it its events would be held back' END),
          HINT = pg_catalog.format('Re-track the table without it first (outbox track %s %s <columns>), or untrack it (outbox untrack %s); then %s the column.',
                                   p_table, v_fix, p_table, p_action);
END
$ddl$;

-- ddl_command_end of ALTER TABLE: a RENAME COLUMN of a tracked table (reported as the column
-- itself, object_type 'table column', objsubid its attribute number). The old name is the one the
-- relay published for that attribute number (tracked_tables.shape); when the shape does not know
-- the number, any key or attribute column no longer in the table is the renamed one.
CREATE FUNCTION {{schema}}.ddl_command_end() RETURNS event_trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $ddl$
DECLARE
  c      record;
  v_old  text;
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
END
$ddl$;

-- sql_drop: a dropped key or attribute column of a tracked table that stays (ALTER TABLE … DROP
-- COLUMN, or a DROP TYPE / DROP DOMAIN … CASCADE that takes the column with it) is refused; a
-- dropped tracked table (DROP TABLE, DROP SCHEMA … CASCADE) gets a drop_table schema event. Its seq
-- is taken when the DROP runs, after every write of the table (DROP waits for them and holds the
-- table's lock until it commits), so it follows all of the table's rows in the stream. The relay
-- publishes it with the shape it published last (excluded columns are in neither).
CREATE FUNCTION {{schema}}.ddl_sql_drop() RETURNS event_trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $ddl$
DECLARE
  c      record;
  v_now  timestamptz := pg_catalog.clock_timestamp();
  v_rows bigint;
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

  INSERT INTO {{schema}}.events (part, seq, relid, table_schema, table_name, op, after, changed_at)
  SELECT (SELECT r.current_part FROM {{schema}}.rotation r), pg_catalog.nextval('{{schema}}.event_seq'), d.objid,
         d.address_names[1], d.address_names[2], 'schema', '{"changes": [{"kind": "drop_table"}]}'::jsonb, v_now
    FROM (SELECT o.objid, o.address_names
            FROM pg_catalog.pg_event_trigger_dropped_objects() o
           WHERE o.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass AND o.objsubid OPERATOR(pg_catalog.=) 0
             AND EXISTS (SELECT 1 FROM {{schema}}.tracked_tables t WHERE t.relid OPERATOR(pg_catalog.=) o.objid)
           ORDER BY o.objid) d;
  GET DIAGNOSTICS v_rows = ROW_COUNT;
  IF v_rows OPERATOR(pg_catalog.>) 0 THEN
    PERFORM pg_catalog.pg_notify('outbox_' OPERATOR(pg_catalog.||) n.nspname, '')
       FROM pg_catalog.pg_class c2 JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c2.relnamespace
      WHERE c2.oid OPERATOR(pg_catalog.=) '{{schema}}.rotation'::pg_catalog.regclass;
  END IF;
END
$ddl$;
