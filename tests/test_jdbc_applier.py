"""The JDBC-sink applier of the QA-database tests (``tests/jdbc_applier.py``): its type conversions, then
its upsert/delete semantics against the real PostgreSQL of ``tests/qa_db.py``.

Events are built with ``tests/events.py`` (JsonConverter with schemas) and read back through
``event_from_connect_json``, as the acceptance test reads the masked stream.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator, Sequence
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.types.json import Jsonb

from tests import events as ev
from tests.jdbc_applier import (
    COLUMN_TYPES,
    ApplyError,
    ChangeEvent,
    ColumnType,
    ConversionError,
    apply_stream,
    avro_column,
    event_from_connect_json,
    to_pg,
)
from tests.qa_db import PgServer, connect, create_shop_schema, orphans, row_counts

DECIMAL = "org.apache.kafka.connect.data.Decimal"


def column(type_: str, name: str | None = None, **params: str) -> ColumnType:
    return ColumnType(type_, name, params)


# -- conversions (no database) ------------------------------------------------------------------------------


@pytest.mark.parametrize(("col", "value", "expected"), [
    (column("int8"), -128, -128),
    (column("int16"), 32767, 32767),
    (column("int32"), -(2**31), -(2**31)),
    (column("int64"), 2**63 - 1, 2**63 - 1),
    (column("float32"), 1.5, 1.5),
    (column("float64"), 3, 3.0),
    (column("boolean"), False, False),
    (column("string"), "x", "x"),
    (column("bytes"), "AQL/", b"\x01\x02\xff"),
    (column("bytes"), b"\x00", b"\x00"),  # Avro: bytes as bytes
    (column("bytes", DECIMAL, scale="2"), ev.decimal_bytes("-12.50", 2), Decimal("-12.50")),
    (column("bytes", DECIMAL, scale="2"), "AA==", Decimal("0.00")),
    (column("bytes", DECIMAL, scale="1"), ev.b64((10**30 + 7).to_bytes(13, "big", signed=True)),
     Decimal("100000000000000000000000000000.7")),  # more digits than Decimal's default context keeps
    (column("bytes", DECIMAL, scale="3"), Decimal("1.250"), Decimal("1.250")),  # AvroDeserializer's Decimal
    (column("int32", "io.debezium.time.Date"), ev.days(dt.date(1991, 11, 23)), dt.date(1991, 11, 23)),
    (column("int32", "io.debezium.time.Date"), -1, dt.date(1969, 12, 31)),
    (column("int32", "org.apache.kafka.connect.data.Date"), 0, dt.date(1970, 1, 1)),
    (column("int32", "org.apache.kafka.connect.data.Date"), dt.date(2024, 2, 29), dt.date(2024, 2, 29)),
    (column("int64", "io.debezium.time.MicroTimestamp"), ev.micros(dt.datetime(2024, 6, 3, 9, 0, 0, 123456)),
     dt.datetime(2024, 6, 3, 9, 0, 0, 123456)),
    (column("int64", "io.debezium.time.Timestamp"), ev.millis(dt.datetime(2024, 6, 3, 9, 0, 1)),
     dt.datetime(2024, 6, 3, 9, 0, 1)),
    (column("int64", "io.debezium.time.NanoTimestamp"), 1_717_405_200_123_456_789,
     dt.datetime(2024, 6, 3, 9, 0, 0, 123457)),  # nanoseconds rounded to PostgreSQL's microseconds
    (column("int64", "org.apache.kafka.connect.data.Timestamp"), -1, dt.datetime(1969, 12, 31, 23, 59, 59, 999000)),
    (column("int64", "org.apache.kafka.connect.data.Timestamp"),  # Avro's timestamp-millis: aware, read as UTC
     dt.datetime(2024, 6, 3, 11, 0, tzinfo=dt.timezone(dt.timedelta(hours=2))), dt.datetime(2024, 6, 3, 9, 0)),
    (column("int32", "io.debezium.time.Time"), 3_600_500, dt.time(1, 0, 0, 500000)),
    (column("int64", "io.debezium.time.MicroTime"), 86_399_999_999, dt.time(23, 59, 59, 999999)),
    (column("int64", "io.debezium.time.NanoTime"), 1_000_000_500, dt.time(0, 0, 1, 1)),
    (column("int32", "org.apache.kafka.connect.data.Time"), dt.time(12, 30), dt.time(12, 30)),
    (column("string", "io.debezium.time.ZonedTimestamp"), "2024-06-03T09:00:00Z",
     dt.datetime(2024, 6, 3, 9, 0, tzinfo=dt.UTC)),
    (column("string", "io.debezium.time.ZonedTimestamp"), "2024-06-03T11:00:00.5+02:00",
     dt.datetime(2024, 6, 3, 9, 0, 0, 500000, tzinfo=dt.UTC)),
    (column("string", "io.debezium.time.ZonedTimestamp"), "infinity", "infinity"),
    (column("string", "io.debezium.time.ZonedTime"), "10:15:30Z", dt.time(10, 15, 30, tzinfo=dt.UTC)),
    (column("string", "io.debezium.data.Uuid"), "6F9619FF-8B86-D011-B42D-00C04FC964FF",
     uuid.UUID("6f9619ff-8b86-d011-b42d-00c04fc964ff")),
    (column("string", "io.debezium.data.Enum", allowed="a,b"), "b", "b"),
    (column("string", "io.debezium.data.Xml"), "<a/>", "<a/>"),
    (column("string", "io.unknown.Name"), "kept", "kept"),  # an unknown name: its Connect type decides
])
def test_to_pg_types_each_value_from_its_connect_schema(col: ColumnType, value: Any, expected: Any) -> None:
    got = to_pg(col, value)
    assert got == expected and type(got) is type(expected)
    assert to_pg(col, None) is None


def test_to_pg_json_is_bound_as_jsonb() -> None:
    got = to_pg(column("string", "io.debezium.data.Json"), '{"a": [1, 2], "b": null}')
    assert isinstance(got, Jsonb) and got.obj == {"a": [1, 2], "b": None}


@pytest.mark.parametrize(("col", "value"), [
    (column("int32"), True),  # a bool is not an int here
    (column("int16"), 40000),
    (column("int32"), "1001"),
    (column("boolean"), 1),
    (column("bytes"), "not base64!"),
    (column("bytes", DECIMAL, scale="2"), 12.5),
    (column("string", "io.debezium.data.Uuid"), "secret-not-a-uuid"),
    (column("string", "io.debezium.data.Json"), "{secret"),
    (column("string", "io.debezium.time.ZonedTimestamp"), "secret 2024"),
    (column("string", "io.debezium.time.ZonedTimestamp"), "2024-06-03T09:00:00"),  # no offset
    (column("int64", "io.debezium.time.MicroTime"), 86_400_000_000),
    (column("struct"), {"x": 1}),
])
def test_to_pg_refuses_a_value_that_does_not_fit_without_quoting_it(col: ColumnType, value: Any) -> None:
    with pytest.raises(ConversionError) as info:
        to_pg(col, value)
    assert "secret" not in str(info.value) and str(value) not in str(info.value)


@pytest.mark.parametrize(("col", "pg_type"), [
    (column("int8"), "smallint"),
    (column("bytes", DECIMAL, scale="2", **{"connect.decimal.precision": "12"}), "numeric(12,2)"),
    (column("bytes", DECIMAL, scale="4"), "numeric"),
    (column("int32", "io.debezium.time.Date"), "date"),
    (column("int64", "io.debezium.time.MicroTimestamp"), "timestamp without time zone"),
    (column("string", "io.debezium.time.ZonedTimestamp"), "timestamp with time zone"),
    (column("string", "io.debezium.data.Enum"), "text"),
    (column("string", "io.debezium.data.Json"), "jsonb"),
])
def test_pg_type_is_what_the_sink_would_create(col: ColumnType, pg_type: str) -> None:
    assert col.pg_type() == pg_type


@pytest.mark.parametrize(("avro", "expected"), [
    ("int", ColumnType("int32", optional=False)),
    (["null", "long"], ColumnType("int64")),
    ({"type": "int", "connect.type": "int16"}, ColumnType("int16", optional=False)),
    (["null", {"type": "bytes", "scale": 2, "precision": 12, "connect.version": 1,
               "connect.parameters": {"scale": "2", "connect.decimal.precision": "12"},
               "connect.name": DECIMAL, "logicalType": "decimal"}],
     ColumnType("bytes", DECIMAL, {"scale": "2", "connect.decimal.precision": "12"})),
    ({"type": "bytes", "logicalType": "decimal", "scale": 3, "precision": 9},  # no Connect metadata
     ColumnType("bytes", DECIMAL, {"scale": "3"}, optional=False)),
    ({"type": "string", "connect.version": 1, "connect.name": "io.debezium.time.ZonedTimestamp"},
     ColumnType("string", "io.debezium.time.ZonedTimestamp", optional=False)),
    ({"type": "int", "logicalType": "date"}, ColumnType("int32", "org.apache.kafka.connect.data.Date", optional=False)),
    ({"type": "enum", "name": "Kind", "symbols": ["a", "b"]}, ColumnType("string", "io.debezium.data.Enum",
                                                                         optional=False)),
])
def test_avro_column_reads_the_connect_schema_avrodata_wrote(avro: Any, expected: ColumnType) -> None:
    assert avro_column(avro, {}) == expected


def test_every_mapped_type_has_a_converter_and_a_pg_type() -> None:
    for key in COLUMN_TYPES:
        col = ColumnType("string", key) if "." in key else ColumnType(key)
        assert col.pg_type()
        assert to_pg(col, None) is None  # a converter is registered (to_pg raises for an unknown type)


# -- against PostgreSQL -------------------------------------------------------------------------------------


@pytest.fixture
def conn(qa_postgres: PgServer) -> Iterator[psycopg.Connection[Any]]:
    with connect(qa_postgres) as connection:
        yield connection


@pytest.fixture
def schema(conn: psycopg.Connection[Any], request: pytest.FixtureRequest) -> Iterator[str]:
    name = f"t_{request.node.name.split('[')[0][-40:]}".lower()
    conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))
    conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))
    yield name
    conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(name)))


EVERY_TYPE: list[tuple[dict[str, Any], Any, str | None]] = [  # (column schema, JSON payload value, PostgreSQL's text)
    (ev.col("c_int8", "int8"), -5, "-5"),
    (ev.col("c_int16", "int16"), 32767, "32767"),
    (ev.col("c_int64", "int64"), -(2**63), str(-(2**63))),
    (ev.col("c_float32", "float32"), 1.5, "1.5"),
    (ev.col("c_float64", "float64"), -0.25, "-0.25"),
    (ev.col("c_boolean", "boolean"), True, "true"),
    (ev.col("c_string", "string"), "héllo ' \" ; --", "héllo ' \" ; --"),
    (ev.col("c_bytes", "bytes"), "AAH/", "\\x0001ff"),
    (ev.col("c_decimal", "bytes", name=DECIMAL, version=1,
            parameters={"scale": "2", "connect.decimal.precision": "12"}), ev.decimal_bytes("-1234.50", 2), "-1234.50"),
    (ev.col("c_date", "int32", name="io.debezium.time.Date", version=1), ev.days(dt.date(1991, 11, 23)), "1991-11-23"),
    (ev.col("c_cdate", "int32", name="org.apache.kafka.connect.data.Date", version=1), 19877, "2024-06-03"),
    (ev.col("c_time", "int32", name="io.debezium.time.Time", version=1), 45_296_789, "12:34:56.789"),
    (ev.col("c_microtime", "int64", name="io.debezium.time.MicroTime", version=1), 45_296_000_001, "12:34:56.000001"),
    (ev.col("c_ts", "int64", name="io.debezium.time.Timestamp", version=1), 1_717_405_200_250,
     "2024-06-03 09:00:00.25"),
    (ev.col("c_microts", "int64", name="io.debezium.time.MicroTimestamp", version=1), 1_717_405_200_000_001,
     "2024-06-03 09:00:00.000001"),
    (ev.col("c_nanots", "int64", name="io.debezium.time.NanoTimestamp", version=1), 1_717_405_200_000_001_000,
     "2024-06-03 09:00:00.000001"),
    (ev.col("c_zoned", "string", name="io.debezium.time.ZonedTimestamp", version=1), "2024-06-03T11:00:00.5+02:00",
     "2024-06-03 09:00:00.5+00"),
    (ev.col("c_zoned_inf", "string", name="io.debezium.time.ZonedTimestamp", version=1), "infinity", "infinity"),
    (ev.col("c_zonedtime", "string", name="io.debezium.time.ZonedTime", version=1), "10:15:30Z", "10:15:30+00"),
    (ev.col("c_uuid", "string", name="io.debezium.data.Uuid", version=1), "6F9619FF-8B86-D011-B42D-00C04FC964FF",
     "6f9619ff-8b86-d011-b42d-00c04fc964ff"),
    (ev.col("c_json", "string", name="io.debezium.data.Json", version=1), '{"b": [1, 2.5], "a": null}',
     '{"a": null, "b": [1, 2.5]}'),
    (ev.col("c_enum", "string", name="io.debezium.data.Enum", version=1, parameters={"allowed": "x,y"}), "y", "y"),
    (ev.col("c_xml", "string", name="io.debezium.data.Xml", version=1), "<a>1</a>", "<a>1</a>"),
    (ev.col("c_null", "string"), None, None),
]
ID = ev.col("id", "int32", False)


def test_every_type_lands_in_the_column_type_the_sink_creates(conn: psycopg.Connection[Any], schema: str) -> None:
    """The table is created as the sink's auto-create would (``ColumnType.pg_type``); each value goes through
    the applier and is read back as PostgreSQL prints it."""
    fields = [ID, *(f for f, _, _ in EVERY_TYPE)]
    columns = sql.SQL(", ").join(
        sql.SQL("{} {}").format(sql.Identifier(f["field"]), sql.SQL(ColumnType(f["type"], f.get("name"),
                                                                               f.get("parameters", {})).pg_type()))
        for f in fields)
    conn.execute(sql.SQL("CREATE TABLE {} ({}, PRIMARY KEY (id))").format(sql.Identifier(schema, "every"), columns))
    row = {"id": 1, **{f["field"]: value for f, value, _ in EVERY_TYPE}}
    event = change(fields, "every", "c", None, row)
    apply_stream(conn, schema, [event])
    names = sql.SQL(", ").join(sql.SQL("{}::text").format(sql.Identifier(f["field"])) for f, _, _ in EVERY_TYPE)
    got = conn.execute(sql.SQL("SELECT {} FROM {}").format(names, sql.Identifier(schema, "every"))).fetchone()
    assert dict(zip([f["field"] for f, _, _ in EVERY_TYPE], got or (), strict=True)) == {
        f["field"]: text for f, _, text in EVERY_TYPE}


# A table with a composite key, and the example tables for foreign keys.
ITEM_FIELDS = [ev.col("shop", "int32", False), ev.col("sku", "string", False), ev.col("qty", "int32", True),
               ev.col("price", "bytes", False, name=DECIMAL, version=1, parameters={"scale": "2"})]
ITEM_KEY = ITEM_FIELDS[:2]
ITEMS_DDL = "CREATE TABLE {} (shop integer, sku text, qty integer CHECK (qty >= 0), price numeric(8,2) NOT NULL, " \
            "PRIMARY KEY (shop, sku))"


def change(fields: Sequence[dict[str, Any]], table: str, op: str | None, before: dict[str, Any] | None,
           after: dict[str, Any] | None, key_fields: Sequence[dict[str, Any]] | None = None,
           key: dict[str, Any] | None = None, offset: int = 0) -> ChangeEvent:
    """A Debezium PostgreSQL record as JsonConverter writes it, read back by the applier's JSON reader."""
    key_fields = list(key_fields or fields[:1])
    row = after or before or {}
    key = key if key is not None else {f["field"]: row[f["field"]] for f in key_fields}
    key_bytes = ev.key(key_fields, key, table=table)
    value = None if op is None else ev.envelope(fields, before, after, op, table=table)
    topic = ev.topic(table)
    return event_from_connect_json(f"{topic}/0@{offset}", topic, key_bytes, value)


