"""Builders of realistic Debezium change events as Kafka record bytes (JsonConverter output).

``envelope(...)`` builds a record value, ``key(...)`` the matching record key, both with the Connect
schema (``schemas.enable=true``: ``{"schema": ..., "payload": ...}``) or without (the bare payload).
The shapes follow the Debezium PostgreSQL connector (and MySQL's when ``schema=None``); the source
struct is the one of tests/fixtures/debezium/postgres-create.json, plus ``sequence``, which
the payload there carries.

``ALL_TYPES`` is a catalogue of column definitions, one per Connect/Debezium type the masker must
keep valid, each with realistic encoded sample values and its natural masking strategy.
"""

from __future__ import annotations

import base64
import datetime as dt
import uuid as uuid_
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import orjson

SERVER = "dbserver1"
BASE_TS_MS = 1_717_412_400_000  # 2024-06-03T11:00:00Z
EPOCH = dt.date(1970, 1, 1)
EPOCH_DT = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


# -- encodings ---------------------------------------------------------------------------------------


def dumps(obj: Any) -> bytes:
    """Compact JSON, as the JsonConverter writes it."""
    return orjson.dumps(obj)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def decimal_bytes(value: Decimal | str | int, scale: int) -> str:
    """Connect Decimal: base64 of the big-endian two's complement unscaled value."""
    unscaled = int(Decimal(value).scaleb(scale).to_integral_value())
    return b64(unscaled.to_bytes((unscaled.bit_length() + 8) // 8, "big", signed=True))


def decimal_value(encoded: str, scale: int) -> Decimal:
    unscaled = int.from_bytes(base64.b64decode(encoded), "big", signed=True)
    return Decimal(unscaled).scaleb(-scale)


def variable_decimal(value: Decimal | str) -> dict[str, Any]:
    """io.debezium.data.VariableScaleDecimal: struct {scale, value} (unscaled bytes)."""
    d = Decimal(value)
    exponent = d.as_tuple().exponent
    assert isinstance(exponent, int)
    scale = max(0, -exponent)
    return {"scale": scale, "value": decimal_bytes(d, scale)}


def days(d: dt.date) -> int:
    """io.debezium.time.Date / Connect Date: days since the epoch."""
    return (d - EPOCH).days


def _since_epoch(t: dt.datetime) -> dt.timedelta:
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.UTC)
    return t - EPOCH_DT


def millis(t: dt.datetime) -> int:
    delta = _since_epoch(t)
    return (delta.days * 86_400 + delta.seconds) * 1_000 + delta.microseconds // 1_000


def micros(t: dt.datetime) -> int:
    delta = _since_epoch(t)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def nanos(t: dt.datetime) -> int:
    return micros(t) * 1_000


def time_millis(t: dt.time) -> int:
    return ((t.hour * 60 + t.minute) * 60 + t.second) * 1_000 + t.microsecond // 1_000


def time_micros(t: dt.time) -> int:
    return ((t.hour * 60 + t.minute) * 60 + t.second) * 1_000_000 + t.microsecond


# -- schema pieces -----------------------------------------------------------------------------------


def col(field_name: str, type_: str, optional: bool = True, /, **extra: Any) -> dict[str, Any]:
    """One Connect struct field schema: ``col("email", "string", False)``; extra keys (``name``,
    ``version``, ``parameters``, ``default``) are copied."""
    out: dict[str, Any] = {"type": type_, "optional": optional}
    out.update(extra)
    out["field"] = field_name
    return out


def with_name(schema: Mapping[str, Any], name: str) -> dict[str, Any]:
    """A column schema (without "field") placed under a field name."""
    return {**schema, "field": name}


def _source_schema(connector: str, extra: Mapping[str, Any]) -> dict[str, Any]:
    fields = [
        col("version", "string", False),
        col("connector", "string", False),
        col("name", "string", False),
        col("ts_ms", "int64", False),
        col("ts_us", "int64", False),
        col("ts_ns", "int64", False),
        col("snapshot", "boolean", True, default=False),
        col("db", "string", False),
        col("sequence", "string", True),
    ]
    if connector == "postgresql":
        fields += [
            col("schema", "string", False),
            col("table", "string", False),
            col("txId", "int64", True),
            col("lsn", "int64", True),
            col("xmin", "int64", True),
        ]
    else:
        fields += [
            col("table", "string", True),
            col("server_id", "int64", False),
            col("gtid", "string", True),
            col("file", "string", False),
            col("pos", "int64", False),
            col("row", "int32", False),
            col("thread", "int64", True),
            col("query", "string", True),
        ]
    known = {f["field"] for f in fields}
    for name, value in extra.items():
        if name in known:
            continue
        if isinstance(value, bool):
            fields.append(col(name, "boolean", True))
        elif isinstance(value, int):
            fields.append(col(name, "int64", True))
        else:
            fields.append(col(name, "string", True))
    name = f"io.debezium.connector.{connector}.Source"
    return {"type": "struct", "fields": fields, "optional": False, "name": name, "field": "source"}


_TRANSACTION_SCHEMA = {
    "type": "struct",
    "fields": [
        col("id", "string", False),
        col("total_order", "int64", False),
        col("data_collection_order", "int64", False),
    ],
    "optional": True,
    "name": "event.block",
    "version": 1,
    "field": "transaction",
}


def _prefix(schema: str | None, db: str) -> str:
    return schema if schema is not None else db


def struct_name(table: str, schema: str | None = "public", server: str = SERVER, db: str = "shop") -> str:
    return f"{server}.{_prefix(schema, db)}.{table}"


def topic(table: str, schema: str | None = "public", server: str = SERVER, db: str = "shop") -> str:
    return struct_name(table, schema, server, db)


def envelope_schema(
    table_schema_fields: Sequence[Mapping[str, Any]],
    table: str = "customers",
    schema: str | None = "public",
    source_extra: Mapping[str, Any] | None = None,
    *,
    server: str = SERVER,
    db: str = "shop",
) -> dict[str, Any]:
    connector = "postgresql" if schema is not None else "mysql"
    base = struct_name(table, schema, server, db)
    row = {"type": "struct", "fields": [dict(f) for f in table_schema_fields], "optional": True,
           "name": f"{base}.Value"}
    return {
        "type": "struct",
        "fields": [
            {**row, "field": "before"},
            {**row, "field": "after"},
            _source_schema(connector, source_extra or {}),
            col("op", "string", False),
            col("ts_ms", "int64", True),
            col("ts_us", "int64", True),
            col("ts_ns", "int64", True),
            dict(_TRANSACTION_SCHEMA),
        ],
        "optional": False,
        "name": f"{base}.Envelope",
        "version": 2,
    }


def source_block(
    table: str = "customers",
    schema: str | None = "public",
    source_extra: Mapping[str, Any] | None = None,
    *,
    server: str = SERVER,
    db: str = "shop",
    ts_ms: int = BASE_TS_MS,
    snapshot: bool = False,
    lsn: int = 24_023_128,
    tx_id: int = 555,
) -> dict[str, Any]:
    src: dict[str, Any] = {
        "version": "3.2.0.Final",
        "connector": "postgresql" if schema is not None else "mysql",
        "name": server,
        "ts_ms": ts_ms,
        "ts_us": ts_ms * 1_000,
        "ts_ns": ts_ms * 1_000_000,
        "snapshot": snapshot,
        "db": db,
    }
    if schema is not None:
        src["sequence"] = orjson.dumps([str(lsn - 9), str(lsn)]).decode()
        src.update({"schema": schema, "table": table, "txId": tx_id, "lsn": lsn, "xmin": None})
    else:
        src["sequence"] = None
        src.update(
            {"table": table, "server_id": 223_344, "gtid": None, "file": "mysql-bin.000003", "pos": 154 + lsn % 10_000,
             "row": 0, "thread": 7, "query": None}
        )
    src.update(source_extra or {})
    return src


def envelope(
    table_schema_fields: Sequence[Mapping[str, Any]],
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any] | None,
    op: str,
    table: str = "customers",
    schema: str | None = "public",
    with_schema: bool = True,
    source_extra: Mapping[str, Any] | None = None,
    *,
    server: str = SERVER,
    db: str = "shop",
    ts_ms: int = BASE_TS_MS,
    transaction: Mapping[str, Any] | None = None,
    lsn: int = 24_023_128,
    tx_id: int = 555,
) -> bytes:
    """A Debezium change event value. ``schema=None`` gives MySQL naming (source.db + table)."""
    payload = envelope_payload(
        before, after, op, table, schema, source_extra, server=server, db=db, ts_ms=ts_ms,
        transaction=transaction, lsn=lsn, tx_id=tx_id,
    )
    if not with_schema:
        return dumps(payload)
    return dumps(
        {
            "schema": envelope_schema(table_schema_fields, table, schema, source_extra, server=server, db=db),
            "payload": payload,
        }
    )


