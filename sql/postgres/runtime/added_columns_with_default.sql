-- Purpose: the columns of a tracked table that a schema change about to be saved adds (in the new
--          shape, not in the one published last) and that have a default or a value PostgreSQL
--          fills in for existing rows (`ADD COLUMN … DEFAULT …`): the rows that existed before hold
--          it at the source without any captured change, so targets cannot know it (the relay warns).
-- Params:  {{schema}} outbox schema (quoted); $1 the table's oid, $2 the attribute numbers of the
--          new shape (int[]).
SELECT a.attname::text AS name
  FROM {{schema}}.tracked_tables t
  JOIN pg_catalog.pg_attribute a ON a.attrelid = t.relid
 WHERE t.relid = $1::oid
   AND t.shape IS NOT NULL
   AND a.attnum = ANY ($2::int[])
   AND NOT a.attisdropped
   AND (a.atthasdef OR a.atthasmissing)
   AND NOT EXISTS (SELECT 1 FROM jsonb_array_elements(t.shape) c WHERE (c->>'attnum')::int = a.attnum)
 ORDER BY a.attnum
