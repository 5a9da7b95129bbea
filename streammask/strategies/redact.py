"""``redact``: the value is removed.

Without ``value``, a nullable column (or one read without a schema) becomes null; a non-nullable one
gets its type's neutral value ('' / 0 / false / empty bytes / epoch / nil uuid / '{}' / the enum's first
allowed value / empty array or map), so a JDBC sink still accepts the row. A string column whose source
type is declared (``__debezium.source.column.type``) gets that type's: the nil uuid for UUID and
UNIQUEIDENTIFIER, ``0.0.0.0`` (``::`` for an IPv6 value) for INET and CIDR, zeros for MACADDR(8).
``value`` sets a literal, which must have the declared shape too.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any, ClassVar, Literal

from streammask.errors import MaskingError
from streammask.strategies.base import CompileContext, RowContext, StrategyOptions, Transform
from streammask.strategies.shapes import SOURCE_TYPE, Shape, declared_shapes, detect
from streammask.types import ColumnType, Kind, VariableDecimal


class RedactOptions(StrategyOptions):
    strategy: Literal["redact"]
    value: str | int | float | bool | None = None


_NEUTRAL: dict[Kind, Any] = {
    Kind.INTEGER: 0,
    Kind.FLOAT: 0.0,
    Kind.BOOLEAN: False,
    Kind.STRING: "",
    Kind.BYTES: b"",
    Kind.DECIMAL: 0,  # unscaled
    Kind.VARIABLE_DECIMAL: VariableDecimal(0, 0),
    Kind.DATE: 0,
    Kind.TIMESTAMP: 0,
    Kind.ZONED_TIMESTAMP: "1970-01-01T00:00:00Z",
    Kind.UUID: "00000000-0000-0000-0000-000000000000",
    Kind.JSON: "{}",
    Kind.ARRAY: [],
    Kind.MAP: {},
}
_TIME_NEUTRAL = {"string": "00:00:00Z", "int32": 0, "int64": 0}
_NIL_UUID = _NEUTRAL[Kind.UUID]
# Neutral values of the source types a string column may declare (INET and CIDR: see ``_neutral_address``).
_SOURCE_NEUTRAL = {
    "UUID": _NIL_UUID,
    "UNIQUEIDENTIFIER": _NIL_UUID,
    "MACADDR": "00:00:00:00:00:00",
    "MACADDR8": "00:00:00:00:00:00:00:00",
}
_LITERAL_TYPES: dict[Kind, tuple[type, ...]] = {
    Kind.INTEGER: (int,),
    Kind.FLOAT: (int, float),
    Kind.BOOLEAN: (bool,),
    Kind.STRING: (str,),
    Kind.UUID: (str,),
    Kind.JSON: (str,),
    Kind.ENUM: (str,),
    Kind.ZONED_TIMESTAMP: (str,),
    Kind.DATE: (int,),
    Kind.TIMESTAMP: (int,),
}


def _literal_valid(column: ColumnType, value: Any) -> bool:
    """Range and format of a literal, beyond its JSON type."""
    kind = column.kind
    if kind is Kind.INTEGER:
        lo, hi = column.int_range
        return bool(lo <= value <= hi)
    if kind is Kind.DATE:
        return bool(-(2**31) <= value < 2**31)
    if kind is Kind.UUID:
        try:
            uuid.UUID(value)
        except ValueError:
            return False
    declared = declared_shapes(column)
    if declared is not None and detect(value, declared) is Shape.TEXT:
        return False
    if kind is Kind.JSON:
        try:
            json.loads(value)
        except ValueError:
            return False
    if kind is Kind.ZONED_TIMESTAMP:
        try:
            dt.datetime.fromisoformat(value)
        except ValueError:
            return False
    return True


def neutral_value(column: ColumnType) -> Any:
    kind = column.kind
    if kind is Kind.ENUM and column.enum_values:
        return column.enum_values[0]
    if kind is Kind.TIME:
        return _TIME_NEUTRAL.get(column.connect_type, 0)
    if kind is Kind.STRING:
        source = (column.param(SOURCE_TYPE) or "").upper()
        return _SOURCE_NEUTRAL.get(source, "")
    if kind in _NEUTRAL:
        return _NEUTRAL[kind]
    if kind in _LITERAL_TYPES:
        raise MaskingError(f"redact has no neutral value for a non-optional {column.describe()}; set `value`")
    raise MaskingError(
        f"redact cannot fill a non-optional {column.describe()} column and no literal fits it; "
        "make the column nullable in the source, or mask it with another strategy (keep needs approval)"
    )


def _is_address(column: ColumnType) -> bool:
    return (column.param(SOURCE_TYPE) or "").upper() in ("INET", "CIDR")


def _neutral_address(value: Any, row: RowContext) -> Any:
    """An INET or CIDR column's neutral value, of the value's own family."""
    return "::" if isinstance(value, str) and ":" in value else "0.0.0.0"


class Redact:
    name: ClassVar[str] = "redact"
    Options: ClassVar[type[StrategyOptions]] = RedactOptions
    reads_value: ClassVar[bool] = False  # a value it replaces need not even be readable

    def accepts(self, column: ColumnType) -> bool:
        return True

    def compile(self, options: RedactOptions, column: ColumnType, ctx: CompileContext) -> Transform:
        if options.value is not None:
            replacement: Any = options.value
            allowed = _LITERAL_TYPES.get(column.kind)
            if column.known and (
                allowed is None
                or not isinstance(replacement, allowed)
                or (isinstance(replacement, bool) and bool not in allowed)
            ):
                raise MaskingError(f"redact `value` does not fit a {column.describe()} column", column=ctx.column)
            if column.kind is Kind.ENUM and replacement not in column.enum_values:
                raise MaskingError("redact `value` is not one of the enum's allowed values", column=ctx.column)
            if column.known and not _literal_valid(column, replacement):
                raise MaskingError(f"redact `value` is not a valid {column.describe()} value", column=ctx.column)
        elif column.optional or not column.known:
            replacement = None
        elif column.kind is Kind.STRING and _is_address(column):
            return _neutral_address
        else:
            try:
                replacement = neutral_value(column)
            except MaskingError as exc:
                raise MaskingError(str(exc), column=ctx.column) from None

        def redact(value: Any, row: RowContext) -> Any:
            return replacement

        return redact
