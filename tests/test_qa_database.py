"""Issue 10's QA-database acceptance test: the example stream, masked by ``streammask mask``, loaded into a
real PostgreSQL as Debezium's JDBC sink loads it, keeps the database's referential integrity.

1. One database (``tests/qa_db.py``: started once per session) holds the example tables' QA schema three
   times: ``source`` (the unmasked stream), ``qa`` (the stream masked as JSON) and ``qa_avro`` (the same
   stream as Confluent-framed Avro, masked with ``--format avro``). Same DDL: primary keys, foreign keys
   (addresses and orders -> customers, deferrable: see ``qa_db.SHOP_DDL``), unique and check constraints.
2. ``examples/customers.jsonl`` is masked by ``streammask mask`` (``cli.main``, in process) with
   ``policies/ecommerce.yaml`` and a fixed test key, then read back as a consumer would: plain JSON for
   JsonConverter records; confluent-kafka's ``AvroDeserializer`` against the target registry (and the
   writer schema it names) for Avro. ``tests/jdbc_applier.py`` applies each schema's events in one
   transaction: upsert by key for c/u/r, delete by key for d and tombstones, values typed from the Connect
   schema.
3. Checked, per masked schema: zero database errors (none raised, none in the server's log); every foreign
   key holds (enforced at commit, and no orphan by query); the unique constraints hold; row counts and the
   counts of joins on the masked ids equal the source's; no source value of a masked column is in the masked
   schema. And the Avro-masked rows equal the JSON-masked rows.
"""

from __future__ import annotations

import base64
import json
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest
import yaml

from streammask import cli
from tests.avro_events import Reference, schema_id_of
from tests.fake_registry import FakeRegistry
from tests.jdbc_applier import (
    STRING_TYPES,
    ApplyError,
    ChangeEvent,
    apply_stream,
    coordinates,
    event_from_avro,
    event_from_connect_json,
)
from tests.qa_db import (
    FOREIGN_KEYS,
    SHOP_TABLES,
    UNIQUE_KEYS,
    PgServer,
    column_types,
    column_values,
    connect,
    constraints,
    create_shop_schema,
    duplicate_keys,
    join_profile,
    orphans,
    row_counts,
    table_rows,
)

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "customers.jsonl"
POLICY = REPO / "policies" / "ecommerce.yaml"
KEY_HEX = bytes(range(32)).hex()  # the tests' fixed key (conftest.TEST_KEY_BYTES), in STREAMMASK_KEY's form
EXPECTED_ROWS = {"customers": 11, "addresses": 8, "orders": 12}  # examples/make_customers.py: 9 addresses, 1 deleted
MASKED_SCHEMAS = ("qa", "qa_avro")
# Strategies whose output must not be the source value (keep: kept on purpose; bucket and shift: coarsened or
# moved values, which may land on a source value by design).
HIDING = frozenset({"tokenize", "replace", "format-preserve", "redact", "hash"})
MIN_SEARCHED = 8  # source values at least this long are also searched for anywhere in the masked rows


@dataclass(frozen=True)
class Loaded:
    """A schema loaded from a stream: how many events, how many applied, the server's ERROR lines meanwhile."""

    schema: str
    events: int
    applied: int
    server_errors: list[str]


def load(server: PgServer, conn: psycopg.Connection[Any], schema: str, events: list[ChangeEvent]) -> Loaded:
    create_shop_schema(conn, schema)
    offset = server.log_size()
    try:
        applied = apply_stream(conn, schema, events)
    except ApplyError as exc:
        pytest.fail(f"loading schema {schema}: {exc}", pytrace=False)
    errors = [line for line in server.log_since(offset).splitlines() if re.search(r"\b(ERROR|FATAL|PANIC):", line)]
    return Loaded(schema, len(events), applied, errors)


# -- the streams ----------------------------------------------------------------------------------------------


