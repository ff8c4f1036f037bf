-- Purpose: drop the DDL event triggers of an outbox schema (found by their functions, of
--          sql/postgres/000006_ddl_event_triggers.sql), for `outbox migrate` when the setting
--          source.eventTriggers is skip (or `outbox migrate --no-event-triggers`). Run in migrate's
--          transaction under a savepoint: only their owner (the superuser who created them) may drop
--          them; another role gets insufficient_privilege (42501), which migrate reports. The
--          functions stay (the migrations own them); without the triggers nothing calls them.
-- Params:  schema, the outbox schema (quoted).
DO $drop$
DECLARE
  e record;
BEGIN
  FOR e IN
    SELECT evtname FROM pg_catalog.pg_event_trigger
     WHERE evtfoid IN ('{{schema}}.ddl_command_end()'::pg_catalog.regprocedure, '{{schema}}.ddl_sql_drop()'::pg_catalog.regprocedure)
     ORDER BY evtname
  LOOP
    EXECUTE pg_catalog.format('DROP EVENT TRIGGER %I', e.evtname);
  END LOOP;
END
$drop$;
