-- Purpose: `outbox verify --repair` for a target row whose key the source still has, but outside the
--          target's share (a move out of the share that the target missed): one 'snapshot' event per
--          such key whose attribute values are [the target row's, the source row's] where they
--          differ, so the relay publishes it as a share move — the old side reaches the target (and
--          any share the row left), which deletes the key; the new side reaches the share the row is
--          in now. Rows are read FOR SHARE like a backfill batch (docs/backfill.md). Keys the source
--          does not have are skipped (they get a delete instead).
--          Run it in a READ COMMITTED transaction with the capture settings (see backfill_snapshot_rows.sql).
-- Params:  {{schema}} outbox schema (quoted); {{table}} source table (quoted, qualified);
--          {{table_schema}} / {{table_name}} as literals; {{key_values}} the key columns typed, named as
--          in the table, out of x.key; {{key_image}}, {{image}}, {{attrs}} the capture expressions over
--          n; {{all_columns}} text[] of the captured columns; {{match}} key equality of n and k;
--          {{order}} the key columns of n (lock order). $1: jsonb array of {"key": {…}, "attributes": {…}}
--          (the target row's attribute texts, by source column name).
WITH k AS (
  SELECT {{key_values}}, x.attributes AS outbox_repair_attributes FROM jsonb_to_recordset($1::jsonb) AS x(key jsonb, attributes jsonb)
), written AS (
  INSERT INTO {{schema}}.events (part, seq, table_schema, table_name, op, key, before, after, changed, attributes, changed_at)
  SELECT (SELECT current_part FROM {{schema}}.rotation), nextval('{{schema}}.event_seq'), {{table_schema}}, {{table_name}}, 'snapshot',
         {{key_image}}, NULL, {{image}}, {{all_columns}},
         (SELECT jsonb_object_agg(c.key,
                   CASE WHEN n.outbox_repair_attributes ? c.key AND (n.outbox_repair_attributes ->> c.key) IS DISTINCT FROM (c.value #>> '{}')
                        THEN jsonb_build_array(n.outbox_repair_attributes ->> c.key, c.value #>> '{}')
                        ELSE c.value END)
            FROM jsonb_each({{attrs}}) c),
         clock_timestamp()
    FROM (SELECT t.*, k.outbox_repair_attributes FROM {{table}} t JOIN k ON {{match}} ORDER BY {{order}} FOR SHARE OF t) n
  RETURNING seq
)
SELECT count(*)::int AS rows FROM written