def run_mask(tmp: Path, lines: list[dict[str, Any]], *options: str, policy: Path = POLICY) -> list[dict[str, Any]]:
    """``streammask mask`` as users run it (in process), with the test key in STREAMMASK_KEY; the output lines."""
    source, out = tmp / "in.jsonl", tmp / "out.jsonl"
    source.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level  # cli.main configures the root logger: restore it
    try:
        with pytest.MonkeyPatch.context() as env:
            env.setenv("STREAMMASK_KEY", KEY_HEX)
            code = cli.main(["mask", "--policy", str(policy), "--input", str(source), "--output", str(out),
                             *options])
    finally:
        root.handlers[:], root.level = handlers, level
    assert code == cli.EXIT_OK, f"streammask mask exited with {code}: records blocked (see the logs above)"
    masked = [orjson.loads(raw) for raw in out.read_bytes().splitlines()]
    assert len(masked) == len(lines), "streammask mask wrote a different number of records"
    return masked


def text_part(line: dict[str, Any], name: str) -> bytes | None:
    value = line[name]
    return None if value is None else str(value).encode()


def b64_part(line: dict[str, Any], name: str) -> bytes | None:
    value = line[f"{name}_b64"]
    return None if value is None else base64.b64decode(value)


def json_events(lines: list[dict[str, Any]]) -> list[ChangeEvent]:
    """kcat -J lines of JsonConverter records as change events (plain JSON: no streammask code reads them)."""
    return [event_from_connect_json(coordinates(d["topic"], d["partition"], d["offset"]), d["topic"],
                                    text_part(d, "key"), text_part(d, "payload")) for d in lines]


def avro_lines(lines: list[dict[str, Any]], registry_url: str) -> list[dict[str, Any]]:
    """The example stream as Debezium's AvroConverter writes it (confluent-kafka's AvroSerializer over the
    source registry), in the lossless line form ``streammask mask --format avro`` reads."""
    serde = Reference(registry_url)

    def encode(topic: str, text: str | None, key: bool) -> str | None:
        if text is None:
            return None
        doc = orjson.loads(text)
        return base64.b64encode(serde.serialize(topic, doc["schema"], doc["payload"], key=key)).decode()

    return [{**{k: v for k, v in d.items() if k not in ("key", "payload")},
             "key_b64": encode(d["topic"], d["key"], True), "payload_b64": encode(d["topic"], d["payload"], False)}
            for d in lines]


def avro_events(lines: list[dict[str, Any]], registry_url: str) -> list[ChangeEvent]:
    """Masked Avro lines read as a consumer of the target topics reads them: confluent-kafka's
    AvroDeserializer against the target registry; the writer schema (for the Connect names) by the id."""
    serde = Reference(registry_url)

    def writer_schema(data: bytes) -> Any:
        text = serde.client.get_schema(schema_id_of(data)).schema_str
        assert text is not None
        return json.loads(text)

    events = []
    for d in lines:
        topic, key, value = d["topic"], b64_part(d, "key"), b64_part(d, "payload")
        assert key is not None, "a masked record without a key"
        events.append(event_from_avro(
            coordinates(topic, d["partition"], d["offset"]), topic,
            serde.deserialize(topic, key, key=True), writer_schema(key),
            None if value is None else serde.deserialize(topic, value), None if value is None else writer_schema(value),
        ))
    return events


# -- fixtures: one database, three schemas ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def example() -> list[dict[str, Any]]:
    return [orjson.loads(raw) for raw in EXAMPLE.read_bytes().splitlines()]


@pytest.fixture(scope="module")
def conn(qa_postgres: PgServer) -> Iterator[psycopg.Connection[Any]]:
    with connect(qa_postgres) as connection:
        yield connection


@pytest.fixture(scope="module")
def source(qa_postgres: PgServer, conn: psycopg.Connection[Any], example: list[dict[str, Any]]) -> Loaded:
    return load(qa_postgres, conn, "source", json_events(example))


@pytest.fixture(scope="module")
def qa(qa_postgres: PgServer, conn: psycopg.Connection[Any], example: list[dict[str, Any]],
       tmp_path_factory: pytest.TempPathFactory) -> Loaded:
    masked = run_mask(tmp_path_factory.mktemp("qa-json"), example)
    return load(qa_postgres, conn, "qa", json_events(masked))


@pytest.fixture(scope="module")
def registries() -> Iterator[tuple[FakeRegistry, FakeRegistry]]:
    source_registry, target_registry = FakeRegistry().start(), FakeRegistry().start()
    try:
        yield source_registry, target_registry
    finally:
        source_registry.stop()
        target_registry.stop()


