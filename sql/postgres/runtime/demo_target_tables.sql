-- Purpose: the target copies of the `outbox demo` tables (card_number never leaves the source).
-- Params:  {{schema}} target schema (quoted).
CREATE SCHEMA IF NOT EXISTS {{schema}};

CREATE TABLE {{schema}}.customers (
  id          bigint PRIMARY KEY,
  name        text NOT NULL,
  email       text NOT NULL,
  tenant_id   int NOT NULL,
  balance     numeric(12, 2) NOT NULL,
  updated_at  timestamptz NOT NULL
);

CREATE TABLE {{schema}}.orders (
  id          bigint PRIMARY KEY,
  customer_id bigint NOT NULL,
  total       numeric(12, 2) NOT NULL,
  status      text NOT NULL,
  created_at  timestamptz NOT NULL
);
