-- Purpose: the database DDL trigger of one outbox schema, created by `outbox track` when its login may
--          (ALTER ANY DATABASE DDL TRIGGER). It fires inside the transaction of every ALTER TABLE,
--          sp_rename and DROP TABLE in the database and hands the event to the outbox schema's
--          capture_on_ddl procedure (migration 000003), which does nothing unless the table is
--          tracked: then it rebuilds the table's capture trigger for its new shape and writes a
--          schema-change row, or refuses the DDL when a key or attribute column would go. It runs as
--          the login that tracked the tables (EXECUTE AS SELF), which may alter their triggers and
--          write the outbox. If the outbox schema is gone it does nothing: no DDL fails because of it.
-- Params:  {{trigger}} the trigger name (quoted; database triggers have no schema); {{schema}} outbox
--          schema (quoted); {{procedure}} the procedure's name as a literal.
-- Batch:   CREATE TRIGGER must start a batch: this file is sent as one batch, alone.
CREATE OR ALTER TRIGGER {{trigger}} ON DATABASE
WITH EXECUTE AS SELF
AFTER ALTER_TABLE, RENAME, DROP_TABLE
AS
BEGIN
  SET NOCOUNT ON;
  IF OBJECT_ID({{procedure}}, N'P') IS NULL RETURN;
  DECLARE @event xml = EVENTDATA();
  EXEC {{schema}}.capture_on_ddl @event;
END
