"""Does a JSON value conform to a Kafka Connect schema (as JsonConverter writes it)?

``validate(schema, value)`` returns a list of problems (empty when the value conforms), each naming
the JSON path. It checks what a sink (JsonConverter.toConnectData plus a JDBC sink) would reject:
nulls in non-optional fields, wrong JSON types, integers outside their width, bytes that are not
base64, undecodable decimals (and unscaled digits above ``connect.decimal.precision``), dates and
timestamps outside years 1-9999, times outside a day, unparseable ZonedTimestamp/Uuid/Json, enum
labels outside ``allowed``, strings longer than ``__debezium.source.column.length``, strings that do
not parse as the ``__debezium.source.column.type`` they declare (UUID, UNIQUEIDENTIFIER, INET, CIDR,
MACADDR, MACADDR8), and structs, arrays and maps recursively (a struct field the schema does not
declare is a problem too).
"""

from __future__ import annotations

import binascii
import datetime as dt
import ipaddress
import json
import math
import re
import uuid
from typing import Any

INT_RANGES = {
    "int8": (-(2**7), 2**7 - 1),
    "int16": (-(2**15), 2**15 - 1),
    "int32": (-(2**31), 2**31 - 1),
    "int64": (-(2**63), 2**63 - 1),
}
FLOAT32_MAX = 3.4028234663852886e38

_MIN_DAY = (dt.date(1, 1, 1) - dt.date(1970, 1, 1)).days
_MAX_DAY = (dt.date(9999, 12, 31) - dt.date(1970, 1, 1)).days
_DAY_SECONDS = 86_400

_DATE_NAMES = {"io.debezium.time.Date", "org.apache.kafka.connect.data.Date"}
_TIMESTAMP_TICKS = {
    "io.debezium.time.Timestamp": 1_000,
    "org.apache.kafka.connect.data.Timestamp": 1_000,
    "io.debezium.time.MicroTimestamp": 1_000_000,
    "io.debezium.time.NanoTimestamp": 1_000_000_000,
}
_TIME_TICKS = {
    "io.debezium.time.Time": 1_000,
    "org.apache.kafka.connect.data.Time": 1_000,
    "io.debezium.time.MicroTime": 1_000_000,
    "io.debezium.time.NanoTime": 1_000_000_000,
}


def validate(schema: dict[str, Any], value: Any, path: str = "$") -> list[str]:
    problems: list[str] = []
    _check(schema, value, path, problems)
    return problems


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _b64(value: str) -> bytes | None:
    try:
        return binascii.a2b_base64(value, strict_mode=True)
    except (binascii.Error, ValueError):
        return None


_MAC6 = re.compile(r"[0-9a-fA-F]{2}([:-])[0-9a-fA-F]{2}(\1[0-9a-fA-F]{2}){4}")
_MAC8 = re.compile(r"[0-9a-fA-F]{2}([:-])[0-9a-fA-F]{2}(\1[0-9a-fA-F]{2}){6}")


def _parses_as(source_type: str, value: str) -> bool:
    """Whether a database column of that source type would take the string (others: any string)."""
    try:
        if source_type in ("UUID", "UNIQUEIDENTIFIER"):
            return len(value) == 36 and uuid.UUID(value) is not None
        if source_type == "INET":
            return ipaddress.ip_interface(value) is not None
        if source_type == "CIDR":
            return ipaddress.ip_network(value, strict=True) is not None
    except ValueError:
        return False
    if source_type == "MACADDR":
        return bool(_MAC6.fullmatch(value))
    if source_type == "MACADDR8":
        return bool(_MAC6.fullmatch(value) or _MAC8.fullmatch(value))
    return True


