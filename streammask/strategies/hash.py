"""``hash``: keyed HMAC-SHA256 of the value, shaped to the column.

strings: lower-case hex, ``length`` characters (default 64, or the source column's length if smaller);
integers: a keyed value in the same sign and bit band as the input (not a bijection, see ``tokenize``);
uuid: a UUID (version 8, RFC 9562 "custom") built from the digest; bytes: the digest (``length`` bytes,
default 32); enum: one of ``allowed``; json: a JSON string holding the hex digest.

String shapes (see ``shapes``; by the declared source type, else by the value) keep their type, so
``length`` applies to text only: a uuid-shaped string gets the version-8 UUID a uuid column would (from
the lower-cased value: case does not matter; an upper-case uuid stays upper-case), a MAC the digest's hex
digits poured into its pattern (separators and case kept), an IP address a keyed address of its family
and form (a ``/prefix`` kept, all-zero host bits kept zero). A value without its declared shape is refused.
"""

from __future__ import annotations

import uuid
from typing import Any, ClassVar, Literal

import orjson
from pydantic import Field

from streammask.errors import MaskingError
from streammask.strategies.addresses import hashed_address
from streammask.strategies.base import (
    AcceptsKinds,
    CompileContext,
    RowContext,
    StrategyOptions,
    Transform,
    canonical_bytes,
    expect_type,
    memoized_str,
)
from streammask.strategies.replace import _max_length
from streammask.strategies.shapes import Shape, declared_shapes, fitting, shape_of
from streammask.strategies.tokenize import BANDS
from streammask.types import ColumnType, Kind


class HashOptions(StrategyOptions):
    strategy: Literal["hash"]
    domain: str | None = None
    length: int | None = Field(default=None, ge=1, le=64)


class Hash(AcceptsKinds):
    name: ClassVar[str] = "hash"
    Options: ClassVar[type[StrategyOptions]] = HashOptions
    kinds: ClassVar[frozenset[Kind]] = frozenset(
        {Kind.STRING, Kind.INTEGER, Kind.UUID, Kind.BYTES, Kind.ENUM, Kind.JSON}
    )

    def compile(self, options: HashOptions, column: ColumnType, ctx: CompileContext) -> Transform:
        prf = ctx.prf(f"hash:{options.domain or ctx.default_domain()}")
        name = ctx.column
        kind = column.kind
        if kind is Kind.INTEGER:
            lo, hi = column.int_range

            def hash_int(value: Any, row: RowContext) -> Any:
                expect_type(value, int, column, name)
                w = value if value >= 0 else -value - 1
                for band_lo, band_hi in BANDS:
                    if w < band_hi:
                        h = band_lo + int.from_bytes(prf.hmac(canonical_bytes(value)), "big") % (band_hi - band_lo)
                        out = h if value >= 0 else -h - 1
                        if not lo <= out <= hi:
                            raise MaskingError(f"value outside {column.connect_type} range", column=name)
                        return out
                raise MaskingError("integer outside the 64-bit range", column=name)

            return hash_int
        if kind is Kind.BYTES:
            nbytes = options.length or 32

            def hash_bytes(value: bytes, row: RowContext) -> bytes:
                return prf.hmac(value)[:nbytes]

            return hash_bytes
        if kind is Kind.ENUM:
            allowed = column.enum_values
            if not allowed:
                raise MaskingError("enum column has no `allowed` values in its schema", column=name)
            return lambda value, row: allowed[int.from_bytes(prf.hmac(canonical_bytes(value)), "big") % len(allowed)]
        max_length = _max_length(column)
        limit = min(x for x in (options.length, max_length, 64) if x)
        if kind is Kind.JSON:
            return lambda value, row: orjson.dumps(prf.hmac(canonical_bytes(value)).hex()[:limit]).decode()
        declared = declared_shapes(column)
        hmac = prf.hmac

        def hash_str(value: str) -> str:
            shape = shape_of(value, declared)
            if shape is Shape.TEXT:
                return hmac(value.encode("utf-8", "surrogatepass")).hex()[:limit]
            if shape is Shape.IP:
                return fitting(hashed_address(hmac, value), max_length)
            digest = hmac(value.lower().encode())
            out = _uuid8(digest[:16]) if shape is Shape.UUID else _pour(digest.hex(), value)
            return out.upper() if value.isupper() else out

        return memoized_str(hash_str, column, name)


def _pour(hex_digits: str, pattern: str) -> str:
    """``hex_digits`` in the places of ``pattern``'s hex digits; its separators stay."""
    digits = iter(hex_digits)
    return "".join(ch if ch in ":-" else next(digits) for ch in pattern)


def _uuid8(digest: bytes) -> str:
    """A version-8 (RFC 9562) UUID from 16 bytes; ``uuid.UUID(version=8)`` only exists from Python 3.14."""
    n = int.from_bytes(digest, "big")
    n = (n & ~(0xF000 << 64)) | (8 << 76)  # version nibble
    n = (n & ~(0xC000 << 48)) | (0x8000 << 48)  # RFC 4122/9562 variant
    return str(uuid.UUID(int=n))
