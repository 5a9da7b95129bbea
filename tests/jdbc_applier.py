"""Debezium change events applied to PostgreSQL as Debezium's JDBC sink applies them (test scaffolding).

Not a product sink: the QA-database acceptance test (``test_qa_database.py``) uses it to load masked
streams into a real PostgreSQL and check that keys, foreign keys and unique constraints still hold. It
follows ``io.debezium.connector.jdbc`` (github:debezium/debezium-connector-jdbc, read at commit 32cd663c) with
``insert.mode=upsert``, ``primary.key.mode=record_key``, ``delete.enabled=true``, the records not flattened:

- ``c``/``u``/``r``: ``INSERT INTO t (key columns, other columns) VALUES (...) ON CONFLICT (key columns)
  DO UPDATE SET c = EXCLUDED.c, ...`` (``DO NOTHING`` when every column is a key column):
  ``PostgresDatabaseDialect.getUpsertStatement``. Key values come from the record key's struct, the other
  columns from ``after`` (``RecordWriter.bindKeyValuesToQuery``/``bindNonKeyValuesToQuery``);
- ``d``: ``DELETE FROM t WHERE k1 = ? AND ...`` with the key struct's values (``getDeleteStatement``);
- a tombstone (null value): Debezium's sink skips a tombstone of a Debezium envelope (its ``d`` already
  deleted the row: ``SinkRecordDescriptor.isTombstone``); Confluent's JDBC sink with ``delete.enabled``
  deletes by key. This applier deletes by key too: after the ``d`` it follows, that is the same no-op.

One difference on purpose: the key struct must equal the row's key columns (``after``, and ``before`` when
the event carries it: REPLICA IDENTITY FULL). The sink would write the key's values and not notice; a masker that
masked the key and the row differently would break every foreign key pointing at the row, so here it is
an error.

Values are typed from the Connect schema of each column (``COLUMN_TYPES`` below: logical/semantic name
first, then the Connect type) and bound as psycopg parameters: never put into the SQL text. Identifiers
(schema, table, columns) are quoted with ``psycopg.sql.Identifier``. Values come in either of two forms:
JsonConverter's payload (Decimal as base64 of the unscaled bytes, dates and timestamps as integers) or what
confluent-kafka's ``AvroDeserializer`` returns (``decimal.Decimal`` for an Avro decimal, ``date``/``datetime``/
``time`` for Avro's date/timestamp-millis/time-millis; Debezium's own time types stay integers/strings in
Avro). ``event_from_connect_json`` and ``event_from_avro`` read the two forms into a ``ChangeEvent``.

Errors (``ApplyError``) name the event (topic, partition, offset), the table, the op, the column and the
SQLSTATE / constraint, never a value: the rows are masked data, or worse, source data.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import orjson
import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

# -- types: Connect schema -> PostgreSQL --------------------------------------------------------------------

DECIMAL = "org.apache.kafka.connect.data.Decimal"
CONNECT_DATE = "org.apache.kafka.connect.data.Date"
CONNECT_TIME = "org.apache.kafka.connect.data.Time"
CONNECT_TIMESTAMP = "org.apache.kafka.connect.data.Timestamp"

COLUMN_TYPES: dict[str, str] = {
    # Connect primitives (the JDBC sink's Connect*Type, through Hibernate's PostgreSQL dialect)
    "int8": "smallint",  # TINYINT: PostgreSQL has none
    "int16": "smallint",
    "int32": "integer",
    "int64": "bigint",
    "float32": "real",
    "float64": "double precision",
    "boolean": "boolean",
    "string": "text",
    "bytes": "bytea",  # postgres.BytesType: VARBINARY
    # Connect logical types
    DECIMAL: "numeric",  # ConnectDecimalType: DECIMAL(connect.decimal.precision, scale)
    CONNECT_DATE: "date",
    CONNECT_TIME: "time without time zone",
    CONNECT_TIMESTAMP: "timestamp without time zone",
    # Debezium semantic types (io.debezium.time.*, io.debezium.data.*)
    "io.debezium.time.Date": "date",  # epoch days
    "io.debezium.time.Time": "time without time zone",  # ms of the day
    "io.debezium.time.MicroTime": "time without time zone",  # µs of the day
    "io.debezium.time.NanoTime": "time without time zone",  # ns of the day
    "io.debezium.time.Timestamp": "timestamp without time zone",  # epoch ms
    "io.debezium.time.MicroTimestamp": "timestamp without time zone",  # epoch µs
    "io.debezium.time.NanoTimestamp": "timestamp without time zone",  # epoch ns
    "io.debezium.time.ZonedTimestamp": "timestamp with time zone",  # ISO-8601 text with an offset
    "io.debezium.time.ZonedTime": "time with time zone",  # ISO-8601 time with an offset
    "io.debezium.data.Uuid": "uuid",  # postgres.UuidType: cast(? as uuid)
    "io.debezium.data.Json": "jsonb",  # postgres.JsonType: json, jsonb when the source type is propagated
    "io.debezium.data.Enum": "text",  # postgres.EnumType: a string (enum types are not created)
    "io.debezium.data.EnumSet": "text",
    "io.debezium.data.Xml": "xml",  # postgres.XmlType
}
STRING_TYPES = frozenset({"text", "character", "character varying"})
"""What a QA schema may declare for a Connect string (``text`` is what the sink would create)."""

EPOCH = dt.datetime(1970, 1, 1)
EPOCH_DATE = EPOCH.date()
INFINITY = frozenset({"infinity", "-infinity"})  # ZonedTimestamp's texts for PostgreSQL's +-infinity


class ConversionError(ValueError):
    """A value that does not fit its Connect type; names the type, never the value."""


@dataclass(frozen=True)
class ColumnType:
    """A column's Connect schema: type, logical/semantic name and parameters."""

    type: str
    name: str | None = None
    parameters: Mapping[str, str] = field(default_factory=dict)
    optional: bool = True

    @property
    def key(self) -> str:
        """What ``COLUMN_TYPES`` is looked up by: the name when it has a mapping, else the type."""
        return self.name if self.name in COLUMN_TYPES else self.type

    def pg_type(self) -> str:
        """The PostgreSQL type the JDBC sink would create for this column (``format_type``'s spelling)."""
        found = COLUMN_TYPES.get(self.key)
        if found is None:
            raise ConversionError(f"no PostgreSQL type for Connect type {self.type} ({self.name or 'no name'})")
        if self.name == DECIMAL:
            scale = int(self.parameters.get("scale", "0"))
            precision = int(self.parameters.get("connect.decimal.precision", "0"))
            return f"numeric({precision},{scale})" if precision > 0 else "numeric"
        return found


