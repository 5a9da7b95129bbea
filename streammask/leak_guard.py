"""The leak guard: after masking, a record's output is searched for the raw values of its masked columns.

Defence in depth. Masking transforms what the policy classifies; the guard catches a raw value that
still reaches the output: left as it was by its strategy (a character no class covered, say), or
carried by a part of the output that masking copies as it came — a passthrough column (of a row, the
key or a key header), a source-block field that is not Debezium's own metadata, a passed header. Those
carriers are all the output holds besides masked values and Debezium's metadata (positions, names and
times of the envelope and source block, which identify no one); an unknown envelope field blocks the
record before the guard runs, and MySQL's ``query`` and Oracle's ``redo_sql`` are nulled.

A raw value is looked for whole in each carrier's text (so inside a longer text too), in the forms a
writer gives it: its text, its JSON-escaped text (a copy inside a JSON column's text), its ASCII-escaped
JSON text (``\\u00eb``); numbers, and strings of digits, only as whole numbers; a binary format's bytes
(Avro) as they read as text and as base64 (what a text column copying them holds).

What is not a leak, so that false positives stay rare:
- a masked value equal to its raw value where the strategy may give that: a band floor (``bucket``), a
  literal (``redact``), a fixed point of a permutation over a handful of enum labels (``tokenize`` or
  ``hash`` of an Enum), a value kept in part on purpose (``keep_prefix``/``keep_suffix``); and, under any
  strategy, values passed unchanged by design: Debezium's placeholders, infinity and NaN markers, text
  made only of punctuation and spaces. A ``keep`` column is never looked for;
- anything in a masked or kept column (a fake full name that happens to contain the raw last name):
  masking produced it, it was not copied;
- values shorter than ``min_length`` bytes as text, which match by chance.

A passthrough column holding the same value as a masked column of the same row (``created_at`` equal
to a masked ``updated_at`` on insert) is a hit: the value is in the output; classify both alike.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

import orjson

from streammask.placeholders import Placeholders
from streammask.plan import Tally
from streammask.special import INFINITY_TEXTS, INFINITY_TIMESTAMPS, NON_FINITE_TEXTS
from streammask.strategies.charclass import is_structure

# Debezium's own source-block fields, across connectors: positions, names and times, never row data
# (MySQL's `query` and Oracle's `redo_sql`, which are, are nulled before the guard runs). Any other
# source field is a carrier.
SOURCE_METADATA = frozenset({
    "version", "connector", "name", "ts_ms", "ts_us", "ts_ns", "snapshot", "db", "sequence", "schema", "table",
    "txId", "lsn", "xmin", "server_id", "gtid", "file", "pos", "row", "thread", "change_lsn", "commit_lsn",
    "event_serial_no", "scn", "commit_scn", "lcr_position", "rs_id", "ssn", "redo_thread", "row_id",
    "collection", "ord", "lsid", "txnNumber", "wallTime", "keyspace", "vgtid", "shard", "query", "redo_sql",
})

_SCALARS = frozenset({str, int, bool, type(None)})
Carrier = tuple[str, Any]
"""(where it is in the output, as a block reason names it; its value) of a part that may carry a value."""


class LeakFound(NamedTuple):
    column: str
    where: str

    def describe(self) -> str:
        return f"a raw value of masked column {self.column} is in the output ({self.where}); check what copies it"


_NUMBER_BEFORE = frozenset("0123456789.-")
_NUMBER_AFTER = frozenset("0123456789.eE")


class LeakGuard:
    """Finds raw values of masked columns in a record's output (see the module docstring)."""

    __slots__ = ("min_length", "_below", "_above", "bounds", "_placeholders", "_placeholder_forms")

    def __init__(self, min_length: int, placeholders: Placeholders | None = None) -> None:
        self.min_length = min_length
        placeholders = placeholders or Placeholders(())
        self._placeholders = placeholders.strings
        self._placeholder_forms = placeholders.matches
        # integers strictly between these have fewer than min_length characters (sign included)
        self._below = -(10 ** (min_length - 2)) if min_length > 1 else 0
        self._above = 10 ** (min_length - 1) if min_length > 1 else 0
        self.bounds = (min_length, self._below, self._above)
        """What a tally keeps (GuardedTally): strings of min_length characters, integers outside the rest."""

    def scan(self, tally: Tally, others: Sequence[Carrier]) -> LeakFound | None:
        """The first leak in the record ``tally`` describes (its rows as masked, the raw values masking
        changed, the strict values that came out equal), ``others`` being the carriers outside rows
        (unknown source fields, passed headers). The common case — no raw value in any carrier's text —
        is decided by C-level passes; a suspect record takes the value-by-value path with every rule."""
        raws = tally.raw
        for label, name, value, masked in tally.unchanged or ():
            if masked.__class__ is not value.__class__:  # equal, of another type (1 and 1.0): it changed, so
                raws.append(value)  # type: ignore[union-attr]  # it is searched for like any changed value
            elif not self._unchanged_by_design(value):
                where = _place((label, name)) + ", unchanged by its strategy"
                return LeakFound(self._column(tally, label, name), where)
        if not raws:
            return None
        wheres: list[Any] = []  # a carrier's name, or (row label, column)
        texts: list[str] = []  # its text
        for where, value in others:
            _add_texts(wheres, texts, where, value)
        for masker, _, out, label in tally.rows or ():
            for name in masker.passthrough:
                value = out.get(name)
                if value.__class__ is str:
                    wheres.append((label, name))
                    texts.append(value)
                elif value is not None:
                    _add_texts(wheres, texts, (label, name), value)
        if not texts:
            return None
        joined = "\x00".join(texts)  # one search per value over every carrier
        # An escaped form (JSON text inside a value, \u escapes) needs a backslash: without one, a copy is
        # the raw text itself, and C-level passes over the raw values decide for all of them.
        escaped = "\\" in joined
        if not escaped and not self._suspect(raws, joined):
            return None
        long_texts, rest = self._searchable(raws)
        if escaped or any(map(joined.__contains__, long_texts)):
            for raw in long_texts:
                if escaped or raw in joined:
                    found = self._locate(tally, raw, wheres, texts)
                    if found is not None:
                        return found
        for raw in rest:  # besides long strings: big integers, shorter non-ASCII strings, rarer types
            cls = raw.__class__
            if cls is str:
                if self._too_short(raw) or (not escaped and raw not in joined):
                    continue
            elif cls is int and not escaped and str(raw) not in joined:
                continue
            found = self._locate(tally, raw, wheres, texts)
            if found is not None:
                return found
        return None

    def _suspect(self, raws: list[Any], joined: str) -> bool:
        """Whether any raw value may be in ``joined`` (the carriers' text, without escapes): strings and
        integers as their text in one C-level pass (``str`` of a string is itself), rarer types by their
        forms. A suspect record gets the full check, which applies the length and whole-number rules."""
        if any(map(joined.__contains__, map(str, raws))):
            return True
        if _SCALARS.issuperset(map(type, raws)):
            return False
        rare = [raw for raw in raws if raw.__class__ not in _SCALARS]
        return any(needle in joined for raw in rare for needle, _ in self._needles(raw))

    def _searchable(self, raws: list[Any]) -> tuple[list[str], list[Any]]:
        """The raw values long enough to search: strings of ``min_length`` characters, and the rest
        (integers outside the short range, shorter non-ASCII strings, other types but booleans)."""
        min_chars, below, above = self.bounds
        long_texts: list[str] = []
        rest: list[Any] = []
        for value in raws:
            cls = value.__class__
            if cls is str:
                if len(value) >= min_chars:
                    long_texts.append(value)
                elif not value.isascii():
                    rest.append(value)  # fewer characters, maybe enough bytes
            elif cls is int:
                if not below < value < above:
                    rest.append(value)
            elif cls is not bool:
                rest.append(value)
        return long_texts, rest

    @staticmethod
    def _column(tally: Tally, label: str, name: str) -> str:
        for masker, _, _, row_label in tally.rows or ():
            if row_label == label and name in masker.masked_columns:
                return masker.masked_columns[name].column
        return name

    def _locate(self, tally: Tally, raw: Any, wheres: Sequence[Any], texts: Sequence[str]) -> LeakFound | None:
        """The full check of one raw value in every form, and, on a hit, its column and the carrier."""
        for needle, whole in self._needles(raw):
            for where, text in zip(wheres, texts, strict=True):
                if needle in text and (not whole or _whole_number_in(needle, text)):
                    for masker, row, _, _ in tally.rows or ():
                        for name in masker.guarded:
                            if row.get(name) is raw:
                                return LeakFound(masker.masked_columns[name].column, _place(where))
        return None

    def _needles(self, raw: Any) -> Iterator[tuple[str, bool]]:
        """The forms ``raw`` (its leaves, for arrays and structs) takes in a carrier's text, each with
        whether it must match as a whole number."""
        cls = raw.__class__
        if cls is str:
            if self._too_short(raw):
                return
            whole = raw.isascii() and raw.isdigit()
            yield raw, whole
            if not raw.isprintable() or '"' in raw or "\\" in raw:
                escaped = _json_text(raw)
                if escaped is not None and escaped != raw:
                    yield escaped, whole
            if not raw.isascii():
                yield json.dumps(raw)[1:-1], False
        elif cls is int:
            if not self._below < raw < self._above:
                yield str(raw), True
        elif cls is bytes:  # a binary format's bytes (Avro): as carriers' bytes are read (_add_texts), and as
            if len(raw) >= self.min_length:  # base64 text, the form a text column copying them would hold
                yield raw.decode("utf-8", "surrogateescape"), False
                yield base64.b64encode(raw).decode(), False
        elif cls is float:
            if math.isfinite(raw):
                text = orjson.dumps(raw).decode()
                if len(text) >= self.min_length:
                    yield text, True
        elif cls is list:
            for item in raw:
                if item is not None:
                    yield from self._needles(item)
        elif cls is dict:
            for item in raw.values():
                if item is not None:
                    yield from self._needles(item)

    def _too_short(self, text: str) -> bool:
        """Fewer than ``min_length`` bytes as UTF-8: such a value matches by chance."""
        return len(text) < self.min_length and (
            text.isascii() or len(text.encode("utf-8", "surrogatepass")) < self.min_length
        )

    def _unchanged_by_design(self, value: Any) -> bool:
        """Values a strategy may give back as they are: Debezium's placeholders, infinity and NaN markers,
        text made only of what a masked string keeps (punctuation and spaces), and values too short for
        the guard; and by chance, a value whose masked forms are few (below 2**32): a keyed map sends
        one such value to itself now and then, always the same one, which would block it for good."""
        cls = value.__class__
        if cls is str:
            if self._too_short(value):
                return True
            return (
                value in self._placeholders or value in INFINITY_TEXTS or value in NON_FINITE_TEXTS
                or _forms_of_text(value) < _CHANCE
            )
        if cls is int:
            return value in INFINITY_TIMESTAMPS or self._below < value < self._above or abs(value) < _CHANCE
        if cls is float:
            return not math.isfinite(value)
        if cls is bytes:  # a binary format's bytes and Decimals (Avro): too short to search, as in _needles
            return len(value) < self.min_length or self._placeholder_forms(value)
        if cls is list:
            return all(item is None or self._unchanged_by_design(item) for item in value) or self._placeholder_forms(
                value
            )
        return self._placeholder_forms(value)


