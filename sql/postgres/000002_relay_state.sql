-- outbox-relay 000002: relay cursor, leader epoch and quarantine.
-- Purpose: the single row that records how far the relay has published (as PgQ-style snapshot
--          windows) and the leader epoch that fences a stale leader; a quarantine for events that
--          cannot be published (too large, no claim-check bucket).
-- Params:  {{schema}} is the validated, quoted outbox schema name.

-- done_snapshot:   every event whose xid is visible in it has been published.
-- window_snapshot: the window being published (events visible in it, not in done_snapshot), or NULL.
-- window_seq:      inside that window, events with seq <= window_seq are published.
-- epoch:           bumped by each new leader; every cursor advance checks it in the same statement.
CREATE TABLE {{schema}}.relay_state (
  singleton       boolean     PRIMARY KEY DEFAULT true CHECK (singleton),
  epoch           bigint      NOT NULL DEFAULT 0,
  leader_id       text,
  leader_since    timestamptz,
  done_snapshot   pg_snapshot NOT NULL DEFAULT pg_current_snapshot(),
  window_snapshot pg_snapshot,
  window_seq      bigint,
  advanced_at     timestamptz NOT NULL DEFAULT now()
);
INSERT INTO {{schema}}.relay_state DEFAULT VALUES;

-- Events that could not be published. Nothing here is dropped silently: the relay logs an error,
-- counts it in a metric, and an operator can re-publish or delete rows after a fix.
CREATE TABLE {{schema}}.quarantine (
  seq            bigint      PRIMARY KEY,
  table_schema   text        NOT NULL,
  table_name     text        NOT NULL,
  op             text        NOT NULL,
  reason         text        NOT NULL,
  size_bytes     integer     NOT NULL,
  envelope       text        NOT NULL,
  quarantined_at timestamptz NOT NULL DEFAULT now()
);