def item(op: str | None, shop: int, sku: str, qty: int | None = 1, price: str = "9.99",
         before: bool = False) -> ChangeEvent:
    row = {"shop": shop, "sku": sku, "qty": qty, "price": ev.decimal_bytes(price, 2)}
    if op is None:
        return change(ITEM_FIELDS, "items", None, None, None, ITEM_KEY, {"shop": shop, "sku": sku})
    if op == "d":
        return change(ITEM_FIELDS, "items", "d", row if before else None, None, ITEM_KEY, {"shop": shop, "sku": sku})
    return change(ITEM_FIELDS, "items", op, None, row, ITEM_KEY)


@pytest.fixture
def items(conn: psycopg.Connection[Any], schema: str) -> str:
    conn.execute(sql.SQL(ITEMS_DDL).format(sql.Identifier(schema, "items")))
    return schema


def rows(conn: psycopg.Connection[Any], schema: str) -> list[tuple[Any, ...]]:
    return conn.execute(sql.SQL("SELECT shop, sku, qty, price FROM {} ORDER BY shop, sku").format(
        sql.Identifier(schema, "items"))).fetchall()


def test_c_inserts_and_u_updates_by_the_composite_key(conn: psycopg.Connection[Any], items: str) -> None:
    apply_stream(conn, items, [item("c", 1, "a", 2), item("c", 1, "b", 5), item("u", 1, "a", 7, "1.50")])
    assert rows(conn, items) == [(1, "a", 7, Decimal("1.50")), (1, "b", 5, Decimal("9.99"))]


