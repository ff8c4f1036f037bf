-- Purpose: the latest backfill run of each table, for `outbox status`.
-- Params:  {{schema}} outbox schema (quoted).
SELECT DISTINCT ON (table_schema, table_name)
       table_schema, table_name, run_id::text, status, rows_done::text, rows_estimate::text, batches_done,
       started_at, updated_at, finished_at, remarks
  FROM {{schema}}.backfill_runs
 ORDER BY table_schema, table_name, run_id DESC
