-- Purpose: for each tracked table, which of its four capture triggers exist and are enabled,
--          whether its columns still match what the capture function was built for, and the
--          function's comment (which holds the fingerprint of the SQL it was generated from).
-- Params: {{schema}} outbox schema (quoted).
SELECT t.table_schema, t.table_name, to_regclass(format('%I.%I', t.table_schema, t.table_name)) IS NOT NULL AS table_exists,
       (SELECT coalesce(array_agg(tg.tgname::text ORDER BY tg.tgname), '{}')
          FROM pg_catalog.pg_trigger tg
         WHERE tg.tgrelid = to_regclass(format('%I.%I', t.table_schema, t.table_name))
           AND tg.tgname LIKE 'outbox_capture_%' AND tg.tgenabled IN ('O', 'A')) AS enabled_triggers,
       (SELECT coalesce(array_agg(a.attname::text ORDER BY a.attnum), '{}')
          FROM pg_catalog.pg_attribute a
         WHERE a.attrelid = to_regclass(format('%I.%I', t.table_schema, t.table_name))
           AND a.attnum > 0 AND NOT a.attisdropped) AS columns,
       t.captured_columns, t.excluded_columns, t.key_columns, t.attribute_columns, t.function_name,
       to_regprocedure(format('%I.%I()', {{schema_literal}}, t.function_name)) IS NOT NULL AS function_exists,
       obj_description(to_regprocedure(format('%I.%I()', {{schema_literal}}, t.function_name)), 'pg_proc') AS function_comment
  FROM {{schema}}.tracked_tables t
 ORDER BY 1, 2