def test_r_upserts_over_an_existing_row(conn: psycopg.Connection[Any], items: str) -> None:
    """A snapshot read of a row the table already has (a re-snapshot) overwrites it, no duplicate key."""
    apply_stream(conn, items, [item("c", 1, "a", 2)])
    apply_stream(conn, items, [item("r", 1, "a", 3), item("r", 2, "a", None)])
    assert rows(conn, items) == [(1, "a", 3, Decimal("9.99")), (2, "a", None, Decimal("9.99"))]


def test_d_deletes_by_key_and_a_tombstone_after_it_is_harmless(conn: psycopg.Connection[Any], items: str) -> None:
    apply_stream(conn, items, [item("c", 1, "a"), item("c", 1, "b")])
    assert apply_stream(conn, items, [item("d", 1, "a", before=True), item(None, 1, "a")]) == 2
    assert rows(conn, items) == [(1, "b", 1, Decimal("9.99"))]
    apply_stream(conn, items, [item("d", 1, "b"), item(None, 1, "b"), item(None, 1, "b")])  # no before image
    assert rows(conn, items) == []


def test_a_row_deleted_then_created_again_is_there(conn: psycopg.Connection[Any], items: str) -> None:
    apply_stream(conn, items, [item("c", 1, "a", 1), item("d", 1, "a"), item(None, 1, "a"), item("c", 1, "a", 4)])
    assert rows(conn, items) == [(1, "a", 4, Decimal("9.99"))]


