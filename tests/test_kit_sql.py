"""The Docker kit's databases (compose/*.sql, compose/*.sh): the source tables hold exactly the columns the
policy classifies, the seed is the example shop, and the init scripts the postgres image runs do what the
pipeline needs, run here against a real PostgreSQL server from the machine's binaries (``kit_postgres`` in
tests/qa_db.py): Debezium's role and publication, the QA tables, the sink's role whose writes skip the
foreign keys that every other session must respect, and passwords that are the generated secrets."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.qa_db import PgServer

REPO = Path(__file__).resolve().parent.parent
COMPOSE = REPO / "compose"
TABLES = ("customers", "addresses", "orders")


def _module(path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def ddl_columns(sql: str) -> dict[str, list[str]]:
    """table -> its column names, in order, from the CREATE TABLE statements of ``sql``."""
    out = {}
    for table, body in re.findall(r"CREATE TABLE public\.(\w+) \((.*?)\n\);", sql, re.S):
        out[table] = [line.split()[0] for line in body.strip().splitlines() if line.strip()]
    return out


def test_seed_sql_is_what_the_script_writes() -> None:
    """compose/source-seed.sql is the final state of examples/customers.jsonl (scripts/make_seed_sql.py)."""
    script = _module(REPO / "scripts" / "make_seed_sql.py")
    assert (COMPOSE / "source-seed.sql").read_text() == script.render(script.EVENTS.read_bytes().splitlines())


def test_tables_hold_exactly_the_columns_the_policy_classifies() -> None:
    """A column the policy does not classify stops the proxy (on_blocked: stop); one it classifies but the
    table lacks is a policy nobody tested. Both databases match the example events' columns, in order."""
    policy = yaml.safe_load((REPO / "policies" / "ecommerce.yaml").read_text())
    examples = _module(REPO / "examples" / "make_customers.py")
    for name in ("source-init.sql", "qa-init.sql"):
        columns = ddl_columns((COMPOSE / name).read_text())
        assert sorted(columns) == sorted(TABLES), name
        for table, names in columns.items():
            spec = policy["tables"][f"public.{table}"]
            assert sorted(names) == sorted([*spec["passthrough"], *spec["fields"]]), (name, table)
            assert names == [f["field"] for f in examples.FIELDS[table]], (name, table)


def test_make_secrets_writes_random_passwords_once(tmp_path: Path) -> None:
    script = COMPOSE / "make-secrets.sh"
    out = subprocess.run(["sh", str(script), str(tmp_path)], capture_output=True, text=True, check=True).stdout
    names = ["connect.properties", "grafana-admin-password", "qa-db-admin-password", "qa-db-sink-password",
             "source-db-admin-password", "source-db-debezium-password"]
    assert sorted(p.name for p in tmp_path.iterdir()) == names
    secrets = {n: (tmp_path / n).read_text() for n in names}
    for name in names[1:]:
        assert re.fullmatch(r"[0-9a-f]{32}", secrets[name]), name
        assert secrets[name] not in out  # the log names the files, never a value
    assert len({secrets[n] for n in names[1:]}) == len(names) - 1
    props = dict(line.split("=", 1) for line in secrets["connect.properties"].splitlines() if "=" in line
                 and not line.startswith("#"))
    assert props == {"source.password": secrets["source-db-debezium-password"],
                     "qa.password": secrets["qa-db-sink-password"]}
    subprocess.run(["sh", str(script), str(tmp_path)], capture_output=True, check=True)
    assert {n: (tmp_path / n).read_text() for n in names} == secrets  # a restart keeps what the databases hold
    assert all(oct((tmp_path / n).stat().st_mode & 0o777) == "0o444" for n in names)


# -- against a real PostgreSQL ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def kit_secrets(kit_postgres: PgServer) -> Path:
    root = Path(kit_postgres.socket_dir) / "secrets"
    root.mkdir()
    subprocess.run(["sh", str(COMPOSE / "make-secrets.sh"), str(root)], check=True, capture_output=True)
    return root


def init_script(pg: PgServer, name: str, db: str, secrets: Path) -> None:
    """Run compose/<name> as the postgres image does at first start (after creating POSTGRES_DB)."""
    pg.psql(f"CREATE DATABASE {db}")
    bindir = str(pg.bindir)
    env = pg.env(POSTGRES_USER="postgres", POSTGRES_DB=db, KIT_SQL_DIR=str(COMPOSE), KIT_SECRETS_DIR=str(secrets),
                 PATH=f"{bindir}:{os.environ.get('PATH', '')}")
    proc = pg.run([shutil.which("bash") or "/bin/bash", str(COMPOSE / name)], env=env, check=False)
    assert proc.returncode == 0, proc.stderr
    assert secrets.joinpath("qa-db-sink-password").read_text() not in proc.stdout + proc.stderr
    assert secrets.joinpath("source-db-debezium-password").read_text() not in proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def databases(kit_postgres: PgServer, kit_secrets: Path) -> PgServer:
    init_script(kit_postgres, "source-init.sh", "shop", kit_secrets)
    init_script(kit_postgres, "qa-init.sh", "qa", kit_secrets)
    return kit_postgres


