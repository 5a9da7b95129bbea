"""Whole Debezium events, generated (hypothesis): column types x strategies x key forms x placeholders x
Unicode, masked by ``RecordMasker`` and checked record by record.

For every generated record:

1. no leak: a Masked output (key, value payload, headers; never the embedded schema, which lists an
   enum's ``allowed``) holds no raw value of a masked column (as UTF-8 text or JSON-escaped; numbers as
   whole numbers), except where the strategy allows equality (``equality_allowed``), values that pass by
   design (placeholders, special values), values shorter than ``MIN_LENGTH`` bytes, and occurrences
   inside values masking produced (a fake full name may contain a raw last name);
2. key equals row: the masked key's columns are the masked row's (``after``, or ``before`` for a
   delete); a ``__debezium.oldkey``/``newkey`` header is masked as that key is in its own event; a
   tombstone after a delete carries the delete's masked key (or compaction never removes the row);
3. schema-valid: the schema bytes are unchanged and masking adds no problem ``connect_schema.validate``
   finds (a placeholder or special value in a typed column is invalid before masking already);
4. deterministic: a fresh masker, and the same masker again (schema cache warm), give identical outcomes;
5. a Blocked reason holds none of the record's raw values (4 characters or more).

Records made only of the catalogue's samples under each column's natural strategy must not be blocked
at all: that keeps the properties above from holding vacuously on records that all block.

The second property drives the leak guard: a raw value of a masked column copied by a passthrough
column (whole, inside a text, inside a JSON text), by a header (as text, JSON or ASCII-escaped JSON) or
by a source-block field blocks the record with code ``leak-guard``, naming that column and no value;
the same record without the copy is masked.
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import json
import re
import string
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import connect_schema
import events as ev
import orjson
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

import streammask
from streammask import fakes
from streammask.codec.connect_json import encode_bytes as b64encode
from streammask.codec.connect_json import encode_unscaled
from streammask.keys import MasterKey
from streammask.leak_guard import SOURCE_METADATA
from streammask.masker import RecordMasker
from streammask.outcome import BlockCode, Blocked, BlockReason, Masked, Outcome
from streammask.placeholders import DEFAULT, Placeholders, placeholder_bytes
from streammask.plan import CompiledPolicy
from streammask.policy.loader import parse_policy
from streammask.special import INFINITY_TEXTS, INFINITY_TIMESTAMPS, NON_FINITE_TEXTS
from streammask.strategies import STRATEGIES
from streammask.strategies.charclass import is_structure
from streammask.strategies.shapes import Shape, detect
from streammask.types import DECIMAL, ENUM, Kind, from_connect_schema

KEY = MasterKey(bytes(range(32)), "t")
TABLE = "items"
TOPIC = ev.topic(TABLE)
POLICY_TABLE = f"public.{TABLE}"

# Raw values shorter than this many bytes (as text; numbers: digits and sign) are not searched for.
# It is the leak guard's default ``min_length``: the product promises nothing for shorter values, and
# they do turn up by chance (a 5-digit number in a timestamp or an LSN, 'gold' in a fake company name,
# two letters in any word), so searching them would report coincidences, not leaks.
MIN_LENGTH = 6
# A masked value equal to its raw value is a leak unless the strategy allows it. Keyed strategies can
# give a value back by chance: a permutation's fixed point, a hash landing on its input. Where the output
# space of a value has at most this many elements, that chance is >= 1e-9 per value and is tolerated
# (int8 and int16 bands, enums, a few masked characters, <= 9 digits under format-preserve); beyond it,
# an unchanged value is a strategy that did not mask.
CHANCE_SPACE = 10**9

MAIN = settings(
    max_examples=300, deadline=None, database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
GUARD = settings(
    max_examples=120, deadline=None, database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# -- values ------------------------------------------------------------------------------------------

ALNUM = string.ascii_letters + string.digits
# Characters worth meeting often: circled letters, emoji with a skin tone and joiners, BOM, CJK
# punctuation, controls, private use, a plane-15 code point, unassigned, spaces of other categories,
# a combining acute, quotes and backslashes (JSON escapes).
NOTABLE = (
    "ⓐⓩⒶ😀👍🏽\u200d\u200c\ufeff«»、。\x00\x07\x7f\x1f\ue000\U000f0000"
    "\u0378\u00a0\u3000\u2028·€–é\u0301\"\\"
)
unicode_chars = st.one_of(
    st.characters(codec="utf-8"),  # every plane and category but surrogates (JSON cannot carry a lone one)
    st.sampled_from(NOTABLE),
    st.sampled_from(ALNUM + string.punctuation + " \t\n"),
)
unicode_text = st.text(unicode_chars, max_size=24)


def _mac(raw: bytes, sep: str, upper: bool) -> str:
    text = sep.join(f"{b:02x}" for b in raw)
    return text.upper() if upper else text


uuids = st.builds(lambda u, up: str(u).upper() if up else str(u), st.uuids(), st.booleans())
macs = st.builds(_mac, st.binary(min_size=6, max_size=6) | st.binary(min_size=8, max_size=8),
                 st.sampled_from(":-"), st.booleans())
ipv4 = st.ip_addresses(v=4).map(str)
ipv6 = st.ip_addresses(v=6).map(lambda a: a.compressed)
interfaces = st.one_of(
    st.builds("{}/{}".format, st.ip_addresses(v=4), st.integers(0, 32)),
    st.builds("{}/{}".format, st.ip_addresses(v=6).map(lambda a: a.compressed), st.integers(0, 128)),
)


def _network(ip: Any, prefix: int) -> str:
    return str(ipaddress.ip_interface(f"{ip}/{prefix}").network)


networks = st.one_of(
    st.builds(_network, st.ip_addresses(v=4), st.integers(0, 32)),
    st.builds(_network, st.ip_addresses(v=6), st.integers(0, 128)),
)
shaped = st.one_of(uuids, macs, ipv4, ipv6, interfaces)
STRING_SAMPLES = sorted({s for c in ev.ALL_TYPES for s in c.samples if isinstance(s, str)} | {"Walker", "Anne"})
emails = st.builds(
    "{}@{}".format,
    st.text(ALNUM + "._-", min_size=1, max_size=12),
    st.sampled_from(["example.org", "noanswer.org", "mail.test", "exämple.de"]),
)
text_values = st.one_of(unicode_text, shaped, st.sampled_from(STRING_SAMPLES), emails)


def _numeric_text(unscaled: int, scale: int) -> str:
    digits = str(abs(unscaled)).rjust(scale + 1, "0")
    text = f"{digits[:-scale]}.{digits[-scale:]}" if scale else digits
    return f"-{text}" if unscaled < 0 else text


_MIN_DAY = (dt.date(1, 1, 1) - ev.EPOCH).days
_MAX_DAY = (dt.date(9999, 12, 31) - ev.EPOCH).days
_DAY = 86_400
INT64_LO, INT64_HI = -(2**63), 2**63 - 1


# Dates as far as a sink takes them (years 1-9999), with the ends drawn often: '9999-12-31' is the
# "valid until further notice" of many tables, '0001-01-01' a common "unknown".
days_values = st.one_of(st.integers(_MIN_DAY, _MAX_DAY), st.sampled_from([_MIN_DAY, _MAX_DAY]))


def _ticks(per_second: int) -> st.SearchStrategy[int]:
    lo, hi = _MIN_DAY * _DAY * per_second, (_MAX_DAY + 1) * _DAY * per_second - 1
    if lo >= INT64_LO and hi <= INT64_HI:
        return st.one_of(st.integers(lo, hi), st.sampled_from([lo, hi - _DAY * per_second + 1]))
    return st.integers(max(lo, INT64_LO), min(hi, INT64_HI))  # nanoseconds: years 1677-2262 only


_OFFSETS = st.sampled_from([
    dt.UTC, dt.timezone(dt.timedelta(hours=2)), dt.timezone(-dt.timedelta(hours=5, minutes=30))
])


def _zoned(moment: dt.datetime, tz: dt.tzinfo, zulu: bool) -> str:
    text = moment.replace(tzinfo=tz).isoformat()
    return text.replace("+00:00", "Z") if zulu else text


zoned = st.builds(
    _zoned,
    st.one_of(st.datetimes(dt.datetime(1, 1, 1), dt.datetime(9999, 12, 31, 23, 59, 59)),
              st.sampled_from([dt.datetime(1, 1, 1), dt.datetime(9999, 12, 31)])),
    _OFFSETS, st.booleans(),
)
json_texts = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**6), 10**6) | unicode_text,
    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(unicode_chars, max_size=8), kids, max_size=3),
    max_leaves=6,
).map(lambda v: orjson.dumps(v).decode())
b64s = st.binary(max_size=24).map(b64encode)


def _allowed(cdef: ev.ColumnDef) -> list[str]:
    return str(cdef.schema["parameters"]["allowed"]).split(",")


VALUES: dict[str, st.SearchStrategy[Any]] = {
    "int8": st.integers(-(2**7), 2**7 - 1),
    "int16": st.integers(-(2**15), 2**15 - 1),
    "int16_fp": st.integers(-(2**15), 2**15 - 1),
    "int32": st.integers(-(2**31), 2**31 - 1),
    "int64": st.integers(INT64_LO, INT64_HI),
    "int64_tok": st.integers(INT64_LO, INT64_HI),
    "float32": st.floats(width=32, allow_nan=False, allow_infinity=False),
    "float64": st.floats(allow_nan=False, allow_infinity=False),
    "boolean": st.booleans(),
    "boolean_opt": st.booleans(),
    "string_varchar": st.one_of(st.text(unicode_chars, max_size=12), st.sampled_from(["Kretchmar", "Walker"])),
    "bytes": b64s,
    "bytes_hash": b64s,
    "struct_point": st.fixed_dictionaries({
        "x": st.floats(allow_nan=False, allow_infinity=False), "y": st.floats(allow_nan=False, allow_infinity=False),
        "wkb": st.none() | b64s, "srid": st.none() | st.integers(0, 2**31 - 1),
    }),
    "struct_keep": st.fixed_dictionaries({"street": text_values, "city": text_values, "zip": st.none() | text_values}),
    "array_string": st.lists(st.none() | text_values, max_size=4),
    "array_redact": st.lists(st.none() | text_values, max_size=4),
    "array_redact_nn": st.lists(text_values, max_size=3),
    "map": st.dictionaries(st.text(unicode_chars, max_size=10), st.none() | text_values, max_size=3),
    "decimal": st.integers(-(10**10) + 1, 10**10 - 1).map(encode_unscaled),
    "decimal_fp": st.integers(-(10**10) + 1, 10**10 - 1).map(encode_unscaled),
    "decimal_precision_edge": st.integers(-9_999, 9_999).map(encode_unscaled),
    "decimal_string": st.one_of(st.builds(_numeric_text, st.integers(-(10**14), 10**14), st.integers(0, 4)),
                                unicode_text),
    "variable_decimal": st.builds(lambda s, u: {"scale": s, "value": encode_unscaled(u)},
                                  st.integers(0, 10), st.integers(-(10**20), 10**20)),
    "dbz_date": days_values,
    "dbz_time": st.integers(0, _DAY * 1_000),
    "dbz_micro_time": st.integers(0, _DAY * 1_000_000),
    "dbz_time_keep": st.integers(0, _DAY * 1_000_000),
    "dbz_timestamp": _ticks(1_000),
    "dbz_micro_timestamp": _ticks(1_000_000),
    "dbz_nano_timestamp": _ticks(1_000_000_000),
    "dbz_zoned_timestamp": zoned,
    "connect_date": days_values,
    "connect_timestamp": _ticks(1_000),
    "connect_time": st.integers(0, _DAY * 1_000),
    "uuid": uuids,
    "uuid_hash": uuids,
    "uniqueidentifier": uuids.map(str.upper),
    "inet": st.one_of(ipv4, ipv6, interfaces),
    "inet_prefix_hash": interfaces,
    "cidr": networks,
    "macaddr": st.builds(_mac, st.binary(min_size=6, max_size=6), st.sampled_from(":-"), st.booleans()),
    "macaddr8_redact": macs,
    "json": json_texts,
    "json_redact": json_texts,
    "year": st.integers(1901, 2155),
    "year_bucket": st.integers(1901, 2155),
}
for _c in ev.ALL_TYPES:
    if _c.schema.get("name") == ENUM:
        VALUES[_c.id] = st.sampled_from(_allowed(_c))
    elif _c.id not in VALUES:
        assert _c.schema["type"] == "string", _c.id
        VALUES[_c.id] = text_values
assert VALUES.keys() == ev.TYPES_BY_ID.keys()

# -- placeholders and special values ----------------------------------------------------------------

# What the policy lists under `placeholders` (None: the default).
PLACEHOLDER_CONFIGS: list[list[str] | None] = [None, [DEFAULT, "hex:5f5f756e617661696c61626c655f5f"]]
_GEOMETRY_WKB = bytes.fromhex("0101000020E6100000000000FC83D797C1000000FC83D797C1")
# Columns Debezium writes a placeholder into (TOASTed text, bytea, jsonb, arrays, hstore, geometry) and how.
_TEXT_COLUMNS = {"string_name", "string_email", "string_code", "string_ssn", "string_note", "string_note_nn",
                 "json", "json_redact"}


def placeholder_forms(cdef: ev.ColumnDef, configured: list[str]) -> list[Any]:
    forms: list[Any] = []
    for entry in configured:
        raw = placeholder_bytes(entry)
        text = raw.decode("utf-8", "replace")
        if cdef.id in _TEXT_COLUMNS:
            forms.append(text)
        elif cdef.schema["type"] == "bytes" and cdef.schema.get("name") is None:
            forms.append(b64encode(raw))
        elif cdef.id.startswith("array_"):
            forms.append([text])
        elif cdef.id == "map":
            forms.append({text: text})
        elif cdef.id == "struct_point":
            forms.append({"x": -99999999.0, "y": -99999999.0, "wkb": b64encode(_GEOMETRY_WKB), "srid": 4326})
    return forms


_TIMESTAMP_IDS = {"dbz_timestamp", "dbz_micro_timestamp", "dbz_nano_timestamp", "connect_timestamp"}
_BLANKS = ["", " ", "  \t "]


def special_values(cdef: ev.ColumnDef) -> list[Any]:
    """Values that pass unchanged by design (``streammask.special``, blank strings under replace)."""
    if cdef.id in _TIMESTAMP_IDS:
        return sorted(INFINITY_TIMESTAMPS)
    if cdef.id == "dbz_zoned_timestamp":
        return sorted(INFINITY_TEXTS)
    if cdef.id in ("float32", "float64", "decimal_string"):
        return sorted(NON_FINITE_TEXTS)
    if cdef.schema["type"] == "string" and cdef.schema.get("name") is None and "parameters" not in cdef.schema:
        return _BLANKS
    return []


def is_special(value: Any) -> bool:
    if value.__class__ is int:
        return value in INFINITY_TIMESTAMPS
    return isinstance(value, str) and (value in INFINITY_TEXTS or value in NON_FINITE_TEXTS or not value.strip())


# -- strategies and policies -------------------------------------------------------------------------

KEEP = {"strategy": "keep", "approved_by": "dpo@example.com", "reason": "test"}
OPTIONS: dict[str, list[dict[str, Any]]] = {
    "tokenize": [{"strategy": "tokenize"}],
    "hash": [{"strategy": "hash"}, {"strategy": "hash", "length": 16}],
    "format-preserve": [
        {"strategy": "format-preserve"},
        {"strategy": "format-preserve", "mode": "text"},
        {"strategy": "format-preserve", "keep_prefix": 2, "keep_suffix": 3},
        {"strategy": "format-preserve", "mode": "email", "keep_suffix": 1},
    ],
    "replace": [
        {"strategy": "replace", "kind": "full_name"},
        {"strategy": "replace", "kind": "last_name"},
        {"strategy": "replace", "kind": "email"},
        {"strategy": "replace", "kind": "city"},
        {"strategy": "replace", "kind": "first_name", "locale": "de_DE"},
    ],
    "redact": [{"strategy": "redact"}],
    "shift": [{"strategy": "shift", "entity": "id", "max_days": 90}],
    "bucket": [
        {"strategy": "bucket", "step": 10},
        {"strategy": "bucket", "step": "0.5"},
        {"strategy": "bucket", "boundaries": [-1000, 0, 18, 65, 1000000]},
    ],
    "keep": [KEEP],
}
assert OPTIONS.keys() == STRATEGIES.keys()


def applicable(strategy: str, schema: dict[str, Any]) -> bool:
    """Whether the plan compiles ``strategy`` for this column schema (arrays: for its elements too)."""
    ctype = from_connect_schema(schema)
    impl = STRATEGIES[strategy]
    if impl.accepts(ctype):
        return True
    return ctype.kind is Kind.ARRAY and ctype.items is not None and impl.accepts(ctype.items)


APPLICABLE = {c.id: [s for s in OPTIONS if applicable(s, c.schema)] for c in ev.ALL_TYPES}

KEY_FIELDS: dict[str, dict[str, Any]] = {
    "int32": ev.col("id", "int32", False),
    "int64": ev.col("id", "int64", False),
    "string": ev.col("id", "string", False),
    "uuid": ev.col("id", "string", False, name="io.debezium.data.Uuid", version=1),
}
KEY_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "int32": st.integers(-(2**31), 2**31 - 1),
    "int64": st.integers(INT64_LO, INT64_HI),
    "string": st.one_of(st.text(ALNUM + "-_.", min_size=1, max_size=20), st.text(unicode_chars, min_size=1)),
    "uuid": uuids,
}
KEY_STRATEGIES = ["tokenize", "hash", "format-preserve", "keep", None]  # None: passthrough


@dataclass(frozen=True)
class Column:
    name: str
    schema: dict[str, Any]  # the field schema (with "field")
    spec: dict[str, Any] | None  # the policy entry; None: passthrough
    cdef: ev.ColumnDef | None = None

    @property
    def strategy(self) -> str | None:
        return None if self.spec is None else str(self.spec["strategy"])

    @property
    def masked(self) -> bool:
        """Masked by a strategy that is meant to change it (not keep, not passthrough)."""
        return self.spec is not None and self.spec["strategy"] != "keep"


def policy_yaml(columns: list[Column], placeholders: list[str] | None, guard: bool = True) -> bytes:
    passthrough = [c.name for c in columns if c.spec is None]
    lines = ["version: 1", "key: {env: STREAMMASK_TEST_KEY, id: t}", "tables:", f"  {POLICY_TABLE}:",
             f"    passthrough: {json.dumps(passthrough)}"]
    fields = [f"      {c.name}: {json.dumps(c.spec)}" for c in columns if c.spec is not None]
    lines += ["    fields:", *fields] if fields else ["    fields: {}"]
    if placeholders is not None:
        lines.append(f"placeholders: {json.dumps(placeholders)}")
    if not guard:
        lines.append("leak_guard: {enabled: false, approved_by: tests, reason: what masking alone gives}")
    return ("\n".join(lines) + "\n").encode()


_MASKERS: dict[bytes, RecordMasker] = {}


def fresh_masker(policy: bytes) -> RecordMasker:
    return RecordMasker(CompiledPolicy(parse_policy(policy), KEY))


def cached_masker(policy: bytes) -> RecordMasker:
    m = _MASKERS.get(policy)
    if m is None:
        if len(_MASKERS) > 512:
            _MASKERS.clear()
        m = _MASKERS[policy] = fresh_masker(policy)
    return m


# -- records -----------------------------------------------------------------------------------------


def compact(obj: Any) -> bytes:
    return orjson.dumps(obj)


def ascii_json(obj: Any) -> bytes:
    """JSON with every non-ASCII character escaped (\\uXXXX): another producer's wire form."""
    return json.dumps(obj, ensure_ascii=True, separators=(",", ":")).encode()