def envelope_payload(
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any] | None,
    op: str,
    table: str = "customers",
    schema: str | None = "public",
    source_extra: Mapping[str, Any] | None = None,
    *,
    server: str = SERVER,
    db: str = "shop",
    ts_ms: int = BASE_TS_MS,
    transaction: Mapping[str, Any] | None = None,
    lsn: int = 24_023_128,
    tx_id: int = 555,
) -> dict[str, Any]:
    source = source_block(
        table, schema, source_extra, server=server, db=db, ts_ms=ts_ms, snapshot=op == "r", lsn=lsn, tx_id=tx_id
    )
    now = ts_ms + 37
    return {
        "before": None if before is None else dict(before),
        "after": None if after is None else dict(after),
        "source": source,
        "op": op,
        "ts_ms": now,
        "ts_us": now * 1_000 + 512,
        "ts_ns": (now * 1_000 + 512) * 1_000 + 77,
        "transaction": None if transaction is None else dict(transaction),
    }


def key_schema(
    key_fields: Sequence[Mapping[str, Any]],
    table: str = "customers",
    schema: str | None = "public",
    *,
    server: str = SERVER,
    db: str = "shop",
) -> dict[str, Any]:
    return {
        "type": "struct",
        "fields": [dict(f) for f in key_fields],
        "optional": False,
        "name": f"{struct_name(table, schema, server, db)}.Key",
    }


