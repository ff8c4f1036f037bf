-- Purpose: one page of a snapshot window (PgQ style; README.md, "How it works"): committed events visible in the
--          window snapshot and not visible in the done snapshot, after a seq, in seq order.
--          Every event of a window is committed, and inside a window seq order is per-key commit
--          order; so no late commit is skipped and no key is reordered.
--          The candidate condition is exactly "not visible in done": an xid in done's in-progress
--          list, or at/after done's xmax (below the window's xmax). It is written so the xid index
--          serves a small window and the seq index a large one (the snapshots are bound as values,
--          so the planner sees them).
-- Params:  {{schema}} outbox schema (quoted); $1 done snapshot (text); $2 window snapshot (text);
--          $3 seq to read after (-1 for the window's start); $4 page size.
--          Capture v2 rows (relid set) carry whole-row images as json text and their column names;
--          the relay decodes them (relay_decode.sql).
--          tracked_state: a digest of what decoding depends on (the tracked_tables rows, and the
--          columns, names, types and partitions of the tracked tables as the catalog has them now,
--          sql/postgres/000010_relay_tracked_state.sql), the same on every row; the relay keeps table
--          state between pages while it is unchanged. It is an InitPlan: computed once, at the first
--          row, so a read of an empty window (an idle poll) does not compute it.
SELECT e.seq, e.xid::text AS xid, e.table_schema, e.table_name, e.op, e.key, e.before, e.after,
       e.changed, e.attributes, e.changed_at, e.relid::int8::text AS relid, e.old_row::text AS old_row,
       e.new_row::text AS new_row,
       CASE WHEN coalesce(e.new_row, e.old_row) IS NOT NULL THEN ARRAY(SELECT json_object_keys(coalesce(e.new_row, e.old_row))) END AS names,
       (SELECT {{schema}}.relay_tracked_state()) AS tracked_state
  FROM {{schema}}.events e
 WHERE (e.xid = ANY (ARRAY(SELECT pg_snapshot_xip($1::pg_snapshot)))
        OR (e.xid >= pg_snapshot_xmax($1::pg_snapshot) AND e.xid < pg_snapshot_xmax($2::pg_snapshot)))
   AND pg_visible_in_snapshot(e.xid, $2::pg_snapshot)
   AND e.seq > $3::bigint
 ORDER BY e.seq
 LIMIT $4
