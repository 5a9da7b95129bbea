"""streammask.codec.avro_schema: Avro <-> the Connect data model, as Confluent's AvroData translates them.

Expected Avro JSON is what AvroData (confluentinc/schema-registry avro-data/.../AvroData.java, commit 794611bd)
writes, taken from its source and its tests (AvroDataTest), and from Debezium's own assertion of AvroData's output
(ToAvroMongoDataConverterTest.shouldCreateSchemaWithNestedObject). Every produced schema must parse with fastavro,
and values must survive fastavro's schemaless writer and reader with the schema's logical types stripped.
"""

from __future__ import annotations

import base64
import copy
import io
import json
import math
import struct
from decimal import Decimal
from typing import Any

import events as ev
import fastavro
import orjson
import pytest
from helpers import fixtures_dir
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streammask.codec.avro_schema import (
    AvroMappingError,
    avro_datum_of,
    avro_schema_of,
    connect_payload_of,
    connect_schema_of,
    strip_logical_types,
)
from streammask.errors import DecodeError

DECIMAL = "org.apache.kafka.connect.data.Decimal"


# -- helpers ---------------------------------------------------------------------------------------------------


def compact(avro: Any) -> str:
    """The text Avro's Schema.toString gives (what the registry stores)."""
    return json.dumps(avro, separators=(",", ":"))


def through_fastavro(datum: Any, avro: Any) -> Any:
    """Write with fastavro's schemaless writer and read back, both with the logical types stripped."""
    parsed = fastavro.parse_schema(strip_logical_types(avro))
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, parsed, datum)
    buf.seek(0)
    return fastavro.schemaless_reader(buf, parsed)