def test_applying_a_stream_again_changes_nothing(conn: psycopg.Connection[Any], items: str) -> None:
    stream = [item("r", 1, "a", 1), item("c", 1, "b", 2), item("u", 1, "a", 3), item("c", 2, "c", 4),
              item("d", 1, "b"), item(None, 1, "b")]
    apply_stream(conn, items, stream)
    once = rows(conn, items)
    apply_stream(conn, items, stream)
    apply_stream(conn, items, [stream[2], stream[2], stream[4], stream[5]])  # repeated events, redelivered
    assert rows(conn, items) == once == [(1, "a", 3, Decimal("9.99")), (2, "c", 4, Decimal("9.99"))]


def test_a_table_of_key_columns_only_does_nothing_on_conflict(conn: psycopg.Connection[Any], schema: str) -> None:
    conn.execute(sql.SQL("CREATE TABLE {} (a integer, b text, PRIMARY KEY (a, b))").format(
        sql.Identifier(schema, "links")))
    fields = [ev.col("a", "int32", False), ev.col("b", "string", False)]
    link = change(fields, "links", "c", None, {"a": 1, "b": "x"}, fields)
    apply_stream(conn, schema, [link, link, change(fields, "links", "r", None, {"a": 1, "b": "x"}, fields)])
    assert conn.execute(sql.SQL("SELECT * FROM {}").format(sql.Identifier(schema, "links"))).fetchall() == [(1, "x")]


