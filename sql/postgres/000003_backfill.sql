-- outbox-relay 000003: backfill tracker.
-- Purpose: the record of initial full syncs (`outbox backfill`). One run per backfill of a table,
--          one row per batch of that run: its key range, size, status and times, so a backfill
--          resumes after the last COMPLETED batch, retries a FAILED one, and `outbox status` can
--          show progress. The batch row is marked COMPLETED in the same transaction that writes the
--          batch's snapshot events, so the tracker never claims events that were rolled back.
-- Params:  {{schema}} is the validated, quoted outbox schema name.
-- Released: never edit this file; add a new numbered file instead.

-- One backfill of one table. A new run starts when none exists, or with `--restart`.
--   rows_estimate  table size when the run started (pg_class.reltuples, or count(*)), for progress
--   last_key       to_key of the last COMPLETED batch: the next batch starts after it
CREATE TABLE {{schema}}.backfill_runs (
  run_id        bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  table_schema  text        NOT NULL,
  table_name    text        NOT NULL,
  status        text        NOT NULL DEFAULT 'IN_PROGRESS' CHECK (status IN ('IN_PROGRESS', 'FAILED', 'COMPLETED')),
  batch_size    integer     NOT NULL CHECK (batch_size > 0),
  rows_estimate bigint,
  rows_done     bigint      NOT NULL DEFAULT 0,
  batches_done  integer     NOT NULL DEFAULT 0,
  last_key      jsonb,
  started_at    timestamptz NOT NULL DEFAULT now(),
  updated_at    timestamptz NOT NULL DEFAULT now(),
  finished_at   timestamptz,
  remarks       text
);
CREATE INDEX backfill_runs_table_idx ON {{schema}}.backfill_runs (table_schema, table_name, run_id DESC);

-- One batch of a run.
--   from_key   exclusive lower bound, as a key image ({"id": "42"}); NULL = the start of the table
--   to_key     inclusive upper bound
--   rows       snapshot events the batch wrote (rows deleted meanwhile are not counted)
--   first_seq / last_seq  the event_seq range of those events
--   attempts   1 + how many times the batch was retried after FAILED
--   remarks    why it failed (every failed attempt is kept, newest last)
CREATE TABLE {{schema}}.backfill_batches (
  run_id       bigint      NOT NULL REFERENCES {{schema}}.backfill_runs (run_id) ON DELETE CASCADE,
  batch_no     integer     NOT NULL CHECK (batch_no > 0),
  table_schema text        NOT NULL,
  table_name   text        NOT NULL,
  from_key     jsonb,
  to_key       jsonb       NOT NULL,
  batch_size   integer     NOT NULL CHECK (batch_size > 0),
  rows         integer,
  first_seq    bigint,
  last_seq     bigint,
  status       text        NOT NULL DEFAULT 'IN_PROGRESS' CHECK (status IN ('IN_PROGRESS', 'FAILED', 'COMPLETED')),
  attempts     integer     NOT NULL DEFAULT 1,
  started_at   timestamptz NOT NULL DEFAULT now(),
  finished_at  timestamptz,
  remarks      text,
  PRIMARY KEY (run_id, batch_no)
);