def round_trip(connect: dict[str, Any], payload: Any) -> Any:
    """payload -> Avro datum -> bytes -> datum -> payload, checking the schema round trip on the way."""
    avro = avro_schema_of(connect)
    fastavro.parse_schema(avro)  # the schema as registered, logical types included, parses too
    assert connect_schema_of(avro) == connect
    assert connect_schema_of(json.loads(compact(avro))) == connect
    return connect_payload_of(through_fastavro(avro_datum_of(payload, connect), avro), connect)


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def minimal(unscaled: int) -> bytes:
    """Java's BigInteger.toByteArray, as Debezium encodes a Decimal's unscaled value."""
    return unscaled.to_bytes(((unscaled if unscaled >= 0 else ~unscaled).bit_length() + 8) // 8, "big", signed=True)


def struct_of(*fields: dict[str, Any], name: str | None = "t.Row", **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "struct", "fields": list(fields), "optional": False}
    if name is not None:
        out["name"] = name
    out.update(extra)
    return out


def field_of(avro: Any, *names: str) -> dict[str, Any]:
    """An Avro record field, following nested record fields by name."""
    record = avro
    found: dict[str, Any] = next(f for f in record["fields"] if f["name"] == names[0])
    for name in names[1:]:
        kind = found["type"]
        record = kind if isinstance(kind, dict) else next(b for b in kind if isinstance(b, dict))
        found = next(f for f in record["fields"] if f["name"] == name)
    return found


def fixture(name: str) -> Any:
    return orjson.loads((fixtures_dir() / name).read_bytes())


# -- the Debezium fixtures ----------------------------------------------------------------------------------------

CREATE = fixture("postgres-create.json")
VALUE_SCHEMA: dict[str, Any] = CREATE["schema"]
# The documentation's schema leaves out source.sequence, which its payloads carry and Debezium declares
# (SchemaFactory.sourceInfoSchemaBuilder: sequence, an optional string, after db).
VALUE_SCHEMA_WITH_SEQUENCE = copy.deepcopy(VALUE_SCHEMA)
_source_fields = VALUE_SCHEMA_WITH_SEQUENCE["fields"][2]["fields"]
_source_fields.insert(
    next(i for i, f in enumerate(_source_fields) if f["field"] == "db") + 1,
    {"type": "string", "optional": True, "field": "sequence"},
)
KEY_SCHEMA = struct_of(
    {"type": "int32", "optional": False, "field": "id"}, name="PostgreSQL_server.inventory.customers.Key"
)
# REPLICA IDENTITY DEFAULT: an update's or delete's `before` holds the key column only, so the other columns are
# null there; the documentation's (elided) schema for those events must let them be.
VALUE_SCHEMA_NULLABLE_ROW = copy.deepcopy(VALUE_SCHEMA_WITH_SEQUENCE)
for _row in VALUE_SCHEMA_NULLABLE_ROW["fields"][:2]:
    for _column in _row["fields"][1:]:
        _column["optional"] = True
# PostgresSchemaFactory.logicalDecodingMessageMonitorValueSchema, with the ts_us / ts_ns the payload carries.
MESSAGE_SCHEMA = struct_of(
    {"type": "string", "optional": False, "field": "op"},
    {"type": "int64", "optional": True, "field": "ts_ms"},
    {"type": "int64", "optional": True, "field": "ts_us"},
    {"type": "int64", "optional": True, "field": "ts_ns"},
    {**VALUE_SCHEMA_WITH_SEQUENCE["fields"][2]},
    {"type": "struct", "fields": [ev.col("id", "string", False), ev.col("total_order", "int64", False),
                                  ev.col("data_collection_order", "int64", False)],
     "optional": True, "name": "event.block", "version": 1, "field": "transaction"},  # transactionBlockSchema
    struct_of(
        {"type": "string", "optional": True, "field": "prefix"},
        {"type": "bytes", "optional": True, "field": "content"},
        name="io.debezium.connector.postgresql.Message", version=1, field="message",
    ),
    name="io.debezium.connector.postgresql.MessageValue", version=1,
)

FIXTURE_SCHEMAS = {
    "create value (as documented)": VALUE_SCHEMA,
    "value with source.sequence": VALUE_SCHEMA_WITH_SEQUENCE,
    "value with a nullable row": VALUE_SCHEMA_NULLABLE_ROW,
    "key": KEY_SCHEMA,
    "message value": MESSAGE_SCHEMA,
}
FIXTURE_PAYLOADS = [
    ("postgres-create.json", VALUE_SCHEMA_WITH_SEQUENCE),
    ("postgres-update.payload.json", VALUE_SCHEMA_NULLABLE_ROW),
    ("postgres-delete.payload.json", VALUE_SCHEMA_NULLABLE_ROW),
    ("postgres-truncate.payload.json", VALUE_SCHEMA_WITH_SEQUENCE),
    ("postgres-message.payload.json", MESSAGE_SCHEMA),
]


def test_the_fixture_files_are_the_ones_these_tests_cover() -> None:
    on_disk = {p.name for p in fixtures_dir().glob("*.json")}
    assert on_disk == {name for name, _ in FIXTURE_PAYLOADS}


@pytest.mark.parametrize("name", FIXTURE_SCHEMAS)
def test_every_fixture_schema_round_trips_through_avro(name: str) -> None:
    schema = FIXTURE_SCHEMAS[name]
    avro = avro_schema_of(schema)
    fastavro.parse_schema(avro)
    assert connect_schema_of(avro) == schema
    assert connect_schema_of(json.loads(compact(avro))) == schema


@pytest.mark.parametrize(("name", "schema"), FIXTURE_PAYLOADS, ids=[n for n, _ in FIXTURE_PAYLOADS])
def test_every_fixture_payload_round_trips_through_fastavro(name: str, schema: dict[str, Any]) -> None:
    doc = fixture(name)
    payload = doc["payload"] if "schema" in doc else doc
    assert round_trip(schema, payload) == with_every_field(payload, schema)


def with_every_field(payload: Any, schema: dict[str, Any]) -> Any:
    """The payload as JsonConverter writes it back: every declared struct field, null when absent."""
    if schema["type"] != "struct" or payload is None:
        return payload
    return {f["field"]: with_every_field(payload.get(f["field"]), f) for f in schema["fields"]}


def test_the_documented_create_schema_registers_as_avrodata_writes_it() -> None:
    assert compact(avro_schema_of(VALUE_SCHEMA)) == (
        '{"type":"record","name":"Envelope","namespace":"PostgreSQL_server.inventory.customers","fields":['
        '{"name":"before","type":["null",{"type":"record","name":"Value","fields":['
        '{"name":"id","type":"int"},{"name":"first_name","type":"string"},{"name":"last_name","type":"string"},'
        '{"name":"email","type":"string"}],"connect.name":"PostgreSQL_server.inventory.customers.Value"}],'
        '"default":null},'
        '{"name":"after","type":["null","Value"],"default":null},'
        '{"name":"source","type":{"type":"record","name":"Source","namespace":"io.debezium.connector.postgresql",'
        '"fields":[{"name":"version","type":"string"},{"name":"connector","type":"string"},'
        '{"name":"name","type":"string"},{"name":"ts_ms","type":"long"},{"name":"ts_us","type":"long"},'
        '{"name":"ts_ns","type":"long"},'
        '{"name":"snapshot","type":[{"type":"boolean","connect.default":false},"null"],"default":false},'
        '{"name":"db","type":"string"},{"name":"schema","type":"string"},{"name":"table","type":"string"},'
        '{"name":"txId","type":["null","long"],"default":null},{"name":"lsn","type":["null","long"],"default":null},'
        '{"name":"xmin","type":["null","long"],"default":null}],"connect.name":"io.debezium.connector.postgresql.Source"}},'
        '{"name":"op","type":"string"},{"name":"ts_ms","type":["null","long"],"default":null},'
        '{"name":"ts_us","type":["null","long"],"default":null},{"name":"ts_ns","type":["null","long"],"default":null}],'
        '"connect.name":"PostgreSQL_server.inventory.customers.Envelope"}'
    )


def test_a_payload_field_the_schema_does_not_declare_is_refused() -> None:
    # The documentation's create payload carries source.sequence, its schema does not declare it.
    with pytest.raises(AvroMappingError, match=r"^\$\.source\.sequence: a field the schema does not declare$"):
        avro_datum_of(CREATE["payload"], VALUE_SCHEMA)


def test_a_null_in_a_required_field_is_refused_with_its_path() -> None:
    with pytest.raises(AvroMappingError, match=r"^\$\.before\.first_name: null in a required string$"):
        avro_datum_of(fixture("postgres-update.payload.json"), VALUE_SCHEMA_WITH_SEQUENCE)


def test_the_mongodb_schema_debezium_asserts_is_printed_byte_for_byte() -> None:
    """Debezium's ToAvroMongoDataConverterTest.shouldCreateSchemaWithNestedObject (DBZ-650), AvroData's output."""
    def opt(name: str, ctype: str) -> dict[str, Any]:
        return {"type": ctype, "optional": True, "field": name}

    connect = struct_of(
        opt("_id", "int32"),
        {"type": "struct", "name": "complex.s1", "optional": True, "field": "s1",
         "fields": [opt("s1f1", "string"), opt("s1f2", "string")]},
        {"type": "struct", "name": "complex.s2", "optional": True, "field": "s2", "fields": [
            opt("s2f1", "string"),
            {"type": "struct", "name": "complex.s2.s2f2", "optional": True, "field": "s2f2",
             "fields": [opt("in1", "int32")]},
        ]},
        name="complex",
    )
    expected = (
        '{"type":"record","name":"complex","fields":['
        '{"name":"_id","type":["null","int"],"default":null},'
        '{"name":"s1","type":["null",{"type":"record","name":"s1","namespace":"complex","fields":['
        '{"name":"s1f1","type":["null","string"],"default":null},'
        '{"name":"s1f2","type":["null","string"],"default":null}],'
        '"connect.name":"complex.s1"}],"default":null},'
        '{"name":"s2","type":["null",{"type":"record","name":"s2","namespace":"complex","fields":['
        '{"name":"s2f1","type":["null","string"],"default":null},'
        '{"name":"s2f2","type":["null",{"type":"record","name":"s2f2","namespace":"complex.s2","fields":['
        '{"name":"in1","type":["null","int"],"default":null}],'
        '"connect.name":"complex.s2.s2f2"}],"default":null}],'
        '"connect.name":"complex.s2"}],"default":null}],'
        '"connect.name":"complex"}'
    )
    assert compact(avro_schema_of(connect)) == expected
    assert connect_schema_of(json.loads(expected)) == connect


# -- the events test suite's schemas: every Connect/Debezium type the masker handles ---------------------------------

ALL_TYPES_ROW = [c.field(c.id) for c in ev.ALL_TYPES]
ALL_TYPES_ENVELOPE = ev.envelope_schema(ALL_TYPES_ROW)


def test_the_all_types_envelope_round_trips_with_both_samples_of_every_type() -> None:
    before = {c.id: c.samples[0] for c in ev.ALL_TYPES}
    after = {c.id: c.samples[1] for c in ev.ALL_TYPES}
    payload = ev.envelope_payload(before, after, "u")
    assert round_trip(ALL_TYPES_ENVELOPE, payload) == payload


@pytest.mark.parametrize(
    "schema",
    [ev.TRANSACTION_SCHEMA, ev.TRANSACTION_KEY_SCHEMA, ev.HEARTBEAT_SCHEMA, ev.HEARTBEAT_KEY_SCHEMA,
     ev.key_schema([ev.col("id", "int32", False), ev.col("region", "string", False)])],
    ids=["transaction", "transaction key", "heartbeat", "heartbeat key", "composite key"],
)
def test_debezium_metadata_schemas_round_trip(schema: dict[str, Any]) -> None:
    assert connect_schema_of(avro_schema_of(schema)) == schema


def test_metadata_event_payloads_round_trip() -> None:
    _, value = ev.transaction_event("END", collections=[("shop.public.customers", 2), ("shop.public.orders", 1)])
    doc = orjson.loads(value)
    assert round_trip(doc["schema"], doc["payload"]) == doc["payload"]
    doc = orjson.loads(ev.schema_change_event("ALTER TABLE customers ADD COLUMN x INT"))
    payload = copy.deepcopy(doc["payload"])
    for change in payload["tableChanges"]:  # the test schema declares table as a string
        change["table"] = None
    assert round_trip(doc["schema"], payload) == payload


def test_fastavro_reads_the_decimal_bytes_as_the_decimal_with_logical_types_kept() -> None:
    connect = struct_of(ev.TYPES_BY_ID["decimal"].field("amount"), ev.TYPES_BY_ID["connect_date"].field("day"))
    avro = avro_schema_of(connect)
    encoded = ev.decimal_bytes("-87.65", 2)
    datum = avro_datum_of({"amount": encoded, "day": 19_000}, connect)
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, fastavro.parse_schema(strip_logical_types(avro)), datum)
    buf.seek(0)
    read = fastavro.schemaless_reader(buf, fastavro.parse_schema(avro))
    assert read["amount"] == Decimal("-87.65")
    assert str(read["day"]) == "2022-01-08"