def key(
    key_fields: Sequence[Mapping[str, Any]],
    values: Mapping[str, Any],
    table: str = "customers",
    schema: str | None = "public",
    with_schema: bool = True,
    *,
    server: str = SERVER,
    db: str = "shop",
) -> bytes:
    """The record key: a struct of the primary key columns named ``<server>.<schema>.<table>.Key``."""
    if not with_schema:
        return dumps(dict(values))
    return dumps({"schema": key_schema(key_fields, table, schema, server=server, db=db), "payload": dict(values)})


# -- metadata events ----------------------------------------------------------------------------------

HEARTBEAT_SCHEMA = {
    "type": "struct",
    "fields": [col("ts_ms", "int64", False)],
    "optional": False,
    "name": "io.debezium.connector.common.Heartbeat",
}
HEARTBEAT_KEY_SCHEMA = {
    "type": "struct",
    "fields": [col("serverName", "string", False)],
    "optional": False,
    "name": "io.debezium.connector.common.ServerNameKey",
}


def heartbeat(ts_ms: int = BASE_TS_MS, with_schema: bool = True) -> tuple[bytes, bytes]:
    """(key, value) of a heartbeat record (topic ``__debezium-heartbeat.<server>``)."""
    if not with_schema:
        return dumps({"serverName": SERVER}), dumps({"ts_ms": ts_ms})
    return (
        dumps({"schema": HEARTBEAT_KEY_SCHEMA, "payload": {"serverName": SERVER}}),
        dumps({"schema": HEARTBEAT_SCHEMA, "payload": {"ts_ms": ts_ms}}),
    )


