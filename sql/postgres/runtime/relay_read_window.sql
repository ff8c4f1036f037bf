-- Purpose: one page of a snapshot window (PgQ style; README.md, "How it works"): committed events visible in the
--          window snapshot and not visible in the done snapshot, after a seq, in seq order.
--          Every event of a window is committed, and inside a window seq order is per-key commit
--          order; so no late commit is skipped and no key is reordered.
--          The candidate condition is exactly "not visible in done": an xid in done's in-progress
--          list, or at/after done's xmax (below the window's xmax). It is written so the xid index
--          serves a small window and the seq index a large one (the snapshots are bound as values,
--          so the planner sees them).
--          The page ends at $4 rows or at the row that takes its images past $5 bytes, whichever
--          comes first; the first row always comes, however large (docs/operations.md, "Relay
--          memory"). The images' bytes are their text lengths (json: the stored text; jsonb, kept
--          by rows from before capture v2 and by backfill snapshots: the stored size). page_rows is
--          how many rows the read found before the byte bound: the window is read to its end when
--          it is below $4 and every row found is returned.
-- Params:  {{schema}} outbox schema (quoted); $1 done snapshot (text); $2 window snapshot (text);
--          $3 seq to read after (-1 for the window's start); $4 page size (rows); $5 page size (bytes).
--          Capture v2 rows (relid set) carry whole-row images as json text and their column names;
--          the relay decodes them (relay_decode.sql).
--          tracked_state: a digest of what decoding depends on (the tracked_tables rows, and the
--          columns, names, types and partitions of the tracked tables as the catalog has them now,
--          sql/postgres/000010_relay_tracked_state.sql), the same on every row; the relay keeps table
--          state between pages while it is unchanged. It is an InitPlan: computed once, at the first
--          row, so a read of an empty window (an idle poll) does not compute it. The column names and
--          the digest are computed for the rows the byte bound keeps only.
SELECT p.seq, p.xid, p.table_schema, p.table_name, p.op, p.key, p.before, p.after, p.changed, p.attributes,
       p.changed_at, p.relid, p.old_row, p.new_row,
       CASE WHEN p.image IS NOT NULL THEN ARRAY(SELECT json_object_keys(p.image)) END AS names,
       (SELECT {{schema}}.relay_tracked_state()) AS tracked_state,
       p.page_rows
  FROM (SELECT w.*,
               count(*) OVER () AS page_rows,
               sum(w.bytes) OVER (ORDER BY w.seq ROWS UNBOUNDED PRECEDING) - w.bytes AS bytes_before
          FROM (SELECT i.*,
                       coalesce(octet_length(i.old_row), 0) + coalesce(octet_length(i.new_row), 0)
                         + coalesce(pg_column_size(i.before), 0) + coalesce(pg_column_size(i.after), 0)
                         + coalesce(pg_column_size(i.key), 0) + coalesce(pg_column_size(i.attributes), 0) AS bytes
                  FROM (SELECT e.seq, e.xid::text AS xid, e.table_schema, e.table_name, e.op, e.key, e.before, e.after,
                               e.changed, e.attributes, e.changed_at, e.relid::int8::text AS relid,
                               e.old_row::text AS old_row, e.new_row::text AS new_row, coalesce(e.new_row, e.old_row) AS image
                          FROM {{schema}}.events e
                         WHERE (e.xid = ANY (ARRAY(SELECT pg_snapshot_xip($1::pg_snapshot)))
                                OR (e.xid >= pg_snapshot_xmax($1::pg_snapshot) AND e.xid < pg_snapshot_xmax($2::pg_snapshot)))
                           AND pg_visible_in_snapshot(e.xid, $2::pg_snapshot)
                           AND e.seq > $3::bigint
                         ORDER BY e.seq
                         LIMIT $4) i) w) p
 WHERE p.bytes_before < $5::bigint
 ORDER BY p.seq
