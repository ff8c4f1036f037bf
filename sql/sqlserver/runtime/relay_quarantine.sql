-- Purpose: keeps an event the publisher must not publish (too large, no claim-check bucket), so it is
--          never dropped silently; an operator re-publishes or deletes it after a fix. Idempotent: a
--          second attempt (a new leader re-reading the same event) updates the row.
-- Params:  {{schema}} outbox schema (quoted); @seq; @table_schema; @table_name; @op; @reason;
--          @size_bytes; @envelope (JSON text).
MERGE {{schema}}.quarantine WITH (HOLDLOCK) AS q
USING (SELECT @seq AS seq) AS s ON q.seq = s.seq
 WHEN MATCHED THEN UPDATE SET reason = @reason, size_bytes = @size_bytes, envelope = @envelope, quarantined_at = SYSDATETIMEOFFSET()
 WHEN NOT MATCHED THEN INSERT (seq, table_schema, table_name, op, reason, size_bytes, envelope)
                       VALUES (@seq, @table_schema, @table_name, @op, @reason, @size_bytes, @envelope);
