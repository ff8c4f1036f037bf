-- Purpose: create the DDL event triggers of an outbox schema (functions of
--          sql/postgres/000006_ddl_event_triggers.sql) unless they exist. Run by `outbox migrate` after
--          the migrations, in their transaction, under a savepoint: CREATE EVENT TRIGGER needs a
--          superuser on PostgreSQL 15, and a role without the right gets insufficient_privilege
--          (42501), which migrate reports and rolls back to the savepoint — the migration succeeds
--          and capture works without them. Event trigger names are per database, so each outbox
--          schema's carry a hash of the schema name. Existing ones are found by their function and
--          left as they are (a disabled one stays disabled; `outbox doctor` reports it) — but for a
--          ddl_command_end trigger created before sql/postgres/000012_tracked_partitions.sql, which
--          fired on ALTER TABLE only: it is created again, enabled or not as it was, to fire on
--          CREATE TABLE too (a partition created under a tracked table is recorded then).
-- Params:  schema, the outbox schema (quoted); end_trigger and drop_trigger, the two event trigger
--          names (quoted).
DO $install$
DECLARE
  v_name    text;
  v_enabled text;
BEGIN
  SELECT e.evtname::text, e.evtenabled::text INTO v_name, v_enabled
    FROM pg_catalog.pg_event_trigger e
   WHERE e.evtfoid = '{{schema}}.ddl_command_end()'::pg_catalog.regprocedure AND NOT 'CREATE TABLE' = ANY (e.evttags);
  IF v_name IS NOT NULL THEN
    EXECUTE pg_catalog.format('DROP EVENT TRIGGER %I', v_name);
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_event_trigger WHERE evtfoid = '{{schema}}.ddl_command_end()'::pg_catalog.regprocedure) THEN
    CREATE EVENT TRIGGER {{end_trigger}} ON ddl_command_end WHEN TAG IN ('ALTER TABLE', 'CREATE TABLE') EXECUTE FUNCTION {{schema}}.ddl_command_end();
    IF v_enabled OPERATOR(pg_catalog.=) 'D' THEN
      ALTER EVENT TRIGGER {{end_trigger}} DISABLE;
    ELSIF v_enabled OPERATOR(pg_catalog.=) 'A' THEN
      ALTER EVENT TRIGGER {{end_trigger}} ENABLE ALWAYS;
    ELSIF v_enabled OPERATOR(pg_catalog.=) 'R' THEN
      ALTER EVENT TRIGGER {{end_trigger}} ENABLE REPLICA;
    END IF;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_event_trigger WHERE evtfoid = '{{schema}}.ddl_sql_drop()'::pg_catalog.regprocedure) THEN
    CREATE EVENT TRIGGER {{drop_trigger}} ON sql_drop EXECUTE FUNCTION {{schema}}.ddl_sql_drop();
  END IF;
END
$install$;
