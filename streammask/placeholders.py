"""Debezium's placeholders for values it does not have: they pass every strategy unchanged.

When PostgreSQL does not send an unchanged TOASTed column (REPLICA IDENTITY DEFAULT) or Oracle does not
send a LOB, Debezium writes its ``unavailable.value.placeholder`` (default
``__debezium_unavailable_value``; ``hex:...`` gives raw bytes) in the column's own representation:
the text, its bytes (base64, base64-url or hex text, by ``binary.handling.mode``; raw in Avro), a one-element list
for text, binary and uuid arrays (the uuid is Java's ``UUID.nameUUIDFromBytes`` of the bytes), the
bytes as a list of (signed) integers for int and bigint arrays, a one-entry map for hstore (or its JSON
text), and fixed WKB values for geometry and geography (PostgresValueConverter, UnchangedToastedPlaceholder).

Masking a placeholder would turn "unchanged" into a data-looking value that a sink writes over the real
row, so it passes as it is and is counted apart. A placeholder is never personal data.
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from collections.abc import Iterable
from typing import Any

import orjson

DEFAULT = "__debezium_unavailable_value"
# Geometry 'SRID=4326;POINT(-99999999 -99999999)' and geography 'SRID=4326;POINT(179.999999 89.999999)'.
_GEOMETRY_WKB = bytes.fromhex("0101000020E6100000000000FC83D797C1000000FC83D797C1")
_GEOGRAPHY_WKB = bytes.fromhex("0101000020E61000000C21E7FDFF7F66401842CEFBFF7F5640")
_POINT_XY = -99999999.0
_POINT_FIELDS = frozenset({"x", "y", "wkb", "srid"})  # io.debezium.data.geometry.Point


def placeholder_bytes(configured: str) -> bytes:
    """A configured placeholder as Debezium reads it: ``hex:`` followed by hex digits, else UTF-8 text."""
    if configured.startswith("hex:"):
        return bytes.fromhex(configured[4:])
    return configured.encode()


def _java_name_uuid(raw: bytes) -> str:
    """``java.util.UUID.nameUUIDFromBytes``: MD5, version 3."""
    return str(uuid.UUID(bytes=hashlib.md5(raw).digest(), version=3))  # noqa: S324 - Java's algorithm, not security


class Placeholders:
    """Recognises every form of the configured placeholders. ``strings`` is the hot-path test: a set
    lookup for each string value of a masked column; lists and maps are compared only when they come."""

    __slots__ = ("strings", "_bytes", "_lists", "_maps")

    def __init__(self, configured: Iterable[str]) -> None:
        strings: set[str] = set()
        raw_forms: set[bytes] = set()
        lists: list[list[Any]] = []
        maps: list[dict[str, Any]] = []
        for entry in configured:
            raw = placeholder_bytes(entry)
            text = raw.decode("utf-8", "replace")  # Java's new String(bytes)
            b64 = base64.b64encode(raw).decode()
            strings |= {text, b64, base64.urlsafe_b64encode(raw).decode(), raw.hex()}
            strings.add(orjson.dumps({text: text}).decode())  # hstore.handling.mode=json
            raw_forms.add(raw)  # bytes as a binary format (Avro) holds them
            lists += [[text], [b64], [raw], [_java_name_uuid(raw)], [b - 256 if b > 127 else b for b in raw]]
            maps.append({text: text})
        for wkb in (_GEOMETRY_WKB, _GEOGRAPHY_WKB):
            maps += [{"wkb": base64.b64encode(wkb).decode(), "srid": 4326}, {"wkb": wkb, "srid": 4326}]
        self.strings = frozenset(strings)
        self._bytes = frozenset(raw_forms)
        self._lists = lists
        self._maps = maps

    def matches(self, value: Any) -> bool:
        """Whether ``value`` is a placeholder in any of its forms."""
        cls = value.__class__
        if cls is str:
            return value in self.strings
        if cls is bytes:
            return value in self._bytes
        if cls is list:
            return value in self._lists
        if cls is dict:
            if value.keys() <= _POINT_FIELDS and value.get("x") == _POINT_XY and value.get("y") == _POINT_XY:
                return True  # Debezium's point placeholder, and only that struct: any other field is data
            return value in self._maps
        return False
