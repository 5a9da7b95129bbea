"""Column types: what a Kafka Connect schema (or, without one, a JSON value) says a column holds.

Strategies declare which ``Kind`` of column they accept; the plan compiles a transform per column type.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any, NamedTuple

# Logical / semantic type names, as Kafka Connect and Debezium put them in ``schema.name``.
DECIMAL = "org.apache.kafka.connect.data.Decimal"
CONNECT_DATE = "org.apache.kafka.connect.data.Date"
CONNECT_TIME = "org.apache.kafka.connect.data.Time"
CONNECT_TIMESTAMP = "org.apache.kafka.connect.data.Timestamp"
VARIABLE_SCALE_DECIMAL = "io.debezium.data.VariableScaleDecimal"
DBZ_DATE = "io.debezium.time.Date"
DBZ_TIME = "io.debezium.time.Time"
DBZ_MICRO_TIME = "io.debezium.time.MicroTime"
DBZ_NANO_TIME = "io.debezium.time.NanoTime"
DBZ_TIMESTAMP = "io.debezium.time.Timestamp"
DBZ_MICRO_TIMESTAMP = "io.debezium.time.MicroTimestamp"
DBZ_NANO_TIMESTAMP = "io.debezium.time.NanoTimestamp"
DBZ_ZONED_TIMESTAMP = "io.debezium.time.ZonedTimestamp"
DBZ_ZONED_TIME = "io.debezium.time.ZonedTime"
DBZ_ISO_DATE = "io.debezium.time.IsoDate"
DBZ_ISO_TIMESTAMP = "io.debezium.time.IsoTimestamp"
DBZ_YEAR = "io.debezium.time.Year"
UUID = "io.debezium.data.Uuid"
JSON = "io.debezium.data.Json"
ENUM = "io.debezium.data.Enum"
ENUM_SET = "io.debezium.data.EnumSet"
XML = "io.debezium.data.Xml"

INT_TYPES = ("int8", "int16", "int32", "int64")
INT_RANGES = {
    "int8": (-(2**7), 2**7 - 1),
    "int16": (-(2**15), 2**15 - 1),
    "int32": (-(2**31), 2**31 - 1),
    "int64": (-(2**63), 2**63 - 1),
}


def natural_int_range(value: int) -> tuple[int, int]:
    """The range of the narrowest Connect integer type that holds ``value``: what a transform that must
    not depend on the column's declared width (a key read without a schema, a row read with one) may
    use as its bounds."""
    for width in INT_TYPES:
        lo, hi = INT_RANGES[width]
        if lo <= value <= hi:
            return lo, hi
    return INT_RANGES["int64"]


class VariableDecimal(NamedTuple):
    """Debezium's VariableScaleDecimal (a {scale, value} struct) as strategies read and return it,
    whatever the wire format holds its unscaled bytes as."""

    unscaled: int
    scale: int


class Kind(Enum):
    """What a column holds, as far as masking is concerned."""

    INTEGER = "integer"
    FLOAT = "float"
    BOOLEAN = "boolean"
    STRING = "string"
    BYTES = "bytes"  # strategies see bytes
    DECIMAL = "decimal"  # Connect Decimal, `scale` parameter; strategies see the unscaled int
    VARIABLE_DECIMAL = "variable-decimal"  # struct {scale, value}; strategies see a VariableDecimal
    DATE = "date"  # int32 days since epoch
    TIMESTAMP = "timestamp"  # int64 since epoch: ms, us or ns (see TimeUnit)
    ZONED_TIMESTAMP = "zoned-timestamp"  # ISO-8601 string with offset
    TIME = "time"  # time of day
    UUID = "uuid"
    JSON = "json"
    ENUM = "enum"
    STRUCT = "struct"
    ARRAY = "array"
    MAP = "map"
    OTHER = "other"  # a semantic type we know nothing specific about (Year, Xml, geometry…)


_TIMESTAMP_UNITS = {
    CONNECT_TIMESTAMP: 1_000,
    DBZ_TIMESTAMP: 1_000,
    DBZ_MICRO_TIMESTAMP: 1_000_000,
    DBZ_NANO_TIMESTAMP: 1_000_000_000,
}
_TIME_NAMES = {CONNECT_TIME, DBZ_TIME, DBZ_MICRO_TIME, DBZ_NANO_TIME, DBZ_ZONED_TIME}


@dataclass(frozen=True)
class ColumnType:
    """A column's Connect type, logical name, optionality and parameters."""

    connect_type: str
    name: str | None = None
    optional: bool = True
    parameters: tuple[tuple[str, str], ...] = ()
    known: bool = True  # False when inferred from a JSON value (schemaless converter)
    fields: tuple[tuple[str, ColumnType], ...] = field(default=(), compare=False)
    # Element type of an array; compared (and hashed) so that compiled transforms cached per column type
    # are not reused when an array's element type changes (smallint[] -> integer[], int[] -> text[]).
    items: ColumnType | None = None

    @property
    def kind(self) -> Kind:
        return _kind_of(self)

    def param(self, key: str) -> str | None:
        for k, v in self.parameters:
            if k == key:
                return v
        return None

    @property
    def int_range(self) -> tuple[int, int]:
        return INT_RANGES.get(self.connect_type, INT_RANGES["int64"])

    @property
    def ticks_per_second(self) -> int:
        """For TIMESTAMP columns: 1e3, 1e6 or 1e9."""
        return _TIMESTAMP_UNITS.get(self.name or "", 1_000)

    @property
    def is_year(self) -> bool:
        """io.debezium.time.Year: an integer year. Its kind is OTHER, so a strategy that can keep a year
        valid (``bucket``) opts in here instead of every integer strategy inventing impossible years."""
        return self.name == DBZ_YEAR and self.connect_type in INT_TYPES and self.known

    @property
    def enum_values(self) -> tuple[str, ...]:
        allowed = self.param("allowed")
        return tuple(allowed.split(",")) if allowed else ()

    @property
    def scale(self) -> int:
        return int(self.param("scale") or 0)

    def describe(self) -> str:
        return f"{self.connect_type}" + (f" ({self.name})" if self.name else "")