def test_current_debezium_source_block_registers_its_snapshot_enum_with_default() -> None:
    """SchemaFactory.snapshotRecordSchema: io.debezium.data.Enum, optional, default "false"."""
    snapshot = {"type": "string", "optional": True, "name": "io.debezium.data.Enum", "version": 1,
                "parameters": {"allowed": "true,first,first_in_data_collection,last_in_data_collection,last,false,"
                                          "incremental"},
                "default": "false", "field": "snapshot"}
    source = struct_of(ev.col("version", "string", False), snapshot, ev.col("sequence", "string", True),
                       name="io.debezium.connector.postgresql.Source", version=1)
    avro = avro_schema_of(source)
    assert field_of(avro, "snapshot") == {
        "name": "snapshot",
        "type": [{"type": "string", "connect.version": 1,
                  "connect.parameters": {"allowed": snapshot["parameters"]["allowed"]},
                  "connect.default": "false", "connect.name": "io.debezium.data.Enum"}, "null"],
        "default": "false",
    }
    assert avro["connect.version"] == 1
    assert connect_schema_of(avro) == source
    assert round_trip(source, {"version": "3.2.0.Final", "snapshot": "last", "sequence": None}) == {
        "version": "3.2.0.Final", "snapshot": "last", "sequence": None}
    # A null where the schema has a default is the default, as JsonConverter and Connect's Struct give it.
    assert avro_datum_of({"version": "v", "snapshot": None, "sequence": None}, source)["snapshot"] == "false"


# -- one rule at a time, with the Avro JSON AvroData writes ----------------------------------------------------------


def only_field(connect_field: dict[str, Any]) -> dict[str, Any]:
    """The Avro field of a one-field struct, after checking the struct round trips."""
    connect = struct_of(connect_field)
    avro = avro_schema_of(connect)
    assert isinstance(avro, dict)
    fastavro.parse_schema(avro)
    assert connect_schema_of(avro) == connect
    field: dict[str, Any] = avro["fields"][0]
    return field


@pytest.mark.parametrize(
    ("ctype", "avro_type"),
    [("int8", {"type": "int", "connect.type": "int8"}), ("int16", {"type": "int", "connect.type": "int16"}),
     ("int32", "int"), ("int64", "long"), ("float32", "float"), ("float64", "double"), ("boolean", "boolean"),
     ("string", "string"), ("bytes", "bytes")],
)
def test_primitive_types(ctype: str, avro_type: Any) -> None:
    """L835-L857 and L1034-L1036 (connect.type for the widths Avro lacks)."""
    assert only_field({"type": ctype, "optional": False, "field": "c"}) == {"name": "c", "type": avro_type}


def test_optional_field_is_a_union_with_null_first_and_a_null_default() -> None:
    assert only_field({"type": "string", "optional": True, "field": "c"}) == {
        "name": "c", "type": ["null", "string"], "default": None}


def test_optional_field_with_a_default_puts_the_type_first() -> None:
    """maybeMakeOptional (L1134-L1150): Avro takes a union field's default from its first branch."""
    assert only_field({"type": "int16", "optional": True, "default": 7, "field": "c"}) == {
        "name": "c", "type": [{"type": "int", "connect.default": 7, "connect.type": "int16"}, "null"], "default": 7}


def test_required_field_with_a_default() -> None:
    assert only_field({"type": "string", "optional": False, "default": "n/a", "field": "c"}) == {
        "name": "c", "type": {"type": "string", "connect.default": "n/a"}, "default": "n/a"}


def test_bytes_default_is_iso_8859_1_text() -> None:
    """defaultValueFromConnect (L1399-L1406): bytes as a string of ISO-8859-1 characters."""
    encoded = base64.b64encode(b"\x00\xfffoo").decode()
    assert only_field({"type": "bytes", "optional": False, "default": encoded, "field": "c"}) == {
        "name": "c", "type": {"type": "bytes", "connect.default": "\x00\xfffoo"}, "default": "\x00\xfffoo"}


def test_array_and_string_map_defaults() -> None:
    array = {"type": "array", "items": {"type": "string", "optional": False}, "optional": False,
             "default": ["a", "b"], "field": "tags"}
    assert only_field(array)["default"] == ["a", "b"]
    string_map = {"type": "map", "keys": {"type": "string", "optional": False},
                  "values": {"type": "int32", "optional": False}, "optional": False, "default": {"k": 1}, "field": "m"}
    assert only_field(string_map)["type"] == {"type": "map", "values": "int", "connect.default": {"k": 1}}