TRANSACTION_SCHEMA = {
    "type": "struct",
    "fields": [
        col("status", "string", False),
        col("id", "string", False),
        col("event_count", "int64", True),
        {
            "type": "array",
            "items": {
                "type": "struct",
                "fields": [col("data_collection", "string", False), col("event_count", "int64", False)],
                "optional": False,
            },
            "optional": True,
            "field": "data_collections",
        },
        col("ts_ms", "int64", False),
    ],
    "optional": False,
    "name": "io.debezium.connector.common.TransactionMetadataValue",
    "version": 1,
}
TRANSACTION_KEY_SCHEMA = {
    "type": "struct",
    "fields": [col("id", "string", False)],
    "optional": False,
    "name": "io.debezium.connector.common.TransactionMetadataKey",
}


def transaction_event(
    status: str = "BEGIN",
    tx: str = "571:53195829",
    collections: Sequence[tuple[str, int]] | None = None,
    ts_ms: int = BASE_TS_MS,
    with_schema: bool = True,
) -> tuple[bytes, bytes]:
    """(key, value) of a transaction metadata record (topic ``<server>.transaction``)."""
    payload: dict[str, Any] = {
        "status": status,
        "id": tx,
        "event_count": None if collections is None else sum(n for _, n in collections),
        "data_collections": None
        if collections is None
        else [{"data_collection": c, "event_count": n} for c, n in collections],
        "ts_ms": ts_ms,
    }
    if not with_schema:
        return dumps({"id": tx}), dumps(payload)
    return (
        dumps({"schema": TRANSACTION_KEY_SCHEMA, "payload": {"id": tx}}),
        dumps({"schema": TRANSACTION_SCHEMA, "payload": payload}),
    )


def schema_change_event(ddl: str, table: str = "customers", db: str = "shop", with_schema: bool = True) -> bytes:
    """A MySQL schema-change event value (topic ``<server>``)."""
    payload = {
        "source": source_block(table, None, db=db),
        "ts_ms": BASE_TS_MS + 5,
        "databaseName": db,
        "schemaName": None,
        "ddl": ddl,
        "tableChanges": [
            {
                "type": "ALTER",
                "id": f'"{db}"."{table}"',
                "table": {
                    "defaultCharsetName": "utf8mb4",
                    "primaryKeyColumnNames": ["id"],
                    "columns": [
                        {"name": "id", "jdbcType": 4, "typeName": "INT", "typeExpression": "INT", "length": None,
                         "scale": None, "position": 1, "optional": False, "autoIncremented": True, "generated": True},
                    ],
                },
            }
        ],
    }
    if not with_schema:
        return dumps(payload)
    schema = {
        "type": "struct",
        "fields": [
            _source_schema("mysql", {}),
            col("ts_ms", "int64", False),
            col("databaseName", "string", True),
            col("schemaName", "string", True),
            col("ddl", "string", True),
            {
                "type": "array",
                "items": {"type": "struct", "fields": [col("type", "string", False), col("id", "string", False),
                                                        col("table", "string", True)],
                          "optional": False, "name": "io.debezium.connector.schema.Change"},
                "optional": False,
                "field": "tableChanges",
            },
        ],
        "optional": False,
        "name": "io.debezium.connector.mysql.SchemaChangeValue",
    }
    return dumps({"schema": schema, "payload": payload})


# -- the type catalogue ------------------------------------------------------------------------------

KEEP = {"strategy": "keep", "approved_by": "dpo@example.com", "reason": "not personal data"}


@dataclass(frozen=True)
class ColumnDef:
    """One column type with realistic samples and its natural masking strategy.

    ``samples`` are two encoded values (the create's, then the update's). ``schemaless`` says what
    masking the same value without a schema gives: "valid" (the output still fits the real column
    type), "null" (redact without a schema gives null, as documented), "blocked" (the strategy does
    not apply to the JSON type, so the record is blocked), "rejected" (the strategy applies to the JSON
    type but cannot read this value as it, so the record is blocked) or "lossy" (masked, but nothing
    keeps the semantic type that only the schema names).
    """

    id: str
    schema: dict[str, Any]
    samples: tuple[Any, Any]
    strategy: dict[str, Any]
    schemaless: str = "valid"
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def field(self, name: str) -> dict[str, Any]:
        return with_name(self.schema, name)

    @property
    def optional(self) -> bool:
        return bool(self.schema.get("optional", False))

    @property
    def keeps_value(self) -> bool:
        return bool(self.strategy["strategy"] == "keep")


