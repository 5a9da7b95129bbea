"""The leak guard: after masking, a record's output is searched for the raw values of its masked columns.

Defence in depth. Masking transforms what the policy classifies; the guard catches a raw value that
still reaches the output by another carrier: a passthrough column that copies a masked one, the source
block, an envelope field, a header — or the masked column itself, when its strategy left the value as
it was (a character no class covered, say).

A value is looked for in the forms a writer gives it: its text, its JSON-escaped text (a copy inside a
JSON column's text), its ASCII-escaped JSON text (``\\u00eb``, as Jackson writes with escaping on);
numbers, and strings of digits, only as whole numbers.

What is not a leak, so that false positives stay rare:
- a masked value equal to its raw value where the strategy may give that: a band floor (``bucket``), a
  literal (``redact``), a fixed point of a permutation over a handful of enum labels (``tokenize`` or
  ``hash`` of an Enum), a value kept in part on purpose (``keep_prefix``/``keep_suffix``); and, under any
  strategy, values passed unchanged by design: Debezium's placeholders, infinity and NaN markers, text
  made only of punctuation and spaces. A ``keep`` column is never searched for;
- anything in a masked or kept column (a fake full name that happens to contain the raw last name):
  masking produced it, it was not copied; field names; Debezium's own source-block metadata (connector,
  database, table names, positions, timestamps); an embedded schema (an enum's ``allowed``);
- values shorter than ``min_length`` bytes as text, which match by chance.

A passthrough column holding the same value as a masked column of the same row (``created_at`` equal
to a masked ``updated_at`` on insert) is a hit: the value is in the output; classify both alike.

The hot path costs one substring test per masked value on the record's output text; only a value found
there (or one whose escaped forms differ from its text) is checked against the values themselves.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator, Sequence
from typing import Any, NamedTuple

import orjson

from streammask.placeholders import Placeholders
from streammask.plan import RowMasker, Tally
from streammask.special import INFINITY_TEXTS, INFINITY_TIMESTAMPS, NON_FINITE_TEXTS
from streammask.strategies.charclass import is_structure

# Debezium's own source-block fields, across connectors: positions, names and times, never row data
# (MySQL's `query` and Oracle's `redo_sql`, which are, are nulled before the guard runs). Any other
# source field is searched.
SOURCE_METADATA = frozenset({
    "version", "connector", "name", "ts_ms", "ts_us", "ts_ns", "snapshot", "db", "sequence", "schema", "table",
    "txId", "lsn", "xmin", "server_id", "gtid", "file", "pos", "row", "thread", "change_lsn", "commit_lsn",
    "event_serial_no", "scn", "commit_scn", "lcr_position", "rs_id", "ssn", "redo_thread", "row_id",
    "collection", "ord", "lsid", "txnNumber", "wallTime", "keyspace", "vgtid", "shard", "query", "redo_sql",
})


class Carrier(NamedTuple):
    """A part of the output: ``label`` (``key``, ``value``, ``header NAME``), its bytes as produced, and
    the decoded payload when it has one (a Debezium envelope for the value, a row for a key)."""

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

    def scan(self, tally: Tally, blob: bytes, carriers: Callable[[], Sequence[Carrier]]) -> LeakFound | None:
        """``blob``: every output part of the record, joined; ``carriers``: how to get them apart (only
        for a value that may be there). Returns the first leak found."""
        text = ""
        for masker, row, out in tally.rows or ():
            get = row.get
            for name in masker.guarded:
                raw = get(name)
                if raw is None:
                    continue
                if not text:
                    text = blob.decode("utf-8", "surrogateescape")  # str search is about twice bytes'
                if not self._may_be_in(raw, text):
                    continue
                masked = out[name]
                if name in masker.lenient and raw.__class__ is masked.__class__ and raw == masked:
                    continue  # a band floor, an enum token that is a fixed point...
                found = self._check(masker, name, raw, masked, tally, carriers)
                if found is not None:
                    return found
        return None

    def _may_be_in(self, raw: Any, text: str) -> bool:
        """Whether ``raw`` could be in the output ``text``: False only when none of its forms is there."""
        cls = raw.__class__
        if cls is str:
            if len(raw) < self.min_length and (
                raw.isascii() or len(raw.encode("utf-8", "surrogatepass")) < self.min_length
            ):
                return False
            if raw in text:
                return raw not in self._placeholders
            if not raw.isprintable() or '"' in raw or "\\" in raw:
                return True  # its JSON form differs from its text: the full check looks for that
            return not raw.isascii() and _ascii_json_text(raw) in text
        if cls is int:
            return not self._below < raw < self._above and str(raw) in text
        if cls is bool:
            return False
        if cls is list:
            return any(self._may_be_in(item, text) for item in raw if item is not None)
        if cls is dict:
            return any(self._may_be_in(item, text) for item in raw.values() if item is not None)
        return True  # floats and anything else: the full check

    def _check(
        self, masker: RowMasker, name: str, raw: Any, masked: Any, tally: Tally,
        carriers: Callable[[], Sequence[Carrier]],
    ) -> LeakFound | None:
        """The full check of one raw value: unchanged where its strategy must change it, or found among the
        output's values outside the masked and kept columns."""
        column = masker.masked_columns[name].column
        parts = carriers()
        if raw.__class__ is masked.__class__ and raw == masked:
            if name in masker.lenient or self._unchanged_by_design(raw):
                return None
            return LeakFound(column, _own_place(column, parts) + ", unchanged by its strategy")
        if self._placeholder_forms(raw):
            return None
        protected = frozenset().union(*(m.masked_columns for m, _, _ in tally.rows or ()))
        leaves = list(_leaves(parts, protected))
        for needle, whole in self._needles(raw):
            for path, data in leaves:
                if _count(data, needle, whole):
                    return LeakFound(column, path)
        return None

    def _needles(self, raw: Any) -> Iterator[tuple[bytes, bool]]:
        """The forms ``raw`` takes among output values (its leaves', for arrays and structs), each with
        whether it must match as a whole number."""
        cls = raw.__class__
        if cls is str:
            data = raw.encode("utf-8", "surrogatepass")
            if len(data) < self.min_length:
                return
            whole = raw.isascii() and raw.isdigit()
            yield data, whole
            escaped = _json_text(raw)
            if escaped is not None and escaped != data:
                yield escaped, whole
            if not raw.isascii():
                yield _ascii_json_text(raw).encode(), False
        elif cls is int:
            if not self._below < raw < self._above:
                yield b"%d" % raw, True
        elif cls is float:
            text = orjson.dumps(raw)
            if len(text) >= self.min_length and text != b"null":
                yield text, True
        elif cls is list:
            for item in raw:
                if item is not None:
                    yield from self._needles(item)
        elif cls is dict:
            for item in raw.values():
                if item is not None:
                    yield from self._needles(item)

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


