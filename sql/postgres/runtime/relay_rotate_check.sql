-- Purpose: step 2 of a rotation (see relay-rotate.ts), run while holding ACCESS EXCLUSIVE on the
--          partition to be reused, so no writer of it is still open: may it be truncated?
--          It may when the caller still leads (epoch), every event in it is published (visible in
--          done_snapshot; an open window counts as unpublished), and its newest event is older
--          than the retention.
-- Params:  {{schema}} outbox schema (quoted); {{partition}} the partition (quoted); $1 the caller's
--          epoch; $2 retention in milliseconds.
SELECT s.epoch = $1::bigint AS leads,
       NOT EXISTS (SELECT 1 FROM {{schema}}.{{partition}} e
                    WHERE e.xid >= pg_snapshot_xmin(s.done_snapshot)
                      AND NOT pg_visible_in_snapshot(e.xid, s.done_snapshot)) AS published,
       coalesce((SELECT e.changed_at FROM {{schema}}.{{partition}} e ORDER BY e.seq DESC LIMIT 1)
                  <= now() - make_interval(secs => $2::float8 / 1000), true) AS expired
  FROM {{schema}}.relay_state s