def test_a_non_string_map_default_is_dropped_as_avrodata_drops_it() -> None:
    """AvroData writes [[key, value]] pairs (L1423-L1434), which no Avro array of records accepts as a default:
    the field gets none (L1252-L1264) and reading it back ignores the connect.default (L2175-L2181)."""
    connect = struct_of({"type": "map", "keys": {"type": "int32", "optional": False},
                         "values": {"type": "int32", "optional": False}, "optional": False, "default": [[1, 2]],
                         "field": "m"})
    avro = avro_schema_of(connect)
    assert field_of(avro, "m") == {"name": "m", "type": {
        "type": "array",
        "items": {"type": "record", "name": "MapEntry", "namespace": "io.confluent.connect.avro",
                  "fields": [{"name": "key", "type": "int"}, {"name": "value", "type": "int"}]},
        "connect.default": [[1, 2]]}}
    back = connect_schema_of(avro)
    assert "default" not in back["fields"][0]


def test_optional_struct_with_a_default_keeps_it_on_the_record() -> None:
    """An optional struct is [null, record] whatever its default (L972-L977); the record's connect.default
    brings the default back (L2169-L2181), the union field gets none."""
    point = {"type": "struct", "name": "t.Point", "optional": True, "default": {"x": 1}, "field": "p",
             "fields": [{"type": "int32", "optional": False, "field": "x"}]}
    field = only_field(point)
    assert "default" not in field
    assert field["type"][0] == "null"
    assert field["type"][1]["connect.default"] == {"x": 1}


def test_decimal_with_precision() -> None:
    """L900-L912, L1042-L1065, L1088-L1092: scale and precision properties, logicalType decimal, the Connect
    parameters kept in connect.parameters."""
    params = {"scale": "2", "connect.decimal.precision": "10"}
    assert only_field({"type": "bytes", "optional": False, "name": DECIMAL, "version": 1, "parameters": params,
                       "field": "c"})["type"] == {
        "type": "bytes", "scale": 2, "precision": 10, "connect.version": 1, "connect.parameters": params,
        "connect.name": DECIMAL, "logicalType": "decimal"}


def test_decimal_without_precision_gets_avrodata_s_default_64() -> None:
    assert only_field({"type": "bytes", "optional": True, "name": DECIMAL, "version": 1,
                       "parameters": {"scale": "5"}, "field": "c"})["type"] == ["null", {
        "type": "bytes", "scale": 5, "precision": 64, "connect.version": 1, "connect.parameters": {"scale": "5"},
        "connect.name": DECIMAL, "logicalType": "decimal"}]


def test_decimal_with_a_scale_above_its_precision_keeps_the_legacy_logical_type() -> None:
    """L1042-L1062, L1088-L1092: scale > precision skips LogicalTypes.decimal, but the legacy property is still written.
    fastavro refuses that logical type: such a schema parses only with its logical types stripped."""
    connect = struct_of({"type": "bytes", "optional": False, "name": DECIMAL, "version": 1,
                         "parameters": {"scale": "5", "connect.decimal.precision": "2"}, "field": "c"})
    avro = avro_schema_of(connect)
    assert (field_of(avro, "c")["type"]["scale"], field_of(avro, "c")["type"]["precision"]) == (5, 2)
    assert field_of(avro, "c")["type"]["logicalType"] == "decimal"
    assert connect_schema_of(avro) == connect
    with pytest.raises(fastavro.schema.SchemaParseException, match="scale"):
        fastavro.parse_schema(avro)
    assert through_fastavro(avro_datum_of({"c": b64(b"\x01")}, connect), avro) == {"c": b"\x01"}


def test_a_foreign_avro_decimal_becomes_a_connect_decimal() -> None:
    """L1893-L1916: precision kept as a parameter unless it is 64; scale defaults to 0."""
    assert connect_schema_of({"type": "bytes", "logicalType": "decimal", "precision": 10, "scale": 2}) == {
        "type": "bytes", "optional": False, "name": DECIMAL, "version": 1,
        "parameters": {"scale": "2", "connect.decimal.precision": "10"}}
    assert connect_schema_of({"type": "bytes", "logicalType": "decimal", "precision": 64}) == {
        "type": "bytes", "optional": False, "name": DECIMAL, "version": 1, "parameters": {"scale": "0"}}


@pytest.mark.parametrize(
    ("ctype", "name", "avro_type", "logical"),
    [("int32", "org.apache.kafka.connect.data.Date", "int", "date"),
     ("int32", "org.apache.kafka.connect.data.Time", "int", "time-millis"),
     ("int64", "org.apache.kafka.connect.data.Timestamp", "long", "timestamp-millis")],
)
def test_connect_logical_types(ctype: str, name: str, avro_type: str, logical: str) -> None:
    assert only_field({"type": ctype, "optional": False, "name": name, "version": 1, "field": "c"})["type"] == {
        "type": avro_type, "connect.version": 1, "connect.name": name, "logicalType": logical}
    assert connect_schema_of({"type": avro_type, "logicalType": logical}) == {
        "type": ctype, "optional": False, "name": name, "version": 1}


@pytest.mark.parametrize(
    ("ctype", "name", "avro_type"),
    [("int32", "io.debezium.time.Date", "int"), ("int64", "io.debezium.time.MicroTimestamp", "long"),
     ("int64", "io.debezium.time.NanoTime", "long"), ("string", "io.debezium.time.ZonedTimestamp", "string"),
     ("string", "io.debezium.data.Uuid", "string"), ("int32", "io.debezium.time.Year", "int")],
)
def test_debezium_semantic_types_are_named_plain_types(ctype: str, name: str, avro_type: str) -> None:
    assert only_field({"type": ctype, "optional": False, "name": name, "version": 1, "field": "c"})["type"] == {
        "type": avro_type, "connect.version": 1, "connect.name": name}


def test_debezium_enum_and_source_column_parameters_stay_in_connect_parameters() -> None:
    params = {"allowed": "pending,active,closed", "__debezium.source.column.type": "ENUM",
              "__debezium.source.column.length": "1"}
    assert only_field({"type": "string", "optional": False, "name": "io.debezium.data.Enum", "version": 1,
                       "parameters": params, "field": "c"})["type"] == {
        "type": "string", "connect.version": 1, "connect.parameters": params, "connect.name": "io.debezium.data.Enum"}


def test_variable_scale_decimal_is_a_record() -> None:
    connect = ev.TYPES_BY_ID["variable_decimal"].field("amount")
    assert only_field(connect) == {"name": "amount", "type": ["null", {
        "type": "record", "name": "VariableScaleDecimal", "namespace": "io.debezium.data",
        "fields": [{"name": "scale", "type": "int"}, {"name": "value", "type": "bytes"}],
        "connect.doc": "Variable scaled decimal", "connect.version": 1,
        "connect.name": "io.debezium.data.VariableScaleDecimal"}], "default": None}


