-- Purpose: the next page of unpublished events: above the cursor, below the commit fence, in
--          rowversion order. For one key, a later change has a later rowversion (the second writer
--          waited for the first's row lock), so rv order is per-key commit order. The range ends below
--          every uncommitted row, so the read never waits on a writer's lock. A schema-change row
--          (op 'schema', written by the DDL trigger) carries its description in schema_change.
-- Params:  {{schema}} outbox schema (quoted); @limit page size; @cursor and @fence as '0x…' hex text.
SELECT TOP (@limit)
       CONVERT(varchar(18), e.rv, 1) AS rv, CAST(e.seq AS varchar(20)) AS seq, CAST(e.xid AS varchar(20)) AS xid,
       e.table_schema, e.table_name, e.op, e.[key], e.[before], e.[after], e.changed, e.attributes, e.changed_at, e.schema_change
  FROM {{schema}}.events e
 WHERE e.rv > CONVERT(binary(8), @cursor, 1) AND e.rv < CONVERT(binary(8), @fence, 1)
 ORDER BY e.rv;