_CHANCE = 2**32
"""Below this many possible masked forms, an unchanged value is taken for a fixed point met by chance."""


def _forms_of_text(text: str) -> int:
    """About how many masked forms a string has (its characters' class sizes multiplied; punctuation and
    spaces stay), up to _CHANCE."""
    forms = 1
    for ch in text:
        if is_structure(ch):
            continue
        forms *= 10 if ch.isdigit() else 26 if ch.isascii() else 31
        if forms >= _CHANCE:
            break
    return forms


def source_carriers(source: dict[str, Any]) -> list[Carrier]:
    """The source-block fields that are not Debezium's own metadata, as carriers (usually none)."""
    if source.keys() <= SOURCE_METADATA:
        return []
    return [(f"value field source.{k}", v) for k, v in source.items() if k not in SOURCE_METADATA and v is not None]


def _add_texts(wheres: list[Any], texts: list[str], where: Any, value: Any) -> None:
    """A carrier's scalars as text (a nested value's too, and a nested object's keys: a map's keys are
    data), each with where it is."""
    cls = value.__class__
    if cls is str:
        found = [value]
    elif cls is bytes:
        found = [value.decode("utf-8", "surrogateescape")]
    elif cls is int or cls is float:
        found = [orjson.dumps(value).decode()]
    elif cls is list or cls is dict:
        found = list(_scalars(value))
    else:
        return
    texts += found
    wheres += [where] * len(found)


