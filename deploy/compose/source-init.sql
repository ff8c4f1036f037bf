-- Demo source table for the compose stack. `setup` tracks it with
--   outbox track public.customers --exclude password_hash --attributes tenant_id
-- so password_hash never leaves the database and tenant_id becomes an SNS message attribute.
CREATE TABLE IF NOT EXISTS public.customers (
  id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  tenant_id     integer     NOT NULL,
  name          text        NOT NULL,
  email         text,
  phone         text,
  password_hash text,
  updated_at    timestamptz NOT NULL DEFAULT now()
);