ENCODERS: dict[str, Callable[[Any], bytes]] = {"compact": compact, "ascii": ascii_json}


def framed(schema: dict[str, Any] | None, payload: Any, encode: Callable[[Any], bytes]) -> bytes:
    if schema is None:
        return encode(payload)
    return b'{"schema":' + encode(schema) + b',"payload":' + encode(payload) + b"}"


def key_bytes(key_form: str, id_field: dict[str, Any], values: dict[str, Any], encode: Callable[[Any], bytes]) -> bytes:
    schema = ev.key_schema([id_field], TABLE) if key_form == "schema" else None
    return framed(schema, values, encode)


@dataclass
class Case:
    policy: bytes
    columns: list[Column]
    id_column: Column
    op: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    with_schema: bool
    key_form: str  # schema | plain | null
    encoding: str
    value: bytes
    key: bytes | None
    headers: list[tuple[str, bytes | None]]
    other_ids: dict[str, Any]  # header name -> the other key's id value
    placeholders: Placeholders
    schema_text: bytes | None
    clean: bool  # natural strategies on catalogue samples (types masked without a schema too): must be masked
    notes: list[str] = field(default_factory=list)

    @property
    def all_columns(self) -> list[Column]:
        return [self.id_column, *self.columns]

    def by_name(self) -> dict[str, Column]:
        return {c.name: c for c in self.all_columns}


