-- Purpose: remove every capture trigger outbox-relay has installed on one table, of any version: the
--          statement triggers (sql/postgres/000005_capture_statement.sql; also the names of capture
--          v1's), the row trigger (000004_capture_v2.sql) and the TRUNCATE trigger.
-- Params:  {{table}} source table (quoted, qualified).
DROP TRIGGER IF EXISTS outbox_capture_insert ON {{table}};
DROP TRIGGER IF EXISTS outbox_capture_update ON {{table}};
DROP TRIGGER IF EXISTS outbox_capture_delete ON {{table}};
DROP TRIGGER IF EXISTS outbox_capture_truncate ON {{table}};
DROP TRIGGER IF EXISTS outbox_capture_row ON {{table}};
