-- Purpose: attach the generic capture functions to one plain table (run after
--          capture_triggers_drop.sql): three statement triggers with transition tables for INSERT,
--          UPDATE and DELETE (capture_statement(), sql/postgres/000005_capture_statement.sql) and a
--          statement trigger for TRUNCATE.
-- Params:  {{table}} source table (quoted, qualified); {{schema}} outbox schema (quoted);
--          {{args}} the trigger arguments: NOTIFY channel, wake setting and, when the table has
--          excluded columns, their attribute numbers (each a quoted literal, comma-separated).
CREATE TRIGGER outbox_capture_insert AFTER INSERT ON {{table}} REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION {{schema}}.capture_statement({{args}});
CREATE TRIGGER outbox_capture_update AFTER UPDATE ON {{table}} REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION {{schema}}.capture_statement({{args}});
CREATE TRIGGER outbox_capture_delete AFTER DELETE ON {{table}} REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION {{schema}}.capture_statement({{args}});
CREATE TRIGGER outbox_capture_truncate AFTER TRUNCATE ON {{table}}
  FOR EACH STATEMENT EXECUTE FUNCTION {{schema}}.capture_truncate({{args}});