def _cell(draw: st.DrawFn, cdef: ev.ColumnDef, samples_only: bool, configured: list[str]) -> Any:
    choices = ["sample"]
    if not samples_only:
        choices += ["generated"] * 4
    if cdef.optional:
        choices.append("null")
    if placeholder_forms(cdef, configured):
        choices.append("placeholder")
    if special_values(cdef):
        choices.append("special")
    kind = draw(st.sampled_from(choices))
    if kind == "sample":
        return draw(st.sampled_from(cdef.samples))
    if kind == "null":
        return None
    if kind == "placeholder":
        return draw(st.sampled_from(placeholder_forms(cdef, configured)))
    if kind == "special":
        return draw(st.sampled_from(special_values(cdef)))
    return draw(VALUES[cdef.id])


@st.composite
def cases(draw: st.DrawFn) -> Case:
    mode = draw(st.sampled_from(["natural-samples", "natural", "any", "any"]))
    natural = mode != "any"
    samples_only = mode == "natural-samples"
    cdefs = draw(st.lists(st.sampled_from(ev.ALL_TYPES), min_size=1, max_size=6))
    columns: list[Column] = []
    for i, cdef in enumerate(cdefs):
        name = f"{cdef.id}_{i}"
        if natural:
            spec: dict[str, Any] | None = cdef.strategy
        else:
            strategy = draw(st.sampled_from([*APPLICABLE[cdef.id], "passthrough"]))
            spec = None if strategy == "passthrough" else draw(st.sampled_from(OPTIONS[strategy]))
        columns.append(Column(name, cdef.field(name), spec, cdef))

    key_type = draw(st.sampled_from(sorted(KEY_FIELDS)))
    key_strategy = draw(st.sampled_from(KEY_STRATEGIES))
    key_spec = None if key_strategy is None else OPTIONS[key_strategy][0]
    id_column = Column("id", KEY_FIELDS[key_type], key_spec)
    if samples_only and key_type == "string":
        id_values: st.SearchStrategy[Any] = st.text(ALNUM, min_size=1, max_size=20)
    else:
        id_values = KEY_VALUES[key_type]

    configured = draw(st.sampled_from(PLACEHOLDER_CONFIGS))
    placeholders = configured or [DEFAULT]

    def row(id_value: Any) -> dict[str, Any]:
        return {"id": id_value, **{c.name: _cell(draw, c.cdef, samples_only, placeholders) for c in columns if c.cdef}}

    op = draw(st.sampled_from("cudr"))
    id_value = draw(id_values)
    before = after = None
    if op in "cr":
        after = row(id_value)
    elif op == "u":
        after = row(id_value)
        if draw(st.booleans()):  # REPLICA IDENTITY FULL; else before is null
            before = row(id_value)
    else:
        before = row(id_value)
        if draw(st.booleans()):  # REPLICA IDENTITY DEFAULT: the key columns only
            before = {"id": id_value}

    all_columns = [id_column, *columns]
    notes: list[str] = []
    # now and then a passthrough column copying a masked value of the row: a real leak (blocked by the guard)
    source_row = after or before or {}
    copyable = [c for c in columns if c.masked and isinstance(source_row.get(c.name), str | int)
                and not isinstance(source_row.get(c.name), bool)]
    if copyable and not natural and draw(st.integers(0, 9)) == 0:
        origin = draw(st.sampled_from(copyable))
        raw = source_row[origin.name]
        copy_schema = ev.col("copy", "string" if isinstance(raw, str) else "int64", True)
        all_columns.append(Column("copy", copy_schema, None))
        columns.append(all_columns[-1])
        for r in (before, after):
            if r is not None and len(r) > 1:
                r["copy"] = raw
        notes.append(f"copy of {origin.name}")

    with_schema = draw(st.booleans())
    key_form = draw(st.sampled_from(["schema", "plain", "null"]))
    encoding = "compact" if samples_only else draw(st.sampled_from(["compact", "compact", "ascii"]))
    encode = ENCODERS[encoding]
    payload = ev.envelope_payload(before, after, op, TABLE)
    schema = ev.envelope_schema([c.schema for c in all_columns], TABLE) if with_schema else None
    value = framed(schema, payload, encode)
    key = None if key_form == "null" else key_bytes(key_form, id_column.schema, {"id": id_value}, encode)

    headers: list[tuple[str, bytes | None]] = []
    other_ids: dict[str, Any] = {}
    if op in "cd" and draw(st.booleans()):  # a primary-key update: a delete with newkey, a create with oldkey
        name = "__debezium.oldkey" if op == "c" else "__debezium.newkey"
        other = draw(id_values)
        other_ids[name] = other
        header_form = "plain" if key_form == "null" else key_form
        headers.append((name, key_bytes(header_form, id_column.schema, {"id": other}, encode)))
    if draw(st.booleans()):
        headers += [("__debezium.context.taskId", b"0"), ("x-dropped", "x-dröpped-😀".encode())]

    policy = policy_yaml(all_columns, configured)
    return Case(
        policy=policy, columns=columns, id_column=id_column, op=op, before=before, after=after,
        with_schema=with_schema, key_form=key_form, encoding=encoding, value=value, key=key, headers=headers,
        other_ids=other_ids, placeholders=Placeholders(placeholders),
        schema_text=encode(schema) if schema is not None else None,
        clean=samples_only and (with_schema or all(c.cdef.schemaless not in ("blocked", "rejected") for c in columns
                                                   if c.cdef is not None)),
        notes=notes,
    )


