-- Purpose: the next chunk of source rows for `outbox verify`, walking the key (keyset; never OFFSET),
--          as key and row images in the capture encoding — exactly what a consumer would receive —
--          so the target's transformer can be applied to them, with the attribute columns' texts the
--          capture writes for the message attributes (a row's share). Reads without locks.
--          Run it on a session with the capture settings (TimeZone UTC, IntervalStyle iso_8601,
--          bytea_output hex, extra_float_digits 1).
-- Params:  {{table}} source table (quoted, qualified); {{key_image}} / {{image}} / {{attrs}} jsonb
--          expressions over n (the table's capture expressions); {{where}} the condition over n (a cursor "key > $2",
--          or a key list); {{order}} the key columns of n. $1 is the chunk size.
SELECT {{key_image}} AS key, {{image}} AS after, {{attrs}} AS attributes
  FROM {{table}} n
 WHERE {{where}}
 ORDER BY {{order}}
 LIMIT $1
