-- Purpose: records how far the leader has published, fenced by its epoch in the same statement. No
--          row updated means a newer leader took over: the caller is fenced and must stop. The cursor
--          never moves back.
-- Params:  {{schema}} outbox schema (quoted); @epoch the caller's epoch; @cursor rowversion of the
--          last published event, as '0x…' hex text.
UPDATE {{schema}}.relay_state
   SET cursor_rv = CASE WHEN cursor_rv < CONVERT(binary(8), @cursor, 1) THEN CONVERT(binary(8), @cursor, 1) ELSE cursor_rv END,
       advanced_at = SYSDATETIMEOFFSET()
 WHERE epoch = @epoch;
