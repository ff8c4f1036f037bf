-- Purpose: the upper bound of the next backfill batch — the key image of the last of the next N rows
--          after the cursor, walking the primary key (keyset; never OFFSET). Takes no row lock: the
--          batch statement locks the rows of its range itself. No row means the walk is done.
-- Params:  {{table}} source table (quoted, qualified); {{key_columns}} the key columns of n, quoted;
--          {{key_image}} the key as a jsonb image over n (capture encoding); {{after}} the condition
--          "key > cursor" over n ($2 holds the cursor's key image), or true for the first batch;
--          {{order}} / {{order_desc}} the key columns ascending / descending. $1 is the batch size.
SELECT {{key_image}} AS to_key
  FROM (SELECT {{key_columns}} FROM {{table}} n WHERE {{after}} ORDER BY {{order}} LIMIT $1) n
 ORDER BY {{order_desc}}
 LIMIT 1
