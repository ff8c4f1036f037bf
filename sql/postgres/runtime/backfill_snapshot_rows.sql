-- Purpose: writes one 'snapshot' event per source row matching a condition (a backfill batch's key
--          range, or the keys verify repairs), in the capture encoding, and returns how many with
--          their seq range. The rows are read FOR SHARE: a writer that changed a row before is
--          committed (we read its content) and one that changes it after waits for our commit, so
--          a snapshot never carries older content with a newer seq than a live change (docs/backfill.md).
--          Run it in a READ COMMITTED transaction with the capture function's settings: SET LOCAL
--          TimeZone 'UTC', IntervalStyle 'iso_8601', bytea_output 'hex', extra_float_digits 1.
-- Params:  {{schema}} outbox schema (quoted); {{table}} source table (quoted, qualified);
--          {{table_schema}} / {{table_name}} source table as literals; {{key_image}}, {{image}} and
--          {{attrs}} jsonb expressions over n, the same as the table's capture function builds;
--          {{all_columns}} text[] of the captured columns; {{where}} the row condition over n;
--          {{order}} the key columns of n (lock order). Parameters ($1, $2) are the caller's {{where}}'s.
WITH written AS (
  INSERT INTO {{schema}}.events (part, seq, table_schema, table_name, op, key, before, after, changed, attributes, changed_at)
  SELECT (SELECT current_part FROM {{schema}}.rotation), nextval('{{schema}}.event_seq'), {{table_schema}}, {{table_name}}, 'snapshot',
         {{key_image}}, NULL, {{image}}, {{all_columns}}, {{attrs}}, clock_timestamp()
    FROM (SELECT * FROM {{table}} n WHERE {{where}} ORDER BY {{order}} FOR SHARE) n
  RETURNING seq
)
SELECT count(*)::int AS rows, min(seq)::text AS first_seq, max(seq)::text AS last_seq FROM written
