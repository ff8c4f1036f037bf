-- Purpose: a leader that stops on purpose clears its name (status then shows no leader); fenced by
--          epoch, so it never clears a newer leader's.
-- Params:  {{schema}} outbox schema (quoted); $1 the caller's epoch; $2 its leader id.
UPDATE {{schema}}.relay_state
   SET leader_id = NULL
 WHERE epoch = $1::bigint AND leader_id = $2
