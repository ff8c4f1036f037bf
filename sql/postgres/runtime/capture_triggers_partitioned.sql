-- Purpose: attach the generic capture functions to one partitioned table (run after
--          capture_triggers_drop.sql): the row trigger capture_row() for INSERT, UPDATE and DELETE,
--          which PostgreSQL clones onto every partition, present and future, so a statement that
--          names a partition is captured too (a statement trigger of the partitioned table would not
--          fire for it), and a statement trigger for TRUNCATE.
-- Params:  {{table}} source table (quoted, qualified); {{schema}} outbox schema (quoted);
--          {{args}} the trigger arguments: NOTIFY channel, wake setting and, when the table has
--          excluded columns, their attribute numbers (each a quoted literal, comma-separated).
CREATE TRIGGER outbox_capture_row AFTER INSERT OR UPDATE OR DELETE ON {{table}}
  FOR EACH ROW EXECUTE FUNCTION {{schema}}.capture_row({{args}});
CREATE TRIGGER outbox_capture_truncate AFTER TRUNCATE ON {{table}}
  FOR EACH STATEMENT EXECUTE FUNCTION {{schema}}.capture_truncate({{args}});
