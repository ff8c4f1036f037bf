-- Purpose: for each tracked table, whether it still exists, whether its capture trigger exists, is
--          enabled and fires on INSERT, UPDATE and DELETE, whether its TRUNCATE guard is in place, and
--          its columns now (a JSON array of {"name": …}) to compare with what the trigger was built for,
--          and whether the shape the DDL trigger rebuilds from is recorded (tracked since migration 3).
-- Params:  {{schema}} outbox schema (quoted); {{schema_literal}} the outbox schema name as a literal.
SELECT t.table_schema, t.table_name, t.trigger_name, t.guard_table, t.captured_columns, t.excluded_columns,
       CAST(CASE WHEN tb.object_id IS NULL THEN 0 ELSE 1 END AS bit) AS table_exists,
       CAST(CASE WHEN tr.object_id IS NULL THEN 0 ELSE 1 END AS bit) AS trigger_exists,
       CAST(ISNULL(tr.is_disabled, 0) AS bit) AS trigger_disabled,
       (SELECT COUNT(*) FROM sys.trigger_events te
         WHERE te.object_id = tr.object_id AND te.type_desc IN ('INSERT', 'UPDATE', 'DELETE')) AS trigger_events,
       CAST(CASE WHEN EXISTS (SELECT 1 FROM sys.foreign_keys fk
                               WHERE fk.referenced_object_id = tb.object_id
                                 AND fk.parent_object_id = OBJECT_ID(QUOTENAME({{schema_literal}}) + N'.' + QUOTENAME(t.guard_table))
                                 AND fk.is_disabled = 0)
                 THEN 1 ELSE 0 END AS bit) AS guard_exists,
       CAST(CASE WHEN EXISTS (SELECT 1 FROM {{schema}}.tracked_columns tc WHERE tc.table_schema = t.table_schema AND tc.table_name = t.table_name)
                 THEN 1 ELSE 0 END AS bit) AS shape_recorded,
       (SELECT c.name FROM sys.columns c WHERE c.object_id = tb.object_id ORDER BY c.column_id FOR JSON PATH) AS columns
  FROM {{schema}}.tracked_tables t
  LEFT JOIN sys.tables tb ON tb.object_id = OBJECT_ID(QUOTENAME(t.table_schema) + N'.' + QUOTENAME(t.table_name))
  LEFT JOIN sys.triggers tr ON tr.parent_id = tb.object_id AND tr.name = t.trigger_name
 ORDER BY t.table_schema, t.table_name;
