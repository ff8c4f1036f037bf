-- Purpose: the tables of `outbox demo` in the source, seeded before tracking (so the backfill has rows
--          to bring over); card_number is excluded from capture, tenant_id becomes a message attribute.
-- Params:  {{schema}} demo data schema (quoted); {{customers}}, {{orders}} seed row counts (integers).
CREATE SCHEMA {{schema}};

CREATE TABLE {{schema}}.customers (
  id          bigint PRIMARY KEY,
  name        text NOT NULL,
  email       text NOT NULL,
  tenant_id   int NOT NULL,
  balance     numeric(12, 2) NOT NULL DEFAULT 0,
  card_number text,
  updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE {{schema}}.orders (
  id          bigint PRIMARY KEY,
  customer_id bigint NOT NULL,
  total       numeric(12, 2) NOT NULL,
  status      text NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now()
);

INSERT INTO {{schema}}.customers (id, name, email, tenant_id, balance, card_number)
SELECT g, 'Customer ' || g, 'customer' || g || '@example.com', 1 + g % 3, (g * 7) % 1000, '4111 1111 1111 ' || lpad(g::text, 4, '0')
  FROM generate_series(1, {{customers}}) g;

INSERT INTO {{schema}}.orders (id, customer_id, total, status)
SELECT g, 1 + g % {{customers}}, (g * 13) % 500 + 0.99, 'placed'
  FROM generate_series(1, {{orders}}) g;
