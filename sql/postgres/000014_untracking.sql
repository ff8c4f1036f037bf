-- outbox-relay 000014: a table being untracked keeps its tracked_tables row until the relay has
-- published what was captured of it.
-- Purpose: the relay decodes an event with its table's tracked_tables row (key and attribute
--          columns, the shape it published last). `outbox untrack` used to delete that row at once,
--          so changes captured before it and not yet published were held in the quarantine as "no
--          longer tracked" instead of reaching the targets. Now untrack removes the capture
--          triggers, marks the row `untracking`, waits for the relay to publish the table's last
--          captured changes, and only then deletes the row (docs/capture.md, "Untracking a table").
--          A re-track puts the triggers back, which ends the wait (the mark is then cleared).
-- Params:  {{schema}} is the validated, quoted outbox schema name.
-- Released: never edit this file; add a new numbered file instead.

ALTER TABLE {{schema}}.tracked_tables ADD COLUMN untracking boolean NOT NULL DEFAULT false;