def _check(schema: Any, value: Any, path: str, out: list[str]) -> None:
    if not isinstance(schema, dict) or "type" not in schema:
        out.append(f"{path}: schema node has no type")
        return
    if value is None:
        if not schema.get("optional", False) and schema.get("default") is None:
            out.append(f"{path}: null in a non-optional {schema['type']}")
        return
    ctype = schema["type"]
    name = schema.get("name")
    before = len(out)
    if ctype in INT_RANGES:
        if not _is_int(value):
            out.append(f"{path}: {ctype} expects a JSON integer, got {type(value).__name__}")
        else:
            lo, hi = INT_RANGES[ctype]
            if not lo <= value <= hi:
                out.append(f"{path}: {value} is out of the {ctype} range")
    elif ctype in ("float32", "float64"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            out.append(f"{path}: {ctype} expects a JSON number, got {type(value).__name__}")
        elif isinstance(value, float) and not math.isfinite(value):
            out.append(f"{path}: {ctype} is not finite")
        elif ctype == "float32" and abs(value) > FLOAT32_MAX:
            out.append(f"{path}: {value} is out of the float32 range")
    elif ctype == "boolean":
        if not isinstance(value, bool):
            out.append(f"{path}: boolean expects true/false, got {type(value).__name__}")
    elif ctype == "string":
        if not isinstance(value, str):
            out.append(f"{path}: string expects a JSON string, got {type(value).__name__}")
        else:
            length = (schema.get("parameters") or {}).get("__debezium.source.column.length")
            if length is not None and str(length).isdigit() and len(value) > int(length):
                out.append(f"{path}: string of {len(value)} characters exceeds the column length {length}")
            source_type = (schema.get("parameters") or {}).get("__debezium.source.column.type")
            if source_type is not None and not _parses_as(str(source_type).upper(), value):
                out.append(f"{path}: not a valid {source_type} value")
    elif ctype == "bytes":
        if not isinstance(value, str):
            out.append(f"{path}: bytes expects a base64 JSON string, got {type(value).__name__}")
        elif _b64(value) is None:
            out.append(f"{path}: bytes value is not valid base64")
    elif ctype == "struct":
        if not isinstance(value, dict):
            out.append(f"{path}: struct expects a JSON object, got {type(value).__name__}")
        else:
            declared = {f.get("field"): f for f in schema.get("fields") or ()}
            for fname, fschema in declared.items():
                _check(fschema, value.get(fname), f"{path}.{fname}", out)
            for extra in value.keys() - declared.keys():
                out.append(f"{path}.{extra}: field not declared in the struct schema")
    elif ctype == "array":
        if not isinstance(value, list):
            out.append(f"{path}: array expects a JSON array, got {type(value).__name__}")
        else:
            items = schema.get("items")
            for i, item in enumerate(value):
                _check(items, item, f"{path}[{i}]", out)
    elif ctype == "map":
        keys, values = schema.get("keys"), schema.get("values")
        if isinstance(value, dict):
            if not isinstance(keys, dict) or keys.get("type") != "string":
                out.append(f"{path}: a map with non-string keys must be a JSON array of [key, value] pairs")
            for k, v in value.items():
                _check(keys, k, f"{path}<key {k!r}>", out)
                _check(values, v, f"{path}[{k!r}]", out)
        elif isinstance(value, list):
            for i, pair in enumerate(value):
                if not isinstance(pair, list) or len(pair) != 2:
                    out.append(f"{path}[{i}]: map entry is not a [key, value] pair")
                    continue
                _check(keys, pair[0], f"{path}[{i}].key", out)
                _check(values, pair[1], f"{path}[{i}].value", out)
        else:
            out.append(f"{path}: map expects a JSON object or array of pairs, got {type(value).__name__}")
    else:
        out.append(f"{path}: unknown Connect type {ctype!r}")
    if len(out) == before and name:
        _check_logical(schema, name, value, path, out)


def _check_logical(schema: dict[str, Any], name: str, value: Any, path: str, out: list[str]) -> None:
    params = schema.get("parameters") or {}
    if name == "org.apache.kafka.connect.data.Decimal":
        raw = _b64(value)
        scale = params.get("scale")
        if scale is None or not str(scale).lstrip("-").isdigit():
            out.append(f"{path}: Decimal schema has no integer `scale` parameter")
        if not raw:
            out.append(f"{path}: Decimal bytes are empty (no unscaled value)")
            return
        unscaled = int.from_bytes(raw, "big", signed=True)
        precision = params.get("connect.decimal.precision")
        if precision is not None and len(str(abs(unscaled))) > int(precision):
            out.append(f"{path}: Decimal has more digits than its precision {precision}")
    elif name == "io.debezium.data.VariableScaleDecimal":
        raw = _b64(value.get("value", "")) if isinstance(value.get("value"), str) else None
        if not raw:
            out.append(f"{path}: VariableScaleDecimal value bytes are empty")
    elif name in _DATE_NAMES:
        if not _MIN_DAY <= value <= _MAX_DAY:
            out.append(f"{path}: date is outside years 1-9999")
    elif name in _TIMESTAMP_TICKS:
        ticks = _TIMESTAMP_TICKS[name]
        if not _MIN_DAY * _DAY_SECONDS * ticks <= value < (_MAX_DAY + 1) * _DAY_SECONDS * ticks:
            out.append(f"{path}: timestamp is outside years 1-9999")
    elif name in _TIME_TICKS:
        if not 0 <= value <= _DAY_SECONDS * _TIME_TICKS[name]:
            out.append(f"{path}: time of day is outside 00:00-24:00")
    elif name == "io.debezium.time.ZonedTimestamp":
        try:
            parsed = dt.datetime.fromisoformat(value)
        except ValueError:
            out.append(f"{path}: ZonedTimestamp is not ISO-8601")
            return
        if parsed.tzinfo is None:
            out.append(f"{path}: ZonedTimestamp has no offset")
    elif name == "io.debezium.data.Uuid":
        try:
            uuid.UUID(value)
        except ValueError:
            out.append(f"{path}: not a UUID")
    elif name == "io.debezium.data.Json":
        try:
            json.loads(value)
        except ValueError:
            out.append(f"{path}: not valid JSON text")
    elif name == "io.debezium.data.Enum":
        allowed = str(params.get("allowed", "")).split(",")
        if value not in allowed:
            out.append(f"{path}: enum label is not one of `allowed`")
    elif name == "io.debezium.data.EnumSet":
        labels = set(str(params.get("allowed", "")).split(","))
        if value and not set(value.split(",")) <= labels:
            out.append(f"{path}: enum set has labels outside `allowed`")
