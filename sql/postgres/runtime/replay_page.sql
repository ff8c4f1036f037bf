-- Purpose: one page of `outbox replay`: retained events that the relay had published when the
--          replay started (see replay_bound.sql), matching the replay's filters, after a seq, in seq
--          order. Unpublished events (not visible in done, or in the window past window_seq) are
--          never returned: replay must not get ahead of the relay.
--          The page ends at $8 rows or at the row that takes its images past $9 bytes, whichever
--          comes first; the first row always comes (as relay_read_window.sql).
-- Params:  {{schema}} outbox schema (quoted); $1 done snapshot (text); $2 window snapshot (text or
--          NULL); $3 window seq (NULL between windows); $4 seq to read after; $5 changed at or after
--          (timestamptz or NULL: any time); $6 table schemas and $7 table names (parallel text[], or
--          NULL: every table); $8 page size (rows); $9 page size (bytes). Capture v2 rows are decoded
--          as the relay does (relay_decode.sql).
SELECT p.seq, p.xid, p.table_schema, p.table_name, p.op, p.key, p.before, p.after, p.changed, p.attributes,
       p.changed_at, p.relid, p.old_row, p.new_row,
       CASE WHEN p.image IS NOT NULL THEN ARRAY(SELECT json_object_keys(p.image)) END AS names
  FROM (SELECT w.*, sum(w.bytes) OVER (ORDER BY w.seq ROWS UNBOUNDED PRECEDING) - w.bytes AS bytes_before
          FROM (SELECT i.*,
                       coalesce(octet_length(i.old_row), 0) + coalesce(octet_length(i.new_row), 0)
                         + coalesce(pg_column_size(i.before), 0) + coalesce(pg_column_size(i.after), 0)
                         + coalesce(pg_column_size(i.key), 0) + coalesce(pg_column_size(i.attributes), 0) AS bytes
                  FROM (SELECT e.seq, e.xid::text AS xid, e.table_schema, e.table_name, e.op, e.key, e.before, e.after,
                               e.changed, e.attributes, e.changed_at, e.relid::int8::text AS relid,
                               e.old_row::text AS old_row, e.new_row::text AS new_row, coalesce(e.new_row, e.old_row) AS image
                          FROM {{schema}}.events e
                         WHERE e.seq > $4::bigint
                           AND (pg_visible_in_snapshot(e.xid, $1::pg_snapshot)
                                OR ($2::pg_snapshot IS NOT NULL AND pg_visible_in_snapshot(e.xid, $2::pg_snapshot) AND e.seq <= $3::bigint))
                           AND ($5::timestamptz IS NULL OR e.changed_at >= $5::timestamptz)
                           AND ($6::text[] IS NULL OR (e.table_schema, e.table_name) IN (SELECT * FROM unnest($6::text[], $7::text[])))
                         ORDER BY e.seq
                         LIMIT $8) i) w) p
 WHERE p.bytes_before < $9::bigint
 ORDER BY p.seq
