-- Purpose: what PostgreSQL gave the rows that existed before each column a schema change adds
--          (`ADD COLUMN … DEFAULT …`). A non-volatile default is evaluated once at the ALTER and
--          kept in pg_attribute (atthasmissing / attmissingval) instead of being written to the
--          rows: `image` is then that value as the capture writes it in a whole-row image (json text of
--          the column's type, read back by decode_added_column.sql into the event encoding). A
--          volatile default (clock_timestamp(), random()) rewrites the table with a value per row,
--          and any later rewrite forgets the missing value: `image` is NULL, `has_default` says
--          whether the rows got a value the stream cannot carry (the relay warns).
-- Params:  $1 the table's oid, $2 the attribute numbers of the added columns (int[]).
SELECT a.attnum::int AS attnum, a.attname::text AS name, a.atthasdef AS has_default,
       CASE WHEN a.atthasmissing THEN pg_catalog.json_build_object(a.attname, pg_catalog.array_to_json(a.attmissingval) -> 0)::text END AS image
  FROM pg_catalog.pg_attribute a
 WHERE a.attrelid = $1::oid
   AND a.attnum = ANY ($2::int[])
   AND NOT a.attisdropped
 ORDER BY a.attnum
