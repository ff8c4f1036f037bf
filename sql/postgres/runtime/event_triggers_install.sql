-- Purpose: create the DDL event triggers of an outbox schema (functions of
--          sql/postgres/000006_ddl_event_triggers.sql) unless they exist. Run by `outbox migrate` after
--          the migrations, in their transaction, under a savepoint: CREATE EVENT TRIGGER needs a
--          superuser on PostgreSQL 15, and a role without the right gets insufficient_privilege
--          (42501), which migrate reports and rolls back to the savepoint — the migration succeeds
--          and capture works without them. Event trigger names are per database, so each outbox
--          schema's carry a hash of the schema name. Existing ones are found by their function and
--          left as they are (a disabled one stays disabled; `outbox doctor` reports it).
-- Params:  schema, the outbox schema (quoted); end_trigger and drop_trigger, the two event trigger
--          names (quoted).
DO $install$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_event_trigger WHERE evtfoid = '{{schema}}.ddl_command_end()'::pg_catalog.regprocedure) THEN
    CREATE EVENT TRIGGER {{end_trigger}} ON ddl_command_end WHEN TAG IN ('ALTER TABLE') EXECUTE FUNCTION {{schema}}.ddl_command_end();
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_event_trigger WHERE evtfoid = '{{schema}}.ddl_sql_drop()'::pg_catalog.regprocedure) THEN
    CREATE EVENT TRIGGER {{drop_trigger}} ON sql_drop EXECUTE FUNCTION {{schema}}.ddl_sql_drop();
  END IF;
END
$install$;
