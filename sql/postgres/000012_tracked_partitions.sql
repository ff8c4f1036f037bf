-- outbox-relay 000012: the partitions of tracked tables, remembered past a DETACH or a DROP.
-- Purpose: a row written to a partition of a tracked partitioned table carries the partition's oid
--          (relid); the relay finds the tracked table through the catalog's partition tree. After
--          ALTER TABLE … DETACH PARTITION (CONCURRENTLY too) or DROP TABLE of the partition the
--          catalog no longer links the two, and the partition's rows still in the outbox were held
--          in the quarantine as "no longer tracked". tracked_partitions keeps every partition seen
--          under a tracked table, with the tracked table's oid, so the relay publishes those rows
--          under the tracked table's name, decoded with its shape (docs/capture.md, "Partitioned
--          tables"). It is written when a table is tracked (a trigger on tracked_tables, so any
--          writer of tracked_tables keeps it), by the relay whenever it reads the catalog, and, with
--          the DDL event triggers installed, by ddl_command_end at the CREATE TABLE … PARTITION OF or
--          ATTACH PARTITION itself — then also a partition created, written and detached before the
--          relay read anything of it. Capture (capture_row, capture_statement) is unchanged: nothing
--          here runs on a write of a tracked table. Rows are kept after the partition is gone (its
--          rows may still be unread); there is one per partition ever seen.
-- Params:  {{schema}} is the validated, quoted outbox schema name.
-- Released: never edit this file; add a new numbered file instead.

-- relid: a partition (at any level) of the tracked partitioned table root_relid, as last seen in the
-- catalog; its schema and name then (for messages and `outbox doctor`).
CREATE TABLE {{schema}}.tracked_partitions (
  relid        oid         PRIMARY KEY,
  root_relid   oid         NOT NULL,
  table_schema text        NOT NULL,
  table_name   text        NOT NULL,
  recorded_at  timestamptz NOT NULL DEFAULT now()
);

-- Records the partitions the catalog has now under the tracked tables p_roots (every tracked table
-- when NULL). Only partitions whose topmost root is the tracked table: the relay looks a partition
-- up by that root (pg_partition_root), so one tracked inside another's tree is left to the catalog.
-- Unchanged rows are not rewritten, so a call that finds nothing new writes nothing.
CREATE FUNCTION {{schema}}.record_partitions(p_roots oid[]) RETURNS void
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $record$
  INSERT INTO {{schema}}.tracked_partitions AS k (relid, root_relid, table_schema, table_name)
  SELECT p.relid, t.relid, n.nspname, c.relname
    FROM {{schema}}.tracked_tables t
   CROSS JOIN LATERAL pg_catalog.pg_partition_tree(t.relid) p
    JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) p.relid
    JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
   WHERE t.relid IS NOT NULL
     AND (p_roots IS NULL OR t.relid OPERATOR(pg_catalog.=) ANY (p_roots))
     AND p.relid OPERATOR(pg_catalog.<>) t.relid
     AND pg_catalog.pg_partition_root(p.relid) OPERATOR(pg_catalog.=) t.relid
     AND NOT EXISTS (SELECT 1 FROM {{schema}}.tracked_partitions s
                      WHERE s.relid OPERATOR(pg_catalog.=) p.relid AND s.root_relid OPERATOR(pg_catalog.=) t.relid
                        AND s.table_schema OPERATOR(pg_catalog.=) n.nspname AND s.table_name OPERATOR(pg_catalog.=) c.relname)
  ON CONFLICT (relid) DO UPDATE
     SET root_relid = EXCLUDED.root_relid, table_schema = EXCLUDED.table_schema, table_name = EXCLUDED.table_name,
         recorded_at = pg_catalog.now()
$record$;

-- A table tracked (or re-tracked): its partitions now, in track's own transaction, so a partition
-- detached before the relay's first read of it is still known.
CREATE FUNCTION {{schema}}.tracked_tables_record_partitions() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $trigger$
BEGIN
  PERFORM {{schema}}.record_partitions(ARRAY[NEW.relid]);
  RETURN NULL;
END
$trigger$;
CREATE TRIGGER record_partitions AFTER INSERT OR UPDATE OF relid ON {{schema}}.tracked_tables
  FOR EACH ROW WHEN (NEW.relid IS NOT NULL) EXECUTE FUNCTION {{schema}}.tracked_tables_record_partitions();

-- The partitions of the tables tracked before this migration.
SELECT {{schema}}.record_partitions(NULL);

-- ddl_command_end as in 000008 (the refusal of a RENAME of a key or attribute column, the record of
-- every tracked table the command changed), then the partitions of every tracked table the command
-- touched: a CREATE TABLE … PARTITION OF names the new partition, an ATTACH PARTITION the tracked
-- table (its root, for a partition of a partition).
CREATE OR REPLACE FUNCTION {{schema}}.ddl_command_end() RETURNS event_trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $ddl$
DECLARE
  c      record;
  v_old  text;
  v_rel  oid;
  v_roots oid[];
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

  SELECT pg_catalog.array_agg(DISTINCT t.relid) INTO v_roots
    FROM pg_catalog.pg_event_trigger_ddl_commands() d
    JOIN {{schema}}.tracked_tables t ON t.relid OPERATOR(pg_catalog.=) coalesce(pg_catalog.pg_partition_root(d.objid), d.objid)
   WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass AND d.objsubid OPERATOR(pg_catalog.=) 0;
  IF v_roots IS NOT NULL THEN
    PERFORM {{schema}}.record_partitions(v_roots);
  END IF;
END
$ddl$;
