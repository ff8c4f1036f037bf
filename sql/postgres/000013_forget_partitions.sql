-- outbox-relay 000013: tracked_partitions forgets a partition once nothing of it can be read.
-- Purpose: tracked_partitions (000012) keeps a row per partition ever seen under a tracked table,
--          so a table with daily partitions created and dropped grew it by a row a day, forever.
--          A row is needed while the outbox holds rows of its partition: the relay decodes them
--          through it until they are published, and `outbox replay` decodes the published ones
--          while rotation retains them (relay.retentionMinutes). So a row is removed once its
--          partition is no longer under its tracked table (dropped, or detached) and no outbox row
--          of it is left at all. forget_partitions() decides that without reading the outbox's
--          rows: the first call that finds the partition gone notes the event sequence's value
--          then (every row of the partition has a seq at most that: each of its writers held a lock
--          the DETACH or DROP had to wait for, so it had taken its seqs and ended before), and a
--          later call removes the row once no outbox row with a seq that low is left, which rotation
--          brings about (the index on seq answers it). The relay calls it after each rotation (the
--          retention job, src/source/postgres/relay-session.ts), and this migration once. Capture is
--          unchanged: nothing here runs on a write of a tracked table.
-- Params:  {{schema}} is the validated, quoted outbox schema name.
-- Released: never edit this file; add a new numbered file instead.

-- gone_seq:  set when the partition was found no longer under root_relid: the event sequence's last
--            value then; NULL while it is under root_relid.
-- gone_xmin: the xmin of the partition's pg_class row then (NULL: the table was dropped). A table
--            attached again since (and perhaps written and detached again) has another one, so the
--            next call notes the partition afresh rather than trust the old gone_seq.
ALTER TABLE {{schema}}.tracked_partitions ADD COLUMN gone_seq bigint, ADD COLUMN gone_xmin xid;

-- Whether p_relid is a partition, at any level, of p_root: its parents followed up through
-- pg_inherits, in the calling statement's snapshot (the catalog caches could be newer).
CREATE FUNCTION {{schema}}.partition_under(p_relid oid, p_root oid) RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $under$
  WITH RECURSIVE up (relid) AS (
    SELECT i.inhparent FROM pg_catalog.pg_inherits i WHERE i.inhrelid OPERATOR(pg_catalog.=) p_relid
    UNION
    SELECT i.inhparent FROM pg_catalog.pg_inherits i JOIN up ON i.inhrelid OPERATOR(pg_catalog.=) up.relid
  )
  SELECT EXISTS (SELECT 1 FROM up WHERE up.relid OPERATOR(pg_catalog.=) p_root)
$under$;

-- Notes the partitions that left their tracked table, clears the note of those back under it, and
-- removes the rows whose partition is gone with no outbox row left that could be one of its rows.
-- Where a partition is, is read from pg_inherits in each statement's own snapshot, the snapshot its
-- outbox check reads in too (a partition still being detached CONCURRENTLY is under its table).
-- Returns how many rows it removed.
CREATE FUNCTION {{schema}}.forget_partitions() RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $forget$
DECLARE
  v_forgotten bigint;
BEGIN
  -- Back under its tracked table (attached again): no longer gone.
  UPDATE {{schema}}.tracked_partitions k
     SET gone_seq = NULL, gone_xmin = NULL
   WHERE k.gone_seq IS NOT NULL
     AND {{schema}}.partition_under(k.relid, k.root_relid);

  -- Gone, and not noted yet or changed since it was (another pg_class row): noted now. The sequence
  -- is read as it is now, after this statement's snapshot was taken (a sequence is not read in a
  -- snapshot), so it is at or past every seq the partition's rows have.
  UPDATE {{schema}}.tracked_partitions k
     SET gone_seq = coalesce(pg_catalog.pg_sequence_last_value('{{schema}}.event_seq'::pg_catalog.regclass), 0),
         gone_xmin = (SELECT c.xmin FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) k.relid)
   WHERE NOT {{schema}}.partition_under(k.relid, k.root_relid)
     AND (k.gone_seq IS NULL
          OR k.gone_xmin IS DISTINCT FROM (SELECT c.xmin FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) k.relid));

  -- Gone as noted, and the outbox holds no row as old as the note: none of the partition's is left.
  DELETE FROM {{schema}}.tracked_partitions k
   WHERE k.gone_seq IS NOT NULL
     AND NOT {{schema}}.partition_under(k.relid, k.root_relid)
     AND k.gone_xmin IS NOT DISTINCT FROM (SELECT c.xmin FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) k.relid)
     AND NOT EXISTS (SELECT 1 FROM {{schema}}.events e WHERE e.seq OPERATOR(pg_catalog.<=) k.gone_seq);
  GET DIAGNOSTICS v_forgotten = ROW_COUNT;
  RETURN v_forgotten;
END
$forget$;

-- The partitions already gone at the upgrade are noted now.
SELECT {{schema}}.forget_partitions();