def test_record_metadata() -> None:
    """AvroDataTest.testFromConnectRecordWithMetadata."""
    connect = struct_of({"type": "int32", "optional": False, "field": "int32"},
                        name="io.confluent.test.TestSchema", version=12, doc="doc")
    assert avro_schema_of(connect) == {
        "type": "record", "name": "TestSchema", "namespace": "io.confluent.test",
        "fields": [{"name": "int32", "type": "int"}],
        "connect.doc": "doc", "connect.version": 12, "connect.name": "io.confluent.test.TestSchema"}
    assert connect_schema_of(avro_schema_of(connect)) == connect


def test_unnamed_structs_are_connect_default_numbered_in_order() -> None:
    """AvroDataTest.testFromConnectStructsWithNullName: ConnectDefault, ConnectDefault2, ...; a struct met twice
    is referenced by name; the names do not come back."""
    inner = {"type": "struct", "optional": True, "fields": [{"type": "int64", "optional": False, "field": "value"}]}
    connect = struct_of({**inner, "field": "struct"},
                        {"type": "array", "items": inner, "optional": False, "field": "array"}, name=None)
    assert avro_schema_of(connect) == {
        "type": "record", "name": "ConnectDefault", "namespace": "io.confluent.connect.avro", "fields": [
            {"name": "struct", "type": ["null", {"type": "record", "name": "ConnectDefault2",
                                                 "fields": [{"name": "value", "type": "long"}]}], "default": None},
            {"name": "array", "type": {"type": "array", "items": ["null", "ConnectDefault2"]}},
        ]}
    assert connect_schema_of(avro_schema_of(connect)) == connect


def test_string_keyed_map_and_array() -> None:
    assert only_field({"type": "map", "keys": {"type": "string", "optional": False},
                       "values": {"type": "int32", "optional": True}, "optional": False, "field": "m"}) == {
        "name": "m", "type": {"type": "map", "values": ["null", "int"]}}
    assert only_field({"type": "array", "items": {"type": "string", "optional": False}, "optional": True,
                       "field": "a"}) == {"name": "a", "type": ["null", {"type": "array", "items": "string"}],
                                          "default": None}


def test_a_map_with_non_string_keys_is_an_array_of_map_entries() -> None:
    """AvroDataTest.testFromConnectMapWithNonStringKey; JsonConverter writes such a map as [key, value] pairs."""
    connect = struct_of({"type": "map", "keys": {"type": "int32", "optional": False},
                         "values": {"type": "int32", "optional": False}, "optional": False, "field": "m"})
    assert field_of(avro_schema_of(connect), "m")["type"] == {"type": "array", "items": {
        "type": "record", "name": "MapEntry", "namespace": "io.confluent.connect.avro",
        "fields": [{"name": "key", "type": "int"}, {"name": "value", "type": "int"}]}}
    payload = {"m": [[1, 10], [2, 20]]}
    assert avro_datum_of(payload, connect) == {"m": [{"key": 1, "value": 10}, {"key": 2, "value": 20}]}
    assert round_trip(connect, payload) == payload


def test_a_named_map_with_optional_string_keys() -> None:
    """AvroDataTest NAMED_MAP_SCHEMA / NAMED_AVRO_MAP_SCHEMA: the record takes the map's name and is marked
    connect.internal.type; the array carries connect.name. JsonConverter writes string keys as an object."""
    connect = {"type": "map", "keys": {"type": "string", "optional": True},
               "values": {"type": "int32", "optional": False}, "optional": False, "name": "foo.bar"}
    assert avro_schema_of(connect) == {"type": "array", "items": {
        "type": "record", "name": "bar", "namespace": "foo",
        "fields": [{"name": "key", "type": ["null", "string"], "default": None}, {"name": "value", "type": "int"}],
        "connect.internal.type": "MapEntry"}, "connect.name": "foo.bar"}
    assert connect_schema_of(avro_schema_of(connect)) == connect
    assert round_trip(connect, {"a": 1, "b": 2}) == {"a": 1, "b": 2}


def test_a_fixed_is_named_bytes_with_its_size() -> None:
    """AvroDataTest.testToConnectFixed; back to Avro as a fixed (L888-L897)."""
    avro = {"type": "fixed", "name": "sample", "size": 4}
    connect = {"type": "bytes", "optional": False, "name": "sample", "parameters": {"connect.fixed.size": "4"}}
    assert connect_schema_of(avro) == connect
    assert avro_schema_of(connect) == {"type": "fixed", "name": "sample", "size": 4,
                                       "connect.parameters": {"connect.fixed.size": "4"}, "connect.name": "sample"}
    assert round_trip(connect, base64.b64encode(b"foob").decode()) == base64.b64encode(b"foob").decode()
    with pytest.raises(AvroMappingError, match=r"^\$: 3 bytes for a fixed of 4$"):
        avro_datum_of(base64.b64encode(b"foo").decode(), connect)


def test_a_fixed_decimal_is_sign_extended_and_read_back_minimal() -> None:
    """padToFixedSize (L2428-L2442); the Connect value goes through BigDecimal, so JSON gets minimal bytes."""
    avro = {"type": "fixed", "name": "money", "size": 4, "logicalType": "decimal", "precision": 9, "scale": 2}
    connect = connect_schema_of(avro)
    assert connect == {"type": "bytes", "optional": False, "name": DECIMAL, "version": 1,
                       "parameters": {"scale": "2", "connect.decimal.precision": "9", "connect.fixed.size": "4"}}
    assert avro_datum_of(b64(b"\x80"), connect) == b"\xff\xff\xff\x80"  # -1.28
    assert avro_datum_of(b64(b"\xff\x80"), connect) == b"\xff\xff\xff\x80"
    assert connect_payload_of(b"\xff\xff\xff\x80", connect) == b64(b"\x80")
    assert connect_payload_of(b"\x00\x00\x00\x80", connect) == b64(b"\x00\x80")  # +1.28


def test_an_avro_enum_is_a_debezium_enum_string_carrying_its_symbols() -> None:
    """Deviation (module docstring): AvroData names the string after the enum (testToConnectEnum); here it is
    io.debezium.data.Enum with `allowed`, and AvroData's parameters are kept."""
    avro = {"type": "enum", "name": "Status", "namespace": "shop", "doc": "some documentation",
            "symbols": ["ACTIVE", "CLOSED"], "default": "ACTIVE"}
    connect = connect_schema_of(avro)
    assert connect == {"type": "string", "optional": False, "name": "io.debezium.data.Enum", "parameters": {
        "io.confluent.connect.avro.enum.doc.Status": "some documentation",
        "io.confluent.connect.avro.enum.default.Status": "ACTIVE",
        "io.confluent.connect.avro.Enum": "shop.Status",
        "io.confluent.connect.avro.Enum.ACTIVE": "ACTIVE", "io.confluent.connect.avro.Enum.CLOSED": "CLOSED",
        "allowed": "ACTIVE,CLOSED"}}
    assert through_fastavro(avro_datum_of("CLOSED", connect), avro) == "CLOSED"
    with pytest.raises(AvroMappingError, match=r"^\$: not one of the Avro enum's symbols$"):
        avro_datum_of("OPEN", connect)


