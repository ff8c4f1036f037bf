-- Purpose: attach the generic capture functions (sql/postgres/000004_capture_v2.sql) to one table:
--          a row trigger for INSERT, UPDATE and DELETE and a statement trigger for TRUNCATE. Drops
--          the triggers of an earlier version first (four statement triggers and a generated function).
-- Params:  {{table}} source table (quoted, qualified); {{schema}} outbox schema (quoted);
--          {{args}} the trigger arguments: NOTIFY channel, wake setting and, when the table has
--          excluded columns, their attribute numbers (each a quoted literal, comma-separated).
DROP TRIGGER IF EXISTS outbox_capture_insert ON {{table}};
DROP TRIGGER IF EXISTS outbox_capture_update ON {{table}};
DROP TRIGGER IF EXISTS outbox_capture_delete ON {{table}};
DROP TRIGGER IF EXISTS outbox_capture_truncate ON {{table}};
DROP TRIGGER IF EXISTS outbox_capture_row ON {{table}};
CREATE TRIGGER outbox_capture_row AFTER INSERT OR UPDATE OR DELETE ON {{table}}
  FOR EACH ROW EXECUTE FUNCTION {{schema}}.capture_row({{args}});
CREATE TRIGGER outbox_capture_truncate AFTER TRUNCATE ON {{table}}
  FOR EACH STATEMENT EXECUTE FUNCTION {{schema}}.capture_truncate({{args}});
