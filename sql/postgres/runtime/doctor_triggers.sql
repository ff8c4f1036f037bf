-- Purpose: for each tracked table, whether it still exists (by oid: a renamed table is found), which
--          capture triggers it has enabled, whether the generic capture functions exist, and what
--          the relay recorded: the shape it last published, the excluded attribute numbers, and a
--          problem that holds the table's events back; dropped_seq, the seq of the drop_table the DDL
--          event trigger recorded for a dropped table (sql/postgres/000008_ddl_recorded_shapes.sql);
--          untracking, set while `outbox untrack` waits for the relay (000014_untracking.sql).
-- Params: {{schema}} outbox schema (quoted); {{schema_literal}} the same name as a string literal.
SELECT t.table_schema, t.table_name, t.relid::int8::text AS relid,
       coalesce(t.relid, to_regclass(format('%I.%I', t.table_schema, t.table_name))) IS NOT NULL
         AND EXISTS (SELECT 1 FROM pg_catalog.pg_class c WHERE c.oid = coalesce(t.relid, to_regclass(format('%I.%I', t.table_schema, t.table_name)))) AS table_exists,
       (SELECT coalesce(array_agg(tg.tgname::text ORDER BY tg.tgname), '{}')
          FROM pg_catalog.pg_trigger tg
         WHERE tg.tgrelid = coalesce(t.relid, to_regclass(format('%I.%I', t.table_schema, t.table_name)))
           AND tg.tgname LIKE 'outbox_capture_%' AND tg.tgenabled IN ('O', 'A')) AS enabled_triggers,
       t.captured_columns, t.excluded_columns, t.excluded_attnums, t.key_columns, t.attribute_columns,
       t.function_name, t.shape, t.schema_problem, t.dropped_seq::text AS dropped_seq, t.untracking,
       to_regprocedure(format('%I.capture_statement()', {{schema_literal}})) IS NOT NULL
         AND to_regprocedure(format('%I.capture_row()', {{schema_literal}})) IS NOT NULL
         AND to_regprocedure(format('%I.capture_truncate()', {{schema_literal}})) IS NOT NULL AS function_exists
  FROM {{schema}}.tracked_tables t
 ORDER BY 1, 2
