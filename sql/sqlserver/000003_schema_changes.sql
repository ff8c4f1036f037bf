-- outbox-relay 000003: schema changes of tracked tables (docs/sqlserver.md, "Schema changes").
-- Purpose: what a database DDL trigger needs to keep capture working through ALTER TABLE, sp_rename
--          and DROP TABLE inside the DDL's own transaction: the shape each capture trigger was built
--          for, the value encodings of the capture (the same as src/source/sqlserver/capture-sql.ts;
--          a unit test holds the two together), the trigger template, the procedure that rebuilds a
--          table's capture trigger, and schema-change rows in the outbox (op 'schema').
-- Params:  {{schema}} is the validated, bracket-quoted outbox schema name.
-- Batches: split on GO lines by the migrator; all batches run in one transaction.
-- Released: never edit this file once released; add a new numbered file instead.

-- A schema change is an outbox row with op 'schema' and its description in schema_change (the JSON
-- of data.schemaChange, docs/schema-changes.md); key, before and after are NULL.
ALTER TABLE {{schema}}.events DROP CONSTRAINT CK_events_op;
GO
ALTER TABLE {{schema}}.events ADD CONSTRAINT CK_events_op CHECK (op IN ('insert', 'update', 'delete', 'truncate', 'snapshot', 'schema'));
GO
ALTER TABLE {{schema}}.events ADD schema_change nvarchar(max) NULL;
GO

-- Every column of a tracked table as its capture trigger was last built for:
--   excluded     1: never captured (listed so that a rename, which keeps the column_id, keeps it
--                excluded; its name and type are never published)
--   key_ordinal  the column's place in the key, or NULL; attr_ordinal: in the attribute list, or NULL
--   type_name the base type as capture-sql.ts names it; type_text as schema changes spell it
CREATE TABLE {{schema}}.tracked_columns (
  table_schema sysname       NOT NULL,
  table_name   sysname       NOT NULL,
  column_id    int           NOT NULL,
  name         sysname       NOT NULL,
  type_name    sysname       NOT NULL,
  type_text    nvarchar(200) NOT NULL,
  scale        int           NOT NULL,
  nullable     bit           NOT NULL,
  excluded     bit           NOT NULL,
  key_ordinal  int           NULL,
  attr_ordinal int           NULL,
  CONSTRAINT PK_tracked_columns PRIMARY KEY (table_schema, table_name, column_id)
);
GO

-- How a value of each type is written into an image (docs/sqlserver.md has the table). expr is a
-- T-SQL expression of the value as nvarchar, with {r} the column reference and {s} its scale.
--   kind     number, bool, raw: the text is the JSON; plain: a JSON string of the text; escaped: the
--            same through STRING_ESCAPE; hex: the "\\x…" string of a binary
--   compare  how an update tells a changed value: equals (=, NULL-safe), binary (the varbinary
--            form: collations, float -0), json (the encoded value: xml, geography… have no =)
--   key_binary 1: a key of this type is matched on its binary form
CREATE TABLE {{schema}}.capture_encodings (
  type_name  sysname       NOT NULL CONSTRAINT PK_capture_encodings PRIMARY KEY,
  kind       varchar(8)    NOT NULL,
  compare    varchar(8)    NOT NULL,
  key_binary bit           NOT NULL,
  expr       nvarchar(400) NOT NULL
);
GO