@pytest.fixture(scope="module")
def qa_avro(qa_postgres: PgServer, conn: psycopg.Connection[Any], example: list[dict[str, Any]],
            registries: tuple[FakeRegistry, FakeRegistry], tmp_path_factory: pytest.TempPathFactory) -> Loaded:
    source_registry, target_registry = registries
    masked = run_mask(tmp_path_factory.mktemp("qa-avro"), avro_lines(example, source_registry.url),
                      "--format", "avro", "--schema-registry", source_registry.url,
                      "--target-schema-registry", target_registry.url)
    return load(qa_postgres, conn, "qa_avro", avro_events(masked, target_registry.url))


@pytest.fixture(params=MASKED_SCHEMAS)
def masked(request: pytest.FixtureRequest, source: Loaded) -> Loaded:
    """Each masked schema in turn (the source is loaded first: the comparisons need it)."""
    loaded: Loaded = request.getfixturevalue(request.param)
    return loaded


# -- the checks ---------------------------------------------------------------------------------------------------


def test_the_source_schema_holds_the_example(conn: psycopg.Connection[Any], source: Loaded) -> None:
    """What the masked schemas are compared with is the whole example, so no comparison below is vacuous."""
    assert (source.applied, source.server_errors) == (source.events, [])
    assert row_counts(conn, "source") == EXPECTED_ROWS
    joins = join_profile(conn, "source")
    assert joins["customers JOIN orders"] == [(12,)] and joins["customers JOIN addresses"] == [(8,)]


def test_the_masked_stream_applies_with_zero_database_errors(masked: Loaded) -> None:
    assert masked.applied == masked.events == 41, f"{masked.schema}: {masked.applied} of {masked.events} applied"
    assert masked.server_errors == [], f"{masked.schema}: the server logged errors while loading"


def test_row_counts_equal_the_source(conn: psycopg.Connection[Any], masked: Loaded) -> None:
    assert row_counts(conn, masked.schema) == row_counts(conn, "source") == EXPECTED_ROWS


def test_every_foreign_key_holds(conn: psycopg.Connection[Any], masked: Loaded) -> None:
    found = constraints(conn, masked.schema)
    for child, column, _parent, _ in FOREIGN_KEYS:
        name = f"{child}_{column.removesuffix('_id')}_fk"
        assert found.get(name) == ("f", True, True), f"{masked.schema}: {name} is not a validated deferrable FK"
    assert orphans(conn, masked.schema) == dict.fromkeys(orphans(conn, "source"), 0), \
        f"{masked.schema}: rows whose parent is missing"


def test_the_unique_constraints_hold(conn: psycopg.Connection[Any], masked: Loaded) -> None:
    found = constraints(conn, masked.schema)
    assert {"customers_email_key", "customers_national_id_key", "addresses_customer_kind_key"} <= {
        name for name, (kind, valid, _) in found.items() if kind == "u" and valid}
    assert duplicate_keys(conn, masked.schema) == {f"{t}({', '.join(c)})": 0 for t, c in UNIQUE_KEYS}
    for table, columns in UNIQUE_KEYS:  # and the masked values are as many distinct values as the source's
        for column in columns:
            assert len(column_values(conn, masked.schema, table, column)) == \
                len(column_values(conn, "source", table, column)), f"{masked.schema}.{table}.{column}"


def test_joins_on_the_masked_ids_count_as_on_the_source(conn: psycopg.Connection[Any], masked: Loaded) -> None:
    expected, got = join_profile(conn, "source"), join_profile(conn, masked.schema)
    for label in expected:
        assert got[label] == expected[label], f"{masked.schema}: {label}"


def masked_columns() -> dict[str, dict[str, str]]:
    """table -> column -> strategy, from the policy: the columns whose values must not survive."""
    policy = yaml.safe_load(POLICY.read_text())
    return {name.split(".")[-1]: {column: spec["strategy"] for column, spec in table["fields"].items()
                                  if spec["strategy"] in HIDING}
            for name, table in policy["tables"].items()}


