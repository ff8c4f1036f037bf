-- Purpose: the DDL event triggers of an outbox schema as installed (found by their functions, of
--          sql/postgres/000006_ddl_event_triggers.sql): name, event, and whether it fires (evtenabled
--          'O' origin / 'A' always; 'D' disabled, 'R' replica only), for `outbox doctor` and status,
--          and the command tags it fires on (migrate recreates a ddl_command_end trigger of an
--          older install that lacks CREATE TABLE).
-- Params:  schema_literal, the outbox schema name as a string literal.
SELECT e.evtname::text AS name, e.evtevent::text AS event, e.evtenabled IN ('O', 'A') AS enabled,
       p.proname::text AS function_name, e.evttags::text[] AS tags
  FROM pg_catalog.pg_event_trigger e
  JOIN pg_catalog.pg_proc p ON p.oid = e.evtfoid
  JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname = {{schema_literal}} AND p.proname IN ('ddl_command_end', 'ddl_sql_drop')
 ORDER BY p.proname