INSERT INTO {{schema}}.capture_encodings (type_name, kind, compare, key_binary, expr) VALUES
  (N'bit', 'bool', 'equals', 0, N'CASE {r} WHEN 1 THEN N''true'' WHEN 0 THEN N''false'' END'),
  (N'tinyint', 'number', 'equals', 0, N'CAST({r} AS nvarchar(11))'),
  (N'smallint', 'number', 'equals', 0, N'CAST({r} AS nvarchar(11))'),
  (N'int', 'number', 'equals', 0, N'CAST({r} AS nvarchar(11))'),
  (N'float', 'number', 'binary', 0, N'CONVERT(nvarchar(30), {r}, 3)'),
  (N'real', 'number', 'binary', 0, N'CONVERT(nvarchar(30), {r}, 3)'),
  (N'bigint', 'plain', 'equals', 0, N'CAST({r} AS nvarchar(20))'),
  (N'decimal', 'plain', 'equals', 0, N'CAST({r} AS nvarchar(50))'),
  (N'numeric', 'plain', 'equals', 0, N'CAST({r} AS nvarchar(50))'),
  (N'money', 'plain', 'equals', 0, N'CAST(CAST({r} AS decimal(19, 4)) AS nvarchar(30))'),
  (N'smallmoney', 'plain', 'equals', 0, N'CAST(CAST({r} AS decimal(19, 4)) AS nvarchar(30))'),
  (N'char', 'escaped', 'binary', 1, N'CAST({r} AS nvarchar(max))'),
  (N'varchar', 'escaped', 'binary', 1, N'CAST({r} AS nvarchar(max))'),
  (N'nchar', 'escaped', 'binary', 1, N'CAST({r} AS nvarchar(max))'),
  (N'nvarchar', 'escaped', 'binary', 1, N'CAST({r} AS nvarchar(max))'),
  (N'uniqueidentifier', 'plain', 'equals', 0, N'LOWER(CONVERT(nvarchar(36), {r}))'),
  (N'date', 'plain', 'equals', 0, N'CONVERT(nvarchar(10), {r}, 23)'),
  (N'time', 'plain', 'equals', 0, N'CAST({r} AS nvarchar(16))'),
  (N'datetime', 'plain', 'equals', 0, N'CONVERT(nvarchar(27), {r}, 126)'),
  (N'smalldatetime', 'plain', 'equals', 0, N'CONVERT(nvarchar(27), {r}, 126)'),
  (N'datetime2', 'plain', 'equals', 0, N'CONVERT(nvarchar(27), {r}, 126)'),
  (N'datetimeoffset', 'plain', 'equals', 0, N'CONVERT(nvarchar(27), CAST(SWITCHOFFSET({r}, ''+00:00'') AS datetime2({s})), 126) + N''+00:00'''),
  (N'binary', 'hex', 'equals', 0, N'N''\x'' + LOWER(CONVERT(nvarchar(max), CAST({r} AS varbinary(max)), 2))'),
  (N'varbinary', 'hex', 'equals', 0, N'N''\x'' + LOWER(CONVERT(nvarchar(max), CAST({r} AS varbinary(max)), 2))'),
  (N'timestamp', 'hex', 'equals', 0, N'N''\x'' + LOWER(CONVERT(nvarchar(max), CAST({r} AS varbinary(max)), 2))'),
  (N'xml', 'escaped', 'json', 0, N'CAST({r} AS nvarchar(max))'),
  (N'sql_variant', 'escaped', 'json', 0, N'CAST({r} AS nvarchar(4000))'),
  (N'hierarchyid', 'escaped', 'equals', 0, N'{r}.ToString()'),
  (N'geography', 'escaped', 'json', 0, N'{r}.ToString()'),
  (N'geometry', 'escaped', 'json', 0, N'{r}.ToString()'),
  (N'json', 'raw', 'json', 0, N'CAST({r} AS nvarchar(max))');
GO

-- The code of sql/sqlserver/runtime/capture_trigger.sql (its comment header left out), written by
-- `outbox track`, so a rebuilt trigger has the shape the running code installs.
CREATE TABLE {{schema}}.capture_template (
  singleton bit           NOT NULL CONSTRAINT DF_capture_template_singleton DEFAULT (1)
                          CONSTRAINT CK_capture_template_singleton CHECK (singleton = 1),
  body      nvarchar(max) NOT NULL,
  CONSTRAINT PK_capture_template PRIMARY KEY (singleton)
);
GO

-- A name as a JSON string, escaped as JavaScript's JSON.stringify does (STRING_ESCAPE also escapes /).
CREATE FUNCTION {{schema}}.capture_json_name (@name nvarchar(max)) RETURNS nvarchar(max)
AS
BEGIN
  RETURN N'"' + REPLACE(STRING_ESCAPE(@name, 'json'), N'\/', N'/') + N'"';
END
GO

