-- Purpose: runs in a PostgreSQL *target* database for `outbox verify`: count and hash one key range of
--          the target table, and the same for the transformed source rows of that range. The source
--          rows are typed by the target table itself (jsonb_populate_recordset, as the target writer
--          stores them), and both sides are hashed as the same row text in the same order, so equal
--          rows give equal hashes whatever the column types are.
-- Params:  {{table}} target table (quoted, qualified); {{row_text}} ROW(r."c1", …)::text of the
--          compared columns over r; {{order}} the key columns over r; {{range}} the key-range condition
--          over r. $1 is the transformed source rows (a jsonb array); the range's bounds follow.
WITH s AS (SELECT * FROM jsonb_populate_recordset(NULL::{{table}}, $1::jsonb)),
     t AS (SELECT * FROM {{table}} r WHERE {{range}})
SELECT (SELECT count(*)::int FROM s) AS source_count,
       (SELECT count(*)::int FROM t) AS target_count,
       (SELECT md5(coalesce(string_agg({{row_text}}, E'\n' ORDER BY {{order}}), '')) FROM s r) AS source_hash,
       (SELECT md5(coalesce(string_agg({{row_text}}, E'\n' ORDER BY {{order}}), '')) FROM t r) AS target_hash
