-- Purpose: reclaims outbox space: deletes at most @batch published events older than the retention,
--          from the cold end of the rv-clustered table (capture appends at the hot end, so the two do
--          not touch the same pages). Bounded work: only the @batch oldest rows are looked at, and a
--          batch below 5,000 rows never escalates to a table lock that would block capture.
--          Fenced: a stale leader (epoch moved on) deletes nothing and gets -1.
-- Trade-off: DELETE is fully logged and leaves ghost records for the background cleanup; unlike
--          PostgreSQL there is no dead-tuple bloat under an old snapshot, but the log must keep up.
--          A partition-switch rotation would log less, but needs a Sch-M lock that waits for, and then
--          blocks, every capture writer: short batches off the hot path were chosen instead.
-- Params:  {{schema}} outbox schema (quoted); @epoch; @retention_seconds; @batch (≤ 4000).
DECLARE @cursor binary(8) = (SELECT cursor_rv FROM {{schema}}.relay_state WHERE epoch = @epoch);
IF @cursor IS NULL
BEGIN
  SELECT CAST(-1 AS int) AS deleted;
  RETURN;
END;
DECLARE @cutoff datetimeoffset(7) = DATEADD(second, -@retention_seconds, SYSDATETIMEOFFSET());
DECLARE @upto binary(8);
WITH head AS (SELECT TOP (@batch) e.rv, e.changed_at FROM {{schema}}.events e WHERE e.rv <= @cursor ORDER BY e.rv)
SELECT @upto = MAX(rv) FROM head WHERE changed_at < @cutoff;
DELETE FROM {{schema}}.events WHERE rv <= @upto AND changed_at < @cutoff;
SELECT @@ROWCOUNT AS deleted;
