"""Character classes shared by ``tokenize`` and ``format-preserve``: a masked character stays in its class."""

from __future__ import annotations

import string
import unicodedata

DIGITS = string.digits
LOWER = string.ascii_lowercase
UPPER = string.ascii_uppercase
HEX_LOWER = "0123456789abcdef"
HEX_UPPER = "0123456789ABCDEF"
# Where non-ASCII letters go under format-preserve: Latin-1 letters, so no original letter survives.
LATIN1_LOWER = "".join(chr(c) for c in range(0xDF, 0x100) if chr(c) != "÷")
LATIN1_UPPER = "".join(chr(c) for c in range(0xC0, 0xDF) if chr(c) != "×")


def ascii_alphabet(ch: str, hex_only: bool = False) -> str | None:
    """The ASCII class of ``ch`` (digits, lower, upper; hex digits when ``hex_only``), else None."""
    if hex_only:
        if ch in HEX_LOWER:
            return HEX_LOWER
        if ch in HEX_UPPER:
            return HEX_UPPER
        return None
    if "0" <= ch <= "9":
        return DIGITS
    if "a" <= ch <= "z":
        return LOWER
    if "A" <= ch <= "Z":
        return UPPER
    return None


def any_alphabet(ch: str) -> str | None:
    """Like ``ascii_alphabet`` but maps every other letter or digit to a replacement class too."""
    alpha = ascii_alphabet(ch)
    if alpha is not None or ch.isascii():
        return alpha
    if ch.isdigit():
        return DIGITS
    if ch.isupper():
        return LATIN1_UPPER
    if ch.isalpha() or ch.isnumeric() or unicodedata.category(ch) in ("Mn", "Mc", "Me"):
        return LATIN1_LOWER  # combining marks (accents, vowel signs) carry text too: masked, not kept
    return None


def luhn_valid(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0
