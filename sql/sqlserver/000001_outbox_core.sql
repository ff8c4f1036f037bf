-- outbox-relay 000001: core capture objects (SQL Server 2016 SP1 or later).
-- Purpose: the outbox table that capture triggers write, the registry of tracked tables, and the
--          event sequence.
-- Params:  {{schema}} is the validated, bracket-quoted outbox schema name.
-- Batches: split on GO lines by the migrator (GO is not T-SQL); all batches run in one transaction.
-- Released: never edit this file; add a new numbered file instead.

-- Tables whose changes are captured, and how. Column lists are JSON arrays of names.
--   trigger_name  the capture trigger (in the tracked table's schema)
--   guard_table   the empty table whose foreign key makes TRUNCATE TABLE fail (NULL: no guard)
CREATE TABLE {{schema}}.tracked_tables (
  table_schema      sysname           NOT NULL,
  table_name        sysname           NOT NULL,
  key_columns       nvarchar(max)     NOT NULL,
  excluded_columns  nvarchar(max)     NOT NULL CONSTRAINT DF_tracked_tables_excluded DEFAULT (N'[]'),
  attribute_columns nvarchar(max)     NOT NULL CONSTRAINT DF_tracked_tables_attributes DEFAULT (N'[]'),
  captured_columns  nvarchar(max)     NOT NULL,
  trigger_name      sysname           NOT NULL,
  guard_table       sysname           NULL,
  mode              varchar(16)       NOT NULL CONSTRAINT DF_tracked_tables_mode DEFAULT ('incremental')
                                      CONSTRAINT CK_tracked_tables_mode CHECK (mode IN ('incremental', 'backfilling')),
  tracked_at        datetimeoffset(3) NOT NULL CONSTRAINT DF_tracked_tables_tracked_at DEFAULT (SYSDATETIMEOFFSET()),
  CONSTRAINT PK_tracked_tables PRIMARY KEY (table_schema, table_name)
);
GO

-- Event numbers (the envelope's seq). A SQL Server sequence cache is shared by all sessions, so a
-- later writer of a row always gets a higher number; a crash only leaves gaps.
CREATE SEQUENCE {{schema}}.event_seq AS bigint START WITH 1 INCREMENT BY 1 CACHE 100;
GO

-- The outbox. One row per captured change.
--   rv         rowversion: the read order and the relay cursor. The relay reads only rv below
--              MIN_ACTIVE_ROWVERSION(), so it never skips a transaction that commits late (DESIGN §4).
--              Rows are never updated (an update would give the row a new rv).
--   seq        the event number; for one key, a later change has a larger seq
--   xid        the writing transaction (CURRENT_TRANSACTION_ID())
--   key        key columns of the row as JSON ({"id": "42"})
--   before     the old image (update, delete); after: the new image (insert, update, snapshot)
--   changed    JSON array of captured columns whose value changed (update), every captured column (insert)
--   attributes values of the table's attribute columns, as text, for SNS message attributes
--   changed_at time of the change, with offset
-- Clustered on rv: capture appends at one end, space reclaim deletes at the other.
CREATE TABLE {{schema}}.events (
  rv           rowversion        NOT NULL,
  seq          bigint            NOT NULL CONSTRAINT DF_events_seq DEFAULT (NEXT VALUE FOR {{schema}}.event_seq),
  xid          bigint            NOT NULL CONSTRAINT DF_events_xid DEFAULT (CURRENT_TRANSACTION_ID()),
  table_schema sysname           NOT NULL,
  table_name   sysname           NOT NULL,
  op           varchar(8)        NOT NULL CONSTRAINT CK_events_op CHECK (op IN ('insert', 'update', 'delete', 'truncate', 'snapshot')),
  [key]        nvarchar(max)     NULL,
  [before]     nvarchar(max)     NULL,
  [after]      nvarchar(max)     NULL,
  changed      nvarchar(max)     NULL,
  attributes   nvarchar(max)     NULL,
  changed_at   datetimeoffset(7) NOT NULL CONSTRAINT DF_events_changed_at DEFAULT (SYSDATETIMEOFFSET()),
  CONSTRAINT PK_events PRIMARY KEY CLUSTERED (rv)
);
GO

CREATE UNIQUE NONCLUSTERED INDEX UX_events_seq ON {{schema}}.events (seq);
GO
