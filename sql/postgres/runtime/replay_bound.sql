-- Purpose: what `outbox replay` may re-publish: the relay's cursor as it is now, read once at the
--          start so the replayed set stays fixed while the relay moves on. An event is published
--          when its xid is visible in done_snapshot, or when it lies in the window being published
--          (visible in window_snapshot) with seq <= window_seq. Read only: no lock, no epoch.
-- Params:  {{schema}} outbox schema (quoted).
SELECT done_snapshot::text AS done_snapshot, window_snapshot::text AS window_snapshot, window_seq
  FROM {{schema}}.relay_state