def test_a_key_that_differs_from_the_row_is_an_error(conn: psycopg.Connection[Any], items: str) -> None:
    """The sink would write the key's values; a key masked differently from the row is refused here."""
    row = {"shop": 1, "sku": "secret-sku", "qty": 1, "price": ev.decimal_bytes("1.00", 2)}
    event = change(ITEM_FIELDS, "items", "c", None, row, ITEM_KEY, {"shop": 1, "sku": "other-sku"}, offset=7)
    with pytest.raises(ApplyError) as info:
        apply_stream(conn, items, [item("c", 2, "z"), event])
    assert str(info.value) == ("dbserver1.public.items/0@7 (items, op c): the key's sku differs from the row's sku "
                               "(key and row masked differently?)")
    assert rows(conn, items) == []  # the whole stream rolled back


@pytest.mark.parametrize("op", ["u", "d"])
def test_a_key_that_differs_from_the_old_row_is_an_error(conn: psycopg.Connection[Any], items: str, op: str) -> None:
    """REPLICA IDENTITY FULL: ``before`` holds the old row, whose key columns must be the key too."""
    old = {"shop": 1, "sku": "secret-old", "qty": 1, "price": ev.decimal_bytes("1.00", 2)}
    new = {**old, "sku": "b"} if op == "u" else None
    event = change(ITEM_FIELDS, "items", op, old, new, ITEM_KEY, {"shop": 1, "sku": "b"}, offset=9)
    with pytest.raises(ApplyError, match=r"items/0@9 \(items, op [ud]\): the key's sku differs") as info:
        apply_stream(conn, items, [event])
    assert "secret" not in str(info.value)


