"""Character classes shared by ``tokenize`` and ``format-preserve``: a masked character stays in its class.

Only the *structure* set may pass a masked string unchanged: ASCII punctuation, ASCII whitespace and
Unicode space separators (Zs, Zl, Zp). Every other code point carries content (a letter, a digit, but
also a circled letter, an emoji, a zero-width joiner, a private-use or unassigned code point): it is
masked, or the value is refused. Structure is the one list both strategies read, so they cannot drift.
"""

from __future__ import annotations

import string
import unicodedata

DIGITS = string.digits
LOWER = string.ascii_lowercase
UPPER = string.ascii_uppercase
HEX_LOWER = "0123456789abcdef"
HEX_UPPER = "0123456789ABCDEF"
# Where other content characters go under format-preserve: Latin-1 letters, so none of the originals survives.
LATIN1_LOWER = "".join(chr(c) for c in range(0xDF, 0x100) if chr(c) != "÷")
LATIN1_UPPER = "".join(chr(c) for c in range(0xC0, 0xDF) if chr(c) != "×")

ASCII_STRUCTURE = frozenset(string.punctuation + string.whitespace)
_SEPARATORS = frozenset({"Zs", "Zl", "Zp"})
_MARKS = frozenset({"Mn", "Mc", "Me"})


def is_structure(ch: str) -> bool:
    """True for the characters a masked string may keep: ASCII punctuation and whitespace, and
    Unicode space separators. Anything else is content, however harmless it looks."""
    if ch.isascii():
        return ch in ASCII_STRUCTURE
    return unicodedata.category(ch) in _SEPARATORS


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
    """The replacement class of ``ch`` under ``format-preserve``; None only for structure (kept).

    ASCII digits and letters stay in their ASCII class, other digits become ASCII digits, other
    upper-case characters Latin-1 upper-case letters, and every other code point (letters, combining
    marks, symbols, emoji, control and format characters, surrogates) a Latin-1 lower-case letter.
    """
    alpha = ascii_alphabet(ch)
    if alpha is not None:
        return alpha
    if is_structure(ch):
        return None
    if ch.isascii():
        return LATIN1_LOWER  # ASCII control characters other than whitespace
    if ch.isdigit():
        return DIGITS
    if ch.isupper():
        return LATIN1_UPPER
    return LATIN1_LOWER


def carries_text(ch: str) -> bool:
    """A letter, digit or combining mark: what an e-mail domain may hold besides ASCII punctuation."""
    return ch.isalnum() or ch.isupper() or unicodedata.category(ch) in _MARKS


def luhn_valid(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0
