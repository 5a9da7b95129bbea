"""The shape of a string value: a UUID, a MAC address, an IP address (or network), or text.

A string column may hold values a sink stores in a typed column (Postgres ``uuid``, ``inet``, ``cidr``,
``macaddr``; SQL Server ``uniqueidentifier``): masking them as text would give values that column
rejects. When Debezium propagates the source column type (``__debezium.source.column.type``) and it
names such a type, that type decides, and a value without its shape is refused; otherwise the value's
own shape decides. Strategies detect shapes on memo misses only, so a regex per value is affordable.
"""

from __future__ import annotations

import ipaddress
import re
from enum import Enum

from streammask.errors import TypeNotPreserved
from streammask.types import ColumnType, Kind


class Shape(Enum):
    TEXT = "text"
    UUID = "a UUID"  # 8-4-4-4-12 hex digits, either case
    MAC = "a MAC address"  # 6 or 8 hex pairs, all separated by ':' or all by '-'
    IP = "an IP address"  # IPv4 (strict dotted quad) or IPv6 (no zone id), optionally with /prefix


SOURCE_TYPE = "__debezium.source.column.type"
_ANY = (Shape.UUID, Shape.MAC, Shape.IP)  # MAC before IP: an 8-pair MAC with colons parses as IPv6 too
_DECLARED: dict[str, tuple[Shape, ...]] = {
    "UUID": (Shape.UUID,),
    "UNIQUEIDENTIFIER": (Shape.UUID,),
    "INET": (Shape.IP,),
    "CIDR": (Shape.IP,),
    "MACADDR": (Shape.MAC,),
    "MACADDR8": (Shape.MAC,),
}

# Characters all shapes are made of, at most as long as the longest (an IPv6 with a dotted tail and
# /128): one cheap scan that rules out names, e-mails and most text before any other test.
_CANDIDATE = re.compile(r"[0-9A-Fa-f:.\-/]{2,49}")
_HEX2 = "[0-9A-Fa-f]{2}"
_UUID = re.compile(r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}")
_MAC = re.compile(rf"{_HEX2}([:-]){_HEX2}(?:\1{_HEX2}){{4}}(?:(?:\1{_HEX2}){{2}})?")
_OCTET = "(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"  # no leading zeros: 010 is ambiguous
_IPV4 = re.compile(rf"{_OCTET}(?:\.{_OCTET}){{3}}(?:/(?:3[0-2]|[12]?[0-9]))?")
_IPV6_PREFIX = re.compile(r"0|[1-9][0-9]{0,2}")


def declared_shapes(column: ColumnType) -> tuple[Shape, ...] | None:
    """The shape a column's values must have, from its schema; None when the schema names none."""
    if column.kind is Kind.UUID:
        return (Shape.UUID,)
    source = column.param(SOURCE_TYPE)
    return _DECLARED.get(source.upper()) if source else None


def mismatch(declared: tuple[Shape, ...]) -> TypeNotPreserved:
    """The error for a value that lacks the shape its column type declares (never naming the value)."""
    return TypeNotPreserved(
        f"the column's type holds {declared[0].value} and the value is not one: it is blocked rather "
        "than masked into something the column would reject"
    )


def shape_of(value: str, declared: tuple[Shape, ...] | None) -> Shape:
    """``detect`` among the shapes a column declares (all without one); a value lacking its declared
    shape is refused."""
    shape = detect(value, declared)
    if shape is Shape.TEXT and declared is not None:
        raise mismatch(declared)
    return shape


def fitting(address: str, max_length: int | None) -> str:
    """A masked address within the column's propagated length, else refused: cut, it would be none."""
    if max_length is not None and len(address) > max_length:
        raise TypeNotPreserved("the masked address is longer than the column allows")
    return address


def detect(value: str, among: tuple[Shape, ...] | None = None) -> Shape:
    """The first of ``among`` (default: every shape) that ``value`` has, else ``Shape.TEXT``."""
    if not _CANDIDATE.fullmatch(value):
        return Shape.TEXT
    for shape in among or _ANY:
        if shape is Shape.UUID:
            if len(value) == 36 and _UUID.fullmatch(value):
                return shape
        elif shape is Shape.MAC:
            if len(value) in (17, 23) and _MAC.fullmatch(value):
                return shape
        elif _IPV4.fullmatch(value) or (":" in value and _is_ipv6(value)):
            return shape
    return Shape.TEXT


def _is_ipv6(value: str) -> bool:
    address, slash, prefix = value.partition("/")
    if slash and not (_IPV6_PREFIX.fullmatch(prefix) and int(prefix) <= 128):
        return False
    try:
        ipaddress.IPv6Address(address)  # the regex above already excluded a '%zone'
    except ValueError:
        return False
    return True
