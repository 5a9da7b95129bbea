"""Avro schemas and values in the Kafka Connect data model, translated as Confluent's AvroData does.

Debezium with Confluent's AvroConverter registers ``AvroData.fromConnectSchema(<Connect schema>)`` in the
Schema Registry and writes ``fromConnectData`` values; a consumer's AvroConverter reads them back with
``toConnectSchema`` / ``toConnectData``. The rest of streammask works on the Connect data model: schemas in
JsonConverter's JSON form (``{"type": "struct", "optional": false, "name": ..., "fields": [...]}``) and
values as JsonConverter writes them (base64 for bytes and Decimal, integers for dates and timestamps). This
module is that translation, both ways, with the converter's default settings: ``connect.meta.data=true``,
``enhanced.avro.schema.support=false``, ``generalized.sum.type.support=false``, ``scrub.invalid.names=false``,
``discard.type.doc.default=false``, ``allow.optional.map.keys=false``, ``flatten.singleton.unions=true``.

Source followed: confluentinc/schema-registry, ``avro-data/src/main/java/io/confluent/connect/avro/AvroData.java``
at commit 794611bd (``Lnnn`` below are its lines), with Apache Avro's ``Schema.toJson`` for how a schema is
printed (namespaces relative to the enclosing record, a named type spelled out once, then referenced) and
Kafka's ``JsonConverter.asJsonSchema`` / ``convertToJson`` for the JSON form. Deviations, each on purpose:

- an Avro ``enum`` becomes a Connect string named ``io.debezium.data.Enum`` whose ``allowed`` parameter lists
  the symbols (AvroData names it after the enum), so masking keeps values within the symbols; AvroData's own
  parameters (``io.confluent.connect.avro.Enum`` = the enum's full name, ``...Enum.<symbol>``) are kept too;
- unions other than ``[null, X]``, ``[X, null]`` and ``[X]``, and recursive types, are refused (AvroData maps
  them to a struct ``io.confluent.connect.avro.Union`` and to cyclic schemas; Debezium writes neither and
  JsonConverter's form cannot hold a cycle); so are two different Connect structs under one name, which
  AvroData would either merge into the first or turn into a schema Avro refuses to print;
- values keep their bytes: a Decimal's unscaled bytes pass as they are (AvroData goes through BigDecimal, which
  gives the same bytes for the minimal two's complement Debezium writes), except that an Avro ``fixed`` decimal
  is sign-extended to its size and read back minimal, as AvroData does; a payload field the schema does not
  declare is refused (JsonConverter would drop it silently).

Every error is an ``AvroMappingError`` that names where (``$.after.email``, ``$.tags[]``, ``$.attrs{}``),
never a value.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import copy
import json
import math
import struct
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from streammask.errors import DecodeError
from streammask.types import CONNECT_DATE, CONNECT_TIME, CONNECT_TIMESTAMP, DECIMAL, ENUM, INT_RANGES

AvroJson = dict[str, Any] | list[Any] | str
"""A parsed Avro schema: a named or primitive type, a schema object, or a union."""


class AvroMappingError(DecodeError):
    """An Avro schema, a Connect schema or a value with no translation between the two; the message names the
    place (schema path or field path) and the rule, never a value."""


# AvroData's names (L86-L118, L271-L281).
NAMESPACE: Final = "io.confluent.connect.avro"
DEFAULT_SCHEMA_NAME: Final = "ConnectDefault"
DEFAULT_SCHEMA_FULL_NAME: Final = NAMESPACE + "." + DEFAULT_SCHEMA_NAME
MAP_ENTRY_TYPE_NAME: Final = "MapEntry"
CONNECT_NAME: Final = "connect.name"
CONNECT_DOC: Final = "connect.doc"
CONNECT_VERSION: Final = "connect.version"
CONNECT_DEFAULT: Final = "connect.default"
CONNECT_PARAMETERS: Final = "connect.parameters"
CONNECT_TYPE: Final = "connect.type"
CONNECT_INTERNAL_TYPE: Final = "connect.internal.type"
RECORD_DOC: Final = NAMESPACE + ".record.doc"
FIELD_DOC_PREFIX: Final = NAMESPACE + ".field.doc."
ENUM_DOC_PREFIX: Final = NAMESPACE + ".enum.doc."
ENUM_DEFAULT_PREFIX: Final = NAMESPACE + ".enum.default."
FIELD_DEFAULT_FLAG: Final = NAMESPACE + ".field.default"
AVRO_ENUM: Final = NAMESPACE + ".Enum"
AVRO_UNION: Final = NAMESPACE + ".Union"
FIXED_SIZE: Final = "connect.fixed.size"
DECIMAL_PRECISION: Final = "connect.decimal.precision"
DEFAULT_DECIMAL_PRECISION: Final = 64

_AVRO_PRIMITIVES: Final = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})
_AVRO_NAMED: Final = frozenset({"record", "error", "enum", "fixed"})
_AVRO_TYPE_NAMES: Final = _AVRO_PRIMITIVES | {"record", "enum", "array", "map", "union", "fixed"}
# Keys Avro keeps for itself (Schema.SCHEMA_RESERVED, ENUM_RESERVED): every other key is a property.
_RESERVED: Final = frozenset(
    {"doc", "fields", "items", "name", "namespace", "size", "symbols", "values", "type", "aliases"}
)
_CONNECT_TO_AVRO: Final = {
    "int8": "int", "int16": "int", "int32": "int", "int64": "long", "float32": "float", "float64": "double",
    "boolean": "boolean", "string": "string", "bytes": "bytes",
}
_LOGICAL_BY_NAME: Final = {  # Connect logical name -> (Avro logical type, the Avro type it needs) (L1066-L1071)
    CONNECT_TIME.lower(): ("time-millis", "int"),
    CONNECT_TIMESTAMP.lower(): ("timestamp-millis", "long"),
    CONNECT_DATE.lower(): ("date", "int"),
}
_NON_FINITE: Final = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
_FLOAT32_MAX: Final = 3.4028234663852886e38


class _Absent:
    """No default (a JSON ``null`` default is a value here)."""


_NO: Final = _Absent()


# -- Avro -> Connect (AvroData.toConnectSchema, L1875-L2226) ---------------------------------------------------


def connect_schema_of(avro_schema: Any) -> dict[str, Any]:
    """The Connect schema, in JsonConverter's JSON form, that AvroConverter reads from ``avro_schema`` (parsed
    JSON, as the Schema Registry serves it): what ``AvroData.toConnectSchema`` gives, written by
    ``JsonConverter.asJsonSchema``. Named types may be referenced after their definition, by full name or
    relative to the enclosing namespace."""
    return _ToConnect().schema(avro_schema, None, "$")


class _ToConnect:
    """One translation: the named types defined so far, and those being translated (a reference back to one
    is a recursive type)."""

    def __init__(self) -> None:
        self.names: dict[str, tuple[dict[str, Any], str | None]] = {}
        self.open: set[str] = set()

    def schema(self, node: Any, space: str | None, path: str, *, optional: bool = False,
               field_default: Any = _NO) -> dict[str, Any]:
        if isinstance(node, list):
            return self._union(node, space, path)
        avro_type, body, inner_space, full = self._resolve(node, space, path)
        if full is None:
            return self._translate(avro_type, body, space, None, path, optional, field_default)
        if full in self.open:
            raise AvroMappingError(f"{path}: recursive type {full} (JsonConverter's schema form cannot hold a cycle)")
        self.open.add(full)
        try:
            return self._translate(avro_type, body, inner_space, full, path, optional, field_default)
        finally:
            self.open.discard(full)

    def _resolve(self, node: Any, space: str | None, path: str) -> tuple[str, dict[str, Any], str | None, str | None]:
        """(Avro type, the object that defines it, the namespace inside it, its full name if named)."""
        if isinstance(node, str):
            return (node, {}, space, None) if node in _AVRO_PRIMITIVES else self._reference(node, space, path)
        if not isinstance(node, dict):
            raise AvroMappingError(f"{path}: not an Avro schema (a JSON {type(node).__name__})")
        avro_type = node.get("type")
        if not isinstance(avro_type, str):
            raise AvroMappingError(f"{path}: an Avro schema object needs a type name")
        if avro_type in _AVRO_NAMED:
            full, inner = self._define(node, space, path)
            return ("record" if avro_type == "error" else avro_type), node, inner, full
        if avro_type in _AVRO_PRIMITIVES or avro_type in ("array", "map"):
            return avro_type, node, space, None
        return self._reference(avro_type, space, path)  # {"type": "<name>"}: Avro ignores the other keys

    def _define(self, node: dict[str, Any], space: str | None, path: str) -> tuple[str, str | None]:
        name = node.get("name")
        if not isinstance(name, str) or not name:
            raise AvroMappingError(f"{path}: a {node.get('type')} without a name")
        if "." in name:
            inner: str | None = name.rsplit(".", 1)[0]
            full = name
        else:
            declared = node.get("namespace", space)
            inner = declared if isinstance(declared, str) and declared else None
            full = f"{inner}.{name}" if inner else name
        known = self.names.get(full)
        if known is not None and known[0] is not node:
            raise AvroMappingError(f"{path}: {full} is defined twice")
        self.names[full] = (node, inner)
        return full, inner

    def _reference(self, name: str, space: str | None, path: str) -> tuple[str, dict[str, Any], str | None, str]:
        # Avro's Names.get: the name in the enclosing namespace first, then as written.
        for full in ([f"{space}.{name}"] if space and "." not in name else []) + [name]:
            if full in self.names:
                body, inner = self.names[full]
                kind = body["type"]
                return ("record" if kind == "error" else kind), body, inner, full
        raise AvroMappingError(f"{path}: type {name} is used before it is defined")

    def _union(self, branches: list[Any], space: str | None, path: str) -> dict[str, Any]:
        # L2048-L2060: a singleton union is its branch; [null, X] and [X, null] are an optional X, whose field
        # default is dropped (X's connect.default, if any, gives the Connect default).
        if len(branches) == 1:
            return self.schema(branches[0], space, path)
        nulls = [b for b in branches if b == "null" or (isinstance(b, dict) and b.get("type") == "null")]
        if len(branches) == 2 and len(nulls) == 1:
            other = branches[1] if branches[0] is nulls[0] else branches[0]
            return self.schema(other, space, path, optional=True)
        raise AvroMappingError(
            f"{path}: a union of {len(branches)} branches; only [null, X] (an optional X) has a Connect form here"
        )

    def _translate(self, avro_type: str, body: dict[str, Any], space: str | None, full: str | None, path: str,
                   optional: bool, field_default: Any) -> dict[str, Any]:
        props = {k: v for k, v in body.items() if k not in _RESERVED and not (avro_type == "enum" and k == "default")}
        logical = props.get("logicalType")
        logical = logical.lower() if isinstance(logical, str) else None
        out: dict[str, Any] = {}
        name: str | None = None
        version: int | None = None
        params: dict[str, str] = {}
        if avro_type == "boolean":
            out["type"] = "boolean"
        elif avro_type in ("bytes", "fixed"):
            out["type"] = "bytes"
            if logical == "decimal":  # L1891-L1920
                scale = props.get("scale")
                name, version = DECIMAL, 1
                params["scale"] = str(int(scale) if isinstance(scale, int | float) and _is_number(scale) else 0)
                precision = props.get("precision")
                if precision is not None:
                    if not _is_number(precision):
                        raise AvroMappingError(f"{path}: the decimal precision is not a JSON number")
                    if int(precision) != DEFAULT_DECIMAL_PRECISION:
                        params[DECIMAL_PRECISION] = str(int(precision))
            if avro_type == "fixed":
                size = body.get("size")
                if not isinstance(size, int) or isinstance(size, bool) or size < 0:
                    raise AvroMappingError(f"{path}: fixed {full} has no valid size")
                params[FIXED_SIZE] = str(size)
        elif avro_type == "double":
            out["type"] = "float64"
        elif avro_type == "float":
            out["type"] = "float32"
        elif avro_type == "int":  # L1925-L1944: int8/int16 only by connect.type, and only without a logical type
            connect_type = props.get(CONNECT_TYPE)
            out["type"] = "int32"
            if logical == "date":
                name, version = CONNECT_DATE, 1
            elif logical == "time-millis":
                name, version = CONNECT_TIME, 1
            elif logical is None and connect_type is not None:
                if connect_type not in ("int8", "int16"):
                    raise AvroMappingError(f"{path}: connect.type {connect_type!r} on an Avro int")
                out["type"] = connect_type
        elif avro_type == "long":
            out["type"] = "int64"
            if logical == "timestamp-millis":
                name, version = CONNECT_TIMESTAMP, 1
        elif avro_type == "string":
            out["type"] = "string"
        elif avro_type == "array":
            self._array(body, space, path, out)
        elif avro_type == "map":
            if "values" not in body:
                raise AvroMappingError(f"{path}: a map without values")
            out["type"] = "map"
            out["keys"] = {"type": "string", "optional": False}
            out["values"] = self.schema(body["values"], space, path + "{}")
        elif avro_type == "record":
            self._record(body, space, path, out, params)
        elif avro_type == "enum":
            _enum_params(body, full or "", path, params)
            out["type"] = "string"
        elif avro_type == "null":
            raise AvroMappingError(f"{path}: a null outside a union has no Connect type")
        else:  # pragma: no cover - _resolve only returns the types above
            raise AvroMappingError(f"{path}: unknown Avro type {avro_type}")

        # Metadata (L2111-L2214): connect.doc, connect.version, connect.parameters, avro* properties, defaults.
        doc = props.get(CONNECT_DOC)
        connect_version = props.get(CONNECT_VERSION)
        if connect_version is not None:
            if not _is_number(connect_version):
                raise AvroMappingError(f"{path}: connect.version is not a number")
            if int(connect_version) >= 0:
                if version is not None and int(connect_version) != version:
                    raise AvroMappingError(f"{path}: connect.version {connect_version} differs from {name}'s {version}")
                version = int(connect_version)
        connect_params = props.get(CONNECT_PARAMETERS)
        if connect_params is not None:
            if not isinstance(connect_params, dict) or not all(isinstance(v, str) for v in connect_params.values()):
                raise AvroMappingError(f"{path}: connect.parameters is not an object of strings")
            params.update(connect_params)
        for key, value in props.items():
            if key.startswith("avro"):
                params[key] = _java_text(value)
        connect_default = props.get(CONNECT_DEFAULT)
        if field_default is _NO:
            field_default = _NO if connect_default is None else connect_default
        elif connect_default is None:
            params[FIELD_DEFAULT_FLAG] = "true"

        connect_name = props.get(CONNECT_NAME)
        found: str | None = None
        if connect_name is not None:
            if not isinstance(connect_name, str):
                raise AvroMappingError(f"{path}: connect.name is not a string")
            found = connect_name
        elif avro_type in ("record", "enum") or (avro_type == "fixed" and name != DECIMAL):
            found = full
        if found is not None and not found.startswith(DEFAULT_SCHEMA_FULL_NAME):
            if name is not None and found != name:
                raise AvroMappingError(f"{path}: the name {found} differs from the logical type's {name}")
            name = found
        if avro_type == "enum":
            name = ENUM  # streammask: masking keeps an enum's values within `allowed` (see the module docstring)

        out["optional"] = optional
        if name is not None:
            out["name"] = name
        if version is not None:
            out["version"] = version
        if isinstance(doc, str):
            out["doc"] = doc
        if params:
            out["parameters"] = params
        if field_default is not _NO and field_default is not None:
            with contextlib.suppress(_BadDefault):  # AvroData logs "Ignoring invalid default" (L2175-L2181)
                default = _default_from_avro(out, field_default)
                if default is not None:
                    out["default"] = default
        return out

    def _array(self, body: dict[str, Any], space: str | None, path: str, out: dict[str, Any]) -> None:
        if "items" not in body:
            raise AvroMappingError(f"{path}: an array without items")
        items = body["items"]
        if not isinstance(items, list):
            kind, entry, inner, full = self._resolve(items, space, path + "[]")
            if kind == "record" and _is_map_entry(entry, full):  # L1956-L1970, L1477-L1489
                fields = entry.get("fields")
                by_name = {f.get("name"): f for f in fields or () if isinstance(f, dict)}
                if len(fields or ()) != 2 or "key" not in by_name or "value" not in by_name:
                    raise AvroMappingError(f"{path}: a map entry record needs exactly the fields key and value")
                # The entry's field defaults and properties are not read (AvroData: toConnectSchema(field schema)).
                out["type"] = "map"
                out["keys"] = self.schema(by_name["key"].get("type"), inner, path + "<key>")
                out["values"] = self.schema(by_name["value"].get("type"), inner, path + "{}")
                return
        out["type"] = "array"
        out["items"] = self.schema(items, space, path + "[]")

    def _record(self, body: dict[str, Any], space: str | None, path: str, out: dict[str, Any],
                params: dict[str, str]) -> None:
        # L1986-L2019: the record's and its fields' docs become parameters; field defaults become Connect defaults.
        fields = body.get("fields")
        if not isinstance(fields, list):
            raise AvroMappingError(f"{path}: a record without a fields list")
        doc = body.get("doc")
        if isinstance(doc, str):
            params[RECORD_DOC] = doc
        out["type"] = "struct"
        connect_fields: list[dict[str, Any]] = []
        out["fields"] = connect_fields
        for f in fields:
            fname = f.get("name") if isinstance(f, dict) else None
            if not isinstance(fname, str) or "type" not in f:
                raise AvroMappingError(f"{path}: a record field without a name or type")
            fpath = f"{path}.{fname}"
            fdoc = f.get("doc")
            if isinstance(fdoc, str):
                params[FIELD_DOC_PREFIX + fname] = fdoc
            fschema = self.schema(f["type"], space, fpath, field_default=f.get("default", _NO))
            field_params = f.get(CONNECT_PARAMETERS)
            if isinstance(field_params, dict):
                fschema = _with_field_params(fschema, field_params)
            connect_fields.append({**fschema, "field": fname})


def _enum_params(body: dict[str, Any], full: str, path: str, params: dict[str, str]) -> None:
    """L2020-L2047 (AvroData's enum parameters), plus ``allowed`` for streammask."""
    symbols = body.get("symbols")
    if not isinstance(symbols, list) or not all(isinstance(s, str) for s in symbols):
        raise AvroMappingError(f"{path}: enum {full} has no list of symbols")
    short = full.rsplit(".", 1)[-1]
    if isinstance(body.get("doc"), str):
        params[ENUM_DOC_PREFIX + short] = body["doc"]
    if isinstance(body.get("default"), str):
        params[ENUM_DEFAULT_PREFIX + short] = body["default"]
    params[AVRO_ENUM] = full
    for symbol in symbols:
        params[f"{AVRO_ENUM}.{symbol}"] = symbol
    params["allowed"] = ",".join(symbols)


def _is_map_entry(entry: dict[str, Any], full: str | None) -> bool:
    """AvroData.isMapEntry (L1477-L1489): io.confluent.connect.avro.MapEntry, or marked connect.internal.type."""
    return full == f"{NAMESPACE}.{MAP_ENTRY_TYPE_NAME}" or entry.get(CONNECT_INTERNAL_TYPE) == MAP_ENTRY_TYPE_NAME


def _with_field_params(schema: dict[str, Any], field_params: dict[str, Any]) -> dict[str, Any]:
    """applyFieldLevelParams (L1304-L1345): a field's own connect.parameters over its (shared) named type's."""
    params = dict(schema.get("parameters") or {})
    if all(_java_text(v) == params.get(k) for k, v in field_params.items()):
        return schema
    params.update({k: _java_text(v) for k, v in field_params.items()})
    return _ordered({**schema, "parameters": params})


_KEY_ORDER: Final = ("type", "fields", "items", "keys", "values", "optional", "name", "version", "doc", "parameters",
                     "default", "field")


def _ordered(schema: dict[str, Any]) -> dict[str, Any]:
    """JsonConverter's key order (asJsonSchema), for schemas that read like the ones it writes."""
    return {k: schema[k] for k in _KEY_ORDER if k in schema}


# -- Connect -> Avro (AvroData.fromConnectSchema, L816-L1122) --------------------------------------------------


def avro_schema_of(connect_schema: dict[str, Any]) -> AvroJson:
    """The Avro schema Debezium's AvroConverter registers for ``connect_schema`` (JsonConverter's JSON form):
    ``AvroData.fromConnectSchema``, printed as Avro's ``Schema.toString`` prints it (``json.dumps`` with
    ``separators=(",", ":")`` gives the registered text). A dict for a struct."""
    rendered: AvroJson = _render(_ToAvro().schema(connect_schema, "$"), {}, None)
    return rendered


@dataclass(eq=False)
class _Avro:
    """An Avro schema being built. The same object in two places is one named type: spelled out at its first
    place, referenced by name after (Avro's Schema.toJson)."""

    type: str
    props: dict[str, Any] = field(default_factory=dict)
    name: str | None = None
    namespace: str | None = None
    doc: str | None = None
    fields: list[_AvroField] = field(default_factory=list)
    size: int = 0
    inner: list[_Avro] = field(default_factory=list)  # an array's items, a map's values, a union's branches


@dataclass(eq=False)
class _AvroField:
    name: str
    schema: _Avro
    doc: str | None
    default: Any
    props: dict[str, Any] = field(default_factory=dict)


class _ToAvro:
    """One translation: AvroData's FromConnectContext (L2817-L2835) with its schemaMap keyed by the Connect
    schema's canonical JSON, cycleReferences by struct name, and the ConnectDefault counter."""

    def __init__(self) -> None:
        self.by_schema: dict[str, _Avro] = {}
        self.structs: dict[str, tuple[str, _Avro]] = {}
        self.seen_names: set[str] = set()
        self.unnamed = 0

    def schema(self, s: Any, path: str) -> _Avro:
        ctype = _connect_type(s, path)
        optional = bool(s.get("optional", False))
        name = s.get("name")
        if name is not None and not isinstance(name, str):
            raise AvroMappingError(f"{path}: the schema name is not a string")
        if name == AVRO_UNION:
            raise AvroMappingError(f"{path}: Connect unions ({AVRO_UNION}) have no translation here")
        key = None
        if not optional:  # L823-L828
            key = _canonical(s)
            cached = self.by_schema.get(key)
            if cached is not None:
                return cached
        params = _connect_params(s, path)
        connect_type: str | None = None
        if ctype in ("int8", "int16"):
            connect_type = ctype
        if ctype == "struct" and optional:  # L972-L977: the union holds the record, which holds the metadata
            return _Avro("union", inner=[_Avro("null"), self._with_cycle({**s, "optional": False}, path)])
        if ctype == "struct":
            base = self._record(s, name, params, path)
        elif ctype == "bytes":
            base = self._bytes(s, name, params, path)
        elif ctype == "array":
            base = _Avro("array", inner=[self._with_cycle(_child(s, "items", path), path + "[]")])
        elif ctype == "map":
            base = self._map(s, name, path)
        else:
            base = _Avro(_CONNECT_TO_AVRO[ctype])

        # L1006-L1037: the metadata, on the type itself (never on the union that makes it optional).
        if s.get("doc") is not None:
            base.props[CONNECT_DOC] = _text(s["doc"], path, "doc")
        if s.get("version") is not None:
            version = s["version"]
            if not isinstance(version, int) or isinstance(version, bool):
                raise AvroMappingError(f"{path}: the schema version is not an integer")
            base.props[CONNECT_VERSION] = version
        shown = {k: v for k, v in params.items() if k != FIELD_DEFAULT_FLAG}
        if shown:
            base.props[CONNECT_PARAMETERS] = shown
        if s.get("default") is not None and FIELD_DEFAULT_FLAG not in params:
            base.props[CONNECT_DEFAULT] = _default_to_avro(s, s["default"], path)
        if name is not None:
            base.props[CONNECT_NAME] = name
        if connect_type is not None:
            base.props[CONNECT_TYPE] = connect_type
        self._logical(base, name, params, path)
        for key_, value in params.items():  # L1103-L1108
            if key_.startswith("avro"):
                base.props.setdefault(key_, value)
        final = _maybe_optional(s, base)
        if key is not None:
            self.by_schema[key] = final
        return final

    def _with_cycle(self, s: dict[str, Any], path: str) -> _Avro:
        """fromConnectSchemaWithCycle (L1219-L1232): a struct whose name was met already is that record."""
        name = s.get("name")
        if _connect_type(s, path) == "struct" and isinstance(name, str) and name in self.structs:
            key, record = self.structs[name]
            if _canonical({**s, "optional": False}) != key:
                raise AvroMappingError(f"{path}: two different structs are named {name}")
            return _maybe_optional(s, record)
        return self.schema(s, path)

    def _names(self, name: str | None, path: str) -> tuple[str | None, str]:
        """getNameOrDefault (L1124-L1132) and splitName (L2517-L2536)."""
        if name is None:
            self.unnamed += 1
            return NAMESPACE, DEFAULT_SCHEMA_NAME + (str(self.unnamed) if self.unnamed > 1 else "")
        parts = name.split(".")
        for part in parts:
            if not _valid_avro_name(part):
                raise AvroMappingError(f"{path}: the name {name} is not a valid Avro name")
        if name in _AVRO_PRIMITIVES:
            raise AvroMappingError(f"{path}: an Avro type may not be named {name}")
        return (".".join(parts[:-1]) or None), parts[-1]

    def _record(self, s: dict[str, Any], name: str | None, params: dict[str, str], path: str) -> _Avro:
        """L978-L1000: the record's doc and its fields' docs come from AvroData's doc parameters."""
        namespace, short = self._names(name, path)
        record = _Avro("record", name=short, namespace=namespace, doc=params.get(RECORD_DOC))
        if name is not None:
            if name in self.structs:
                raise AvroMappingError(f"{path}: two different structs are named {name}")
            self.structs[name] = (_canonical({**s, "optional": False}), record)
        fields = s.get("fields")
        if not isinstance(fields, list):
            raise AvroMappingError(f"{path}: a struct without a fields list")
        taken: set[str] = set()
        for f in fields:
            fname = f.get("field") if isinstance(f, dict) else None
            if not isinstance(fname, str) or not _valid_avro_name(fname):
                raise AvroMappingError(f"{path}: a field name that is not a valid Avro name")
            if fname in taken:
                raise AvroMappingError(f"{path}.{fname}: a second field with that name")
            taken.add(fname)
            self._add_field(record, fname, f, params.get(FIELD_DOC_PREFIX + fname), f"{path}.{fname}")
        return record

    def _add_field(self, record: _Avro, fname: str, s: dict[str, Any], doc: str | None, path: str) -> None:
        """addAvroRecordField (L1234-L1274): an optional field defaults to null, a Connect default becomes the field
        default when Avro accepts it (else none); a second use of a named type keeps its parameters on the field."""
        default: Any = _NO
        if s.get("default") is not None:
            default = _default_to_avro(s, s["default"], path)
        elif s.get("optional", False):
            default = None
        name = s.get("name")
        already_seen = isinstance(name, str) and name in self.seen_names
        if isinstance(name, str):
            self.seen_names.add(name)
        avro = self.schema(s, path)
        if default is not _NO and not _valid_default(avro, default):
            default = _NO
        props: dict[str, Any] = {}
        params = {k: v for k, v in _connect_params(s, path).items() if k != FIELD_DEFAULT_FLAG}
        if already_seen and params and _is_named(avro):
            props[CONNECT_PARAMETERS] = params
        record.fields.append(_AvroField(fname, avro, doc, default, props))

    def _bytes(self, s: dict[str, Any], name: str | None, params: dict[str, str], path: str) -> _Avro:
        """L888-L913: fixed when named with connect.fixed.size; a Decimal carries scale and precision."""
        if name is not None and FIXED_SIZE in params:
            namespace, short = self._names(name, path)
            size = _int_param(params, FIXED_SIZE, path)
            base = _Avro("fixed", name=short, namespace=namespace, size=size)
        else:
            base = _Avro("bytes")
        if name is not None and name.lower() == DECIMAL.lower():
            base.props["scale"] = _int_param(params, "scale", path)
            base.props["precision"] = _precision(params, path)
        return base

    def _map(self, s: dict[str, Any], name: str | None, path: str) -> _Avro:
        """L918-L958: an Avro map for required string keys, else an array of MapEntry records."""
        keys, values = _child(s, "keys", path), _child(s, "values", path)
        if _connect_type(keys, path) == "string" and not keys.get("optional", False):
            return _Avro("map", inner=[self._with_cycle(values, path + "{}")])
        if name is None:
            entry = _Avro("record", name=MAP_ENTRY_TYPE_NAME, namespace=NAMESPACE)
        else:
            namespace, short = self._names(name, path)
            entry = _Avro("record", name=short, namespace=namespace, props={CONNECT_INTERNAL_TYPE: MAP_ENTRY_TYPE_NAME})
        self._add_field(entry, "key", keys, None, path + "<key>")
        self._add_field(entry, "value", values, None, path + "{}")
        return _Avro("array", inner=[entry])

    def _logical(self, base: _Avro, name: str | None, params: dict[str, str], path: str) -> None:
        """L1039-L1102: Decimal, Date, Time and Timestamp as Avro logical types (a decimal whose scale is
        negative or above its precision keeps only the legacy logicalType property)."""
        if name is None:
            return
        lowered = name.lower()
        if lowered == DECIMAL.lower():
            if base.type not in ("bytes", "fixed"):
                raise AvroMappingError(f"{path}: a Decimal must be bytes")
            precision, scale = _precision(params, path), _int_param(params, "scale", path)
            # LogicalTypes.decimal(precision, scale) validates; a scale outside [0, precision] skips it and keeps
            # only the legacy property (forceLegacyDecimal). Both write logicalType "decimal".
            too_wide = base.type == "fixed" and precision > _max_fixed_precision(base.size)
            if 0 <= scale <= precision and (precision <= 0 or too_wide):
                raise AvroMappingError(f"{path}: a decimal precision of {precision} does not fit its Avro type")
            base.props["logicalType"] = "decimal"
        elif lowered in _LOGICAL_BY_NAME:
            logical, needs = _LOGICAL_BY_NAME[lowered]
            if base.type != needs:
                raise AvroMappingError(f"{path}: {name} must be an Avro {needs}")
            base.props["logicalType"] = logical


def _maybe_optional(s: dict[str, Any], base: _Avro) -> _Avro:
    """maybeMakeOptional (L1134-L1150): [null, X], or [X, null] when there is a default (Avro takes a field
    default from the union's first branch)."""
    if not s.get("optional", False):
        return base
    if s.get("default") is not None:
        return _Avro("union", inner=[base, _Avro("null")])
    return _Avro("union", inner=[_Avro("null"), base])


def _is_named(avro: _Avro) -> bool:
    """isNamedAvroType (L1280-L1298)."""
    if avro.type == "union":
        return any(b.type in ("record", "fixed", "enum") for b in avro.inner)
    return avro.type in ("record", "fixed", "enum")


def _max_fixed_precision(size: int) -> int:
    """Avro's LogicalTypes.Decimal.maxPrecision: the digits a fixed of ``size`` bytes holds."""
    return int(math.floor(math.log10(2) * (8 * size - 1)))


def _render(node: _Avro, names: dict[str, _Avro], space: str | None) -> Any:
    """Avro's Schema.toJson: a named type spelled out where first met, then its name (relative to the enclosing
    namespace); a namespace written only where it differs from the enclosing one."""
    if node.type == "union":
        return [_render(b, names, space) for b in node.inner]
    if node.type in ("record", "fixed"):
        full = f"{node.namespace}.{node.name}" if node.namespace else str(node.name)
        known = names.get(full)
        if known is not None:
            if known is not node and _shape(known) != _shape(node):
                raise AvroMappingError(f"two different Avro types are named {full} (Avro cannot print that schema)")
            return node.name if node.namespace == space and node.name not in _AVRO_TYPE_NAMES else full
        names[full] = node
        out: dict[str, Any] = {"type": node.type, "name": node.name}
        if node.namespace is not None and node.namespace != space:
            out["namespace"] = node.namespace
        elif node.namespace is None and space is not None:
            out["namespace"] = ""
        if node.doc is not None:
            out["doc"] = node.doc
        if node.type == "record":
            out["fields"] = [_render_field(f, names, node.namespace) for f in node.fields]
        else:
            out["size"] = node.size
        out.update(node.props)
        return out
    if node.type == "array":
        return {"type": "array", "items": _render(node.inner[0], names, space), **node.props}
    if node.type == "map":
        return {"type": "map", "values": _render(node.inner[0], names, space), **node.props}
    return {"type": node.type, **node.props} if node.props else node.type


def _render_field(f: _AvroField, names: dict[str, _Avro], space: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {"name": f.name, "type": _render(f.schema, names, space)}
    if f.doc is not None:
        out["doc"] = f.doc
    if f.default is not _NO:
        out["default"] = f.default
    out.update(f.props)
    return out


def _shape(node: _Avro) -> str:
    return json.dumps(_render(node, {}, None), sort_keys=True)


# -- Connect schema reading --------------------------------------------------------------------------------------

_CONNECT_TYPES: Final = frozenset(_CONNECT_TO_AVRO) | {"struct", "array", "map"}


def _connect_type(s: Any, path: str) -> str:
    ctype = s.get("type") if isinstance(s, dict) else None
    if ctype not in _CONNECT_TYPES:
        raise AvroMappingError(f"{path}: not a Connect schema (type {ctype!r})")
    return str(ctype)


def _child(s: dict[str, Any], key: str, path: str) -> dict[str, Any]:
    child = s.get(key)
    if not isinstance(child, dict):
        raise AvroMappingError(f"{path}: a {s.get('type')} schema without {key}")
    return child


def _connect_params(s: dict[str, Any], path: str) -> dict[str, str]:
    params = s.get("parameters") or {}
    if not isinstance(params, dict) or not all(isinstance(v, str) for v in params.values()):
        raise AvroMappingError(f"{path}: parameters is not an object of strings")
    return params


def _int_param(params: dict[str, str], key: str, path: str) -> int:
    try:
        return int(params[key])
    except (KeyError, ValueError):
        raise AvroMappingError(f"{path}: parameter {key} is missing or not an integer") from None


def _precision(params: dict[str, str], path: str) -> int:
    """A Decimal's precision: connect.decimal.precision, else AvroData's default 64."""
    return _int_param(params, DECIMAL_PRECISION, path) if DECIMAL_PRECISION in params else DEFAULT_DECIMAL_PRECISION


def _text(value: Any, path: str, what: str) -> str:
    if not isinstance(value, str):
        raise AvroMappingError(f"{path}: {what} is not a string")
    return value


def _canonical(s: dict[str, Any]) -> str:
    """The identity of a Connect schema (ConnectSchema.equals: everything, optional included, parameters unordered)."""
    return json.dumps(_normal(s), sort_keys=True)


def _normal(s: Any) -> Any:
    if not isinstance(s, dict):
        return s
    out = {k: v for k, v in s.items() if k not in ("fields", "items", "keys", "values", "field", "optional")}
    out["optional"] = bool(s.get("optional", False))
    if not out.get("parameters"):
        out.pop("parameters", None)
    if s.get("default") is None:
        out.pop("default", None)
    if isinstance(s.get("fields"), list):
        out["fields"] = [[f.get("field"), _normal(f)] if isinstance(f, dict) else f for f in s["fields"]]
    for key in ("items", "keys", "values"):
        if key in s:
            out[key] = _normal(s[key])
    return out


def _valid_avro_name(name: str) -> bool:
    """Avro's Schema.validateName: a letter or underscore, then letters, digits and underscores."""
    return bool(name) and (name[0].isalpha() or name[0] == "_") and all(c.isalnum() or c == "_" for c in name)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _java_text(value: Any) -> str:
    """What Java's toString gives for a JSON property value (a text as is)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value, separators=(",", ":"))


# -- default values ------------------------------------------------------------------------------------------------


class _BadDefault(Exception):
    """A default that Connect or Avro would refuse (AvroData then drops it)."""


def _default_to_avro(s: dict[str, Any], value: Any, path: str) -> Any:
    """defaultValueFromConnect (L1372-L1458): a JsonConverter default as Avro's JSON default (bytes as ISO-8859-1
    text; a map with non-string keys as [key, value] pairs, which no Avro type accepts: AvroData's own form)."""
    try:
        return _to_avro_default(s, value)
    except (_BadDefault, AvroMappingError, KeyError, TypeError):
        raise AvroMappingError(f"{path}: the default does not fit the {s.get('type')} schema") from None


def _to_avro_default(s: dict[str, Any], value: Any) -> Any:
    if value is None:
        return None
    ctype = s.get("type")
    if ctype in INT_RANGES:
        return _check_int(value, str(ctype))
    if ctype in ("float32", "float64"):
        if value in _NON_FINITE:
            return value  # Jackson's text for it: no Avro float accepts it, so the field gets no default
        if not _is_number(value):
            raise _BadDefault
        return float(value)
    if ctype == "boolean" or ctype == "string":
        if not isinstance(value, bool if ctype == "boolean" else str):
            raise _BadDefault
        return value
    if ctype == "bytes":
        try:
            return _bytes_of(value, s).decode("latin-1")
        except AvroMappingError:
            raise _BadDefault from None
    if ctype == "array":
        if not isinstance(value, list):
            raise _BadDefault
        return [_to_avro_default(s["items"], v) for v in value]
    if ctype == "map":
        keys, values = s["keys"], s["values"]
        pairs = _json_map_pairs(value, keys)
        if keys.get("type") == "string" and not keys.get("optional", False):
            return {k: _to_avro_default(values, v) for k, v in pairs}
        return [[_to_avro_default(keys, k), _to_avro_default(values, v)] for k, v in pairs]
    if ctype == "struct":
        if not isinstance(value, dict):
            raise _BadDefault
        out = {}
        for f in s["fields"]:
            v = value.get(f["field"])
            out[f["field"]] = _to_avro_default(f, f.get("default") if v is None else v)
        return out
    raise _BadDefault


def _default_from_avro(s: dict[str, Any], value: Any) -> Any:
    """defaultValueFromAvro (L2251-L2384): an Avro JSON default as the JsonConverter default of Connect schema
    ``s``; raises _BadDefault where AvroData drops the default (a map with non-string keys, a required field
    without a value, a value of the wrong type)."""
    if value is None:
        return None
    ctype = s.get("type")
    if ctype in INT_RANGES:
        try:
            return _check_int(value, str(ctype))
        except AvroMappingError:
            raise _BadDefault from None
    if ctype == "float32" or ctype == "float64":
        if not _is_number(value):
            raise _BadDefault
        return _float32_json(float(value)) if ctype == "float32" else float(value)
    if ctype == "boolean" or ctype == "string":
        if not isinstance(value, bool if ctype == "boolean" else str):
            raise _BadDefault
        return value
    if ctype == "bytes":
        if not isinstance(value, str):
            raise _BadDefault
        try:
            raw = value.encode("latin-1")
        except UnicodeEncodeError:
            raise _BadDefault from None
        if s.get("name") == DECIMAL:
            raw = _minimal(int.from_bytes(raw, "big", signed=True)) if raw else raw
        return base64.b64encode(raw).decode()
    if ctype == "array":
        if not isinstance(value, list):
            raise _BadDefault
        return [_default_from_avro(s["items"], v) for v in value]
    if ctype == "map":
        keys = s["keys"]
        if keys.get("type") != "string" or keys.get("optional", False) or not isinstance(value, dict):
            raise _BadDefault
        return {k: _default_from_avro(s["values"], v) for k, v in value.items()}
    if ctype == "struct":
        if not isinstance(value, dict):
            raise _BadDefault
        out = {}
        for f in s["fields"]:
            v = _default_from_avro(f, value[f["field"]]) if f["field"] in value else f.get("default")
            if v is None and not f.get("optional", False):
                raise _BadDefault
            out[f["field"]] = v
        return out
    raise _BadDefault


def _valid_default(avro: _Avro, value: Any) -> bool:
    """Avro's Schema.isValidDefault: a union's default is its first branch's."""
    kind = avro.type
    if kind in ("string", "bytes", "enum", "fixed"):
        return isinstance(value, str)
    if kind == "int" or kind == "long":
        bits = 32 if kind == "int" else 64
        return isinstance(value, int) and not isinstance(value, bool) and -(2 ** (bits - 1)) <= value < 2 ** (bits - 1)
    if kind in ("float", "double"):
        return _is_number(value)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "null":
        return value is None
    if kind == "array":
        return isinstance(value, list) and all(_valid_default(avro.inner[0], v) for v in value)
    if kind == "map":
        return isinstance(value, dict) and all(_valid_default(avro.inner[0], v) for v in value.values())
    if kind == "union":
        return _valid_default(avro.inner[0], value)
    if kind == "record":
        if not isinstance(value, dict):
            return False
        for f in avro.fields:
            if f.name in value:
                if not _valid_default(f.schema, value[f.name]):
                    return False
            elif f.default is _NO or not _valid_default(f.schema, f.default):
                return False
        return True
    return False


# -- values: JsonConverter payload <-> raw Avro datum ------------------------------------------------------------


def avro_datum_of(payload: Any, connect_schema: dict[str, Any]) -> Any:
    """The raw Avro datum AvroData writes for a JsonConverter ``payload`` of ``connect_schema``: what fastavro's
    ``schemaless_writer`` takes with ``strip_logical_types(avro_schema_of(connect_schema))`` (bytes as bytes, a
    Decimal as its unscaled two's-complement bytes, dates and timestamps as ints, a map with non-string keys as
    MapEntry records). A null where the schema has a default becomes the default, as JsonConverter and Connect's
    Struct do; a payload field the schema does not declare is refused (JsonConverter would drop it)."""
    return _datum(payload, connect_schema, "$")


def connect_payload_of(datum: Any, connect_schema: dict[str, Any]) -> Any:
    """The JsonConverter payload for a raw Avro datum of ``connect_schema`` (the reverse of ``avro_datum_of``):
    bytes as base64 text, a float32 as its shortest decimal, a non-finite double as "NaN"/"Infinity"."""
    return _payload(datum, connect_schema, "$")


def _datum(value: Any, s: dict[str, Any], path: str) -> Any:
    ctype = _connect_type(s, path)
    if value is None:
        if s.get("default") is not None:
            value = s["default"]
        elif s.get("optional", False):
            return None
        else:
            raise AvroMappingError(f"{path}: null in a required {ctype}")
    if ctype in INT_RANGES:
        return _check_int(value, ctype, path)
    if ctype in ("float32", "float64"):
        number = _NON_FINITE.get(value, value) if isinstance(value, str) else value
        if not isinstance(number, int | float) or isinstance(number, bool):
            raise AvroMappingError(f"{path}: {ctype} expects a number, got {type(value).__name__}")
        if ctype == "float32" and math.isfinite(number) and abs(number) > _FLOAT32_MAX:
            raise AvroMappingError(f"{path}: out of the float32 range")
        return float(number)
    if ctype == "boolean":
        if not isinstance(value, bool):
            raise AvroMappingError(f"{path}: boolean expects true or false, got {type(value).__name__}")
        return value
    if ctype == "string":
        if not isinstance(value, str):
            raise AvroMappingError(f"{path}: string expects a string, got {type(value).__name__}")
        symbols = _enum_symbols(s)
        if symbols is not None and value not in symbols:
            raise AvroMappingError(f"{path}: not one of the Avro enum's symbols")
        return value
    if ctype == "bytes":
        return _fixed(_bytes_of(value, s, path), s, path)
    if ctype == "struct":
        if not isinstance(value, dict):
            raise AvroMappingError(f"{path}: struct expects an object, got {type(value).__name__}")
        fields = s.get("fields") or []
        undeclared = sorted(value.keys() - {f.get("field") for f in fields})
        if undeclared:
            raise AvroMappingError(f"{path}.{undeclared[0]}: a field the schema does not declare")
        return {f["field"]: _datum(value.get(f["field"]), f, f"{path}.{f['field']}") for f in fields}
    if ctype == "array":
        if not isinstance(value, list):
            raise AvroMappingError(f"{path}: array expects a list, got {type(value).__name__}")
        return [_datum(v, s["items"], f"{path}[]") for v in value]
    keys, values = s["keys"], s["values"]
    pairs = _json_map_pairs(value, keys, path)
    if keys.get("type") == "string" and not keys.get("optional", False):
        return {k: _datum(v, values, f"{path}{{}}") for k, v in pairs}
    return [{"key": _datum(k, keys, f"{path}<key>"), "value": _datum(v, values, f"{path}{{}}")} for k, v in pairs]


def _payload(value: Any, s: dict[str, Any], path: str) -> Any:
    ctype = _connect_type(s, path)
    if value is None:
        if not s.get("optional", False):
            raise AvroMappingError(f"{path}: null in a required {ctype}")
        return None
    if ctype in INT_RANGES:
        return _check_int(value, ctype, path)
    if ctype in ("float32", "float64"):
        if not _is_number(value):
            raise AvroMappingError(f"{path}: {ctype} expects a number, got {type(value).__name__}")
        number = float(value)
        if not math.isfinite(number):
            return "NaN" if math.isnan(number) else ("Infinity" if number > 0 else "-Infinity")
        return _float32_json(number) if ctype == "float32" else number
    if ctype == "boolean" or ctype == "string":
        if not isinstance(value, bool if ctype == "boolean" else str):
            raise AvroMappingError(f"{path}: {ctype} expected, got {type(value).__name__}")
        return value
    if ctype == "bytes":
        if not isinstance(value, bytes | bytearray):
            raise AvroMappingError(f"{path}: bytes expected, got {type(value).__name__}")
        raw = bytes(value)
        if FIXED_SIZE in (s.get("parameters") or {}) and s.get("name") == DECIMAL and raw:
            raw = _minimal(int.from_bytes(raw, "big", signed=True))
        return base64.b64encode(raw).decode()
    if ctype == "struct":
        if not isinstance(value, dict):
            raise AvroMappingError(f"{path}: record expected, got {type(value).__name__}")
        return {f["field"]: _payload(value.get(f["field"]), f, f"{path}.{f['field']}") for f in s.get("fields") or []}
    if ctype == "array":
        if not isinstance(value, list):
            raise AvroMappingError(f"{path}: array expected, got {type(value).__name__}")
        return [_payload(v, s["items"], f"{path}[]") for v in value]
    keys, values = s["keys"], s["values"]
    if isinstance(value, dict):
        entries = [(k, v) for k, v in value.items()]
    elif isinstance(value, list) and all(isinstance(e, dict) and e.keys() == {"key", "value"} for e in value):
        entries = [(e["key"], e["value"]) for e in value]
    else:
        raise AvroMappingError(f"{path}: map expected, got {type(value).__name__}")
    if keys.get("type") == "string":  # JsonConverter writes a string-keyed map as an object
        out = {}
        for k, v in entries:
            if not isinstance(k, str):
                raise AvroMappingError(f"{path}<key>: a map key that is not a string")
            out[k] = _payload(v, values, f"{path}{{}}")
        return out
    return [[_payload(k, keys, f"{path}<key>"), _payload(v, values, f"{path}{{}}")] for k, v in entries]


def _check_int(value: Any, ctype: str, path: str = "$") -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise AvroMappingError(f"{path}: {ctype} expects an integer, got {type(value).__name__}")
    lo, hi = INT_RANGES[ctype]
    if not lo <= value <= hi:
        raise AvroMappingError(f"{path}: out of the {ctype} range")
    return value


def _bytes_of(value: Any, s: dict[str, Any], path: str = "$") -> bytes:
    """A JsonConverter bytes value: base64 text; a Decimal may also be a number (decimal.format=NUMERIC)."""
    is_decimal = s.get("name") == DECIMAL
    if isinstance(value, str):
        try:
            return binascii.a2b_base64(value, strict_mode=True)
        except (binascii.Error, ValueError):
            raise AvroMappingError(f"{path}: bytes that are not base64") from None
    if is_decimal and _is_number(value):
        scale = int((s.get("parameters") or {}).get("scale", "0"))
        try:
            unscaled = Decimal(str(value)).scaleb(scale)
        except InvalidOperation:
            raise AvroMappingError(f"{path}: a decimal that is not a number") from None
        if unscaled != unscaled.to_integral_value():
            raise AvroMappingError(f"{path}: a decimal with more digits than its scale {scale}")
        return _minimal(int(unscaled))
    raise AvroMappingError(f"{path}: bytes expect base64 text, got {type(value).__name__}")


def _fixed(raw: bytes, s: dict[str, Any], path: str) -> bytes:
    """An Avro fixed holds exactly its size: a decimal is sign-extended (AvroData.padToFixedSize, L2428-L2442)."""
    params = s.get("parameters") or {}
    if FIXED_SIZE not in params or s.get("name") is None:
        return raw
    size = int(params[FIXED_SIZE])
    if s.get("name") == DECIMAL and len(raw) < size:
        fill = b"\xff" if raw and raw[0] & 0x80 else b"\x00"
        raw = fill * (size - len(raw)) + raw
    if len(raw) != size:
        raise AvroMappingError(f"{path}: {len(raw)} bytes for a fixed of {size}")
    return raw


def _minimal(unscaled: int) -> bytes:
    """Java's BigInteger.toByteArray: the shortest big-endian two's complement."""
    return unscaled.to_bytes(((unscaled if unscaled >= 0 else ~unscaled).bit_length() + 8) // 8, "big", signed=True)


def _json_map_pairs(value: Any, keys: dict[str, Any], path: str = "$") -> list[tuple[Any, Any]]:
    """JsonConverter writes a map with string keys as an object, any other as a list of [key, value] pairs."""
    if isinstance(value, dict):
        return list(value.items())
    if isinstance(value, list) and all(isinstance(p, list) and len(p) == 2 for p in value):
        return [(p[0], p[1]) for p in value]
    if isinstance(value, list) and keys.get("type") != "string":
        raise AvroMappingError(f"{path}: map entries are not [key, value] pairs")
    raise AvroMappingError(f"{path}: map expects an object or [key, value] pairs, got {type(value).__name__}")


def _enum_symbols(s: dict[str, Any]) -> set[str] | None:
    """The symbols of a string read from an Avro enum (AvroData's ``io.confluent.connect.avro.Enum.<symbol>``)."""
    params = s.get("parameters") or {}
    if AVRO_ENUM not in params:
        return None
    prefix = AVRO_ENUM + "."
    return {k[len(prefix):] for k in params if k.startswith(prefix)}


def _float32_json(number: float) -> float:
    """The shortest decimal that reads back as the same float32: what Java's Float.toString (hence JsonConverter)
    writes for a float32 value."""
    if not math.isfinite(number):
        return number
    single = struct.unpack("<f", struct.pack("<f", number))[0]
    for digits in range(1, 10):
        candidate = float(f"{single:.{digits}g}")
        if struct.unpack("<f", struct.pack("<f", candidate))[0] == single:
            return candidate
    return float(single)


# -- fastavro ----------------------------------------------------------------------------------------------------


def strip_logical_types(avro_schema: Any) -> Any:
    """A deep copy of ``avro_schema`` without ``logicalType`` on any type, so that fastavro reads and writes raw
    values (bytes, ints), and unmasked values re-encode to the same bytes. Only type objects lose the key:
    properties such as ``connect.parameters`` and ``connect.default``, which fastavro ignores, are kept whole.
    It also lets fastavro parse what AvroData registers for a decimal whose scale is above its precision (the
    legacy ``logicalType``, L1088-L1092), which fastavro's parse_schema refuses."""
    if isinstance(avro_schema, list):
        return [strip_logical_types(b) for b in avro_schema]
    if not isinstance(avro_schema, dict):
        return copy.deepcopy(avro_schema)
    out = {k: copy.deepcopy(v) for k, v in avro_schema.items() if k != "logicalType"}
    kind = avro_schema.get("type")
    if isinstance(kind, dict | list):
        out["type"] = strip_logical_types(kind)
    elif kind in ("record", "error") and isinstance(avro_schema.get("fields"), list):
        out["fields"] = [
            {**copy.deepcopy(f), "type": strip_logical_types(f["type"])} if isinstance(f, dict) and "type" in f
            else copy.deepcopy(f)
            for f in avro_schema["fields"]
        ]
    elif kind == "array" and "items" in avro_schema:
        out["items"] = strip_logical_types(avro_schema["items"])
    elif kind == "map" and "values" in avro_schema:
        out["values"] = strip_logical_types(avro_schema["values"])
    return out
