-- Purpose: records how far the leader has published, fenced by its epoch in the same statement.
--          No row updated means a newer leader took over: the caller is fenced and must stop.
-- Params:  {{schema}} outbox schema (quoted); $1 the caller's epoch; $2 done snapshot (text);
--          $3 window snapshot (text, NULL between windows); $4 window seq (NULL between windows).
UPDATE {{schema}}.relay_state
   SET done_snapshot = $2::pg_snapshot, window_snapshot = $3::pg_snapshot, window_seq = $4::bigint, advanced_at = now()
 WHERE epoch = $1::bigint
RETURNING epoch
