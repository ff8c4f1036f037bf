-- Purpose: the current columns of tables, by oid, as capture describes a table's shape: attribute
--          number, name, type as the catalog spells it (format_type; a type outside pg_catalog is
--          schema-qualified so it resolves whatever the search_path), nullability, and the base type
--          name and kind that pick the value encoding (docs/encoding.md). Also the table's current
--          schema and name (a renamed table keeps its oid) and the tracked root of a partition.
-- Params:  $1 the table oids (oid[]). A table that no longer exists returns no row.
SELECT c.oid::int8::text AS relid, coalesce(pg_catalog.pg_partition_root(c.oid), c.oid)::oid::int8::text AS root,
       n.nspname AS table_schema, c.relname AS table_name,
       a.attnum::int AS attnum, a.attname AS name,
       CASE WHEN tn.nspname = 'pg_catalog' THEN pg_catalog.format_type(a.atttypid, a.atttypmod)
            ELSE pg_catalog.quote_ident(tn.nspname) || '.' || pg_catalog.quote_ident(t.typname) END AS type,
       NOT a.attnotnull AS nullable, bt.typname AS type_name, bt.typtype AS type_kind
  FROM pg_catalog.pg_class c
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
  JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
  JOIN pg_catalog.pg_namespace tn ON tn.oid = t.typnamespace
  JOIN pg_catalog.pg_type bt ON bt.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END
 WHERE c.oid = ANY ($1::oid[])
 ORDER BY c.oid, a.attnum
