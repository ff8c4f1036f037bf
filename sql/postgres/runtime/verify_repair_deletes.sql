-- Purpose: `outbox verify --repair`: a 'delete' event for each given key that has no row in the source
--          table (the target holds a row the source does not), so the normal relay and consumers
--          remove it. Keys that do exist are skipped (they get a snapshot instead). The caller then
--          waits until every transaction older than this one has ended and snapshots any of these keys
--          that a concurrent insert created meanwhile (docs/backfill.md, "Repair").
--          Run it in a READ COMMITTED transaction with the capture settings (see backfill_snapshot_rows.sql).
-- Params:  {{schema}} outbox schema (quoted); {{table}} source table (quoted, qualified);
--          {{table_schema}} / {{table_name}} as literals; {{key_values}} the key columns typed, named as
--          in the table, out of x.key; {{key_image}} the capture key expression over n; {{match}} key
--          equality of t (the table) and n. $1: jsonb array of {"key": {…}, "attributes": {…} | null}.
INSERT INTO {{schema}}.events (part, seq, table_schema, table_name, op, key, before, after, changed, attributes, changed_at)
SELECT (SELECT current_part FROM {{schema}}.rotation), nextval('{{schema}}.event_seq'), {{table_schema}}, {{table_name}}, 'delete',
       {{key_image}}, NULL, NULL, NULL, n.attributes, clock_timestamp()
  FROM (SELECT {{key_values}}, x.attributes FROM jsonb_to_recordset($1::jsonb) AS x(key jsonb, attributes jsonb)) n
 WHERE NOT EXISTS (SELECT 1 FROM {{table}} t WHERE {{match}})
RETURNING key
