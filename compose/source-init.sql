-- The kit's "production" database: the example shop of examples/make_customers.py, whose columns are exactly
-- those policies/ecommerce.yaml classifies (a column the policy does not know would stop the proxy).
-- Run by compose/source-init.sh at the container's first start, then compose/source-seed.sql adds the rows.
-- The Debezium role's password comes from the kit's generated secrets (compose/make-secrets.sh) through the
-- environment, never from this file.
\getenv debezium_password DEBEZIUM_PASSWORD

CREATE TYPE public.customer_tier AS ENUM ('bronze', 'silver', 'gold', 'platinum');  -- Debezium: io.debezium.data.Enum
CREATE TYPE public.address_kind AS ENUM ('billing', 'shipping');

-- No UNIQUE on email: not needed by the shop, and the QA copy must not promise what masking does not
-- (format-preserve keeps emails distinct in practice, not by guarantee).
CREATE TABLE public.customers (
    id               integer PRIMARY KEY,
    first_name       varchar(50)  NOT NULL,
    last_name        varchar(50)  NOT NULL,
    email            varchar(254) NOT NULL,
    phone            varchar(32),
    birth_date       date,
    balance          numeric(12, 2) NOT NULL DEFAULT 0,
    notes            text,
    national_id      varchar(20),
    tier             public.customer_tier NOT NULL DEFAULT 'bronze',
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz,
    status           varchar(16) NOT NULL DEFAULT 'active',
    marketing_opt_in boolean NOT NULL DEFAULT false
);

CREATE TABLE public.addresses (
    id           integer PRIMARY KEY,
    customer_id  integer NOT NULL REFERENCES public.customers (id),
    street       varchar(100) NOT NULL,
    city         varchar(60)  NOT NULL,
    postcode     varchar(16),
    country_code varchar(2)   NOT NULL,
    kind         public.address_kind NOT NULL
);

CREATE TABLE public.orders (
    id          bigint PRIMARY KEY,
    customer_id integer NOT NULL REFERENCES public.customers (id),
    status      varchar(16) NOT NULL DEFAULT 'placed',
    currency    varchar(3)  NOT NULL DEFAULT 'EUR',
    total       numeric(10, 2) NOT NULL,
    item_count  smallint NOT NULL,
    placed_at   timestamp NOT NULL,    -- without time zone: Debezium's MicroTimestamp
    shipped_at  timestamp,
    card_number varchar(19),
    gift_note   text
);

-- As in the example events: customers and addresses log whole old rows on update and delete, orders only
-- the key (Debezium then sends no `before` for an order update).
ALTER TABLE public.customers REPLICA IDENTITY FULL;
ALTER TABLE public.addresses REPLICA IDENTITY FULL;

-- Debezium reads through this publication (pgoutput) with its own role: replication and read access,
-- nothing else. The connector does not create the publication (publication.autocreate.mode=disabled),
-- so it needs no ownership of the tables.
CREATE PUBLICATION dbz_publication FOR TABLE public.customers, public.addresses, public.orders;

CREATE ROLE debezium WITH LOGIN REPLICATION PASSWORD :'debezium_password';
GRANT CONNECT ON DATABASE :"DBNAME" TO debezium;
GRANT USAGE ON SCHEMA public TO debezium;
GRANT SELECT ON public.customers, public.addresses, public.orders TO debezium;
