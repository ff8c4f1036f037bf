-- Purpose: age in seconds of the oldest open transaction that has written to this database: it holds
--          MIN_ACTIVE_ROWVERSION(), and so the relay, back. NULL when there is none.
--          Needs VIEW SERVER STATE (VIEW SERVER PERFORMANCE STATE on SQL Server 2022); without it the
--          caller reports the age as unknown.
-- Params:  none.
SELECT DATEDIFF_BIG(millisecond, MIN(dt.database_transaction_begin_time), SYSDATETIME()) / 1000.0 AS age
  FROM sys.dm_tran_database_transactions dt
  JOIN sys.dm_tran_session_transactions st ON st.transaction_id = dt.transaction_id
 WHERE dt.database_id = DB_ID()
   AND dt.database_transaction_begin_time IS NOT NULL
   AND st.session_id <> @@SPID;
