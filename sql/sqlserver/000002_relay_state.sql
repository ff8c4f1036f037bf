-- outbox-relay 000002: relay cursor, leader epoch and quarantine.
-- Purpose: the single row that records how far the relay has published (the rowversion of the last
--          published event) and the leader epoch that fences a stale leader; a quarantine for events
--          that cannot be published (too large, no claim-check bucket).
-- Params:  {{schema}} is the validated, bracket-quoted outbox schema name.
-- Batches: split on GO lines by the migrator; all batches run in one transaction.

-- cursor_rv: every event with rv <= cursor_rv is published; the relay reads rv > cursor_rv and
--            rv < MIN_ACTIVE_ROWVERSION(), in rv order.
-- epoch:     bumped by each new leader; every cursor advance checks it in the same statement.
CREATE TABLE {{schema}}.relay_state (
  singleton    bit               NOT NULL CONSTRAINT DF_relay_state_singleton DEFAULT (1)
                                 CONSTRAINT CK_relay_state_singleton CHECK (singleton = 1),
  epoch        bigint            NOT NULL CONSTRAINT DF_relay_state_epoch DEFAULT (0),
  leader_id    nvarchar(200)     NULL,
  leader_since datetimeoffset(3) NULL,
  cursor_rv    binary(8)         NOT NULL CONSTRAINT DF_relay_state_cursor DEFAULT (0x0000000000000000),
  advanced_at  datetimeoffset(3) NOT NULL CONSTRAINT DF_relay_state_advanced_at DEFAULT (SYSDATETIMEOFFSET()),
  CONSTRAINT PK_relay_state PRIMARY KEY (singleton)
);
GO

INSERT INTO {{schema}}.relay_state DEFAULT VALUES;
GO

-- Events that could not be published. Nothing here is dropped silently: the relay logs an error,
-- counts it in a metric, and an operator can re-publish or delete rows after a fix.
CREATE TABLE {{schema}}.quarantine (
  seq            bigint            NOT NULL,
  table_schema   sysname           NOT NULL,
  table_name     sysname           NOT NULL,
  op             varchar(8)        NOT NULL,
  reason         nvarchar(max)     NOT NULL,
  size_bytes     int               NOT NULL,
  envelope       nvarchar(max)     NOT NULL,
  quarantined_at datetimeoffset(3) NOT NULL CONSTRAINT DF_quarantine_at DEFAULT (SYSDATETIMEOFFSET()),
  CONSTRAINT PK_quarantine PRIMARY KEY (seq)
);
GO
