-- Purpose: turns the whole-row images capture wrote (json, one shape per call) into the event
--          encoding of docs/encoding.md, with the same expressions backfill uses over the table, so
--          a decoded event and a snapshot of the same row are byte-identical. Runs in the relay's
--          decode session (TimeZone UTC, ISO dates, iso_8601 intervals, hex bytea,
--          extra_float_digits 1, search_path pg_catalog): the images are read back into typed
--          records (json_to_record, each column with its catalog type) and rendered again, so the
--          writer's session settings (time zone, interval and bytea styles) change nothing.
-- Params:  columns: the column definitions of the images ("name" type, …); key_old / key_new,
--          image_old / image_new, attrs_old / attrs_new / attrs_update, key_differs and changed:
--          expressions over the records o and n (capture-sql.ts, decodeExpressions). No placeholder
--          is written in these comments: the values hold catalog names (newlines included).
--          $1 positions, $2 old images, $3 new images (NULL where the op has none).
SELECT r.i, {{key_old}} AS key_old, {{key_new}} AS key_new, {{image_old}} AS before, {{image_new}} AS after,
       {{attrs_old}} AS attrs_old, {{attrs_new}} AS attrs_new, {{attrs_update}} AS attrs_update,
       CASE WHEN r.o_img IS NOT NULL AND r.n_img IS NOT NULL THEN ({{key_differs}}) END AS key_changed,
       CASE WHEN r.o_img IS NOT NULL AND r.n_img IS NOT NULL THEN {{changed}} END AS changed
  FROM unnest($1::int[], $2::json[], $3::json[]) AS r(i, o_img, n_img)
  CROSS JOIN LATERAL json_to_record(coalesce(r.o_img, '{}'::json)) AS o({{columns}})
  CROSS JOIN LATERAL json_to_record(coalesce(r.n_img, '{}'::json)) AS n({{columns}})