def test_no_source_value_of_a_masked_column_is_in_the_masked_schema(
    conn: psycopg.Connection[Any], masked: Loaded,
) -> None:
    """A cheap leak check: per masked column, no source value in the same column; and no longer source value
    (an e-mail, a street, a card number...) anywhere in the masked rows' text."""
    searched: set[str] = set()
    for table, columns in masked_columns().items():
        for column in columns:
            before = column_values(conn, "source", table, column)
            after = column_values(conn, masked.schema, table, column)
            assert before, f"source.{table}.{column} is empty: nothing to compare"
            kept = set(before) & set(after)
            assert not kept, f"{masked.schema}.{table}.{column}: {len(kept)} source value(s) kept"
            searched |= {str(v) for v in before if len(str(v)) >= MIN_SEARCHED}
    assert searched
    for table in SHOP_TABLES:
        text = "\n".join(str(row) for row in table_rows(conn, masked.schema, table))
        found = sum(value in text for value in searched)
        assert found == 0, f"{masked.schema}.{table}: {found} source value(s) of masked columns in its rows"


def test_avro_masking_gives_the_rows_json_masking_gives(conn: psycopg.Connection[Any], qa: Loaded,
                                                        qa_avro: Loaded) -> None:
    for table in SHOP_TABLES:
        json_rows = table_rows(conn, qa.schema, table)
        assert json_rows, f"qa.{table} is empty"
        assert table_rows(conn, qa_avro.schema, table) == json_rows, f"qa_avro.{table} differs from qa.{table}"


def test_the_qa_ddl_declares_the_types_the_stream_carries(conn: psycopg.Connection[Any], source: Loaded,
                                                          example: list[dict[str, Any]]) -> None:
    """The hand-written QA DDL (``qa_db.SHOP_DDL``) and the stream agree: each column is of the type the
    Connect schema maps to (``ColumnType.pg_type``, what the sink's auto-create would make), a string may be
    a character type."""
    seen: dict[str, dict[str, str]] = {}
    for event in json_events(example):
        for name, column in event.columns.items():
            seen.setdefault(event.table, {})[name] = column.pg_type()
    assert set(seen) == set(SHOP_TABLES)
    for table, expected in seen.items():
        declared = column_types(conn, "source", table)
        assert set(declared) == set(expected), f"{table}: columns differ from the stream's"
        for name, pg_type in expected.items():
            got = declared[name]
            ok = got == pg_type or (pg_type == "text" and got.split("(")[0] in STRING_TYPES)
            assert ok, f"{table}.{name}: declared {got}, the stream carries {pg_type}"


# -- the check has teeth: policies that break the database's integrity are caught --------------------------------

ORDERS_OWN_DOMAIN = (  # orders.customer_id tokenized in a domain of its own: no longer the customers' ids
    "customer_id: {strategy: tokenize, domain: customer_id}      # same domain",
    "customer_id: {strategy: tokenize, domain: order_customer}   # not the customers' domain",
)
ONE_EMAIL = (  # every e-mail redacted to one literal: the unique e-mail no longer holds
    "email:       {strategy: format-preserve}", 'email:       {strategy: redact, value: "qa@example.com"}',
)


@pytest.mark.parametrize(("edit", "where", "sqlstate", "constraint"), [
    (ORDERS_OWN_DOMAIN, "commit after 41 events", "23503", "orders_customer_fk"),
    (ONE_EMAIL, "shop.public.customers/0@1", "23505", "customers_email_key"),
], ids=["foreign-key", "unique"])
def test_a_policy_that_breaks_integrity_fails_the_load(
    conn: psycopg.Connection[Any], example: list[dict[str, Any]], tmp_path: Path, edit: tuple[str, str], where: str,
    sqlstate: str, constraint: str,
) -> None:
    text = POLICY.read_text()
    assert edit[0] in text, "the example policy changed: update the edit"
    policy = tmp_path / "policy.yaml"
    policy.write_text(text.replace(edit[0], edit[1]))
    events = json_events(run_mask(tmp_path, example, policy=policy))
    create_shop_schema(conn, "qa_broken")
    with pytest.raises(ApplyError) as info:
        apply_stream(conn, "qa_broken", events)
    assert (info.value.where, info.value.sqlstate, info.value.constraint) == (where, sqlstate, constraint)
    assert "qa@example.com" not in str(info.value)
    assert row_counts(conn, "qa_broken") == dict.fromkeys(SHOP_TABLES, 0)  # nothing of the stream was kept
