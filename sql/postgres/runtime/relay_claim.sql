-- Purpose: makes the caller the fenced leader. Bumps the epoch (a stale leader's cursor advances
--          then match no row) and returns the cursor the new leader continues from.
-- Params:  {{schema}} outbox schema (quoted); $1 leader (instance) id.
UPDATE {{schema}}.relay_state
   SET epoch = epoch + 1, leader_id = $1, leader_since = now()
RETURNING epoch, done_snapshot::text AS done_snapshot, window_snapshot::text AS window_snapshot, window_seq