def connect_column(schema: Mapping[str, Any]) -> ColumnType:
    """A field's schema in JsonConverter's JSON form."""
    params = schema.get("parameters") or {}
    return ColumnType(str(schema["type"]), schema.get("name"), dict(params), bool(schema.get("optional", False)))


def to_pg(column: ColumnType, value: Any) -> Any:
    """``value`` (JsonConverter's form or AvroDeserializer's, see the module doc) as the Python value psycopg
    binds for the column's PostgreSQL type."""
    if value is None:
        return None
    name = column.name if column.name in COLUMN_TYPES else None
    if name is not None:
        return _LOGICAL[name](column, value)
    converter = _PRIMITIVE.get(column.type)
    if converter is None:
        raise ConversionError(f"unsupported Connect type {column.type}")
    return converter(column, value)


def _expect(value: Any, kinds: type | tuple[type, ...], column: ColumnType) -> None:
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in _tuple(kinds)):
        raise ConversionError(f"{column.name or column.type}: expected {_names(kinds)}, got {type(value).__name__}")


def _tuple(kinds: type | tuple[type, ...]) -> tuple[type, ...]:
    return kinds if isinstance(kinds, tuple) else (kinds,)


def _names(kinds: type | tuple[type, ...]) -> str:
    return " or ".join(k.__name__ for k in _tuple(kinds))


def _int(column: ColumnType, value: Any) -> int:
    _expect(value, int, column)
    bits = {"int8": 8, "int16": 16, "int32": 32, "int64": 64}.get(column.type, 64)
    if not -(1 << (bits - 1)) <= value < 1 << (bits - 1):
        raise ConversionError(f"{column.type}: out of range")
    return int(value)


def _float(column: ColumnType, value: Any) -> float:
    if isinstance(value, str) and value in ("NaN", "Infinity", "-Infinity"):  # JsonConverter's non-finite floats
        return float(value.replace("Infinity", "inf"))
    _expect(value, (int, float), column)
    return float(value)


def _bool(column: ColumnType, value: Any) -> bool:
    _expect(value, bool, column)
    return bool(value)


def _str(column: ColumnType, value: Any) -> str:
    _expect(value, str, column)
    return str(value)