def test_avro_docs_become_avrodata_parameters_and_come_back() -> None:
    """A record's doc and its fields' docs are parameters of the struct (L1994-L2001); L982-L996 puts them back."""
    avro = {"type": "record", "name": "R", "doc": "a row", "fields": [{"name": "a", "type": "int", "doc": "the a"}]}
    connect = connect_schema_of(avro)
    assert connect["parameters"] == {"io.confluent.connect.avro.record.doc": "a row",
                                     "io.confluent.connect.avro.field.doc.a": "the a"}
    again = avro_schema_of(connect)
    assert isinstance(again, dict)
    assert (again["doc"], again["fields"][0]["doc"]) == ("a row", "the a")
    assert connect_schema_of(again) == connect


def test_a_foreign_field_default_is_flagged_and_not_repeated_as_connect_default() -> None:
    """L2169-L2174 and L1022-L1028: an Avro field default without connect.default marks the Connect schema with
    io.confluent.connect.avro.field.default, which keeps AvroData from writing connect.default back."""
    avro = {"type": "record", "name": "R", "fields": [{"name": "n", "type": "int", "default": 5}]}
    connect = connect_schema_of(avro)
    assert connect["fields"][0] == {"type": "int32", "optional": False,
                                    "parameters": {"io.confluent.connect.avro.field.default": "true"},
                                    "default": 5, "field": "n"}
    assert avro_schema_of(connect) == {**avro, "connect.name": "R"}


def test_avro_properties_become_parameters() -> None:
    """L2163-L2167 and L1103-L1108: properties whose name starts with "avro" travel as parameters."""
    connect = connect_schema_of({"type": "string", "avro.java.string": "String"})
    assert connect == {"type": "string", "optional": False, "parameters": {"avro.java.string": "String"}}
    assert avro_schema_of(connect) == {"type": "string", "connect.parameters": {"avro.java.string": "String"},
                                       "avro.java.string": "String"}


def test_a_named_type_met_twice_keeps_its_parameters_on_the_second_field() -> None:
    """addAvroRecordField (L1248-L1271): the second field of a named type carries connect.parameters."""
    point = {"type": "struct", "name": "t.Point", "optional": False, "parameters": {"srid": "4326"},
             "fields": [{"type": "int32", "optional": False, "field": "x"}]}
    connect = struct_of({**point, "field": "a"}, {**point, "field": "b"})
    avro = avro_schema_of(connect)
    assert field_of(avro, "b") == {"name": "b", "type": "Point", "connect.parameters": {"srid": "4326"}}
    assert connect_schema_of(avro) == connect


def test_named_types_resolve_by_full_and_relative_names() -> None:
    avro = {"type": "record", "name": "Envelope", "namespace": "db.public.t", "fields": [
        {"name": "before", "type": ["null", {"type": "record", "name": "Value", "fields": [
            {"name": "id", "type": "int"},
            {"name": "place", "type": {"type": "record", "name": "Geo", "namespace": "geo",
                                       "fields": [{"name": "x", "type": "double"}]}},
            {"name": "other", "type": "geo.Geo"}]}], "default": None},
        {"name": "after", "type": ["null", "Value"], "default": None},
        {"name": "again", "type": "db.public.t.Value"},
        {"name": "plain", "type": {"type": "record", "name": "Top", "namespace": "", "fields": []}},
        {"name": "plain_again", "type": "Top"},
    ]}
    connect = connect_schema_of(avro)
    value = connect["fields"][0]
    assert value["name"] == "db.public.t.Value" and value["optional"] is True
    assert value["fields"][1]["name"] == value["fields"][2]["name"] == "geo.Geo"
    assert connect["fields"][1] == {**value, "field": "after"}
    assert connect["fields"][2] == {**value, "optional": False, "field": "again"}
    assert connect["fields"][3]["name"] == connect["fields"][4]["name"] == "Top"


def test_a_reference_written_inside_a_namespace_to_a_type_without_one() -> None:
    """Avro writes `"namespace": ""` for a null namespace inside a named one (Schema.Name.writeName)."""
    connect = struct_of({**struct_of(name="Top"), "field": "t"}, name="a.b.Outer")
    avro = avro_schema_of(connect)
    assert field_of(avro, "t")["type"] == {"type": "record", "name": "Top", "namespace": "", "fields": [],
                                          "connect.name": "Top"}
    assert connect_schema_of(avro) == connect


def test_singleton_unions_are_flattened() -> None:
    assert connect_schema_of({"type": "record", "name": "R", "fields": [{"name": "a", "type": ["int"]}]}) == {
        "type": "struct", "fields": [{"type": "int32", "optional": False, "field": "a"}], "optional": False,
        "name": "R"}


def test_strip_logical_types_removes_them_from_types_only() -> None:
    avro = {"type": "record", "name": "R", "fields": [
        {"name": "d", "type": ["null", {"type": "bytes", "logicalType": "decimal", "precision": 4, "scale": 2,
                                        "connect.parameters": {"logicalType": "kept"}}], "default": None},
        {"name": "t", "type": {"type": "array", "items": {"type": "long", "logicalType": "timestamp-millis"}}},
        {"name": "m", "type": {"type": "map", "values": {"type": "int", "logicalType": "date"}}},
        {"name": "s", "type": {"type": "record", "name": "S", "fields": [{"name": "logicalType", "type": "string"}],
                               "connect.default": {"logicalType": "kept"}}},
    ]}
    original = copy.deepcopy(avro)
    stripped = strip_logical_types(avro)
    assert avro == original
    assert "logicalType" not in json.dumps([stripped["fields"][1], stripped["fields"][2]])
    assert stripped["fields"][0]["type"][1] == {"type": "bytes", "precision": 4, "scale": 2,
                                                "connect.parameters": {"logicalType": "kept"}}
    assert stripped["fields"][3] == original["fields"][3]


def test_float32_is_written_as_its_shortest_decimal_and_non_finite_doubles_as_text() -> None:
    """Java's Float.toString via JsonConverter; Jackson writes a non-finite double as "NaN" / "Infinity"."""
    connect = struct_of({"type": "float32", "optional": False, "field": "f"},
                        {"type": "float64", "optional": False, "field": "d"},
                        {"type": "float64", "optional": False, "field": "n"})
    payload = {"f": 0.1, "d": "-Infinity", "n": "NaN"}
    assert round_trip(connect, payload) == payload


