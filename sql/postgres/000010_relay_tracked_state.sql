-- outbox-relay 000010: the relay's tracked_state digest as a function, read through the catalog indexes.
-- Purpose: every relay read (sql/postgres/runtime/relay_read_window.sql) returns a digest of what
--          decoding depends on, so the relay keeps its table state between pages while nothing
--          changed (src/source/postgres/relay-decode.ts). Computed inline in the read, the digest
--          made the source database plan a five-way catalog join on every poll (idle ones too) and,
--          with tracked_tables unanalyzed (a few rows stay under autovacuum's threshold), hash-join a
--          sequential scan of all of pg_class or pg_attribute on every page (bench/README.md, "Relay
--          read cost"). Here it is a PL/pgSQL function: each session
--          plans its statement once and keeps the plan, and each tracked table's columns are read
--          through the (attrelid, attnum) index of pg_attribute (a LATERAL per table that the planner
--          cannot flatten into a join), their types and the table's name through the catalog caches
--          (format_type, regclass) rather than joins to pg_type, pg_namespace and pg_class. It
--          notices every change the inline digest did: the tracked_tables rows; for each tracked
--          table its oid, schema and name, and every column (number, name, type oid and modifier,
--          not-null, dropped) with its type's schema-qualified name (a type's kind and base type
--          cannot change under the same oid); and the table's partition tree. STABLE: its queries
--          run in the snapshot of the statement that calls it, as the inline digest did; names read
--          through the caches are those committed when it runs, at least as new, which can only
--          make a change noticed one page sooner. No table, column or stored value changes.
-- Params:  {{schema}} is the validated, quoted outbox schema name.
-- Released: never edit this file; add a new numbered file instead.

CREATE FUNCTION {{schema}}.relay_tracked_state() RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $state$
BEGIN
  RETURN (
    SELECT pg_catalog.md5(coalesce(pg_catalog.string_agg(s.part, E'\n' ORDER BY s.part), ''))
      FROM (SELECT t::text AS part FROM {{schema}}.tracked_tables t WHERE t.relid IS NOT NULL
            UNION ALL
            -- The table's schema and name (regclass: schema-qualified, the search_path being pg_catalog).
            SELECT pg_catalog.concat_ws(' ', 'table', t.relid, t.relid::regclass)
              FROM {{schema}}.tracked_tables t
             WHERE t.relid IS NOT NULL
            UNION ALL
            -- Each column, with its type as format_type spells it: schema-qualified outside
            -- pg_catalog, so a type or domain renamed or moved to another schema shows.
            SELECT col.part
              FROM {{schema}}.tracked_tables t
             CROSS JOIN LATERAL (
                   SELECT pg_catalog.concat_ws(' ', t.relid, a.attnum, a.attname, a.atttypid, a.atttypmod, a.attnotnull, a.attisdropped,
                                               pg_catalog.format_type(a.atttypid, a.atttypmod)) AS part
                     FROM pg_catalog.pg_attribute a
                    WHERE a.attrelid OPERATOR(pg_catalog.=) t.relid AND a.attnum OPERATOR(pg_catalog.>) 0
                   OFFSET 0) col -- OFFSET 0: kept a per-table subquery, so pg_attribute is read by attrelid
            UNION ALL
            SELECT pg_catalog.concat_ws(' ', 'partition', p.relid, p.parentrelid)
              FROM {{schema}}.tracked_tables t, pg_catalog.pg_partition_tree(t.relid) p
             WHERE t.relid IS NOT NULL) s);
END
$state$;
