-- Purpose: the value of an added column that the rows which existed before hold
--          (added_column_values.sql), in the event encoding of docs/encoding.md: the json image is
--          read back into a typed record and rendered with the expressions relay_decode.sql uses,
--          in the relay's decode session, so the value is byte-identical to the same column's value
--          in a decoded row image.
-- Params:  columns: the column definition ("name" type); value: the image expression over the
--          record n (capture-sql.ts, jsonObject). $1 the json image ({"name": value}).
SELECT {{value}} AS value
  FROM json_to_record($1::json) AS n({{columns}})
