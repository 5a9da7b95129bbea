"""The leak guard: after masking, a record's output is searched for the raw values of its masked columns.

Defence in depth. Masking transforms what the policy classifies; the guard catches a raw value that
still reaches the output by another carrier: a passthrough column that copies a masked one, the source
block, an envelope field, a header — or the masked column itself, when its strategy left the value as
it was (a character no class covered, say).

What is not a leak, so that false positives stay rare:
- a masked value equal to its raw value where the strategy may give that: a band floor (``bucket``), a
  literal (``redact``), a fixed point of a permutation over a handful of enum labels (``tokenize`` or
  ``hash`` of an Enum), a value kept in part on purpose (``keep_prefix``/``keep_suffix``); and, under any
  strategy, values passed unchanged by design: Debezium's placeholders, infinity and NaN markers, text
  made only of punctuation and spaces. A ``keep`` column is never searched for;
- an occurrence inside a masked or kept value of the same record (a fake full name that happens to
  contain the raw last name): masking produced it, it was not copied;
- values shorter than ``min_length`` bytes as text (numbers: digits and sign), which match by chance;
  integers and floats only match as whole numbers, not inside longer ones.
Only the payloads are searched, never an embedded schema (an enum's ``allowed`` lists its values).

A passthrough column holding the same value as a masked column of the same row (``created_at`` equal
to a masked ``updated_at`` on insert) is a hit: the value is in the output; classify both alike.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from typing import Any, NamedTuple

import orjson

from streammask.placeholders import Placeholders
from streammask.plan import ColumnStats, Tally
from streammask.special import INFINITY_TEXTS, INFINITY_TIMESTAMPS, NON_FINITE_TEXTS
from streammask.strategies.charclass import is_structure

Pair = tuple[ColumnStats, Any, Any, bool]
"""(the column's stats, its raw value, its masked value, whether the two may be equal) for one value
masked in a record."""


class Carrier(NamedTuple):
    """A part of the output: ``label`` (``key``, ``value``, ``header NAME``), its bytes as produced, and
    the decoded payload when it has one, to tell which field a hit is in."""

    label: str
    data: bytes
    doc: Any = None


class LeakFound(NamedTuple):
    column: str
    carrier: str

    def describe(self) -> str:
        return f"a raw value of masked column {self.column} is in the output ({self.carrier}); check what copies it"


_NUMBER_BEFORE = frozenset(b"0123456789.-")
_NUMBER_AFTER = frozenset(b"0123456789.eE")


class LeakGuard:
    """Finds raw values of masked columns in a record's output (see the module docstring)."""

    __slots__ = ("min_length", "_below", "_above", "_placeholders", "_placeholder_forms")

    def __init__(self, min_length: int, placeholders: Placeholders | None = None) -> None:
        self.min_length = min_length
        placeholders = placeholders or Placeholders(())
        self._placeholders = placeholders.strings  # pass unchanged by design: never a needle
        self._placeholder_forms = placeholders.matches
        # integers strictly between these have fewer than min_length characters (sign included)
        self._below = -(10 ** (min_length - 2)) if min_length > 1 else 0
        self._above = 10 ** (min_length - 1) if min_length > 1 else 0

    def scan(
        self, tally: Tally, blob: bytes, carriers: Callable[[], Sequence[Carrier]] | Sequence[Carrier]
    ) -> LeakFound | None:
        """``blob``: every output part the record has, joined; ``carriers`` the parts apart (or how to get
        them), needed only on a hit.

        The hot path tests each raw string or integer with one ``in`` on the blob read as text (str
        search is about twice as fast as bytes search here, and the raw strings need no encoding); a
        value found there, one whose JSON form differs from its text, and other types take the full
        check on bytes."""
        min_length, below, above, placeholders = self.min_length, self._below, self._above, self._placeholders
        text = ""
        for raw in tally.raw or ():
            cls = raw.__class__
            if cls is str:
                if len(raw) < min_length and (raw.isascii() or len(raw.encode("utf-8", "surrogatepass")) < min_length):
                    continue
                if not text:
                    text = blob.decode("utf-8", "surrogateescape")
                if raw in text:
                    if raw in placeholders:
                        continue  # passes unchanged by design
                elif raw.isprintable() and '"' not in raw and "\\" not in raw:
                    continue  # the common case: not in the output, and JSON writes it as it is
            elif cls is int:
                if below < raw < above:
                    continue
                if not text:
                    text = blob.decode("utf-8", "surrogateescape")
                if str(raw) not in text:
                    continue
            elif cls is bool:
                continue
            found = self._check(raw, blob, tally, carriers)
            if found is not None:
                return found
        return None

    def _check(
        self, raw: Any, blob: bytes, tally: Tally, carriers: Callable[[], Sequence[Carrier]] | Sequence[Carrier]
    ) -> LeakFound | None:
        """The full check of one raw value, for each column it was masked in."""
        pairs = list(tally.pairs())
        for stats, value, masked, lenient in pairs:
            if value is not raw or stats.strategy == "keep":
                continue
            if value.__class__ is masked.__class__ and value == masked:
                if lenient or self._unchanged_by_design(value):
                    continue
                parts = carriers() if callable(carriers) else carriers
                return LeakFound(stats.column, _own_place(stats.column, parts) + ", unchanged by its strategy")
            for needle, whole in self._needles(raw, masked):
                found = _count(blob, needle, whole)
                if found and found > _explained(needle, whole, pairs):
                    parts = carriers() if callable(carriers) else carriers
                    return LeakFound(stats.column, _where(needle, whole, parts, pairs))
        return None

    def _unchanged_by_design(self, value: Any) -> bool:
        """Values every strategy passes as they are: Debezium's placeholders, infinity and NaN markers, and
        text made only of what a masked string keeps (punctuation and spaces)."""
        if value.__class__ is str:
            return (
                value in self._placeholders or value in INFINITY_TEXTS or value in NON_FINITE_TEXTS
                or all(is_structure(ch) for ch in value)
            )
        if value.__class__ is int:
            return value in INFINITY_TIMESTAMPS
        if value.__class__ is float:
            return not math.isfinite(value)
        return self._placeholder_forms(value)

    def _needles(self, raw: Any, masked: Any) -> Iterator[tuple[bytes, bool]]:
        """The forms ``raw`` takes in the output bytes, with whether it must match as a whole number."""
        cls = raw.__class__
        if cls is masked.__class__ and raw == masked:
            return  # equal as a whole: judged by the caller (legitimate, or a leak in itself)
        if cls is str:
            if len(raw) * 4 < self.min_length:
                return
            data = raw.encode("utf-8", "surrogatepass")
            if len(data) < self.min_length:
                return
            yield data, False
            if not raw.isprintable() or '"' in raw or "\\" in raw:
                escaped = _json_text(raw)
                if escaped is not None and escaped != data:
                    yield escaped, False
        elif cls is int:
            text = b"%d" % raw
            if len(text) >= self.min_length:
                yield text, True
        elif cls is float:
            text = orjson.dumps(raw)
            if len(text) >= self.min_length and text != b"null":
                yield text, True
        elif cls is list:
            same_shape = masked.__class__ is list and len(masked) == len(raw)
            for i, item in enumerate(raw):
                yield from self._needles(item, masked[i] if same_shape else None)
        elif cls is dict:
            inner = masked if masked.__class__ is dict else {}
            for name, item in raw.items():
                yield from self._needles(item, inner.get(name))


def _json_text(value: str) -> bytes | None:
    """``value`` as it appears inside a JSON string (quotes, backslashes, control characters escaped)."""
    try:
        return orjson.dumps(value)[1:-1]
    except orjson.JSONEncodeError:  # a lone surrogate: never in a JSON output
        return None


def _count(hay: bytes, needle: bytes, whole: bool) -> int:
    """Occurrences of ``needle`` in ``hay``; numbers only where no digit, point or sign extends them."""
    if not whole:
        return hay.count(needle)
    n, i, size = 0, hay.find(needle), len(needle)
    while i != -1:
        before = hay[i - 1] if i else None
        after = hay[i + size] if i + size < len(hay) else None
        if before not in _NUMBER_BEFORE and after not in _NUMBER_AFTER:
            n += 1
        i = hay.find(needle, i + 1)
    return n


def _forms(value: Any) -> Iterator[bytes]:
    """The bytes a masked value is written as (its leaves, for arrays and structs)."""
    cls = value.__class__
    if cls is str:
        yield value.encode("utf-8", "surrogatepass")
        escaped = _json_text(value)
        if escaped is not None:
            yield escaped
    elif cls is int or cls is float:
        yield orjson.dumps(value)
    elif cls is list:
        for item in value:
            yield from _forms(item)
    elif cls is dict:
        for item in value.values():
            yield from _forms(item)


def _explained(needle: bytes, whole: bool, pairs: Sequence[Pair]) -> int:
    """How many occurrences of ``needle`` the masked (and kept) values of the record account for."""
    total = 0
    for _, _, masked, _ in pairs:
        total += max((_count(form, needle, whole) for form in _forms(masked)), default=0)
    return total


def _own_place(column: str, carriers: Sequence[Carrier]) -> str:
    """Where a masked column's own output is: the key's or the value's row (after first)."""
    for carrier in carriers:
        doc = carrier.doc
        if not isinstance(doc, dict):
            continue
        if carrier.label == "value":
            for side in ("after", "before"):
                if isinstance(doc.get(side), dict) and column in doc[side]:
                    return f"value field {side}.{column}"
        elif column in doc:
            return f"{carrier.label} field {column}"
    return "output"


def _where(needle: bytes, whole: bool, carriers: Sequence[Carrier], pairs: Sequence[Pair]) -> str:
    """The carrier and, for a decoded payload, the field (row column, or envelope field) holding an
    occurrence that is not a masked column's own output. Only runs on a hit."""
    masked = {stats.column for stats, _, _, _ in pairs}
    for carrier in carriers:
        if not _count(carrier.data, needle, whole):
            continue
        if isinstance(carrier.doc, dict):
            for path, column, value in _fields(carrier.doc, is_row=carrier.label != "value"):
                if column not in masked and _count(orjson.dumps(value), needle, whole):
                    return f"{carrier.label} field {path}"
        return carrier.label
    return "output"


def _fields(doc: dict[str, Any], is_row: bool) -> Iterator[tuple[str, str | None, Any]]:
    """(path, row column or None, value) of a key (a row) or an envelope (rows in before/after)."""
    for name, value in doc.items():
        if is_row:
            yield name, name, value
        elif name in ("before", "after") and isinstance(value, dict):
            for column, item in value.items():
                yield f"{name}.{column}", column, item
        else:
            yield name, None, value
