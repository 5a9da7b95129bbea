"""``tokenize``: a keyed bijection that keeps type and width, safe for primary and unique keys.

- integers: permuted within sign-preserving bit bands [0,2^7), [2^7,2^15), [2^15,2^31), [2^31,2^63)
  (and their negative mirrors), so every output fits the column's type, and the same value maps to the
  same token whether a column is int16, int32 or int64: joins across tables hold.
- strings: ASCII digits, lower- and upper-case letters are permuted as one mixed-radix number, keeping
  length and each position's class; ASCII punctuation and whitespace (and Unicode spaces) stay. Any
  other character (a non-ASCII letter, a symbol, an emoji, a control character) cannot be permuted
  within its class and blocks the record (use ``format-preserve`` or ``hash`` for such columns).
  Text never becomes a uuid, MAC or address by chance: such an output is permuted again (cycle walking).
- string shapes (see ``shapes``; by the declared source type, else by the value): a uuid or a MAC has
  its hex digits permuted (separators kept; case-insensitive, upper-case stays upper-case), so a
  uuid-shaped value in a plain string column gets the same token as in a uuid column; an IP address
  stays a valid address of its family (``addresses``). A value without its declared shape is refused.
- uuid: the 32 hex digits are permuted; bytes: permuted at the same length; enum: within ``allowed``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, Literal

from streammask.crypto import Permutation
from streammask.errors import MaskingError
from streammask.strategies.addresses import AddressPermutation
from streammask.strategies.base import (
    AcceptsKinds,
    CompileContext,
    Memo,
    RowContext,
    StrategyOptions,
    Transform,
    expect_type,
)
from streammask.strategies.charclass import ascii_alphabet, is_structure
from streammask.strategies.replace import _max_length
from streammask.strategies.shapes import Shape, declared_shapes, detect, fitting, shape_of
from streammask.types import ColumnType, Kind

BANDS = ((0, 2**7), (2**7, 2**15), (2**15, 2**31), (2**31, 2**63))


class TokenizeOptions(StrategyOptions):
    strategy: Literal["tokenize"]
    domain: str | None = None
    """Columns sharing a domain share the mapping, so foreign keys still join. Default: table.column."""


def integer_tokenizer(ctx: CompileContext, domain: str) -> Callable[[int], int]:
    subkey = ctx.key.subkey(f"tokenize:int:{domain}")
    perms = [
        (lo, hi, Permutation(subkey, hi - lo, b"pos%d" % i), Permutation(subkey, hi - lo, b"neg%d" % i))
        for i, (lo, hi) in enumerate(BANDS)
    ]

    # band edges are powers of two: a magnitude's bit length alone tells its band
    by_bits = tuple(next(band for band in perms if (1 << bits) - 1 < band[1]) for bits in range(64))

    def token(v: int) -> int:
        w = v if v >= 0 else -v - 1
        bits = w.bit_length()
        if bits >= len(by_bits):
            raise MaskingError("integer outside the 64-bit range")
        lo, _, pos, neg = by_bits[bits]
        if v >= 0:
            return lo + pos.encrypt(w - lo)
        return -(lo + neg.encrypt(w - lo)) - 1

    return token


_NOT_PERMUTABLE = (
    "tokenize permutes ASCII letters and digits and keeps ASCII punctuation and spaces; the value has "
    "other characters (non-ASCII letters, symbols, emoji or control characters): use format-preserve "
    "or hash for this column"
)


class StringTokenizer:
    """Permutes the ASCII letters and digits of a string as one number, per class pattern; refuses a
    string with any character that is neither permuted nor structure (see ``charclass``)."""

    def __init__(self, subkey: bytes, hex_only: bool = False) -> None:
        self._subkey = subkey
        self._hex = hex_only
        self._perms: dict[str, Permutation] = {}

    def __call__(self, value: str) -> str:
        positions: list[int] = []
        alphabets: list[str] = []
        for i, ch in enumerate(value):
            alpha = ascii_alphabet(ch, self._hex)
            if alpha is not None:
                positions.append(i)
                alphabets.append(alpha)
            elif not is_structure(ch):
                raise MaskingError(_NOT_PERMUTABLE)
        if not positions:
            return value
        n = 1
        x = 0
        for i, alpha in zip(positions, alphabets, strict=True):
            x = x * len(alpha) + alpha.index(value[i])
            n *= len(alpha)
        signature = "".join(a[-1] for a in alphabets) + f"/{len(value)}"
        perm = self._perms.get(signature)
        if perm is None:
            if len(self._perms) >= 4096:
                self._perms.clear()
            perm = self._perms[signature] = Permutation(self._subkey, n, signature.encode())
        y = perm.encrypt(x)
        out = list(value)
        for i, alpha in zip(reversed(positions), reversed(alphabets), strict=True):
            y, d = divmod(y, len(alpha))
            out[i] = alpha[d]
        return "".join(out)

    def ignoring_case(self, value: str) -> str:
        """For hex shapes, whose case is spelling, not content: the token of the lower-cased value,
        upper-cased again when the value was upper case (SQL Server's uniqueidentifier)."""
        out = self(value.lower())
        return out.upper() if value.isupper() else out


class ShapedTokenizer:
    """``tokenize`` for a string column: by shape (declared, else detected), one bijection each."""

    def __init__(self, subkey: bytes, column: ColumnType) -> None:
        self._text = StringTokenizer(subkey)
        self._hex = StringTokenizer(subkey, hex_only=True)
        self._addresses = AddressPermutation(subkey, self._hex.ignoring_case)
        self._declared = declared_shapes(column)
        self._max_length = _max_length(column)

    def __call__(self, value: str) -> str:
        shape = shape_of(value, self._declared)
        if shape is Shape.TEXT:
            return self._text_token(value)
        if shape is Shape.IP:
            return fitting(self._addresses(value), self._max_length)
        return self._hex.ignoring_case(value)

    def _text_token(self, value: str) -> str:
        """Cycle walking: the text permutation is applied again while its output has a shape, so the
        text values of a pattern map onto text values only, and never onto another shape's tokens."""
        out = self._text(value)
        while detect(out) is not Shape.TEXT:
            out = self._text(out)
        return out


class Tokenize(AcceptsKinds):
    name: ClassVar[str] = "tokenize"
    Options: ClassVar[type[StrategyOptions]] = TokenizeOptions
    kinds: ClassVar[frozenset[Kind]] = frozenset({Kind.INTEGER, Kind.STRING, Kind.UUID, Kind.BYTES, Kind.ENUM})

    def compile(self, options: TokenizeOptions, column: ColumnType, ctx: CompileContext) -> Transform:
        domain = options.domain or ctx.default_domain()
        name = ctx.column
        kind = column.kind
        if kind is Kind.INTEGER:
            lo, hi = column.int_range
            memo = Memo(integer_tokenizer(ctx, domain))
            lookup = memo.lookup

            def tokenize_int(value: Any, row: RowContext) -> Any:
                if value.__class__ is not int:  # first: True would hit the memo entry of 1
                    expect_type(value, int, column, name)
                hit = lookup(value)
                if hit is not None:
                    return hit
                if not lo <= value <= hi:
                    raise MaskingError(f"value outside {column.connect_type} range", column=name)
                return memo.fill(value)

            return tokenize_int
        if kind in (Kind.STRING, Kind.UUID):
            string_memo = Memo(ShapedTokenizer(ctx.key.subkey(f"tokenize:str:{domain}"), column))

            def tokenize_str(value: Any, row: RowContext) -> Any:
                expect_type(value, str, column, name)
                try:
                    return string_memo(value)
                except MaskingError as exc:  # the same class: a TypeNotPreserved stays one
                    raise type(exc)(str(exc), column=name) from None

            return tokenize_str
        if kind is Kind.BYTES:
            subkey = ctx.key.subkey(f"tokenize:bytes:{domain}")
            perms: dict[int, Permutation] = {}

            def tokenize_bytes(raw: bytes, row: RowContext) -> bytes:
                if not raw:
                    return raw
                perm = perms.get(len(raw)) or perms.setdefault(
                    len(raw), Permutation(subkey, 256 ** len(raw), b"bytes")
                )
                return perm.encrypt(int.from_bytes(raw, "big")).to_bytes(len(raw), "big")

            return tokenize_bytes
        allowed = column.enum_values
        if not allowed:
            raise MaskingError("enum column has no `allowed` values in its schema", column=name)
        perm = ctx.permutation(f"tokenize:enum:{domain}", len(allowed), ",".join(allowed).encode())
        mapping = {v: allowed[perm.encrypt(i)] for i, v in enumerate(allowed)}

        def tokenize_enum(value: Any, row: RowContext) -> Any:
            try:
                return mapping[value]
            except (KeyError, TypeError):
                raise MaskingError("value is not one of the enum's allowed values", column=name) from None

        return tokenize_enum
