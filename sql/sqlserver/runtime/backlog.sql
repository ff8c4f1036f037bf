-- Purpose: unpublished committed events, per table, with the age of the oldest. An event is
--          published when its rv is at most relay_state.cursor_rv; events at or above
--          MIN_ACTIVE_ROWVERSION() belong to open transactions and are not counted (nor waited on:
--          the range ends below them).
-- Params:  {{schema}} outbox schema (quoted).
DECLARE @fence binary(8) = MIN_ACTIVE_ROWVERSION();
SELECT e.table_schema, e.table_name, COUNT_BIG(*) AS backlog,
       DATEDIFF_BIG(millisecond, MIN(e.changed_at), SYSDATETIMEOFFSET()) / 1000.0 AS oldest_age_seconds
  FROM {{schema}}.events e
 WHERE e.rv > (SELECT s.cursor_rv FROM {{schema}}.relay_state s) AND e.rv < @fence
 GROUP BY e.table_schema, e.table_name;
