-- A QA database fed by the JDBC sink from the masked topics: the shop's tables as in compose/source-init.sql,
-- with the same primary keys (the sink upserts and deletes by the record key) and foreign keys. Run by
-- compose/qa-init.sh in each QA database (qa for the JSON pipeline, qa_avro for the Avro one), after
-- compose/qa-role.sql created qa_sink; qa-role.sql says why the foreign keys do not stop the sink.
-- The sink does not create or alter tables here (schema.evolution=none): the DDL is reviewed, like the policy.

-- The source's enum types become checked varchar columns: the sink binds strings, which PostgreSQL does
-- not cast to an enum type implicitly.
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
    tier             varchar(8) NOT NULL DEFAULT 'bronze' CHECK (tier IN ('bronze', 'silver', 'gold', 'platinum')),
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
    kind         varchar(8)   NOT NULL CHECK (kind IN ('billing', 'shipping'))
);

CREATE TABLE public.orders (
    id          bigint PRIMARY KEY,
    customer_id integer NOT NULL REFERENCES public.customers (id),
    status      varchar(16) NOT NULL DEFAULT 'placed',
    currency    varchar(3)  NOT NULL DEFAULT 'EUR',
    total       numeric(10, 2) NOT NULL,
    item_count  smallint NOT NULL,
    placed_at   timestamp NOT NULL,
    shipped_at  timestamp,
    card_number varchar(19),
    gift_note   text
);

GRANT CONNECT ON DATABASE :"DBNAME" TO qa_sink;
GRANT SELECT, INSERT, UPDATE, DELETE ON public.customers, public.addresses, public.orders TO qa_sink;
