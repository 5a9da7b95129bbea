"""``format-preserve``: same length, shape and character classes; not guaranteed collision-free.

- strings: every character but ASCII punctuation and whitespace (and Unicode spaces) is replaced by a
  keyed choice from its class: ASCII digit, lower, upper; other digits become ASCII digits, other
  upper-case characters Latin-1 upper-case letters, everything else (letters, marks, symbols, emoji,
  control characters) Latin-1 lower-case letters. The length in code points is kept.
- ``mode: email`` (auto-detected): the local part is masked, the domain is kept when it is made of
  letters, digits and ASCII punctuation (otherwise the whole value is masked as text).
- ``mode: card`` (auto-detected for 13-19 Luhn-valid digits with optional spaces/dashes): digits are
  masked and the last masked digit is fixed so the number stays Luhn-valid.
- ``keep_prefix`` / ``keep_suffix`` keep that many leading/trailing characters (of the local part for
  emails), e.g. a card's BIN or last four; an IP address is permuted whole (they do not apply).
- string shapes (see ``shapes``; by the declared source type, else by the value): a uuid or a MAC keeps
  hex digits in place of hex digits (separators kept; case-insensitive, and an upper-case value stays
  upper-case); an IP address stays a valid address of its family and prefix (``addresses``, under a key
  of its own). A value without its declared shape is refused.
- integers and decimals keep sign and digit count (and stay within the column's type); uuids keep hex.
"""

from __future__ import annotations

import array
import re
import sys
from operator import getitem
from typing import Any, ClassVar, Literal

from pydantic import Field

from streammask.crypto import Prf
from streammask.errors import TypeNotPreserved
from streammask.strategies.addresses import AddressPermutation
from streammask.strategies.base import (
    AcceptsKinds,
    CompileContext,
    RowContext,
    StrategyOptions,
    Transform,
    expect_type,
    memoized_str,
)
from streammask.strategies.charclass import DIGITS, any_alphabet, ascii_alphabet, carries_text, luhn_valid
from streammask.strategies.replace import _max_length
from streammask.strategies.shapes import Shape, declared_shapes, detect, fitting, shape_of
from streammask.strategies.tokenize import StringTokenizer
from streammask.types import ColumnType, Kind, natural_int_range

_CARD = re.compile(r"^[0-9](?:[0-9 -]*[0-9])?$")
# Auto mode keeps the domain only of what looks like one address; free text with an '@' is text.
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+")


class FormatPreserveOptions(StrategyOptions):
    strategy: Literal["format-preserve"]
    domain: str | None = None
    mode: Literal["auto", "text", "email", "card"] = "auto"
    keep_prefix: int = Field(default=0, ge=0)
    keep_suffix: int = Field(default=0, ge=0)


_TABLE_SIZE = 1 << 16
_LITTLE_ENDIAN = sys.byteorder == "little"
_SPREAD: dict[str, str] = {}


def _spread(alpha: str) -> str:
    """A class spread over 65,536 slots (index = two PRF bytes): the modulo bias is below 1/2,000."""
    table = _SPREAD.get(alpha)
    if table is None:
        table = _SPREAD[alpha] = "".join(alpha[i % len(alpha)] for i in range(_TABLE_SIZE))
    return table


class _Kept:
    """Stands in for the class table of a character that is kept (punctuation…): every slot gives it back."""

    __slots__ = ("_ch",)

    def __init__(self, ch: str) -> None:
        self._ch = ch

    def __getitem__(self, slot: int) -> str:
        return self._ch


class _TablesByChar(dict[str, "str | _Kept"]):
    """Character -> its spread class table, or a ``_Kept`` for characters that are kept."""

    def __init__(self, hex_only: bool) -> None:
        super().__init__()
        self.hex_only = hex_only

    def __missing__(self, ch: str) -> str | _Kept:
        alpha = ascii_alphabet(ch, True) if self.hex_only else any_alphabet(ch)
        table = _Kept(ch) if alpha is None else _spread(alpha)
        if len(self) < 100_000:
            self[ch] = table
        return table


_TABLES_ANY = _TablesByChar(hex_only=False)
_TABLES_HEX = _TablesByChar(hex_only=True)


def _slots(stream: bytes) -> array.array[int]:
    """Two PRF bytes per character, read big-endian on every machine (the output must not depend on it)."""
    slots = array.array("H", stream)
    if _LITTLE_ENDIAN:
        slots.byteswap()
    return slots


def _mask_chars(prf: Prf, seed: bytes, text: str, keep_prefix: int, keep_suffix: int, hex_only: bool) -> str:
    end = len(text) - keep_suffix
    if end <= keep_prefix:
        return text
    tables = _TABLES_HEX if hex_only else _TABLES_ANY
    slots = _slots(prf.stream(seed, 2 * len(text)))  # one slot per character of text
    if keep_prefix == 0 and keep_suffix == 0:
        return "".join(map(getitem, map(tables.__getitem__, text), slots))  # table[slot], char by char, in C
    masked = map(getitem, map(tables.__getitem__, text[keep_prefix:end]), slots[keep_prefix:end])
    return text[:keep_prefix] + "".join(masked) + text[end:]