def _t(s: str) -> dt.datetime:
    return dt.datetime.fromisoformat(s)


_DECIMAL_PARAMS = {"scale": "2", "connect.decimal.precision": "10"}
_POINT = {
    "type": "struct",
    "fields": [
        col("x", "float64", False),
        col("y", "float64", False),
        col("wkb", "bytes", True),
        col("srid", "int32", True),
    ],
    "optional": True,
    "name": "io.debezium.data.geometry.Point",
    "version": 1,
    "doc": "Geometry (POINT)",
}
def _source_typed(source_type: str, optional: bool) -> dict[str, Any]:
    """A string column as Debezium sends it with ``column.propagate.source.type`` on."""
    return {"type": "string", "optional": optional, "parameters": {"__debezium.source.column.type": source_type}}


_ADDRESS_STRUCT = {
    "type": "struct",
    "fields": [col("street", "string", False), col("city", "string", False), col("zip", "string", True)],
    "optional": False,
    "name": "shop.address_t",
}

ALL_TYPES: tuple[ColumnDef, ...] = (
    # -- plain Connect types
    ColumnDef("int8", {"type": "int8", "optional": False}, (42, -17), {"strategy": "tokenize"}),
    ColumnDef("int16", {"type": "int16", "optional": False}, (37, 64), {"strategy": "bucket", "step": 10}),
    ColumnDef("int16_fp", {"type": "int16", "optional": True}, (31_544, -1_207),
              {"strategy": "format-preserve"}),
    ColumnDef("int32", {"type": "int32", "optional": False}, (1_004, 70_001), {"strategy": "tokenize"}),
    ColumnDef("int64", {"type": "int64", "optional": False}, (9_007_199_254_740_993, 1_234_567_890_123),
              {"strategy": "hash"}),
    ColumnDef("int64_tok", {"type": "int64", "optional": True}, (2**63 - 1, -(2**63)), {"strategy": "tokenize"}),
    ColumnDef("float32", {"type": "float32", "optional": False}, (12.5, 99.25), {"strategy": "bucket", "step": 10}),
    ColumnDef("float64", {"type": "float64", "optional": True}, (3.14159, -2.71828),
              {"strategy": "bucket", "step": "0.5"}),
    ColumnDef("boolean", {"type": "boolean", "optional": False}, (True, True), {"strategy": "redact"},
              schemaless="null"),
    ColumnDef("boolean_opt", {"type": "boolean", "optional": True}, (True, False), {"strategy": "redact"},
              schemaless="null"),
    ColumnDef("string_name", {"type": "string", "optional": False}, ("Anne Kretchmar", "Anne-Marie Kretchmar"),
              {"strategy": "replace", "kind": "full_name"}),
    ColumnDef("string_varchar", {"type": "string", "optional": False, "parameters": {
        "__debezium.source.column.type": "VARCHAR", "__debezium.source.column.length": "12"}},
              ("Kretchmar", "Walker"), {"strategy": "replace", "kind": "last_name"}, schemaless="lossy",
              note="without a schema the varchar length is unknown, a fake may be longer"),
    ColumnDef("string_email", {"type": "string", "optional": False}, ("annek@noanswer.org", "anne.k@example.net"),
              {"strategy": "format-preserve"}),
    ColumnDef("string_code", {"type": "string", "optional": False}, ("AB-1234-xy", "ZZ-0001-aa"),
              {"strategy": "tokenize"}),
    ColumnDef("string_ssn", {"type": "string", "optional": True}, ("123-45-6789", "987-65-4321"),
              {"strategy": "hash", "length": 16}),
    ColumnDef("string_note", {"type": "string", "optional": True}, ("call after 6pm, ask for Anne", "VIP"),
              {"strategy": "redact"}, schemaless="null"),
    ColumnDef("string_note_nn", {"type": "string", "optional": False}, ("allergic to nuts", "prefers email"),
              {"strategy": "redact"}, schemaless="null"),
    ColumnDef("bytes", {"type": "bytes", "optional": False}, (b64(b"\x00\x01secret"), b64(b"\xde\xad\xbe\xef")),
              {"strategy": "tokenize"}),
    ColumnDef("bytes_hash", {"type": "bytes", "optional": True}, (b64(b"%PDF-1.7 scan"), b64(b"\x89PNG\r\n")),
              {"strategy": "hash", "length": 16}, schemaless="lossy",
              note="without a schema the base64 text is hashed as a string: hex, not base64 of 16 bytes"),
    ColumnDef("struct_point", _POINT, ({"x": 13.405, "y": 52.52, "wkb": b64(b"\x01\x01\x00\x00\x00"), "srid": 4326},
                                       {"x": 2.3522, "y": 48.8566, "wkb": None, "srid": None}),
              {"strategy": "redact"}, schemaless="null"),
    ColumnDef("struct_keep", _ADDRESS_STRUCT, ({"street": "1 Main St", "city": "Springfield", "zip": None},
                                               {"street": "2 Elm St", "city": "Shelbyville", "zip": "49007"}),
              KEEP),
    ColumnDef("array_string", {"type": "array", "items": {"type": "string", "optional": True}, "optional": True},
              (["vip", "newsletter"], ["vip", None, "B2B"]), {"strategy": "tokenize"}),
    ColumnDef("array_redact", {"type": "array", "items": {"type": "string", "optional": True}, "optional": True},
              (["+1 555 0100", "+1 555 0199"], ["+44 20 7946 0018"]), {"strategy": "redact"}, schemaless="null"),
    ColumnDef("array_redact_nn", {"type": "array", "items": {"type": "string", "optional": False},
                                  "optional": False},
              (["anne@home.example"], ["anne@work.example", "a.k@example.org"]), {"strategy": "redact"},
              schemaless="null"),
    ColumnDef("map", {"type": "map", "keys": {"type": "string", "optional": False},
                      "values": {"type": "string", "optional": True}, "optional": False},
              ({"owner": "Anne Kretchmar", "color": "red"}, {"owner": "Anne", "pin": "0420"}), {"strategy": "redact"},
              schemaless="null"),
    # -- logical types
    ColumnDef("decimal", {"type": "bytes", "optional": False, "name": "org.apache.kafka.connect.data.Decimal",
                          "version": 1, "parameters": _DECIMAL_PARAMS},
              (decimal_bytes("1234.56", 2), decimal_bytes("-87.65", 2)), {"strategy": "bucket", "step": 100},
              schemaless="rejected", note="without a schema the base64 text is a string, and not numeric text"),
    ColumnDef("decimal_fp", {"type": "bytes", "optional": True, "name": "org.apache.kafka.connect.data.Decimal",
                             "version": 1, "parameters": _DECIMAL_PARAMS},
              (decimal_bytes("98765.43", 2), decimal_bytes("-0.07", 2)), {"strategy": "format-preserve"},
              schemaless="lossy", note="without a schema the base64 text is masked as a string"),
    ColumnDef("decimal_precision_edge", {"type": "bytes", "optional": False,
                                         "name": "org.apache.kafka.connect.data.Decimal", "version": 1,
                                         "parameters": {"scale": "2", "connect.decimal.precision": "4"}},
              (decimal_bytes("-99.95", 2), decimal_bytes("-42.10", 2)), {"strategy": "bucket", "step": 100},
              schemaless="rejected", note="numeric(4,2): the band floor -100.00 needs 5 digits"),
    ColumnDef("decimal_string", {"type": "string", "optional": True}, ("1234.56", "-87.65"),
              {"strategy": "bucket", "step": 100}, note="PostgreSQL numeric with decimal.handling.mode=string"),
    ColumnDef("variable_decimal", {"type": "struct", "fields": [col("scale", "int32", False),
                                                               col("value", "bytes", False)],
                                   "optional": True, "name": "io.debezium.data.VariableScaleDecimal", "version": 1,
                                   "doc": "Variable scaled decimal"},
              (variable_decimal("123.456"), variable_decimal("-7.5")), {"strategy": "bucket", "step": 10},
              schemaless="blocked"),
    ColumnDef("dbz_date", {"type": "int32", "optional": True, "name": "io.debezium.time.Date", "version": 1},
              (days(dt.date(1984, 7, 12)), days(dt.date(2001, 1, 31))),
              {"strategy": "shift", "entity": "id", "max_days": 90}, schemaless="blocked"),
    ColumnDef("dbz_time", {"type": "int32", "optional": False, "name": "io.debezium.time.Time", "version": 1},
              (time_millis(dt.time(10, 30)), time_millis(dt.time(12, 34, 56, 789_000))), {"strategy": "redact"},
              schemaless="null"),
    ColumnDef("dbz_micro_time", {"type": "int64", "optional": True, "name": "io.debezium.time.MicroTime",
                                 "version": 1},
              (time_micros(dt.time(7, 15, 0, 250_000)), time_micros(dt.time(23, 59, 59, 999_999))),
              {"strategy": "redact"}, schemaless="null"),
    ColumnDef("dbz_time_keep", {"type": "int64", "optional": False, "name": "io.debezium.time.MicroTime",
                                "version": 1},
              (time_micros(dt.time(9, 0)), time_micros(dt.time(17, 30))), KEEP),
    ColumnDef("dbz_timestamp", {"type": "int64", "optional": False, "name": "io.debezium.time.Timestamp",
                                "version": 1},
              (millis(_t("2024-03-05T10:15:30.123")), millis(_t("2024-03-06T08:00:00"))),
              {"strategy": "shift", "entity": "id", "max_days": 90}, schemaless="blocked"),
    ColumnDef("dbz_micro_timestamp", {"type": "int64", "optional": False, "name": "io.debezium.time.MicroTimestamp",
                                      "version": 1},
              (micros(_t("2024-03-05T10:15:30.123456")), micros(_t("1999-12-31T23:59:59.999999"))),
              {"strategy": "shift", "entity": "id", "max_days": 90}, schemaless="blocked"),
    ColumnDef("dbz_nano_timestamp", {"type": "int64", "optional": True, "name": "io.debezium.time.NanoTimestamp",
                                     "version": 1},
              (nanos(_t("2024-03-05T10:15:30.123456")) + 789, nanos(_t("2010-10-10T10:10:10"))),
              {"strategy": "shift", "entity": "id", "max_days": 90}, schemaless="blocked"),
    ColumnDef("dbz_zoned_timestamp", {"type": "string", "optional": False,
                                      "name": "io.debezium.time.ZonedTimestamp", "version": 1},
              ("2024-03-05T10:15:30.123456Z", "2024-03-05T10:15:30+02:00"),
              {"strategy": "shift", "entity": "id", "max_days": 90}),
    ColumnDef("connect_date", {"type": "int32", "optional": False, "name": "org.apache.kafka.connect.data.Date",
                               "version": 1},
              (days(dt.date(1990, 2, 28)), days(dt.date(2024, 2, 29))),
              {"strategy": "shift", "entity": "id", "max_days": 90}, schemaless="blocked"),
    ColumnDef("connect_timestamp", {"type": "int64", "optional": True,
                                    "name": "org.apache.kafka.connect.data.Timestamp", "version": 1},
              (millis(_t("2023-11-05T01:30:00")), millis(_t("2024-06-30T23:59:59.999"))),
              {"strategy": "shift", "entity": "id", "max_days": 90}, schemaless="blocked"),
    ColumnDef("connect_time", {"type": "int32", "optional": True, "name": "org.apache.kafka.connect.data.Time",
                               "version": 1},
              (time_millis(dt.time(18, 45)), time_millis(dt.time(6, 5, 4))), {"strategy": "redact"},
              schemaless="null"),
    # a uuid keeps its type without a schema too: its shape says what it is
    ColumnDef("uuid", {"type": "string", "optional": False, "name": "io.debezium.data.Uuid", "version": 1},
              (str(uuid_.UUID("6f1c2a9e-3b7d-4c1a-9e2f-0a1b2c3d4e5f")), "0195f3a4-7c1e-7d2b-8a9f-3c4d5e6f7a8b"),
              {"strategy": "tokenize"}),
    ColumnDef("uuid_hash", {"type": "string", "optional": True, "name": "io.debezium.data.Uuid", "version": 1},
              ("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "123e4567-e89b-12d3-a456-426614174000"),
              {"strategy": "hash"}),
    # string columns whose source type Debezium propagates (column.propagate.source.type)
    ColumnDef("uniqueidentifier", _source_typed("UNIQUEIDENTIFIER", False),
              ("6F9619FF-8B86-D011-B42D-00C04FC964FF", "0E984725-C51C-4BF4-9960-E1C80E27ABA0"),
              {"strategy": "tokenize"}),
    ColumnDef("inet", _source_typed("INET", False), ("192.168.1.17", "2001:db8::17"), {"strategy": "tokenize"}),
    ColumnDef("inet_prefix_hash", _source_typed("INET", True), ("192.168.1.17/24", "2001:db8::17/64"),
              {"strategy": "hash"}),
    ColumnDef("cidr", _source_typed("CIDR", False), ("10.1.0.0/16", "2001:db8:40::/48"),
              {"strategy": "format-preserve"}),
    ColumnDef("macaddr", _source_typed("MACADDR", True), ("08:00:2b:01:02:03", "08:00:2b:01:02:04"),
              {"strategy": "hash"}),
    ColumnDef("macaddr8_redact", _source_typed("MACADDR8", False),
              ("08:00:2b:01:02:03:04:05", "08:00:2b:ff:fe:01:02:03"), {"strategy": "redact"}, schemaless="null"),
    ColumnDef("json", {"type": "string", "optional": True, "name": "io.debezium.data.Json", "version": 1},
              ('{"email": "annek@noanswer.org", "marketing": true}', '[1, 2, {"phone": "+1 555 0100"}]'),
              {"strategy": "hash"}, schemaless="lossy", note="without a schema the hash is hex text, not JSON"),
    ColumnDef("json_redact", {"type": "string", "optional": False, "name": "io.debezium.data.Json", "version": 1},
              ('{"ssn": "123-45-6789"}', '{"ssn": null, "dob": "1984-07-12"}'), {"strategy": "redact"},
              schemaless="null"),
    ColumnDef("enum", {"type": "string", "optional": False, "name": "io.debezium.data.Enum", "version": 1,
                       "parameters": {"allowed": "bronze,silver,gold,platinum"}},
              ("gold", "silver"), {"strategy": "tokenize"}, schemaless="lossy",
              note="without a schema `allowed` is unknown: the enum label is tokenized as text"),
    ColumnDef("enum_hash", {"type": "string", "optional": True, "name": "io.debezium.data.Enum", "version": 1,
                            "parameters": {"allowed": "north,south,east,west,central"}},
              ("north", "central"), {"strategy": "hash"}, schemaless="lossy",
              note="without a schema `allowed` is unknown: the label is hashed to hex text"),
    ColumnDef("enum_redact", {"type": "string", "optional": False, "name": "io.debezium.data.Enum", "version": 1,
                              "parameters": {"allowed": "pending,active,closed"}},
              ("active", "closed"), {"strategy": "redact"}, schemaless="null"),
    ColumnDef("year", {"type": "int32", "optional": True, "name": "io.debezium.time.Year", "version": 1},
              (1984, 2001), {"strategy": "redact"}, schemaless="null"),
    ColumnDef("year_bucket", {"type": "int32", "optional": False, "name": "io.debezium.time.Year", "version": 1},
              (1984, 2001), {"strategy": "bucket", "step": 10}),
)

TYPES_BY_ID = {c.id: c for c in ALL_TYPES}
assert len(TYPES_BY_ID) == len(ALL_TYPES), "duplicate ColumnDef id"