def test_source_database_holds_the_example_shop_for_debezium(databases: PgServer, kit_secrets: Path) -> None:
    pg = databases
    counts = [pg.query(f"SELECT count(*) FROM public.{t}", "shop") for t in TABLES]
    assert counts == ["11", "8", "12"]
    assert pg.query("SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_publication_tables "
                    "WHERE pubname = 'dbz_publication'", "shop") == "addresses,customers,orders"
    assert pg.query("SELECT relname || ':' || relreplident::text FROM pg_class WHERE relname IN "
                    "('customers', 'addresses', 'orders') ORDER BY relname", "shop").split() == [
        "addresses:f", "customers:f", "orders:d"]
    # Debezium's role: replication, reads the tables, logs in with the secret Connect is given, writes nothing
    password = (kit_secrets / "source-db-debezium-password").read_text()
    assert pg.query("SELECT rolreplication AND NOT rolsuper FROM pg_roles WHERE rolname = 'debezium'") == "t"
    assert pg.query("SELECT count(*) FROM public.orders", "shop", "debezium", password) == "12"
    refused = pg.psql("DELETE FROM public.orders", "shop", "debezium", password, check=False)
    assert refused.returncode != 0 and "permission denied" in refused.stderr
    wrong = pg.psql("SELECT 1", "shop", "debezium", "not-the-secret", check=False)
    assert wrong.returncode != 0 and "password authentication failed" in wrong.stderr
    # the types that give the example events' Connect types (Enum, Date, MicroTimestamp, ZonedTimestamp…)
    types = pg.query("SELECT table_name || '.' || column_name || ':' || udt_name FROM information_schema.columns "
                     "WHERE table_schema = 'public' AND column_name IN ('tier', 'birth_date', 'placed_at', "
                     "'created_at', 'item_count', 'kind') ORDER BY 1", "shop").split()
    assert types == ["addresses.kind:address_kind", "customers.birth_date:date", "customers.created_at:timestamptz",
                     "customers.tier:customer_tier", "orders.item_count:int2", "orders.placed_at:timestamp"]


@pytest.mark.parametrize("db", ["qa", "qa_avro"])
def test_qa_sink_writes_in_any_order_while_other_sessions_keep_the_foreign_keys(
    databases: PgServer, kit_secrets: Path, db: str
) -> None:
    pg, password = databases, (kit_secrets / "qa-db-sink-password").read_text()
    assert pg.query("SHOW session_replication_role", db, "qa_sink", password) == "replica"
    # an order before its customer, as the sink may write them (topics are consumed in no order)
    order = ("INSERT INTO public.orders (id, customer_id, total, item_count, placed_at) "
             "VALUES (7, 4242, 9.99, 1, '2024-06-03 09:00:00')")
    pg.psql(order, db, "qa_sink", password)
    customer = ("INSERT INTO public.customers (id, first_name, last_name, email, created_at) "
                "VALUES (4242, 'A', 'B', 'a@example.com', now())")
    pg.psql(customer, db, "qa_sink", password)
    # the sink's upsert and delete by primary key
    pg.psql("INSERT INTO public.orders (id, customer_id, total, item_count, placed_at) VALUES "
            "(7, 4242, 19.99, 2, '2024-06-03 09:00:00') ON CONFLICT (id) DO UPDATE SET total = EXCLUDED.total",
            db, "qa_sink", password)
    assert pg.query("SELECT total FROM public.orders WHERE id = 7", db) == "19.99"
    # anyone else is held to the constraints
    orphan = pg.psql(order.replace("(7, 4242", "(8, 999"), db, check=False)
    assert orphan.returncode != 0 and "violates foreign key constraint" in orphan.stderr
    bad_enum = pg.psql("INSERT INTO public.customers (id, first_name, last_name, email, created_at, tier) "
                       "VALUES (4243, 'A', 'B', 'a@example.com', now(), 'diamond')", db, check=False)
    assert bad_enum.returncode != 0 and "violates check constraint" in bad_enum.stderr
    # the sink writes rows, never the schema (schema.evolution=none: the DDL is reviewed)
    ddl = pg.psql("CREATE TABLE public.sneaky (x int)", db, "qa_sink", password, check=False)
    assert ddl.returncode != 0 and "permission denied" in ddl.stderr
    pg.psql("DELETE FROM public.orders WHERE id = 7", db, "qa_sink", password)
    pg.psql("DELETE FROM public.customers WHERE id = 4242", db, "qa_sink", password)

