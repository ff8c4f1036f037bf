-- Purpose: the TRUNCATE guard of one tracked table. SQL Server fires no trigger on TRUNCATE TABLE, so
--          a truncate would silently leave every target with rows the source no longer has. This
--          empty table's foreign key references the tracked table's unique key, and SQL Server refuses
--          TRUNCATE TABLE on a referenced table (error 4712: "Cannot truncate table … because it is
--          being referenced by a FOREIGN KEY constraint"). DELETE still works and is captured.
--          Side effects: DROP TABLE and changes to the key columns are refused until `outbox untrack`.
-- Params:  {{guard}} guard table in the outbox schema (quoted, qualified); {{columns}} its column
--          definitions (the key columns' types, NULL); {{fk}} the constraint name (quoted);
--          {{key_list}} the key columns (quoted), in the order of the unique index; {{table}} the
--          tracked table (quoted, qualified).
CREATE TABLE {{guard}} (
  {{columns}},
  CONSTRAINT {{fk}} FOREIGN KEY ({{key_list}}) REFERENCES {{table}} ({{key_list}})
);
