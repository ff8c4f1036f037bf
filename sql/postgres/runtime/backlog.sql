-- Purpose: unpublished committed events, per table, with the age of the oldest.
-- An event is published when its xid is visible in done_snapshot, or when it lies in the window
-- being published and its seq is at most window_seq.
-- Params: {{schema}} outbox schema (quoted).
SELECT e.table_schema, e.table_name, count(*)::int AS backlog,
       extract(epoch FROM now() - min(e.changed_at))::float8 AS oldest_age_seconds
  FROM {{schema}}.events e, {{schema}}.relay_state s
 WHERE e.xid >= pg_snapshot_xmin(s.done_snapshot)
   AND NOT pg_visible_in_snapshot(e.xid, s.done_snapshot)
   AND NOT (s.window_snapshot IS NOT NULL AND pg_visible_in_snapshot(e.xid, s.window_snapshot) AND e.seq <= coalesce(s.window_seq, -1))
 GROUP BY e.table_schema, e.table_name
