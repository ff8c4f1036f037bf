-- Purpose: makes the caller the fenced leader. Bumps the epoch (a stale leader's cursor advances then
--          match no row) and returns the cursor the new leader continues from.
-- Params:  {{schema}} outbox schema (quoted); @leader leader (instance) id.
UPDATE {{schema}}.relay_state
   SET epoch = epoch + 1, leader_id = @leader, leader_since = SYSDATETIMEOFFSET()
OUTPUT CAST(inserted.epoch AS varchar(20)) AS epoch, CONVERT(varchar(18), inserted.cursor_rv, 1) AS cursor_rv;
