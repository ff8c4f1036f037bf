-- Demo target for the compose stack (runs as root on MariaDB's first start).
-- `customers` receives public.customers from the source; the consumer keeps its per-key version
-- store in the database named by targets.warehouse.stateSchema (outbox_target).
CREATE TABLE IF NOT EXISTS warehouse.customers (
  id            bigint       NOT NULL PRIMARY KEY,
  tenant_id     integer      NOT NULL,
  name          varchar(200) NOT NULL,
  email_address varchar(320),
  phone         varchar(64),
  updated_at    varchar(40)
);
CREATE DATABASE IF NOT EXISTS outbox_target;
GRANT ALL PRIVILEGES ON outbox_target.* TO 'warehouse'@'%';
FLUSH PRIVILEGES;
