-- Purpose: the commit fence, read in its own statement before each page (docs/sqlserver.md, "Reading without skipping late commits"). Every event with
--          rv below it is committed, and no event below it can still appear: an open transaction holds
--          the fence at its lowest rowversion, and a new one gets a rowversion above the current one.
--          Reading rv > cursor ordered by rv without the fence would skip a transaction that took its
--          rowversion early and commits late.
-- Params:  none.
SELECT CONVERT(varchar(18), MIN_ACTIVE_ROWVERSION(), 1) AS fence;
