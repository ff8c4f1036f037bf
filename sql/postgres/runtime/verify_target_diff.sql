-- Purpose: runs in a PostgreSQL *target* database for `outbox verify`: narrows a chunk whose counts or
--          hashes differ down to keys. Each row returned is a key that is missing at the target, extra
--          there (no such source row), or different (with the names of the differing columns, never
--          values); extra rows carry the text of the table's attribute columns for the delete repair.
-- Params:  {{table}} target table (quoted, qualified); {{filter}} the condition over r (the chunk's key
--          range, or a key list); {{join}} key equality of s and t; {{first_key}} one key column;
--          {{key_json}} the key as jsonb from s or t; {{row_s}} / {{row_t}} ROW(…)::text of the compared
--          columns; {{changed}} text[] of differing column names; {{attrs}} jsonb of attribute texts of t.
--          $1 is the transformed source rows (a jsonb array); the filter's parameters follow.
WITH s AS (SELECT * FROM jsonb_populate_recordset(NULL::{{table}}, $1::jsonb)),
     t AS (SELECT * FROM {{table}} r WHERE {{filter}})
SELECT CASE WHEN t.{{first_key}} IS NULL THEN 'missing' WHEN s.{{first_key}} IS NULL THEN 'extra' ELSE 'different' END AS kind,
       {{key_json}} AS key,
       CASE WHEN s.{{first_key}} IS NOT NULL AND t.{{first_key}} IS NOT NULL THEN {{changed}} END AS columns,
       CASE WHEN s.{{first_key}} IS NULL THEN {{attrs}} END AS attributes
  FROM s FULL JOIN t ON {{join}}
 WHERE s.{{first_key}} IS NULL OR t.{{first_key}} IS NULL OR {{row_s}} IS DISTINCT FROM {{row_t}}
