-- Purpose: the latest backfill run of each table, for `outbox status`.
--          `running`: whether a backfill process holds the table's advisory lock right now (a run left
--          IN_PROGRESS by a process that died is not running; the next `outbox backfill` resumes it).
-- Params:  {{schema}} outbox schema (quoted); {{schema_literal}} the same name as a string literal.
SELECT DISTINCT ON (table_schema, table_name)
       table_schema, table_name, run_id::text, status, rows_done::text, rows_estimate::text, batches_done,
       started_at, updated_at, finished_at, remarks,
       EXISTS (SELECT 1 FROM pg_catalog.pg_locks l
                WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
                  AND l.classid = hashtext('outbox-relay:backfill')::oid
                  AND l.objid = hashtext({{schema_literal}} || ':' || table_schema || '.' || table_name)::oid) AS running
  FROM {{schema}}.backfill_runs
 ORDER BY table_schema, table_name, run_id DESC