def test_a_database_error_names_the_event_and_constraint_never_the_value(
    conn: psycopg.Connection[Any], items: str,
) -> None:
    bad = change(ITEM_FIELDS, "items", "c", None, {"shop": 1, "sku": "secret-sku", "qty": -3,
                                                  "price": ev.decimal_bytes("1.00", 2)}, ITEM_KEY, offset=12)
    with pytest.raises(ApplyError) as info:
        apply_stream(conn, items, [item("c", 1, "a"), bad])
    message = str(info.value)
    assert info.value.sqlstate == "23514" and info.value.constraint == "items_qty_check"
    assert message.startswith("dbserver1.public.items/0@12 (items, op c): CheckViolation (SQLSTATE 23514), "
                              "constraint items_qty_check")
    assert "secret" not in message and "-3" not in message


def test_a_value_the_column_refuses_is_an_error_without_the_value(conn: psycopg.Connection[Any], items: str) -> None:
    big = change(ITEM_FIELDS, "items", "c", None, {"shop": 1, "sku": "a", "qty": 1,
                                                  "price": ev.decimal_bytes("123456789.00", 2)}, ITEM_KEY, offset=3)
    with pytest.raises(ApplyError) as info:
        apply_stream(conn, items, [big])
    assert info.value.sqlstate == "22003"  # numeric field overflow: numeric(8,2)
    assert "123456789" not in str(info.value)


