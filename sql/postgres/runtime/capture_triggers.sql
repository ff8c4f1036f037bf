-- Purpose: attach the capture function of one table to its four statement-level triggers.
-- Params:  {{table}} source table (quoted, qualified); {{schema}} outbox schema; {{function}} function.
DROP TRIGGER IF EXISTS outbox_capture_insert ON {{table}};
DROP TRIGGER IF EXISTS outbox_capture_update ON {{table}};
DROP TRIGGER IF EXISTS outbox_capture_delete ON {{table}};
DROP TRIGGER IF EXISTS outbox_capture_truncate ON {{table}};
CREATE TRIGGER outbox_capture_insert AFTER INSERT ON {{table}}
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION {{schema}}.{{function}}();
CREATE TRIGGER outbox_capture_update AFTER UPDATE ON {{table}}
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION {{schema}}.{{function}}();
CREATE TRIGGER outbox_capture_delete AFTER DELETE ON {{table}}
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION {{schema}}.{{function}}();
CREATE TRIGGER outbox_capture_truncate AFTER TRUNCATE ON {{table}}
  FOR EACH STATEMENT EXECUTE FUNCTION {{schema}}.{{function}}();