def test_decimal_payload_as_a_json_number_is_accepted() -> None:
    """JsonConverter with decimal.format=NUMERIC writes a Decimal as a number; it reads back as base64."""
    connect = ev.TYPES_BY_ID["decimal"].schema
    assert avro_datum_of(1234.56, connect) == base64.b64decode(ev.decimal_bytes("1234.56", 2))


# -- refusals: each names the place, never a value -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("avro", "message"),
    [
        (["null", "int", "string"], r"^\$: a union of 3 branches"),
        ({"type": "record", "name": "R", "fields": [{"name": "a", "type": ["int", "string"]}]},
         r"^\$\.a: a union of 2 branches"),
        ({"type": "record", "name": "Node", "fields": [{"name": "next", "type": ["null", "Node"]}]},
         r"^\$\.next: recursive type Node"),
        ({"type": "record", "name": "R", "fields": [{"name": "a", "type": "Missing"}]},
         r"^\$\.a: type Missing is used before it is defined"),
        ("null", r"^\$: a null outside a union"),
        ({"type": "int", "connect.type": "int64"}, r"^\$: connect.type 'int64' on an Avro int"),
        ({"type": "record", "name": "R", "fields": [{"name": "a", "type": {"type": "fixed", "name": "F", "size": 1}},
                                                    {"name": "b", "type": {"type": "fixed", "name": "F", "size": 2}}]},
         r"^\$\.b: F is defined twice"),
        ({"type": "int", "logicalType": "date", "connect.name": "io.debezium.time.Date"},
         r"^\$: the name io.debezium.time.Date differs from the logical type's org.apache.kafka.connect.data.Date"),
        (42, r"^\$: not an Avro schema"),
    ],
)
def test_avro_schemas_without_a_connect_form_are_refused(avro: Any, message: str) -> None:
    with pytest.raises(AvroMappingError, match=message):
        connect_schema_of(avro)


@pytest.mark.parametrize(
    ("connect", "message"),
    [
        (struct_of({"type": "int32", "optional": False, "field": "first-name"}),
         r"^\$: a field name that is not a valid Avro name"),
        (struct_of(name="db.1st.Value"), r"^\$: the name db.1st.Value is not a valid Avro name"),
        (struct_of({**struct_of({"type": "int32", "optional": False, "field": "a"}, name="t.S"), "field": "x"},
                   {**struct_of({"type": "int64", "optional": False, "field": "a"}, name="t.S"), "field": "y"}),
         r"^\$\.y: two different structs are named t.S"),
        (struct_of({"type": "map", "keys": {"type": "int32", "optional": False},
                    "values": {"type": "int32", "optional": False}, "optional": False, "field": "a"},
                   {"type": "map", "keys": {"type": "int64", "optional": False},
                    "values": {"type": "int32", "optional": False}, "optional": False, "field": "b"}),
         r"^two different Avro types are named io.confluent.connect.avro.MapEntry"),
        ({"type": "bytes", "optional": False, "name": DECIMAL, "version": 1}, r"^\$: parameter scale is missing"),
        ({"type": "int64", "optional": False, "name": "org.apache.kafka.connect.data.Date"},
         r"^\$: org.apache.kafka.connect.data.Date must be an Avro int"),
        ({"type": "uuid", "optional": False}, r"^\$: not a Connect schema"),
        (struct_of({"type": "int8", "optional": False, "default": 300, "field": "a"}),
         r"^\$\.a: the default does not fit the int8 schema"),
    ],
)
def test_connect_schemas_avro_cannot_hold_are_refused(connect: dict[str, Any], message: str) -> None:
    with pytest.raises(AvroMappingError, match=message):
        avro_schema_of(connect)


def test_value_errors_name_the_field_and_never_the_value() -> None:
    connect = struct_of({"type": "int16", "optional": False, "field": "pin"},
                        {"type": "bytes", "optional": False, "field": "blob"})
    for payload, where in [({"pin": 987654, "blob": ""}, "$.pin"), ({"pin": 1, "blob": "secret!"}, "$.blob"),
                           ({"pin": "987654", "blob": ""}, "$.pin")]:
        with pytest.raises(DecodeError) as caught:
            avro_datum_of(payload, connect)
        assert str(caught.value).startswith(where + ":")
        assert "987654" not in str(caught.value) and "secret" not in str(caught.value)


# -- generated Connect schemas and payloads ----------------------------------------------------------------------

NON_FINITE = ("NaN", "Infinity", "-Infinity")
INT_RANGES = {"int8": 2**7, "int16": 2**15, "int32": 2**31, "int64": 2**63}
SEMANTIC = [("int32", "io.debezium.time.Date"), ("int32", "io.debezium.time.Time"),
            ("int64", "io.debezium.time.MicroTime"), ("int64", "io.debezium.time.Timestamp"),
            ("int64", "io.debezium.time.MicroTimestamp"), ("int64", "io.debezium.time.NanoTimestamp"),
            ("string", "io.debezium.time.ZonedTimestamp"), ("string", "io.debezium.data.Uuid"),
            ("string", "io.debezium.data.Json"), ("int32", "io.debezium.time.Year"),
            ("int32", "org.apache.kafka.connect.data.Date"), ("int32", "org.apache.kafka.connect.data.Time"),
            ("int64", "org.apache.kafka.connect.data.Timestamp")]
avro_names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True)


@st.composite
def leaf_schemas(draw: st.DrawFn, prefix: str) -> dict[str, Any]:
    kind = draw(st.sampled_from(["plain", "plain", "semantic", "decimal", "enum", "bits", "fixed", "params"]))
    if kind == "plain":
        return {"type": draw(st.sampled_from(["int8", "int16", "int32", "int64", "float32", "float64", "boolean",
                                              "string", "bytes"]))}
    if kind == "semantic":
        ctype, name = draw(st.sampled_from(SEMANTIC))
        return {"type": ctype, "name": name, "version": 1}
    if kind == "decimal":
        scale = draw(st.integers(0, 10))
        params = {"scale": str(scale)}
        if draw(st.booleans()):
            params["connect.decimal.precision"] = str(draw(st.integers(max(scale, 1), 38)))
        return {"type": "bytes", "name": DECIMAL, "version": 1, "parameters": params}
    if kind == "enum":
        labels = draw(st.lists(avro_names, min_size=1, max_size=4, unique=True))
        return {"type": "string", "name": "io.debezium.data.Enum", "version": 1,
                "parameters": {"allowed": ",".join(labels)}}
    if kind == "bits":
        return {"type": "bytes", "name": "io.debezium.data.Bits", "version": 1,
                "parameters": {"length": str(draw(st.integers(1, 64)))}}
    if kind == "fixed":
        size = draw(st.integers(1, 8))
        return {"type": "bytes", "name": f"{prefix}.F", "parameters": {"connect.fixed.size": str(size)}}
    return {"type": "string", "parameters": {"__debezium.source.column.type": "VARCHAR",
                                             "__debezium.source.column.length": str(draw(st.integers(1, 255)))}}