CUSTOMER = [ev.col("id", "int32", False), ev.col("first_name", "string", False), ev.col("last_name", "string", False),
            ev.col("email", "string", False), ev.col("balance", "bytes", False, name=DECIMAL, version=1,
                                                     parameters={"scale": "2"}),
            ev.col("tier", "string", False, name="io.debezium.data.Enum", version=1),
            ev.col("created_at", "string", False, name="io.debezium.time.ZonedTimestamp", version=1),
            ev.col("status", "string", False), ev.col("marketing_opt_in", "boolean", False)]
ORDER = [ev.col("id", "int64", False), ev.col("customer_id", "int32", False), ev.col("status", "string", False),
         ev.col("currency", "string", False),
         ev.col("total", "bytes", False, name=DECIMAL, version=1, parameters={"scale": "2"}),
         ev.col("item_count", "int16", False),
         ev.col("placed_at", "int64", False, name="io.debezium.time.MicroTimestamp", version=1)]


def customer(cid: int, email: str | None = None) -> dict[str, Any]:
    return {"id": cid, "first_name": "A", "last_name": "B", "email": email or f"c{cid}@example.com",
            "balance": "AA==", "tier": "gold", "created_at": "2024-01-01T00:00:00Z", "status": "active",
            "marketing_opt_in": False}


def order(oid: int, cid: int) -> dict[str, Any]:
    return {"id": oid, "customer_id": cid, "status": "placed", "currency": "EUR",
            "total": ev.decimal_bytes("10.00", 2), "item_count": 1, "placed_at": 1_717_405_200_000_000}


@pytest.fixture
def shop(conn: psycopg.Connection[Any], schema: str) -> str:
    create_shop_schema(conn, schema)
    return schema


def test_deferred_foreign_keys_take_a_child_before_its_parent(conn: psycopg.Connection[Any], shop: str) -> None:
    """Within one transaction an order may come before its customer (a sink's order of tables is not the
    source's); the deferred foreign key is checked at commit."""
    apply_stream(conn, shop, [change(ORDER, "orders", "c", None, order(1, 7)),
                              change(CUSTOMER, "customers", "c", None, customer(7))])
    assert row_counts(conn, shop) == {"customers": 1, "addresses": 0, "orders": 1}
    assert set(orphans(conn, shop).values()) == {0}


def test_an_orphan_at_commit_fails_the_stream(conn: psycopg.Connection[Any], shop: str) -> None:
    apply_stream(conn, shop, [change(CUSTOMER, "customers", "c", None, customer(7)),
                              change(ORDER, "orders", "c", None, order(1, 7))])
    with pytest.raises(ApplyError) as info:
        apply_stream(conn, shop, [change(CUSTOMER, "customers", "d", customer(7), None),
                                  change(CUSTOMER, "customers", None, None, None, key={"id": 7})])
    assert info.value.sqlstate == "23503" and info.value.constraint == "orders_customer_fk"
    assert row_counts(conn, shop) == {"customers": 1, "addresses": 0, "orders": 1}  # rolled back


def test_a_duplicate_unique_value_fails_at_once(conn: psycopg.Connection[Any], shop: str) -> None:
    with pytest.raises(ApplyError) as info:
        apply_stream(conn, shop, [change(CUSTOMER, "customers", "c", None, customer(1, "same@example.com")),
                                  change(CUSTOMER, "customers", "c", None, customer(2, "same@example.com"))])
    assert info.value.sqlstate == "23505" and info.value.constraint == "customers_email_key"
    assert "same@" not in str(info.value)