def _fix_luhn(masked: str, keep_suffix: int) -> str:
    """Make the rightmost masked digit the one that makes the whole number Luhn-valid."""
    digit_positions = [i for i, ch in enumerate(masked) if ch in DIGITS]
    candidates = [i for i in digit_positions if i < len(masked) - keep_suffix]
    if not candidates:
        return masked
    pos = candidates[-1]
    out = list(masked)
    for d in DIGITS:
        out[pos] = d
        if luhn_valid("".join(out[i] for i in digit_positions)):
            break
    return "".join(out)


class FormatPreserve(AcceptsKinds):
    name: ClassVar[str] = "format-preserve"
    Options: ClassVar[type[StrategyOptions]] = FormatPreserveOptions
    kinds: ClassVar[frozenset[Kind]] = frozenset({Kind.STRING, Kind.INTEGER, Kind.UUID, Kind.DECIMAL})

    def compile(self, options: FormatPreserveOptions, column: ColumnType, ctx: CompileContext) -> Transform:
        domain = options.domain or ctx.default_domain()
        prf = ctx.prf(f"format-preserve:{domain}")
        name = ctx.column
        kind = column.kind
        if kind is Kind.INTEGER:
            lo, hi = column.int_range

            def preserve_int(value: Any, row: RowContext) -> Any:
                expect_type(value, int, column, name)
                # within the narrowest width holding the value too: the same output for a column read as
                # int16, int32 or int64 (a key without a schema and its row with one agree)
                natural_lo, natural_hi = natural_int_range(value)
                return _same_digits(prf, value, max(lo, natural_lo), min(hi, natural_hi))

            return preserve_int
        if kind is Kind.DECIMAL:

            def preserve_decimal(unscaled: int, row: RowContext) -> int:
                return _same_digits(prf, unscaled, None, None)

            return preserve_decimal
        declared = declared_shapes(column)
        mode = options.mode
        keep_prefix, keep_suffix = options.keep_prefix, options.keep_suffix
        max_length = _max_length(column)
        address_key = ctx.key.subkey(f"format-preserve:address:{domain}")
        addresses = AddressPermutation(address_key, StringTokenizer(address_key, hex_only=True).ignoring_case)

        def shaped(value: str, shape: Shape) -> str:
            """A uuid or MAC keeps its hex digits hex (case-insensitive: masked lower-case, upper-cased
            again for an upper-case value); an address stays an address of its family."""
            if shape is not Shape.IP:
                lower = value.lower()
                out = _mask_chars(prf, lower.encode(), lower, keep_prefix, keep_suffix, True)
                return out.upper() if value.isupper() else out
            return fitting(addresses(value), max_length)

        def preserve(value: str) -> str:
            if declared is not None:
                return shaped(value, shape_of(value, declared))
            seed = value.encode("utf-8", "surrogatepass")
            m = mode
            if m == "auto":
                m = "email" if _EMAIL.fullmatch(value) else "card" if _looks_like_card(value) else "text"
            if m == "email":
                at = value.rfind("@")
                if at > 0 and _plain_domain(value[at + 1 :]):
                    local = _mask_chars(prf, seed, value[:at], keep_prefix, keep_suffix, False)
                    return local + value[at:]
            elif m == "card" and _looks_like_card(value):
                return _fix_luhn(_mask_chars(prf, seed, value, keep_prefix, keep_suffix, False), keep_suffix)
            shape = detect(value)
            if shape is not Shape.TEXT:
                return shaped(value, shape)
            return _mask_chars(prf, seed, value, keep_prefix, keep_suffix, False)

        return memoized_str(preserve, column, name)


def _plain_domain(domain: str) -> bool:
    """Whether an e-mail's domain may be kept: letters, digits, marks and ASCII punctuation only, so a
    symbol, emoji or control character after an '@' is masked like any text."""
    if domain.isascii():
        return domain.isprintable()
    return all(ch.isprintable() if ch.isascii() else carries_text(ch) for ch in domain)


def _looks_like_card(value: str) -> bool:
    if not _CARD.match(value):
        return False
    digits = value.replace(" ", "").replace("-", "")
    return 13 <= len(digits) <= 19 and luhn_valid(digits)


def _same_digits(prf: Prf, value: int, lo: int | None, hi: int | None) -> int:
    """Another integer with the same sign and number of digits, within [lo, hi] when given."""
    negative = value < 0
    digits = len(str(abs(value)))
    low = 10 ** (digits - 1) if digits > 1 else int(negative)  # -0 would lose the sign
    high = 10**digits - 1
    if negative and lo is not None:
        high = min(high, -lo)
    if not negative and hi is not None:
        high = min(high, hi)
    if high < low:
        raise TypeNotPreserved("integer cannot keep its digit count within the column type")
    masked = low + prf.below(str(value).encode(), high - low + 1)
    return -masked if negative else masked
