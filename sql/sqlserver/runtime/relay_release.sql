-- Purpose: a leader that stops on purpose clears its name (status then shows no leader); fenced by
--          epoch, so it never clears a newer leader's.
-- Params:  {{schema}} outbox schema (quoted); @epoch the caller's epoch; @leader its leader id.
UPDATE {{schema}}.relay_state
   SET leader_id = NULL
 WHERE epoch = @epoch AND leader_id = @leader;