def _place(where: Any) -> str:
    """A carrier's place as a block reason names it: ``value field after.notes``, ``key field id``,
    ``header x-trace``."""
    if isinstance(where, str):
        return where
    label, column = where
    return f"{label}.{column}" if label.endswith(("before", "after")) else f"{label} {column}"


def _scalars(value: Any) -> Iterator[str]:
    cls = value.__class__
    if cls is str:
        yield value
    elif cls is list:
        for item in value:
            yield from _scalars(item)
    elif cls is dict:
        for key, item in value.items():
            yield str(key)
            yield from _scalars(item)
    elif cls is bytes:
        yield value.decode("utf-8", "surrogateescape")
    elif value is not None and cls is not bool:
        yield orjson.dumps(value).decode()


def _json_text(value: str) -> str | None:
    """``value`` as it appears inside a JSON string (quotes, backslashes, control characters escaped)."""
    try:
        return orjson.dumps(value)[1:-1].decode()
    except orjson.JSONEncodeError:  # a lone surrogate: never in a JSON output
        return None


def _whole_number_in(needle: str, text: str) -> bool:
    """Whether ``needle`` occurs in ``text`` where no digit, point or sign extends it into another number."""
    i, size = text.find(needle), len(needle)
    while i != -1:
        before = text[i - 1] if i else ""
        after = text[i + size] if i + size < len(text) else ""
        if before not in _NUMBER_BEFORE and after not in _NUMBER_AFTER:
            return True
        i = text.find(needle, i + 1)
    return False