def _bytes(column: ColumnType, value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    _expect(value, str, column)
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ConversionError(f"{column.name or column.type}: not base64") from None


def _decimal(column: ColumnType, value: Any) -> Decimal:
    if isinstance(value, Decimal):  # AvroDeserializer applied the decimal logical type
        return value
    unscaled = int.from_bytes(_bytes(column, value), "big", signed=True)
    digits = tuple(int(d) for d in str(abs(unscaled)))  # exact: scaleb would round to the context's 28 digits
    return Decimal((int(unscaled < 0), digits, -int(column.parameters.get("scale", "0"))))


def _date(column: ColumnType, value: Any) -> dt.date:
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):  # Avro's date logical type
        return value
    return EPOCH_DATE + dt.timedelta(days=_int(ColumnType("int32"), value))


def _epoch(unit_per_micro: int, divisor: int = 1) -> Any:
    """A timestamp of ``value`` units since the epoch (µs = value * unit_per_micro / divisor), as the sink's
    LocalDateTime in UTC; PostgreSQL keeps microseconds (nanoseconds are rounded, as it rounds text input)."""

    def convert(column: ColumnType, value: Any) -> dt.datetime:
        if isinstance(value, dt.datetime):  # Avro's timestamp-millis logical type: an aware datetime
            return value.astimezone(dt.UTC).replace(tzinfo=None) if value.tzinfo else value
        micros = _int(ColumnType("int64"), value) * unit_per_micro
        return EPOCH + dt.timedelta(microseconds=_round_div(micros, divisor))

    return convert


def _time_of_day(unit_per_micro: int, divisor: int = 1) -> Any:
    def convert(column: ColumnType, value: Any) -> dt.time:
        if isinstance(value, dt.time):  # Avro's time-millis logical type
            return value
        micros = _round_div(_int(ColumnType("int64"), value) * unit_per_micro, divisor)
        if not 0 <= micros < 86_400_000_000:
            raise ConversionError(f"{column.name}: not a time of day")
        return (EPOCH + dt.timedelta(microseconds=micros)).time()

    return convert


