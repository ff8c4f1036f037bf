-- Purpose: row count and hash of the compared columns of one `outbox demo` table, computed alike in
--          the source and the target, so the demo can tell cheaply when the target caught up.
-- Params:  {{table}} table (quoted, qualified); {{columns}} compared column expressions, comma-separated.
SELECT count(*)::int AS rows,
       coalesce(md5(string_agg(jsonb_build_array({{columns}})::text, '|' ORDER BY id)), '') AS hash
  FROM {{table}}