def _json_text(value: str) -> bytes | None:
    """``value`` as it appears inside a JSON string (quotes, backslashes, control characters escaped)."""
    try:
        return orjson.dumps(value)[1:-1]
    except orjson.JSONEncodeError:  # a lone surrogate: never in a JSON output
        return None


def _ascii_json_text(value: str) -> str:
    """``value`` inside a JSON string written with non-ASCII escaped (``\\u00eb``)."""
    return json.dumps(value)[1:-1]


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


def _leaves(carriers: Sequence[Carrier], protected: frozenset[str]) -> Iterator[tuple[str, bytes]]:
    """(where, bytes) of every value of the output a raw value may not be in: row columns outside
    ``protected`` (the masked and kept ones), envelope fields, source fields outside Debezium's metadata,
    and whole headers. Field names are not values."""
    for carrier in carriers:
        doc = carrier.doc
        if not isinstance(doc, dict):
            yield carrier.label, carrier.data
            continue
        is_key = carrier.label != "value"
        for name, value in doc.items():
            if is_key:
                if name not in protected:
                    yield from _leaf_bytes(f"{carrier.label} field {name}", value)
            elif name in ("before", "after") and isinstance(value, dict):
                for column, item in value.items():
                    if column not in protected:
                        yield from _leaf_bytes(f"value field {name}.{column}", item)
            elif name == "source" and isinstance(value, dict):
                for field, item in value.items():
                    if field not in SOURCE_METADATA:
                        yield from _leaf_bytes(f"value field source.{field}", item)
            else:
                yield from _leaf_bytes(f"value field {name}", value)


def _leaf_bytes(where: str, value: Any) -> Iterator[tuple[str, bytes]]:
    """A value's scalars as bytes; the keys of a nested object too (a map's keys are data)."""
    cls = value.__class__
    if cls is str:
        yield where, value.encode("utf-8", "surrogatepass")
    elif cls is list:
        for item in value:
            yield from _leaf_bytes(where, item)
    elif cls is dict:
        for key, item in value.items():
            yield where, str(key).encode("utf-8", "surrogatepass")
            yield from _leaf_bytes(where, item)
    elif value is not None and cls is not bool:
        yield where, orjson.dumps(value)


def _own_place(column: str, carriers: Sequence[Carrier]) -> str:
    """Where a masked column's own output is: the value's row (after first), or the key."""
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
