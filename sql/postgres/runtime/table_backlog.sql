-- Purpose: how many committed events of one tracked table the relay has not published yet (the
--          rule of backlog.sql), for `outbox untrack`: the relay decodes an event with its table's
--          tracked_tables row, so untracking a table with such events would leave them undecodable.
--          Events of its partitions count too (their relid is the partition's).
-- Params:  {{schema}} outbox schema (quoted); $1 the table's oid, $2 its schema, $3 its name.
SELECT count(*)::int AS backlog
  FROM {{schema}}.events e, {{schema}}.relay_state s
 WHERE e.xid >= pg_snapshot_xmin(s.done_snapshot)
   AND NOT pg_visible_in_snapshot(e.xid, s.done_snapshot)
   AND NOT (s.window_snapshot IS NOT NULL AND pg_visible_in_snapshot(e.xid, s.window_snapshot) AND e.seq <= coalesce(s.window_seq, -1))
   AND (e.relid = $1::oid
        OR pg_catalog.pg_partition_root(e.relid) = $1::oid
        OR e.relid IN (SELECT p.relid FROM {{schema}}.tracked_partitions p WHERE p.root_relid = $1::oid)
        OR (e.table_schema = $2 AND e.table_name = $3))
