-- Purpose: keeps an event the publisher must not publish (too large, no claim-check bucket), so it
--          is never dropped silently; an operator re-publishes or deletes it after a fix.
--          Idempotent: a second attempt (a new leader re-reading the same event) updates the row.
-- Params:  {{schema}} outbox schema (quoted); $1 seq; $2 table schema; $3 table name; $4 op;
--          $5 reason; $6 size in bytes; $7 envelope (JSON text).
INSERT INTO {{schema}}.quarantine (seq, table_schema, table_name, op, reason, size_bytes, envelope)
VALUES ($1::bigint, $2, $3, $4, $5, $6, $7)
ON CONFLICT (seq) DO UPDATE
   SET reason = EXCLUDED.reason, size_bytes = EXCLUDED.size_bytes, envelope = EXCLUDED.envelope, quarantined_at = now()
