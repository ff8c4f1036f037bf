-- outbox-relay 000001: core capture objects.
-- Purpose: the outbox ("shadow") table that capture triggers write, the registry of tracked tables,
--          and the rotation state that lets published events be reclaimed by TRUNCATE, not DELETE.
-- Params:  {{schema}} is the validated, quoted outbox schema name.
-- Released: never edit this file; add a new numbered file instead.

-- Tables whose changes are captured, and how.
CREATE TABLE {{schema}}.tracked_tables (
  table_schema      text        NOT NULL,
  table_name        text        NOT NULL,
  key_columns       text[]      NOT NULL,
  excluded_columns  text[]      NOT NULL DEFAULT '{}',
  attribute_columns text[]      NOT NULL DEFAULT '{}',
  captured_columns  text[]      NOT NULL,
  function_name     text        NOT NULL,
  mode              text        NOT NULL DEFAULT 'incremental' CHECK (mode IN ('incremental', 'backfilling')),
  tracked_at        timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (table_schema, table_name)
);

-- Event order. CACHE 1 on purpose: a per-session cache would hand a later writer of a row a lower
-- number than an earlier one, and per-key order inside a read window relies on it.
CREATE SEQUENCE {{schema}}.event_seq AS bigint CACHE 1;

-- Which partition of events capture currently writes. The relay rotates it (see rotate.sql).
CREATE TABLE {{schema}}.rotation (
  singleton    boolean     PRIMARY KEY DEFAULT true CHECK (singleton),
  current_part smallint    NOT NULL DEFAULT 0 CHECK (current_part BETWEEN 0 AND 2),
  rotated_at   timestamptz NOT NULL DEFAULT now()
);
INSERT INTO {{schema}}.rotation DEFAULT VALUES;

-- The outbox. One row per captured change.
--   xid        the writing transaction (pg_current_xact_id), used for snapshot windows
--   seq        order of writing; inside one read window, the publish order
--   key        key columns of the row ({"id": "42"})
--   before     the old image (update, delete), after the new image (insert, update, snapshot)
--   changed    captured columns whose value changed (update), every captured column (insert)
--   attributes values of the table's attribute columns, as text, for SNS message attributes
--   changed_at wall-clock time of the change (timestamptz, so UTC on the wire)
CREATE TABLE {{schema}}.events (
  part         smallint    NOT NULL,
  seq          bigint      NOT NULL,
  xid          xid8        NOT NULL DEFAULT pg_current_xact_id(),
  table_schema text        NOT NULL,
  table_name   text        NOT NULL,
  op           text        NOT NULL CHECK (op IN ('insert', 'update', 'delete', 'truncate', 'snapshot')),
  key          jsonb,
  before       jsonb,
  after        jsonb,
  changed      text[],
  attributes   jsonb,
  changed_at   timestamptz NOT NULL
) PARTITION BY LIST (part);

CREATE TABLE {{schema}}.events_0 PARTITION OF {{schema}}.events FOR VALUES IN (0);
CREATE TABLE {{schema}}.events_1 PARTITION OF {{schema}}.events FOR VALUES IN (1);
CREATE TABLE {{schema}}.events_2 PARTITION OF {{schema}}.events FOR VALUES IN (2);
CREATE INDEX events_xid_idx ON {{schema}}.events (xid);
CREATE INDEX events_seq_idx ON {{schema}}.events (seq);