def _kind_of(t: ColumnType) -> Kind:
    name = t.name
    if name == DECIMAL:
        return Kind.DECIMAL
    if name == VARIABLE_SCALE_DECIMAL:
        return Kind.VARIABLE_DECIMAL
    if name in (DBZ_DATE, CONNECT_DATE):
        return Kind.DATE
    if name in _TIMESTAMP_UNITS:
        return Kind.TIMESTAMP
    if name in (DBZ_ZONED_TIMESTAMP, DBZ_ISO_TIMESTAMP):
        return Kind.ZONED_TIMESTAMP
    if name in _TIME_NAMES:
        return Kind.TIME
    if name == UUID:
        return Kind.UUID
    if name == JSON:
        return Kind.JSON
    if name == ENUM:
        return Kind.ENUM
    if name == DBZ_ISO_DATE and t.connect_type == "string":
        return Kind.ZONED_TIMESTAMP
    if name is not None and t.connect_type not in ("struct", "array", "map") and t.known:
        # Some other semantic type (EnumSet, Xml, Year, Bits, Point…): only generic strategies apply.
        if t.connect_type in INT_TYPES and name == DBZ_YEAR:
            return Kind.OTHER
        if name in (ENUM_SET, XML) or name.startswith("io.debezium"):
            return Kind.OTHER
    ct = t.connect_type
    if ct in INT_TYPES:
        return Kind.INTEGER
    if ct in ("float32", "float64"):
        return Kind.FLOAT
    if ct == "boolean":
        return Kind.BOOLEAN
    if ct == "string":
        return Kind.STRING
    if ct == "bytes":
        return Kind.BYTES
    if ct == "struct":
        return Kind.STRUCT
    if ct == "array":
        return Kind.ARRAY
    if ct == "map":
        return Kind.MAP
    return Kind.OTHER


def from_connect_schema(schema: dict[str, Any]) -> ColumnType:
    """Build a ColumnType from one Connect schema node (a field entry of a struct)."""
    params = schema.get("parameters") or {}
    fields: tuple[tuple[str, ColumnType], ...] = ()
    if schema.get("type") == "struct":
        fields = tuple((f["field"], from_connect_schema(f)) for f in schema.get("fields") or ())
    items_schema = schema.get("items")
    return ColumnType(
        items=from_connect_schema(items_schema) if isinstance(items_schema, dict) else None,
        connect_type=str(schema.get("type")),
        name=schema.get("name"),
        optional=bool(schema.get("optional", False)),
        parameters=tuple(sorted((str(k), str(v)) for k, v in params.items())),
        fields=fields,
    )


_INFERRED = {
    bool: ColumnType("boolean", known=False),
    int: ColumnType("int64", known=False),
    float: ColumnType("float64", known=False),
    str: ColumnType("string", known=False),
    dict: ColumnType("struct", known=False),
    list: ColumnType("array", known=False),
}


def infer(value: Any) -> ColumnType:
    """The type of a value read without a schema (``schemas.enable=false``); null stays unknown. An
    array's element type is its first non-null element's, so element-wise strategies apply to it."""
    if value.__class__ is list:
        first = next((v for v in value if v is not None), None)
        return ColumnType("array", known=False, items=None if first is None else infer(first))
    return _INFERRED.get(type(value), ColumnType("string", known=False))
