-- Purpose: how many events `outbox replay` re-publishes (the --dry-run answer and the progress
--          total), with the first and last seq: the same conditions as replay_page.sql, unpaged.
-- Params:  {{schema}} outbox schema (quoted); $1 done snapshot (text); $2 window snapshot (text or
--          NULL); $3 window seq (NULL between windows); $4 seq to count after; $5 changed at or after
--          (timestamptz or NULL); $6 table schemas and $7 table names (parallel text[], or NULL).
SELECT count(*)::bigint AS events, min(e.seq) AS first_seq, max(e.seq) AS last_seq
  FROM {{schema}}.events e
 WHERE e.seq > $4::bigint
   AND (pg_visible_in_snapshot(e.xid, $1::pg_snapshot)
        OR ($2::pg_snapshot IS NOT NULL AND pg_visible_in_snapshot(e.xid, $2::pg_snapshot) AND e.seq <= $3::bigint))
   AND ($5::timestamptz IS NULL OR e.changed_at >= $5::timestamptz)
   AND ($6::text[] IS NULL OR (e.table_schema, e.table_name) IN (SELECT * FROM unnest($6::text[], $7::text[])))