# -- the oracle --------------------------------------------------------------------------------------


def leaves(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    """(path, scalar) of every non-null scalar inside a value."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield from leaves(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from leaves(v, (*path, i))
    elif value is not None:
        yield path, value


_MISSING = object()


def at(value: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        if (isinstance(value, dict) and step in value) or (
            isinstance(value, list) and isinstance(step, int) and step < len(value)
        ):
            value = value[step]
        else:
            return _MISSING
    return value


def text_of(leaf: Any) -> bytes:
    if isinstance(leaf, str):
        return leaf.encode()
    return orjson.dumps(leaf)


_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?")


def needles(leaf: Any) -> list[tuple[bytes, bool]]:
    """The forms a raw leaf takes in JSON output bytes, with whether it must match as a whole number:
    numbers, and strings that are numbers too (a text "100000" inside source.ts_ns is no copy of it)."""
    if isinstance(leaf, bool):
        return []
    if isinstance(leaf, str):
        forms = {leaf.encode(), orjson.dumps(leaf)[1:-1], json.dumps(leaf)[1:-1].encode()}
        whole = _NUMBER.fullmatch(leaf) is not None
        return [(f, whole) for f in forms]
    return [(orjson.dumps(leaf), True)]


_BEFORE_NUMBER = frozenset(b"0123456789.-")
_AFTER_NUMBER = frozenset(b"0123456789.eE")


def count(hay: bytes, needle: bytes, whole: bool) -> int:
    n, i = 0, hay.find(needle)
    while i != -1:
        if not whole or (
            (i == 0 or hay[i - 1] not in _BEFORE_NUMBER)
            and (i + len(needle) >= len(hay) or hay[i + len(needle)] not in _AFTER_NUMBER)
        ):
            n += 1
        i = hay.find(needle, i + 1)
    return n


def _class_size(ch: str, hex_only: bool) -> int:
    if hex_only:
        return 16 if ch in string.hexdigits else 1
    if ch in string.digits:
        return 10
    if ch in ALNUM:
        return 26
    return 1 if is_structure(ch) else 31


def text_space(strategy: str, spec: dict[str, Any], text: str) -> int:
    """How many outputs a keyed string strategy can give this text (an under-estimate)."""
    shape = detect(text)
    if shape is Shape.IP:
        return 1  # a network with a long prefix has few hosts: tolerate
    if strategy == "hash" and shape is Shape.TEXT:
        return CHANCE_SPACE + 1  # a hex digest: its input only if the input was that very hex text
    part = text
    prefix = suffix = 0
    if strategy == "format-preserve":
        prefix, suffix = int(spec.get("keep_prefix", 0)), int(spec.get("keep_suffix", 0))
        if "@" in text and shape is Shape.TEXT:
            part = text[: text.rfind("@")]  # the domain may be kept
    middle = part[prefix : max(prefix, len(part) - suffix)]
    space = 1
    for ch in middle:
        space *= _class_size(ch.lower() if shape is not Shape.TEXT else ch, shape is not Shape.TEXT)
        if space > CHANCE_SPACE:
            break
    return space


def _replace_could_draw(spec: dict[str, Any], text: str) -> bool:
    locale, kind = spec.get("locale", "en_US"), spec["kind"]
    if kind in fakes.POOL_KINDS:
        return text in fakes.pool(locale, kind)
    if kind == "full_name":
        first, _, last = text.partition(" ")
        return first in fakes.pool(locale, "first_name") and last in fakes.pool(locale, "last_name")
    return False


def equality_allowed(column: Column, leaf: Any, with_schema: bool) -> bool:
    """Whether a masked leaf may equal its raw value (the policy lets the output show it, or chance)."""
    strategy = column.strategy
    assert column.spec is not None and strategy is not None
    if strategy in ("bucket", "redact"):
        return True  # a value on its band floor; the neutral value itself
    if strategy == "shift":
        return False
    if strategy == "replace":
        return isinstance(leaf, str) and _replace_could_draw(column.spec, leaf)
    if isinstance(leaf, bool | float):
        return True  # no keyed strategy takes booleans or floats: they come under redact or bucket
    schema_name = column.schema.get("name") if with_schema else None
    if schema_name == ENUM:
        return True
    if isinstance(leaf, int):
        if strategy == "format-preserve":
            return len(str(abs(leaf))) <= 9
        return -(2**15) <= leaf < 2**15  # the int8 and int16 bands of tokenize and hash
    if schema_name == DECIMAL and strategy == "format-preserve":
        unscaled = int.from_bytes(base64.b64decode(leaf), "big", signed=True)
        return len(str(abs(unscaled))) <= 9
    return text_space(strategy, column.spec, str(leaf)) <= CHANCE_SPACE


@dataclass
class Region:
    """A masked or kept column's value in the output, with its raw value."""

    column: Column
    raw: Any
    out: Any


def leaf_forms(leaf: Any) -> list[bytes]:
    """The bytes a value's leaf is written as in JSON output."""
    if isinstance(leaf, str):
        return [leaf.encode(), orjson.dumps(leaf)[1:-1]]
    return [orjson.dumps(leaf)]


@dataclass
class Output:
    """A Masked outcome taken apart."""

    key_payload: Any
    key_body: bytes | None
    value_payload: dict[str, Any]
    value_body: bytes
    headers: dict[str, bytes | None]
    header_payloads: dict[str, Any]
    header_bodies: dict[str, bytes]


def _split(data: bytes, schema_expected: bool) -> tuple[Any, bytes]:
    doc = orjson.loads(data)
    if schema_expected:
        assert isinstance(doc, dict) and list(doc) == ["schema", "payload"], data[:200]
        return doc["payload"], orjson.dumps(doc["payload"])
    return doc, orjson.dumps(doc)


def take_apart(case: Case, out: Masked) -> Output:
    assert out.value is not None
    value_payload, value_body = _split(out.value, case.with_schema)
    key_payload, key_body = (None, None) if out.key is None else _split(out.key, case.key_form == "schema")
    headers = dict(out.headers)
    assert len(headers) == len(out.headers)
    header_payloads: dict[str, Any] = {}
    header_bodies: dict[str, bytes] = {}
    for name in case.other_ids:
        data = headers[name]
        assert data is not None
        header_payloads[name], header_bodies[name] = _split(data, case.key_form == "schema")
    return Output(key_payload, key_body, value_payload, value_body, headers, header_payloads, header_bodies)


def _raw_rows(case: Case) -> list[tuple[str, dict[str, Any] | None]]:
    key_row = None if case.key is None else {"id": case.after["id"] if case.after else case.before["id"]}  # type: ignore[index]
    rows: list[tuple[str, dict[str, Any] | None]] = [("before", case.before), ("after", case.after), ("key", key_row)]
    rows += [(name, {"id": other}) for name, other in case.other_ids.items()]
    return rows


def _out_rows(output: Output) -> dict[str, Any]:
    return {"before": output.value_payload["before"], "after": output.value_payload["after"],
            "key": output.key_payload, **output.header_payloads}


def explaining_leaves(case: Case, region: Region) -> Iterator[Any]:
    """The region's output leaves where an occurrence of a raw value is explained, not copied: kept
    values, values masking produced (other than their raw leaf: a fake name may contain a raw last name),
    and values the policy lets pass unchanged (placeholders, special values, allowed equalities)."""
    whole_placeholder = region.raw is not None and case.placeholders.matches(region.raw)
    for path, leaf in leaves(region.out):
        if (
            not region.column.masked
            or whole_placeholder
            or at(region.raw, path) != leaf
            or case.placeholders.matches(leaf)
            or is_special(leaf)
            or equality_allowed(region.column, leaf, case.with_schema)
        ):
            yield leaf


def output_values(output: Output) -> Iterator[bytes]:
    """Every value of the output as text, where a copy of a raw value would be: not field names, and not
    the values of Debezium's own source-block metadata (connector, database and table names, positions,
    times), which the generated events fix and a raw value may equal by chance (``snapshot``, ``shop``)."""
    envelope = {k: v for k, v in output.value_payload.items() if k != "source"}
    source = output.value_payload.get("source") or {}
    envelope["source"] = {k: v for k, v in source.items() if k not in SOURCE_METADATA}
    for doc in (envelope, output.key_payload, *output.header_payloads.values()):
        for _, leaf in leaves(doc):
            yield text_of(leaf)
        for key in _object_keys(doc, top=True):
            yield key.encode()  # a map's keys are data (field names of the envelope and rows are not)
    for name, data in output.headers.items():
        if name not in output.header_payloads and data is not None:
            yield data


def _object_keys(value: Any, top: bool) -> Iterator[str]:
    """The keys of objects nested below the envelope's and the rows' own fields."""
    if isinstance(value, dict):
        for k, v in value.items():
            if not top:
                yield k
            yield from _object_keys(v, top=top and k in ("before", "after", "source", "transaction"))
    elif isinstance(value, list):
        for v in value:
            yield from _object_keys(v, top=False)


def leaks(case: Case, output: Output) -> list[str]:
    """Raw values of masked columns found in the output and not explained by masking (see the module doc)."""
    by_name = case.by_name()
    blob = b"\x00".join(output_values(output))
    out_rows = _out_rows(output)
    regions: list[Region] = []
    for side, raw_row in _raw_rows(case):
        out_row = out_rows.get(side)
        if raw_row is None or out_row is None:
            continue
        for name, raw in raw_row.items():
            column = by_name[name]
            if column.spec is not None and name in out_row:
                regions.append(Region(column, raw, out_row[name]))
    explaining = [leaf for region in regions for leaf in explaining_leaves(case, region)]

    found: list[str] = []
    for region in regions:
        column = region.column
        if not column.masked or region.raw is None or case.placeholders.matches(region.raw):
            continue
        for path, leaf in leaves(region.raw):
            if case.placeholders.matches(leaf) or is_special(leaf) or len(text_of(leaf)) < MIN_LENGTH:
                continue
            if at(region.out, path) == leaf and equality_allowed(column, leaf, case.with_schema):
                continue
            for needle, whole in needles(leaf):
                total = count(blob, needle, whole)
                if not total:
                    continue
                explained = sum(max(count(form, needle, whole) for form in leaf_forms(x)) for x in explaining)
                if total > explained:
                    found.append(f"{column.name}: raw {leaf!r} found {total}x (explained {explained}x)")
                    break
    return found


def raw_texts(case: Case) -> set[str]:
    texts: set[str] = set()
    for _, row in _raw_rows(case):
        for _, leaf in leaves(row):
            if not isinstance(leaf, bool):
                texts.add(leaf if isinstance(leaf, str) else orjson.dumps(leaf).decode())
    return texts


# Every text streammask could put in a reason by itself (its sources), with the case's own names: a raw
# value that is part of these is no evidence that a value reached the reason.
_VOCABULARY = "\n".join(p.read_text() for p in sorted(Path(streammask.__file__).parent.rglob("*.py")))


def values_in_reason(reason: BlockReason, texts: set[str], names: list[str]) -> list[str]:
    shown = [reason.detail, reason.describe(), repr(reason)]
    return sorted(
        t for t in texts
        if len(t) >= 4 and any(t in s for s in shown) and t not in _VOCABULARY and not any(t in n for n in names)
    )


def same_outcome(a: Outcome, b: Outcome) -> bool:
    if isinstance(a, Masked) and isinstance(b, Masked):
        return (a.key, a.value, a.headers) == (b.key, b.value, b.headers)
    return isinstance(a, Blocked) and isinstance(b, Blocked) and a.reason == b.reason


def describe(case: Case) -> str:
    cols = ", ".join(f"{c.name}:{c.strategy or 'passthrough'}" for c in case.all_columns)
    return (f"op={case.op} schema={case.with_schema} key={case.key_form} enc={case.encoding} [{cols}] "
            f"{' '.join(case.notes)}")


# -- the properties ----------------------------------------------------------------------------------


@MAIN
@given(case=cases())
def test_generated_events_are_masked_faithfully_or_blocked_without_a_value(case: Case) -> None:
    masker = cached_masker(case.policy)
    outcome = masker.mask(TOPIC, case.key, case.value, case.headers)
    event(f"outcome: {outcome.reason.code.value if isinstance(outcome, Blocked) else 'masked'}")
    event(f"catalogue samples, natural strategies: {case.clean}")

    # 4. deterministic: a fresh masker, and the same masker again (its schema cache warm)
    assert same_outcome(fresh_masker(case.policy).mask(TOPIC, case.key, case.value, case.headers), outcome), \
        describe(case)
    assert same_outcome(masker.mask(TOPIC, case.key, case.value, case.headers), outcome), describe(case)

    if isinstance(outcome, Blocked):
        # 5. the reason names no value
        names = [c.name for c in case.all_columns] + [POLICY_TABLE, TABLE, TOPIC]
        assert values_in_reason(outcome.reason, raw_texts(case), names) == [], outcome.reason
        assert not case.clean, f"catalogue samples under natural strategies blocked: {outcome.reason} {describe(case)}"
        return

    output = take_apart(case, outcome)
    # 1. no leak (and headers other than the key headers and passthrough patterns are dropped)
    assert leaks(case, output) == [], describe(case)
    assert "x-dropped" not in output.headers

    # 2. key equals row
    row = output.value_payload["after"] if case.op != "d" else output.value_payload["before"]
    if case.key is not None:
        assert isinstance(output.key_payload, dict) and set(output.key_payload) == {"id"}
        assert output.key_payload["id"] == row["id"], describe(case)
    for name, other in case.other_ids.items():
        # the header is the key of the other event of this primary-key update: masked as that event's key
        header_form = "plain" if case.key_form == "null" else case.key_form
        encode = ENCODERS[case.encoding]
        companion = masker.mask(
            TOPIC, key_bytes(header_form, case.id_column.schema, {"id": other}, encode),
            framed(ev.envelope_schema([c.schema for c in case.all_columns], TABLE) if case.with_schema else None,
                   ev.envelope_payload(None, {"id": other}, "c", TABLE), encode),
        )
        assert isinstance(companion, Masked), (companion, describe(case))
        assert companion.key is not None
        assert _split(companion.key, header_form == "schema")[0] == output.header_payloads[name], describe(case)

    # 3. schema-valid: schema bytes unchanged, and no problem masking did not find in the input already
    raw_value = orjson.loads(case.value)
    if case.with_schema:
        assert case.schema_text is not None and outcome.value is not None
        assert outcome.value.startswith(b'{"schema":' + case.schema_text + b',"payload":'), describe(case)
        schema = raw_value["schema"]
        new = set(connect_schema.validate(schema, output.value_payload)) - set(
            connect_schema.validate(schema, raw_value["payload"]))
        assert not new, (sorted(new), describe(case))
    if case.key_form == "schema":
        assert outcome.key is not None and case.key is not None
        key_schema = orjson.loads(case.key)["schema"]
        assert outcome.key.startswith(b'{"schema":' + ENCODERS[case.encoding](key_schema) + b',"payload":')
        assert connect_schema.validate(key_schema, output.key_payload) == [], describe(case)

    # a tombstone after the delete carries the delete's masked key, or compaction keeps the masked row
    if case.op == "d" and case.key is not None:
        tombstone = masker.mask(TOPIC, case.key, None)
        assert isinstance(tombstone, Masked), (tombstone, describe(case))
        assert tombstone.key == outcome.key, describe(case)


# -- the leak guard ----------------------------------------------------------------------------------

# A masked column's strategy and values it masks (raw values of MIN_LENGTH bytes or more).
long_text = st.one_of(
    st.text(unicode_chars, min_size=MIN_LENGTH, max_size=24),
    st.text(st.characters(codec="utf-8", min_codepoint=0x800), min_size=2, max_size=5),  # 3-4 bytes each
)
long_ints = st.one_of(st.integers(10**5, 2**62), st.integers(-(2**62), -(10**4)))
long_shaped = shaped.filter(lambda s: len(s) >= MIN_LENGTH)
SECRETS: list[tuple[dict[str, Any], dict[str, Any], st.SearchStrategy[Any]]] = [
    ({"strategy": "format-preserve"}, ev.col("secret", "string", True),
     st.one_of(long_text, emails.filter(lambda s: len(s) >= MIN_LENGTH), long_shaped)),
    ({"strategy": "hash"}, ev.col("secret", "string", True), st.one_of(long_text, long_shaped)),
    ({"strategy": "replace", "kind": "full_name"}, ev.col("secret", "string", True),
     long_text.filter(lambda s: detect(s) is Shape.TEXT and not s.isspace())),
    ({"strategy": "tokenize"}, ev.col("secret", "string", True),
     st.one_of(st.text(ALNUM + " -.@", min_size=MIN_LENGTH, max_size=20), long_shaped)),
    ({"strategy": "tokenize"}, ev.col("secret", "int64", True), long_ints),
    ({"strategy": "format-preserve"}, ev.col("secret", "int64", True), long_ints),
    ({"strategy": "hash"}, ev.col("secret", "int64", True), long_ints),
    ({"strategy": "shift", "entity": "id", "max_days": 30},
     ev.col("secret", "int64", True, name="io.debezium.time.MicroTimestamp", version=1),
     st.integers(10**5, 4 * 10**15)),
]
CARRIERS = ["column", "embedded", "json-text", "header", "header-json", "header-ascii-json", "source"]
_NOT_NUMBER = st.text(st.characters(codec="utf-8", exclude_characters="0123456789.-eE"), max_size=6)


@GUARD
@given(
    secret=st.sampled_from(SECRETS).flatmap(lambda s: st.tuples(st.just(s[0]), st.just(s[1]), s[2])),
    other=st.text(ALNUM, min_size=8, max_size=16),
    carrier=st.sampled_from(CARRIERS),
    prefix=_NOT_NUMBER,
    suffix=_NOT_NUMBER,
    op=st.sampled_from("cudr"),
    with_schema=st.booleans(),
    key_form=st.sampled_from(["schema", "plain", "null"]),
    id_value=st.integers(1, 99),
)
def test_leak_guard_blocks_a_raw_value_that_another_carrier_copies(
    secret: tuple[dict[str, Any], dict[str, Any], Any], other: str, carrier: str, prefix: str, suffix: str,
    op: str, with_schema: bool, key_form: str, id_value: int,
) -> None:
    spec, secret_schema, raw = secret
    assume(raw != other)
    assume(with_schema or spec["strategy"] != "shift")  # shift needs the schema's timestamp type
    text = raw if isinstance(raw, str) else str(raw)
    columns = [
        Column("id", ev.col("id", "int32", False), None),
        Column("secret", secret_schema, spec),
        Column("other", ev.col("other", "string", True), {"strategy": "hash"}),
        Column("note", ev.col("note", "string" if isinstance(raw, str) or carrier != "column" else "int64", True),
               None),
    ]
    masker = cached_masker(policy_yaml(columns, None))

    def record(carried: bool) -> tuple[bytes, bytes | None, list[tuple[str, bytes | None]]]:
        note: Any = None
        headers: list[tuple[str, bytes | None]] = [("__debezium.context.taskId", b"0")]
        source_extra: dict[str, Any] = {"note": "-"}
        if carried:
            if carrier == "column":
                note = raw
            elif carrier == "embedded":
                note = f"{prefix} {text} {suffix}"
            elif carrier == "json-text":
                note = orjson.dumps({"note": prefix, "copy": raw}).decode()
            elif carrier == "header":
                headers.append(("__debezium.context.note", text.encode()))
            elif carrier == "header-json":
                headers.append(("__debezium.context.note", orjson.dumps({"copy": raw})))
            elif carrier == "header-ascii-json":
                headers.append(("__debezium.context.note", ascii_json({"copy": raw})))
            else:
                source_extra = {"note": text}
        row = {"id": id_value, "secret": raw, "other": other, "note": note}
        before, after = (row, None) if op == "d" else ((row if op == "u" else None), row)
        payload = ev.envelope_payload(before, after, op, TABLE, source_extra=source_extra)
        schema = ev.envelope_schema([c.schema for c in columns], TABLE, source_extra=source_extra)
        value = framed(schema if with_schema else None, payload, compact)
        key = None if key_form == "null" else key_bytes(key_form, columns[0].schema, {"id": id_value}, compact)
        return value, key, headers

    # what masking alone makes of the secret (the guard off): a value its strategy gives back is no leak
    value, key, headers = record(carried=False)
    unguarded = cached_masker(policy_yaml(columns, None, guard=False)).mask(TOPIC, key, value, headers)
    assert isinstance(unguarded, Masked) and unguarded.value is not None, unguarded
    masked_payload = _split(unguarded.value, with_schema)[0]
    assume((masked_payload["after"] or masked_payload["before"])["secret"] != raw)
    event(f"carrier: {carrier}")

    value, key, headers = record(carried=True)
    outcome = masker.mask(TOPIC, key, value, headers)
    assert isinstance(outcome, Blocked), f"{carrier}: a copy of secret ({spec['strategy']}) passed: {outcome!r}"
    assert outcome.reason.code is BlockCode.LEAK_GUARD, outcome.reason
    assert outcome.reason.column == "secret", outcome.reason
    texts = {text, other} | ({prefix, suffix, f"{prefix} {text} {suffix}"} if carrier == "embedded" else set())
    assert values_in_reason(outcome.reason, texts, ["secret", "other", "note", POLICY_TABLE]) == [], outcome.reason

    # and without the copy, the same record passes: the guard blocks copies, not values
    value, key, headers = record(carried=False)
    control = masker.mask(TOPIC, key, value, headers)
    assert isinstance(control, Masked), f"nothing copies the secret, yet: {control!r}"