@st.composite
def connect_schemas(draw: st.DrawFn, prefix: str = "gen", depth: int = 0) -> dict[str, Any]:
    """A Connect schema in JsonConverter's form, as Debezium builds them: every type above, nested, optional or
    not, with docs, versions, parameters and (on leaves) defaults. Named types get names from their path, so
    two of them never share a name."""
    kinds = ["leaf"] * 4 + (["struct", "array", "map"] if depth < 3 else [])
    kind = draw(st.sampled_from(kinds))
    if kind == "leaf":
        schema = draw(leaf_schemas(prefix))
    elif kind == "struct":
        names = draw(st.lists(avro_names, min_size=0, max_size=4, unique_by=str.lower))
        schema = {"type": "struct", "fields": [
            {**draw(connect_schemas(f"{prefix}.n{i}", depth + 1)), "field": name} for i, name in enumerate(names)]}
        if draw(st.booleans()):
            schema["name"] = f"{prefix}.S"
        if draw(st.booleans()):
            schema["version"] = draw(st.integers(1, 3))
    elif kind == "array":
        schema = {"type": "array", "items": draw(connect_schemas(f"{prefix}.i", depth + 1))}
    else:
        keys = draw(st.sampled_from([{"type": "string", "optional": False}, {"type": "string", "optional": True},
                                     {"type": "int32", "optional": False}, {"type": "int64", "optional": True}]))
        schema = {"type": "map", "keys": keys, "values": draw(connect_schemas(f"{prefix}.v", depth + 1))}
        if keys != {"type": "string", "optional": False}:
            schema["name"] = f"{prefix}.M"  # two unnamed MapEntry records would clash (see the refusal test)
    schema["optional"] = draw(st.booleans())
    if draw(st.integers(0, 5)) == 0:
        schema["doc"] = draw(st.text(max_size=10))
    if kind == "leaf" and draw(st.integers(0, 3)) == 0:
        # A non-finite float default has no Avro form: AvroData writes "NaN" text, which Avro drops as invalid.
        schema["default"] = draw(payloads(schema, allow_null=False).filter(lambda v: v not in NON_FINITE))
    return order(schema)


def order(schema: dict[str, Any]) -> dict[str, Any]:
    keys = ("type", "fields", "items", "keys", "values", "optional", "name", "version", "doc", "parameters", "default")
    return {k: schema[k] for k in keys if k in schema}


def float32_values() -> st.SearchStrategy[Any]:
    """Decimals of at most six digits: float32 holds them, and Float.toString gives them back."""
    return st.integers(-999_999, 999_999).map(lambda i: i / 100)


@st.composite
def payloads(draw: st.DrawFn, schema: dict[str, Any], allow_null: bool = True) -> Any:
    """A JsonConverter payload for ``schema``, as Debezium would produce it (a field with a default is never
    null: Connect's Struct gives the default)."""
    if allow_null and schema.get("optional") and schema.get("default") is None and draw(st.integers(0, 4)) == 0:
        return None
    ctype, name, params = schema["type"], schema.get("name"), schema.get("parameters") or {}
    if ctype in INT_RANGES:
        bound = INT_RANGES[ctype]
        return draw(st.integers(-bound, bound - 1))
    if ctype == "float32":
        return draw(float32_values() | st.sampled_from(["NaN", "Infinity", "-Infinity"]))
    if ctype == "float64":
        return draw(st.floats(allow_nan=False, allow_infinity=False) | st.sampled_from(["NaN", "-Infinity"]))
    if ctype == "boolean":
        return draw(st.booleans())
    if ctype == "string":
        if name == "io.debezium.data.Enum":
            return draw(st.sampled_from(params["allowed"].split(",")))
        return draw(st.text(max_size=12))
    if ctype == "bytes":
        if name == DECIMAL:
            return b64(minimal(draw(st.integers(-(10**12), 10**12))))
        if "connect.fixed.size" in params:
            size = int(params["connect.fixed.size"])
            return b64(draw(st.binary(min_size=size, max_size=size)))
        return b64(draw(st.binary(max_size=12)))
    if ctype == "struct":
        return {f["field"]: draw(payloads(f)) for f in schema["fields"]}
    if ctype == "array":
        return draw(st.lists(payloads(schema["items"]), max_size=3))
    keys, values = schema["keys"], schema["values"]
    if keys["type"] == "string":
        return draw(st.dictionaries(st.text(max_size=6), payloads(values), max_size=3))
    pairs = draw(st.lists(st.tuples(payloads({**keys, "optional": False}), payloads(values)), max_size=3,
                          unique_by=lambda p: p[0]))
    return [list(p) for p in pairs]


@st.composite
def schemas_and_payloads(draw: st.DrawFn) -> tuple[dict[str, Any], Any]:
    fields = draw(st.lists(avro_names, min_size=1, max_size=6, unique_by=str.lower))
    schema = {"type": "struct", "fields": [
        {**draw(connect_schemas(f"gen.f{i}")), "field": name} for i, name in enumerate(fields)],
        "optional": False, "name": "gen.Envelope"}
    return schema, draw(payloads(schema))


def same_payload(a: Any, b: Any) -> bool:
    """Equality where a float32 compares as float32 (it is written as one)."""
    if isinstance(a, float) and isinstance(b, float):
        return a == b or struct.pack("<f", a) == struct.pack("<f", b) or (math.isnan(a) and math.isnan(b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_payload(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_payload(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


FAST = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(schemas_and_payloads())
def test_generated_schemas_and_payloads_round_trip(case: tuple[dict[str, Any], Any]) -> None:
    schema, payload = case
    assert same_payload(round_trip(schema, payload), payload)


@FAST
@given(schemas_and_payloads())
def test_generated_avro_schemas_read_back_as_they_were_written(case: tuple[dict[str, Any], Any]) -> None:
    """Avro -> Connect -> Avro is stable too: AvroConverter would register the same schema again."""
    avro = avro_schema_of(case[0])
    assert avro_schema_of(connect_schema_of(avro)) == avro
