-- outbox-relay 000010: the relay's tracked_state digest as a function, read through the catalog indexes.
-- Purpose: every relay read (sql/postgres/runtime/relay_read_window.sql) returns a digest of what
--          decoding depends on, so the relay keeps its table state between pages while nothing
--          changed (src/source/postgres/relay-decode.ts). Computed inline in the read, the digest
--          made the source database plan a five-way catalog join on every poll (idle ones too) and,
--          on a busy or large catalog, hash-join a sequential scan of all of pg_attribute on every
--          page (bench/README.md, "Relay read cost"). Here it is a PL/pgSQL function: each session
--          plans its statement once and keeps the plan, and each tracked table's columns are read
--          through the (attrelid, attnum) index of pg_attribute (a LATERAL per table that the planner
--          cannot flatten into a join). It digests exactly what the inline digest did: the
--          tracked_tables rows; for each tracked table its oid, schema, name and every column
--          (number, name, type oid and modifier, not-null, dropped) with the column type's schema,
--          name, kind and base type; and the table's partition tree. STABLE: it reads the catalog in
--          the snapshot of the statement that calls it, as the inline digest did. No table, column
--          or stored value changes.
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
            SELECT col.part
              FROM {{schema}}.tracked_tables t
             CROSS JOIN LATERAL (
                   SELECT pg_catalog.concat_ws(' ', c.oid, n.nspname, c.relname, a.attnum, a.attname, a.atttypid, a.atttypmod,
                                               a.attnotnull, a.attisdropped, tn.nspname, ty.typname, ty.typtype, ty.typbasetype) AS part
                     FROM pg_catalog.pg_class c
                     JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
                     JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) c.oid AND a.attnum OPERATOR(pg_catalog.>) 0
                     JOIN pg_catalog.pg_type ty ON ty.oid OPERATOR(pg_catalog.=) a.atttypid
                     JOIN pg_catalog.pg_namespace tn ON tn.oid OPERATOR(pg_catalog.=) ty.typnamespace
                    WHERE c.oid OPERATOR(pg_catalog.=) t.relid
                   OFFSET 0) col -- OFFSET 0: kept a per-table subquery, so pg_attribute is read by attrelid
            UNION ALL
            SELECT pg_catalog.concat_ws(' ', 'partition', p.relid, p.parentrelid)
              FROM {{schema}}.tracked_tables t, pg_catalog.pg_partition_tree(t.relid) p
             WHERE t.relid IS NOT NULL) s);
END
$state$;