def _round_div(n: int, d: int) -> int:
    return n if d == 1 else (n + d // 2) // d


def _zoned_timestamp(column: ColumnType, value: Any) -> dt.datetime | str:
    text = _str(column, value)
    if text in INFINITY:
        return text  # psycopg sends a str untyped: PostgreSQL reads it as the column's timestamptz
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ConversionError(f"{column.name}: not an ISO-8601 timestamp") from None
    if parsed.tzinfo is None:
        raise ConversionError(f"{column.name}: no offset")
    return parsed


def _zoned_time(column: ColumnType, value: Any) -> dt.time:
    try:
        parsed = dt.time.fromisoformat(_str(column, value))
    except ValueError:
        raise ConversionError(f"{column.name}: not an ISO-8601 time") from None
    if parsed.tzinfo is None:
        raise ConversionError(f"{column.name}: no offset")
    return parsed


def _uuid(column: ColumnType, value: Any) -> uuid.UUID:
    try:
        return uuid.UUID(_str(column, value))
    except ValueError:
        raise ConversionError(f"{column.name}: not a uuid") from None


def _json(column: ColumnType, value: Any) -> Jsonb:
    try:
        return Jsonb(orjson.loads(_str(column, value)))
    except orjson.JSONDecodeError:
        raise ConversionError(f"{column.name}: not JSON") from None


_PRIMITIVE = {
    "int8": _int, "int16": _int, "int32": _int, "int64": _int, "float32": _float, "float64": _float,
    "boolean": _bool, "string": _str, "bytes": _bytes,
}
_LOGICAL = {
    DECIMAL: _decimal,
    CONNECT_DATE: _date,
    CONNECT_TIME: _time_of_day(1000),
    CONNECT_TIMESTAMP: _epoch(1000),
    "io.debezium.time.Date": _date,
    "io.debezium.time.Time": _time_of_day(1000),
    "io.debezium.time.MicroTime": _time_of_day(1),
    "io.debezium.time.NanoTime": _time_of_day(1, 1000),
    "io.debezium.time.Timestamp": _epoch(1000),
    "io.debezium.time.MicroTimestamp": _epoch(1),
    "io.debezium.time.NanoTimestamp": _epoch(1, 1000),
    "io.debezium.time.ZonedTimestamp": _zoned_timestamp,
    "io.debezium.time.ZonedTime": _zoned_time,
    "io.debezium.data.Uuid": _uuid,
    "io.debezium.data.Json": _json,
    "io.debezium.data.Enum": _str,
    "io.debezium.data.EnumSet": _str,
    "io.debezium.data.Xml": _str,
}
assert set(_LOGICAL) | set(_PRIMITIVE) == set(COLUMN_TYPES)


# -- events ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChangeEvent:
    """One Debezium record, decoded: where it was read, its table (the topic's last part), the op (None
    for a tombstone), the key struct and the row images with their column types."""

    where: str
    table: str
    op: str | None
    key: Mapping[str, Any]
    key_columns: Mapping[str, ColumnType]
    before: Mapping[str, Any] | None = None
    after: Mapping[str, Any] | None = None
    columns: Mapping[str, ColumnType] = field(default_factory=dict)


def coordinates(topic: str, partition: int, offset: int) -> str:
    return f"{topic}/{partition}@{offset}"


def table_of(topic: str) -> str:
    """``<server>.<schema>.<table>`` -> ``table`` (the sink's ``table.name.format`` with the schema dropped)."""
    return topic.rsplit(".", 1)[-1]


def event_from_connect_json(where: str, topic: str, key: bytes | None, value: bytes | None) -> ChangeEvent:
    """A record written by JsonConverter with ``schemas.enable=true`` (key and value)."""
    doc = None if value is None else orjson.loads(value)
    op = None if doc is None else doc["payload"]["op"]
    if key is None:
        raise ApplyError(where, table_of(topic), op, "no key: primary.key.mode=record_key needs one")
    key_doc = orjson.loads(key)
    key_fields = {f["field"]: connect_column(f) for f in key_doc["schema"]["fields"]}
    if doc is None:
        return ChangeEvent(where, table_of(topic), None, key_doc["payload"], key_fields)
    envelope = {f["field"]: f for f in doc["schema"]["fields"]}
    columns = {f["field"]: connect_column(f) for f in envelope["after"]["fields"]}
    payload = doc["payload"]
    return ChangeEvent(where, table_of(topic), op, key_doc["payload"], key_fields, payload.get("before"),
                       payload.get("after"), columns)


# Avro: the writer schemas carry the Connect schema as AvroData writes it (``connect.name``, ``connect.type``,
# ``connect.parameters``, and Avro's own logical types for Decimal, Date, Time, Timestamp).
_AVRO_PRIMITIVE = {"int": "int32", "long": "int64", "float": "float32", "double": "float64", "boolean": "boolean",
                   "string": "string", "bytes": "bytes"}
_AVRO_LOGICAL = {"decimal": DECIMAL, "date": CONNECT_DATE, "time-millis": CONNECT_TIME,
                 "timestamp-millis": CONNECT_TIMESTAMP}


def _avro_names(node: Any, space: str | None, names: dict[str, Any]) -> None:
    """Every named type of an Avro schema by full name (and short name), to resolve references."""
    if isinstance(node, list):
        for branch in node:
            _avro_names(branch, space, names)
    elif isinstance(node, dict):
        kind = node.get("type")
        if kind in ("record", "error", "enum", "fixed"):
            name = str(node["name"])
            namespace = node.get("namespace", space)
            full = name if "." in name or not namespace else f"{namespace}.{name}"
            names[full] = names.setdefault(name, node)
            space = full.rpartition(".")[0] or None
        if kind in ("record", "error"):
            for f in node["fields"]:
                _avro_names(f["type"], space, names)
        elif kind == "array":
            _avro_names(node["items"], space, names)
        elif kind == "map":
            _avro_names(node["values"], space, names)
        elif isinstance(kind, (dict, list)):
            _avro_names(kind, space, names)


def _avro_resolve(node: Any, names: Mapping[str, Any]) -> tuple[Any, bool]:
    """(the non-null type, optional) of a field type: ``[null, X]`` is an optional X; a name is looked up."""
    optional = False
    if isinstance(node, list):
        branches = [b for b in node if b != "null"]
        if len(branches) != 1:
            raise ConversionError("unions other than [null, X] are not Debezium's")
        node, optional = branches[0], True
    if isinstance(node, str) and node not in _AVRO_PRIMITIVE:
        node = names.get(node, names.get(node.rpartition(".")[2]))
        if node is None:
            raise ConversionError("a reference to an unknown named type")
    return node, optional


def avro_column(node: Any, names: Mapping[str, Any]) -> ColumnType:
    """A field's Avro type (from the registered writer schema) as the Connect column type AvroConverter reads."""
    node, optional = _avro_resolve(node, names)
    if isinstance(node, str):
        return ColumnType(_AVRO_PRIMITIVE[node], optional=optional)
    kind = node["type"]
    if isinstance(kind, dict):  # {"type": {"type": "int", ...}}
        inner = avro_column(kind, names)
        return ColumnType(inner.type, inner.name, inner.parameters, optional)
    params = dict(node.get("connect.parameters") or {})
    name = node.get("connect.name") or _AVRO_LOGICAL.get(node.get("logicalType", ""))
    if kind == "enum":
        return ColumnType("string", name or "io.debezium.data.Enum", params, optional)
    if kind not in _AVRO_PRIMITIVE:
        raise ConversionError(f"Avro type {kind} is not a column type here")
    if name == DECIMAL and "scale" not in params:
        params["scale"] = str(node.get("scale", 0))
    return ColumnType(node.get("connect.type") or _AVRO_PRIMITIVE[kind], name, params, optional)


def _avro_fields(record: Any, names: Mapping[str, Any]) -> dict[str, Any]:
    node, _ = _avro_resolve(record, names)
    return {f["name"]: f["type"] for f in node["fields"]}


def event_from_avro(
    where: str, topic: str, key: Mapping[str, Any] | None, key_schema: Any, value: Mapping[str, Any] | None,
    value_schema: Any,
) -> ChangeEvent:
    """A record read by confluent-kafka's ``AvroDeserializer`` (``key``/``value`` datums, None for a null
    value) with the writer schemas it was read with (parsed JSON, as the registry serves them)."""
    if key is None:
        raise ApplyError(where, table_of(topic), None if value is None else value["op"],
                         "no key: primary.key.mode=record_key needs one")
    key_names: dict[str, Any] = {}
    _avro_names(key_schema, None, key_names)
    key_fields = {n: avro_column(t, key_names) for n, t in _avro_fields(key_schema, key_names).items()}
    if value is None:
        return ChangeEvent(where, table_of(topic), None, key, key_fields)
    names: dict[str, Any] = {}
    _avro_names(value_schema, None, names)
    envelope = _avro_fields(value_schema, names)
    columns = {n: avro_column(t, names) for n, t in _avro_fields(envelope["after"], names).items()}
    return ChangeEvent(where, table_of(topic), value["op"], key, key_fields, value.get("before"), value.get("after"),
                       columns)


# -- applying ----------------------------------------------------------------------------------------------


class ApplyError(Exception):
    """An event the sink could not apply: where, table, op and why (SQLSTATE, constraint, column), no value."""

    def __init__(self, where: str, table: str, op: str | None, problem: str, sqlstate: str | None = None,
                 constraint: str | None = None) -> None:
        super().__init__(f"{where} ({table}, op {op or 'tombstone'}): {problem}")
        self.where = where
        self.sqlstate = sqlstate
        self.constraint = constraint


def describe(exc: psycopg.Error) -> str:
    """A database error without its message text (which may quote the value: ``invalid input syntax for
    type date: "..."``): class, SQLSTATE, and the constraint/table/column/type it names."""
    diag = exc.diag
    parts = [f"{type(exc).__name__} (SQLSTATE {exc.sqlstate})"]
    for label, found in (("constraint", diag.constraint_name), ("table", diag.table_name),
                         ("column", diag.column_name), ("type", diag.datatype_name)):
        if found:
            parts.append(f"{label} {found}")
    return ", ".join(parts)


UPSERT_OPS = frozenset({"c", "u", "r"})


class JdbcApplier:
    """Applies events to the tables of one PostgreSQL schema, in the caller's transaction."""

    def __init__(self, conn: psycopg.Connection[Any], schema: str) -> None:
        self.conn = conn
        self.schema = schema
        self.applied = 0
        self._statements: dict[tuple[str, str, tuple[str, ...], tuple[str, ...]], sql.Composed] = {}

    def apply(self, event: ChangeEvent) -> None:
        if event.op is None or event.op == "d":
            self._delete(event)
        elif event.op in UPSERT_OPS:
            self._upsert(event)
        else:
            raise ApplyError(event.where, event.table, event.op, "unsupported op")
        self.applied += 1

    def _key(self, event: ChangeEvent) -> tuple[list[str], list[Any]]:
        names = list(event.key_columns)
        if not names:
            raise ApplyError(event.where, event.table, event.op, "the key struct has no fields")
        return names, [self._convert(event, name, event.key_columns[name], event.key.get(name)) for name in names]

    def _check_key(self, event: ChangeEvent, row: Mapping[str, Any], names: list[str], values: list[Any]) -> None:
        for name, key_value in zip(names, values, strict=True):
            if name not in event.columns:
                raise ApplyError(event.where, event.table, event.op, f"key column {name} is not a column of the row")
            if self._convert(event, name, event.columns[name], row.get(name)) != key_value:
                raise ApplyError(event.where, event.table, event.op,
                                 f"the key's {name} differs from the row's {name} (key and row masked differently?)")

    def _upsert(self, event: ChangeEvent) -> None:
        if event.after is None:
            raise ApplyError(event.where, event.table, event.op, "no after image")
        key_names, key_values = self._key(event)
        self._check_key(event, event.after, key_names, key_values)
        if event.before is not None:  # REPLICA IDENTITY FULL: the old row's key is the key too
            self._check_key(event, event.before, key_names, key_values)
        others = [name for name in event.columns if name not in event.key_columns]
        values = key_values + [self._convert(event, n, event.columns[n], event.after.get(n)) for n in others]
        self._execute(event, self._upsert_sql(event.table, key_names, others), values)

    def _delete(self, event: ChangeEvent) -> None:
        key_names, key_values = self._key(event)
        if event.before is not None:  # REPLICA IDENTITY FULL: the old row is there to compare with
            self._check_key(event, event.before, key_names, key_values)
        self._execute(event, self._delete_sql(event.table, key_names), key_values)

    @staticmethod
    def _convert(event: ChangeEvent, name: str, column: ColumnType, value: Any) -> Any:
        try:
            return to_pg(column, value)
        except ConversionError as exc:
            raise ApplyError(event.where, event.table, event.op, f"column {name}: {exc}") from None

    def _execute(self, event: ChangeEvent, statement: sql.Composed, values: list[Any]) -> None:
        try:
            self.conn.execute(statement, values)
        except psycopg.Error as exc:
            raise ApplyError(event.where, event.table, event.op, describe(exc), exc.sqlstate,
                             exc.diag.constraint_name) from None

    def _upsert_sql(self, table: str, keys: list[str], others: list[str]) -> sql.Composed:
        cache_key = ("upsert", table, tuple(keys), tuple(others))
        found = self._statements.get(cache_key)
        if found is None:
            columns = [*keys, *others]
            found = sql.SQL("INSERT INTO {t} ({cols}) VALUES ({vals}) ON CONFLICT ({keys}) {action}").format(
                t=sql.Identifier(self.schema, table),
                cols=sql.SQL(",").join(map(sql.Identifier, columns)),
                vals=sql.SQL(",").join(sql.Placeholder() * len(columns)),
                keys=sql.SQL(",").join(map(sql.Identifier, keys)),
                action=sql.SQL("DO UPDATE SET {}").format(sql.SQL(",").join(
                    sql.SQL("{c}=EXCLUDED.{c}").format(c=sql.Identifier(c)) for c in others))
                if others else sql.SQL("DO NOTHING"),
            )
            self._statements[cache_key] = found
        return found

    def _delete_sql(self, table: str, keys: list[str]) -> sql.Composed:
        cache_key = ("delete", table, tuple(keys), ())
        found = self._statements.get(cache_key)
        if found is None:
            found = sql.SQL("DELETE FROM {t} WHERE {cond}").format(
                t=sql.Identifier(self.schema, table),
                cond=sql.SQL(" AND ").join(sql.SQL("{} = {}").format(sql.Identifier(k), sql.Placeholder())
                                           for k in keys))
            self._statements[cache_key] = found
        return found


def apply_stream(conn: psycopg.Connection[Any], schema: str, events: Iterable[ChangeEvent]) -> int:
    """Every event in one transaction, in the given order (deferred foreign keys are checked at its commit:
    the end state); the number applied. A failure rolls everything back and raises ``ApplyError``. The real
    sink commits per table flush instead (see ``qa_db.SHOP_DDL`` on what that means for foreign keys)."""
    applier = JdbcApplier(conn, schema)
    try:
        with conn.transaction():
            for event in events:
                applier.apply(event)
    except psycopg.Error as exc:  # at commit: a deferred constraint
        raise ApplyError(f"commit after {applier.applied} events", f"schema {schema}", "commit", describe(exc),
                         exc.sqlstate, exc.diag.constraint_name) from None
    return applier.applied


__all__ = [
    "COLUMN_TYPES", "STRING_TYPES", "ApplyError", "ChangeEvent", "ColumnType", "ConversionError", "JdbcApplier",
    "apply_stream", "avro_column", "connect_column", "coordinates", "describe", "event_from_avro",
    "event_from_connect_json", "table_of", "to_pg",
]
