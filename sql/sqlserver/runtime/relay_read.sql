-- Purpose: the next page of unpublished events: above the cursor, below the commit fence, in
--          rowversion order. For one key, a later change has a later rowversion (the second writer
--          waited for the first's row lock), so rv order is per-key commit order. The range ends below
--          every uncommitted row, so the read never waits on a writer's lock. A schema-change row
--          (op 'schema', written by the DDL trigger) carries its description in schema_change.
--          The page ends at @limit rows or at the row that takes its images past @max_bytes bytes
--          (DATALENGTH of the JSON columns), whichever comes first; the first row always comes
--          (docs/operations.md, "Relay memory"). page_rows is how many rows the read found before
--          the byte bound.
-- Params:  {{schema}} outbox schema (quoted); @limit page size (rows); @max_bytes page size (bytes);
--          @cursor and @fence as '0x…' hex text.
WITH page AS (
  SELECT TOP (@limit)
         e.rv, e.seq, e.xid, e.table_schema, e.table_name, e.op, e.[key], e.[before], e.[after], e.changed,
         e.attributes, e.changed_at, e.schema_change,
         ISNULL(DATALENGTH(e.[key]), 0) + ISNULL(DATALENGTH(e.[before]), 0) + ISNULL(DATALENGTH(e.[after]), 0)
           + ISNULL(DATALENGTH(e.attributes), 0) + ISNULL(DATALENGTH(e.schema_change), 0) AS bytes
    FROM {{schema}}.events e
   WHERE e.rv > CONVERT(binary(8), @cursor, 1) AND e.rv < CONVERT(binary(8), @fence, 1)
   ORDER BY e.rv
), sized AS (
  SELECT page.*,
         COUNT(*) OVER () AS page_rows,
         SUM(CAST(page.bytes AS bigint)) OVER (ORDER BY page.rv ROWS UNBOUNDED PRECEDING) - page.bytes AS bytes_before
    FROM page
)
SELECT CONVERT(varchar(18), s.rv, 1) AS rv, CAST(s.seq AS varchar(20)) AS seq, CAST(s.xid AS varchar(20)) AS xid,
       s.table_schema, s.table_name, s.op, s.[key], s.[before], s.[after], s.changed, s.attributes, s.changed_at,
       s.schema_change, s.page_rows
  FROM sized s
 WHERE s.bytes_before < @max_bytes
 ORDER BY s.rv;