-- Text as a T-SQL N'…' literal.
CREATE FUNCTION {{schema}}.capture_literal (@text nvarchar(max)) RETURNS nvarchar(max)
AS
BEGIN
  RETURN N'N''' + REPLACE(@text, N'''', N'''''') + N'''';
END
GO

-- A column's value of row @alias as a JSON fragment (@as_text 0) or as the JSON string of its text
-- (@as_text 1, attributes), or NULL when the value is NULL: capture-sql.ts jsonValue / jsonText.
CREATE FUNCTION {{schema}}.capture_value (@alias nchar(1), @name sysname, @type_name sysname, @scale int, @as_text bit) RETURNS nvarchar(max)
AS
BEGIN
  DECLARE @kind varchar(8), @expr nvarchar(400);
  SELECT @kind = kind, @expr = expr FROM {{schema}}.capture_encodings WHERE type_name = @type_name;
  IF @kind IS NULL RETURN NULL;
  DECLARE @text nvarchar(max) = REPLACE(REPLACE(@expr, N'{s}', CAST(@scale AS nvarchar(11))), N'{r}', @alias + N'.' + QUOTENAME(@name));
  IF @as_text = 1
    RETURN CASE WHEN @kind IN ('plain', 'number', 'bool') THEN N'N''"'' + ' + @text + N' + N''"''' ELSE N'N''"'' + STRING_ESCAPE(' + @text + N', ''json'') + N''"''' END;
  RETURN CASE @kind
           WHEN 'plain' THEN N'N''"'' + ' + @text + N' + N''"'''
           WHEN 'hex' THEN N'N''"\'' + ' + @text + N' + N''"'''
           WHEN 'escaped' THEN N'N''"'' + STRING_ESCAPE(' + @text + N', ''json'') + N''"'''
           ELSE @text
         END;
END
GO

-- Whether a column's value changed between o and n, NULL-safe: capture-sql.ts distinct.
CREATE FUNCTION {{schema}}.capture_distinct (@name sysname, @type_name sysname, @scale int) RETURNS nvarchar(max)
AS
BEGIN
  DECLARE @compare varchar(8) = (SELECT compare FROM {{schema}}.capture_encodings WHERE type_name = @type_name);
  IF @compare = 'equals' RETURN N'NOT EXISTS (SELECT o.' + QUOTENAME(@name) + N' INTERSECT SELECT n.' + QUOTENAME(@name) + N')';
  IF @compare = 'binary' RETURN N'NOT EXISTS (SELECT CAST(o.' + QUOTENAME(@name) + N' AS varbinary(max)) INTERSECT SELECT CAST(n.' + QUOTENAME(@name) + N' AS varbinary(max)))';
  RETURN N'NOT EXISTS (SELECT CAST(' + {{schema}}.capture_value(N'o', @name, @type_name, @scale, 0) + N' AS varbinary(max)) INTERSECT SELECT CAST('
       + {{schema}}.capture_value(N'n', @name, @type_name, @scale, 0) + N' AS varbinary(max)))';
END
GO

-- One expression of a table's capture trigger, built from tracked_columns as capture-sql.ts builds it:
--   @what 'key' / 'image' / 'attrs': the JSON object of those columns of row @alias (attrs as text);
--   'attrs_update': the attributes of an update ([old, new] for a value that changed);
--   'changed': the JSON array of changed non-key columns; 'any_changed': the predicate;
--   'all_columns': the literal JSON array of captured columns; 'join': the key equality.
-- Objects are CONCATs of at most 200 arguments each (CONCAT takes 254), the first cast to nvarchar(max).
CREATE FUNCTION {{schema}}.capture_part (@table_schema sysname, @table_name sysname, @what varchar(12), @alias nchar(1)) RETURNS nvarchar(max)
AS
BEGIN
  DECLARE @cols TABLE (n int IDENTITY(1, 1) PRIMARY KEY, name sysname COLLATE DATABASE_DEFAULT, type_name sysname COLLATE DATABASE_DEFAULT, scale int);
  INSERT INTO @cols (name, type_name, scale)
  SELECT name, type_name, scale FROM {{schema}}.tracked_columns
   WHERE table_schema = @table_schema AND table_name = @table_name
     AND (   (@what IN ('key', 'join') AND key_ordinal IS NOT NULL)
          OR (@what IN ('attrs', 'attrs_update') AND attr_ordinal IS NOT NULL)
          OR (@what IN ('image', 'all_columns') AND excluded = 0)
          OR (@what IN ('changed', 'any_changed') AND excluded = 0 AND key_ordinal IS NULL))
   ORDER BY CASE WHEN @what IN ('key', 'join') THEN key_ordinal WHEN @what IN ('attrs', 'attrs_update') THEN attr_ordinal ELSE column_id END;
  DECLARE @count int = (SELECT COUNT(*) FROM @cols);
  DECLARE @i int = 1, @name sysname, @type sysname, @scale int, @part nvarchar(max), @out nvarchar(max) = N'';

  IF @what = 'join' OR @what = 'any_changed' OR @what = 'all_columns'
  BEGIN
    IF @count = 0 RETURN CASE @what WHEN 'any_changed' THEN N'1 = 0' WHEN 'all_columns' THEN N'N''[]''' ELSE NULL END;
    WHILE @i <= @count
    BEGIN
      SELECT @name = name, @type = type_name, @scale = scale FROM @cols WHERE n = @i;
      SET @part = CASE @what
        WHEN 'join' THEN
          CASE WHEN (SELECT key_binary FROM {{schema}}.capture_encodings WHERE type_name = @type) = 1
               THEN N'CAST(o.' + QUOTENAME(@name) + N' AS varbinary(1700)) = CAST(n.' + QUOTENAME(@name) + N' AS varbinary(1700))'
               ELSE N'o.' + QUOTENAME(@name) + N' = n.' + QUOTENAME(@name) END
        WHEN 'any_changed' THEN {{schema}}.capture_distinct(@name, @type, @scale)
        ELSE {{schema}}.capture_json_name(@name) END;
      SET @out = @out + CASE WHEN @i = 1 THEN N'' WHEN @what = 'join' THEN N' AND ' WHEN @what = 'any_changed' THEN N' OR ' ELSE N',' END + @part;
      SET @i = @i + 1;
    END
    RETURN CASE @what WHEN 'any_changed' THEN N'(' + @out + N')' WHEN 'all_columns' THEN {{schema}}.capture_literal(N'[' + @out + N']') ELSE @out END;
  END

  IF @count = 0
    RETURN CASE @what WHEN 'changed' THEN N'N''[]''' WHEN 'key' THEN N'CAST(N''{}'' AS nvarchar(max))' WHEN 'image' THEN N'CAST(N''{}'' AS nvarchar(max))' ELSE N'CAST(NULL AS nvarchar(max))' END;

  -- CONCAT arguments, chunked: @chunk holds the current chunk's arguments, @chunks the closed chunks.
  DECLARE @chunk nvarchar(max) = N'', @args int = 0, @chunks nvarchar(max) = N'', @nchunks int = 0, @arg nvarchar(max), @k int;
  DECLARE @pieces TABLE (k int PRIMARY KEY, piece nvarchar(max));
  WHILE @i <= @count + 1
  BEGIN
    DELETE FROM @pieces;
    IF @i > @count
    BEGIN
      IF @what <> 'changed' INSERT INTO @pieces VALUES (1, N'N''}''');
    END
    ELSE
    BEGIN
      SELECT @name = name, @type = type_name, @scale = scale FROM @cols WHERE n = @i;
      IF @what = 'changed'
        INSERT INTO @pieces VALUES (1, N'CASE WHEN ' + {{schema}}.capture_distinct(@name, @type, @scale) + N' THEN ' + {{schema}}.capture_literal(N',' + {{schema}}.capture_json_name(@name)) + N' END');
      ELSE
      BEGIN
        INSERT INTO @pieces VALUES (1, {{schema}}.capture_literal(CASE WHEN @i = 1 THEN N'{' ELSE N',' END + {{schema}}.capture_json_name(@name) + N':'));
        IF @what = 'attrs_update'
          INSERT INTO @pieces VALUES (2, N'CASE WHEN ' + {{schema}}.capture_distinct(@name, @type, @scale) + N' THEN CONCAT(N''['', ISNULL('
            + {{schema}}.capture_value(N'o', @name, @type, @scale, 1) + N', N''null''), N'','', ISNULL(' + {{schema}}.capture_value(N'n', @name, @type, @scale, 1)
            + N', N''null''), N'']'') ELSE ISNULL(' + {{schema}}.capture_value(N'n', @name, @type, @scale, 1) + N', N''null'') END');
        ELSE
          INSERT INTO @pieces VALUES (2, N'ISNULL(' + {{schema}}.capture_value(@alias, @name, @type, @scale, CASE WHEN @what = 'attrs' THEN 1 ELSE 0 END) + N', N''null'')');
      END
    END
    SET @k = 1;
    WHILE @k <= (SELECT COUNT(*) FROM @pieces)
    BEGIN
      SET @arg = (SELECT piece FROM @pieces WHERE k = @k);
      IF @nchunks = 0 AND @args = 0 SET @arg = N'CAST(' + @arg + N' AS nvarchar(max))';
      SET @chunk = @chunk + CASE WHEN @args = 0 THEN N'' ELSE N', ' END + @arg;
      SET @args = @args + 1;
      IF @args = 200
      BEGIN
        SET @chunks = @chunks + CASE WHEN @nchunks = 0 THEN N'' ELSE N', ' END + N'CONCAT(' + @chunk + N')';
        SET @nchunks = @nchunks + 1;
        SET @chunk = N'';
        SET @args = 0;
      END
      SET @k = @k + 1;
    END
    SET @i = @i + 1;
  END
  IF @args > 0
  BEGIN
    SET @chunks = @chunks + CASE WHEN @nchunks = 0 THEN N'' ELSE N', ' END + N'CONCAT(' + @chunk + CASE WHEN @args = 1 THEN N', N''''' ELSE N'' END + N')';
    SET @nchunks = @nchunks + 1;
  END
  SET @out = CASE WHEN @nchunks = 1 THEN @chunks ELSE N'CONCAT(' + @chunks + N')' END;
  RETURN CASE WHEN @what = 'changed' THEN N'N''['' + ISNULL(STUFF(' + @out + N', 1, 1, N''''), N'''') + N'']''' ELSE @out END;
END
GO

-- Rebuilds the capture trigger of a tracked table from its catalog, inside the caller's transaction
-- (the DDL's, when the DDL trigger calls it), and writes one schema-change row when the captured
-- shape changed. @table_name is the name the table is tracked under, @new_table_name its name now
-- (they differ after sp_rename). Refuses, with an error that rolls the DDL back, a change that
-- capture cannot follow: a key or attribute column dropped or renamed, a column whose type has no
-- encoding.
CREATE PROCEDURE {{schema}}.capture_rebuild @table_schema sysname, @table_name sysname, @new_table_name sysname
AS
BEGIN
  SET NOCOUNT ON;
  SET XACT_ABORT ON;
  DECLARE @full nvarchar(600) = QUOTENAME(@table_schema) + N'.' + QUOTENAME(@table_name);
  DECLARE @object_id int = OBJECT_ID(QUOTENAME(@table_schema) + N'.' + QUOTENAME(@new_table_name), N'U');
  DECLARE @excluded nvarchar(max), @trigger sysname, @message nvarchar(2048);
  SELECT @excluded = excluded_columns, @trigger = trigger_name FROM {{schema}}.tracked_tables WHERE table_schema = @table_schema AND table_name = @table_name;
  -- A table tracked before this migration has no recorded shape: it is left as it is (doctor asks
  -- for `outbox track`), never a reason to fail the DDL.
  IF @trigger IS NULL OR NOT EXISTS (SELECT 1 FROM {{schema}}.tracked_columns WHERE table_schema = @table_schema AND table_name = @table_name) RETURN;

  DECLARE @now TABLE (column_id int PRIMARY KEY, name sysname COLLATE DATABASE_DEFAULT, type_name sysname COLLATE DATABASE_DEFAULT, type_text nvarchar(200) COLLATE DATABASE_DEFAULT, scale int, nullable bit, excluded bit, key_ordinal int, attr_ordinal int);
  INSERT INTO @now (column_id, name, type_name, type_text, scale, nullable, excluded, key_ordinal, attr_ordinal)
  SELECT c.column_id, c.name, x.type_name,
         CASE WHEN x.type_name IN ('char', 'varchar', 'binary', 'varbinary') THEN x.type_name + N'(' + CASE WHEN c.max_length = -1 THEN N'max' ELSE CAST(c.max_length AS nvarchar(5)) END + N')'
              WHEN x.type_name IN ('nchar', 'nvarchar') THEN x.type_name + N'(' + CASE WHEN c.max_length = -1 THEN N'max' ELSE CAST(c.max_length / 2 AS nvarchar(5)) END + N')'
              WHEN x.type_name IN ('decimal', 'numeric') THEN x.type_name + N'(' + CAST(c.precision AS nvarchar(3)) + N',' + CAST(c.scale AS nvarchar(3)) + N')'
              WHEN x.type_name IN ('datetime2', 'time', 'datetimeoffset') THEN x.type_name + N'(' + CAST(c.scale AS nvarchar(3)) + N')'
              ELSE x.type_name END,
         c.scale, c.is_nullable,
         -- A column keeps its role through a rename (same column_id); a new column is captured,
         -- unless it has the name of an excluded one.
         COALESCE(r.excluded, CASE WHEN CHARINDEX(N',' + {{schema}}.capture_json_name(c.name) + N',', N',' + SUBSTRING(@excluded, 2, LEN(@excluded) - 2) + N',') > 0 THEN 1 ELSE 0 END),
         r.key_ordinal, r.attr_ordinal
    FROM sys.columns c
    JOIN sys.types t ON t.user_type_id = c.user_type_id
    CROSS APPLY (SELECT CAST(CASE WHEN t.is_assembly_type = 1 THEN t.name ELSE TYPE_NAME(c.system_type_id) END AS sysname) AS type_name) x
    LEFT JOIN {{schema}}.tracked_columns r ON r.table_schema = @table_schema AND r.table_name = @table_name AND r.column_id = c.column_id
   WHERE c.object_id = @object_id;

  SELECT TOP (1) @message = N'Column ' + r.name + N' of ' + @full + N' is a ' + CASE WHEN r.key_ordinal IS NOT NULL THEN N'key' ELSE N'attribute' END + N' column of a table captured by outbox-relay; '
       + CASE WHEN n.column_id IS NULL THEN N'dropping' ELSE N'renaming' END + N' it would break capture, so the change was rolled back. Run `outbox untrack '
       + @table_schema + N'.' + @table_name + N'` first, or re-track with other --key/--attributes.'
    FROM {{schema}}.tracked_columns r LEFT JOIN @now n ON n.column_id = r.column_id
   WHERE r.table_schema = @table_schema AND r.table_name = @table_name AND (r.key_ordinal IS NOT NULL OR r.attr_ordinal IS NOT NULL) AND (n.column_id IS NULL OR n.name COLLATE Latin1_General_BIN2 <> r.name COLLATE Latin1_General_BIN2);
  IF @message IS NOT NULL THROW 51000, @message, 1;
  SELECT TOP (1) @message = N'Column ' + n.name + N' of ' + @full + N' has type ' + n.type_text + N', which outbox-relay cannot capture, so the change was rolled back. Exclude the column first: outbox track '
       + @table_schema + N'.' + @table_name + N' --exclude ' + n.name + N' (with the table''s other excluded columns).'
    FROM @now n WHERE n.excluded = 0 AND NOT EXISTS (SELECT 1 FROM {{schema}}.capture_encodings e WHERE e.type_name = n.type_name);
  IF @message IS NOT NULL THROW 51001, @message, 1;

  -- The change, compared by column_id (names case-sensitively: a case-only rename is a rename);
  -- excluded columns take no part. Table variables get the database's collation, not tempdb's.
  DECLARE @before nvarchar(max) = (SELECT name, type_text AS type, CAST(nullable AS bit) AS nullable FROM {{schema}}.tracked_columns
                                    WHERE table_schema = @table_schema AND table_name = @table_name AND excluded = 0 ORDER BY column_id FOR JSON PATH);
  DECLARE @after nvarchar(max) = (SELECT name, type_text AS type, nullable FROM @now WHERE excluded = 0 ORDER BY column_id FOR JSON PATH);
  DECLARE @changes nvarchar(max) = (
    SELECT kind, [column], [from], [to], [type] FROM (
      SELECT ISNULL(n.column_id, r.column_id) AS column_id,
             CASE WHEN n.column_id IS NULL THEN 'drop_column' WHEN r.column_id IS NULL THEN 'add_column' WHEN n.name COLLATE Latin1_General_BIN2 <> r.name COLLATE Latin1_General_BIN2 THEN 'rename_column' ELSE 'alter_type' END AS kind,
             ISNULL(n.name, r.name) AS [column],
             CASE WHEN r.column_id IS NOT NULL AND n.column_id IS NOT NULL THEN CASE WHEN n.name COLLATE Latin1_General_BIN2 <> r.name COLLATE Latin1_General_BIN2 THEN r.name ELSE r.type_text END END AS [from],
             CASE WHEN r.column_id IS NOT NULL AND n.column_id IS NOT NULL AND n.name COLLATE Latin1_General_BIN2 = r.name COLLATE Latin1_General_BIN2 THEN n.type_text END AS [to],
             CASE WHEN r.column_id IS NULL THEN n.type_text END AS [type]
        FROM (SELECT * FROM @now WHERE excluded = 0) n
        FULL JOIN (SELECT * FROM {{schema}}.tracked_columns WHERE table_schema = @table_schema AND table_name = @table_name AND excluded = 0) r ON r.column_id = n.column_id
       WHERE n.column_id IS NULL OR r.column_id IS NULL OR n.name COLLATE Latin1_General_BIN2 <> r.name COLLATE Latin1_General_BIN2 OR n.type_text <> r.type_text
      UNION ALL
      -- A column renamed and retyped by two statements shows as two changes; one DDL does one.
      SELECT n.column_id, 'alter_type', n.name, r.type_text, n.type_text, NULL
        FROM @now n JOIN {{schema}}.tracked_columns r ON r.table_schema = @table_schema AND r.table_name = @table_name AND r.column_id = n.column_id
       WHERE n.excluded = 0 AND n.name COLLATE Latin1_General_BIN2 <> r.name COLLATE Latin1_General_BIN2 AND n.type_text <> r.type_text
      UNION ALL
      SELECT 0, 'rename_table', NULL, @table_name, @table_schema + N'.' + @new_table_name, NULL WHERE @new_table_name <> @table_name
    ) c ORDER BY column_id FOR JSON PATH);

  -- Excluded columns keep their exclusion under a new name.
  UPDATE {{schema}}.tracked_tables
     SET excluded_columns = CASE WHEN excluded_columns = N'[]' THEN N'[' ELSE LEFT(excluded_columns, LEN(excluded_columns) - 1) + N',' END
                          + (SELECT STUFF((SELECT N',' + {{schema}}.capture_json_name(n.name) FROM @now n
                                             JOIN {{schema}}.tracked_columns r ON r.table_schema = @table_schema AND r.table_name = @table_name AND r.column_id = n.column_id
                                            WHERE n.excluded = 1 AND n.name COLLATE Latin1_General_BIN2 <> r.name COLLATE Latin1_General_BIN2 ORDER BY n.column_id FOR XML PATH(''), TYPE).value('.', 'nvarchar(max)'), 1, 1, N'')) + N']'
   WHERE table_schema = @table_schema AND table_name = @table_name
     AND EXISTS (SELECT 1 FROM @now n JOIN {{schema}}.tracked_columns r ON r.table_schema = @table_schema AND r.table_name = @table_name AND r.column_id = n.column_id
                  WHERE n.excluded = 1 AND n.name COLLATE Latin1_General_BIN2 <> r.name COLLATE Latin1_General_BIN2);

  IF @changes IS NULL
  BEGIN
    -- Nothing capture depends on changed (an index, a constraint, a nullability, an excluded column).
    UPDATE r SET r.name = n.name, r.nullable = n.nullable, r.type_name = n.type_name, r.type_text = n.type_text, r.scale = n.scale
      FROM {{schema}}.tracked_columns r JOIN @now n ON n.column_id = r.column_id
     WHERE r.table_schema = @table_schema AND r.table_name = @table_name;
    DELETE r FROM {{schema}}.tracked_columns r WHERE r.table_schema = @table_schema AND r.table_name = @table_name AND NOT EXISTS (SELECT 1 FROM @now n WHERE n.column_id = r.column_id);
    INSERT INTO {{schema}}.tracked_columns (table_schema, table_name, column_id, name, type_name, type_text, scale, nullable, excluded, key_ordinal, attr_ordinal)
    SELECT @table_schema, @table_name, column_id, name, type_name, type_text, scale, nullable, excluded, key_ordinal, attr_ordinal FROM @now n
     WHERE NOT EXISTS (SELECT 1 FROM {{schema}}.tracked_columns r WHERE r.table_schema = @table_schema AND r.table_name = @table_name AND r.column_id = n.column_id);
    RETURN;
  END

  -- The schema-change row comes first: every row event the same statement's transaction writes after
  -- it has a larger seq and the new shape (docs/schema-changes.md, "Ordering").
  DECLARE @keys nvarchar(max) = N'[' + ISNULL(STUFF((SELECT N',' + {{schema}}.capture_json_name(name) FROM @now WHERE key_ordinal IS NOT NULL ORDER BY key_ordinal FOR XML PATH(''), TYPE).value('.', 'nvarchar(max)'), 1, 1, N''), N'') + N']';
  INSERT INTO {{schema}}.events (xid, table_schema, table_name, op, [key], [before], [after], changed, attributes, schema_change)
  VALUES (CURRENT_TRANSACTION_ID(), @table_schema, @table_name, 'schema', NULL, NULL, NULL, NULL, NULL,
          N'{"dialect":"sqlserver","before":' + ISNULL(@before, N'[]') + N',"after":' + ISNULL(@after, N'[]') + N',"key":' + @keys + N',"changes":' + @changes + N'}');

  DELETE FROM {{schema}}.tracked_columns WHERE table_schema = @table_schema AND table_name = @table_name;
  IF @new_table_name <> @table_name
    UPDATE {{schema}}.tracked_tables SET table_name = @new_table_name WHERE table_schema = @table_schema AND table_name = @table_name;
  INSERT INTO {{schema}}.tracked_columns (table_schema, table_name, column_id, name, type_name, type_text, scale, nullable, excluded, key_ordinal, attr_ordinal)
  SELECT @table_schema, @new_table_name, column_id, name, type_name, type_text, scale, nullable, excluded, key_ordinal, attr_ordinal FROM @now;
  UPDATE {{schema}}.tracked_tables
     SET captured_columns = N'[' + ISNULL(STUFF((SELECT N',' + {{schema}}.capture_json_name(name) FROM @now WHERE excluded = 0 ORDER BY column_id FOR XML PATH(''), TYPE).value('.', 'nvarchar(max)'), 1, 1, N''), N'') + N']'
   WHERE table_schema = @table_schema AND table_name = @new_table_name;

  -- Fill the template in one pass: a value is never read again for placeholders.
  DECLARE @params TABLE (name varchar(20) PRIMARY KEY, value nvarchar(max));
  INSERT INTO @params (name, value) VALUES
    ('trigger', QUOTENAME(@table_schema) + N'.' + QUOTENAME(@trigger)),
    ('table', QUOTENAME(@table_schema) + N'.' + QUOTENAME(@new_table_name)),
    ('schema', QUOTENAME(OBJECT_SCHEMA_NAME(@@PROCID))),
    ('table_schema', {{schema}}.capture_literal(@table_schema)),
    ('table_name', {{schema}}.capture_literal(@new_table_name)),
    ('key_new', {{schema}}.capture_part(@table_schema, @new_table_name, 'key', N'n')),
    ('key_old', {{schema}}.capture_part(@table_schema, @new_table_name, 'key', N'o')),
    ('image_new', {{schema}}.capture_part(@table_schema, @new_table_name, 'image', N'n')),
    ('image_old', {{schema}}.capture_part(@table_schema, @new_table_name, 'image', N'o')),
    ('attrs_new', {{schema}}.capture_part(@table_schema, @new_table_name, 'attrs', N'n')),
    ('attrs_old', {{schema}}.capture_part(@table_schema, @new_table_name, 'attrs', N'o')),
    ('attrs_update', {{schema}}.capture_part(@table_schema, @new_table_name, 'attrs_update', N'n')),
    ('join', {{schema}}.capture_part(@table_schema, @new_table_name, 'join', N'n')),
    ('first_key', (SELECT TOP (1) QUOTENAME(name) FROM @now WHERE key_ordinal IS NOT NULL ORDER BY key_ordinal)),
    ('changed', {{schema}}.capture_part(@table_schema, @new_table_name, 'changed', N'n')),
    ('any_changed', {{schema}}.capture_part(@table_schema, @new_table_name, 'any_changed', N'n')),
    ('all_columns', {{schema}}.capture_part(@table_schema, @new_table_name, 'all_columns', N'n'));
  DECLARE @template nvarchar(max) = (SELECT body FROM {{schema}}.capture_template);
  IF @template IS NULL THROW 51002, N'outbox-relay: the capture trigger template is missing; run `outbox track` once with this version.', 1;
  DECLARE @sql nvarchar(max) = N'', @pos int = 1, @open int, @close int, @value nvarchar(max);
  WHILE 1 = 1
  BEGIN
    SET @open = CHARINDEX(N'{{', @template, @pos);
    IF @open = 0 BREAK;
    SET @close = CHARINDEX(N'}}', @template, @open);
    SET @value = (SELECT value FROM @params WHERE name = SUBSTRING(@template, @open + 2, @close - @open - 2));
    IF @value IS NULL THROW 51003, N'outbox-relay: a placeholder of the capture trigger template has no value.', 1;
    SET @sql = @sql + SUBSTRING(@template, @pos, @open - @pos) + @value;
    SET @pos = @close + 2;
  END
  SET @sql = @sql + SUBSTRING(@template, @pos, DATALENGTH(@template) / 2 - @pos + 1);
  EXEC sys.sp_executesql @sql;
END
GO

-- What the database DDL trigger runs for ALTER_TABLE, RENAME and DROP_TABLE: nothing unless the
-- table is tracked; a dropped table (possible only without a TRUNCATE guard) gets a drop_table
-- schema change and leaves the registry; any other change rebuilds the capture trigger.
CREATE PROCEDURE {{schema}}.capture_on_ddl @event xml
AS
BEGIN
  SET NOCOUNT ON;
  DECLARE @type sysname = @event.value('(/EVENT_INSTANCE/EventType)[1]', 'sysname');
  DECLARE @object_type sysname = @event.value('(/EVENT_INSTANCE/ObjectType)[1]', 'sysname');
  DECLARE @table_schema sysname = @event.value('(/EVENT_INSTANCE/SchemaName)[1]', 'sysname');
  DECLARE @table_name sysname = CASE WHEN @type = 'RENAME' AND @object_type <> 'TABLE'
                                     THEN @event.value('(/EVENT_INSTANCE/TargetObjectName)[1]', 'sysname')
                                     ELSE @event.value('(/EVENT_INSTANCE/ObjectName)[1]', 'sysname') END;
  DECLARE @new_name sysname = CASE WHEN @type = 'RENAME' AND @object_type = 'TABLE' THEN @event.value('(/EVENT_INSTANCE/NewObjectName)[1]', 'sysname') ELSE @table_name END;
  IF @table_name IS NULL OR NOT EXISTS (SELECT 1 FROM {{schema}}.tracked_tables WHERE table_schema = @table_schema AND table_name = @table_name) RETURN;

  IF @type = 'DROP_TABLE'
  BEGIN
    DECLARE @before nvarchar(max) = (SELECT name, type_text AS type, nullable FROM {{schema}}.tracked_columns
                                      WHERE table_schema = @table_schema AND table_name = @table_name AND excluded = 0 ORDER BY column_id FOR JSON PATH);
    INSERT INTO {{schema}}.events (xid, table_schema, table_name, op, [key], [before], [after], changed, attributes, schema_change)
    VALUES (CURRENT_TRANSACTION_ID(), @table_schema, @table_name, 'schema', NULL, NULL, NULL, NULL, NULL,
            N'{"dialect":"sqlserver","before":' + ISNULL(@before, N'[]') + N',"after":null,"key":[],"changes":[{"kind":"drop_table"}]}');
    DELETE FROM {{schema}}.tracked_columns WHERE table_schema = @table_schema AND table_name = @table_name;
    DELETE FROM {{schema}}.tracked_tables WHERE table_schema = @table_schema AND table_name = @table_name;
    RETURN;
  END
  EXEC {{schema}}.capture_rebuild @table_schema, @table_name, @new_name;
END
GO
