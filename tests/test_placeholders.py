"""Debezium's placeholders pass unchanged under every strategy, and are counted apart.

Debezium writes ``unavailable.value.placeholder`` (default ``__debezium_unavailable_value``) for a value
it does not have (an unchanged TOASTed column, an Oracle LOB), in the column's own representation
(PostgreSQL's UnchangedToastedPlaceholder): the text; its bytes (base64 in JSON, or base64-url or hex
text under ``binary.handling.mode``); a one-element list for text and binary arrays; the bytes as
(signed) integers for int and bigint arrays; ``[uuid3]`` for uuid arrays (Java's
``UUID.nameUUIDFromBytes``); a one-entry map for hstore, or its JSON text; fixed WKB structs for
geometry and geography, and the point (-99999999, -99999999).

Masking one would turn "unchanged" into a value a sink writes over the real one: so each passes as it is,
is counted in ``Masked.placeholders`` (not ``masked_columns``) and in the audit under ``placeholders``.
A policy's ``placeholders`` list replaces the default.
"""

from __future__ import annotations

import base64
import hashlib
import json
import struct
import uuid
from dataclasses import dataclass
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streammask.audit import AuditCounts
from streammask.errors import PolicyError
from streammask.keys import MasterKey
from streammask.masker import RecordMasker
from streammask.outcome import BlockCode, Blocked, Coordinates, Masked, Outcome
from streammask.plan import ColumnStats, CompiledPolicy
from streammask.policy.loader import parse_policy

try:
    from tests import events as ev
except ImportError:  # tests/ itself is on sys.path (rootdir without __init__.py)
    import events as ev  # type: ignore[no-redef]

KEY = MasterKey(bytes(range(32)), "t")
FEW = settings(max_examples=40, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
TABLE = "docs"
QUALIFIED = f"public.{TABLE}"
TOPIC = ev.topic(TABLE)
ID = ev.col("id", "int32", False)
ROW_ID = 1004

DEFAULT = "__debezium_unavailable_value"

STRATEGY_SPECS: dict[str, dict[str, Any]] = {
    "tokenize": {"strategy": "tokenize"},
    "format-preserve": {"strategy": "format-preserve"},
    "replace": {"strategy": "replace", "kind": "last_name"},
    "hash": {"strategy": "hash"},
    "shift": {"strategy": "shift", "entity": "id", "max_days": 90},
    "bucket": {"strategy": "bucket", "step": 10},
    "redact": {"strategy": "redact"},
    "keep": {"strategy": "keep", "approved_by": "dpo@example.com", "reason": "test"},
}
ALL = frozenset(STRATEGY_SPECS)


# -- Debezium's forms, computed here from Debezium's definitions (not from streammask's) ---------------


def java_name_uuid(raw: bytes) -> str:
    """``java.util.UUID.nameUUIDFromBytes``: the MD5 digest with version 3 and the IETF variant set."""
    digest = bytearray(hashlib.md5(raw).digest())  # noqa: S324 - Java's algorithm, not security
    digest[6] = (digest[6] & 0x0F) | 0x30
    digest[8] = (digest[8] & 0x3F) | 0x80
    return str(uuid.UUID(bytes=bytes(digest)))


def signed(raw: bytes) -> list[int]:
    """Java's ``(int) b`` of each byte."""
    return [b - 256 if b > 127 else b for b in raw]


def point_wkb(x: float, y: float) -> str:
    """The WKB Debezium's ``Point.createValue`` builds: little-endian point, no SRID."""
    return base64.b64encode(struct.pack("<BIdd", 1, 1, x, y)).decode()


GEOMETRY_WKB = base64.b64encode(bytes.fromhex("0101000020E6100000000000FC83D797C1000000FC83D797C1")).decode()
GEOGRAPHY_WKB = base64.b64encode(bytes.fromhex("0101000020E61000000C21E7FDFF7F66401842CEFBFF7F5640")).decode()


def string_schema(**extra: Any) -> dict[str, Any]:
    return {"type": "string", "optional": True, **extra}


def array_of(items: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": items, "optional": True}


def geo_schema(name: str) -> dict[str, Any]:
    return {"type": "struct", "optional": True, "name": f"io.debezium.data.geometry.{name}", "version": 1,
            "fields": [ev.col("wkb", "bytes", False), ev.col("srid", "int32", True)]}


POINT_SCHEMA = {"type": "struct", "optional": True, "name": "io.debezium.data.geometry.Point", "version": 1,
                "fields": [ev.col("x", "float64", False), ev.col("y", "float64", False),
                           ev.col("wkb", "bytes", True), ev.col("srid", "int32", True)]}
JSON_NAME = "io.debezium.data.Json"
UUID_NAME = "io.debezium.data.Uuid"
STRINGS = frozenset({"tokenize", "format-preserve", "replace", "hash", "bucket", "redact", "keep"})
WHOLE = frozenset({"redact", "keep"})  # strategies that take any column whole


@dataclass(frozen=True)
class Form:
    """One representation of a placeholder: the column schema and the strategies that accept it."""

    id: str
    schema: dict[str, Any]
    accepted: frozenset[str]


def forms_of(placeholder: str) -> list[tuple[Form, Any]]:
    """Every form Debezium writes ``placeholder`` in (``hex:`` for raw bytes), with its value."""
    raw = bytes.fromhex(placeholder[4:]) if placeholder.startswith("hex:") else placeholder.encode()
    text = raw.decode("utf-8", "replace")  # Java's new String(bytes)
    b64 = base64.b64encode(raw).decode()
    return [
        (Form("text", string_schema(), STRINGS), text),
        (Form("varchar", string_schema(parameters={"__debezium.source.column.type": "VARCHAR",
                                                   "__debezium.source.column.length": "255"}), STRINGS), text),
        (Form("json", string_schema(name=JSON_NAME, version=1), frozenset({"hash"}) | WHOLE), text),
        (Form("bytes-base64", {"type": "bytes", "optional": True}, frozenset({"tokenize", "hash"}) | WHOLE), b64),
        (Form("bytes-base64-url", string_schema(), STRINGS), base64.urlsafe_b64encode(raw).decode()),
        (Form("bytes-hex", string_schema(), STRINGS), raw.hex()),
        (Form("text-array", array_of({"type": "string", "optional": True}), STRINGS), [text]),
        (Form("bytea-array", array_of({"type": "bytes", "optional": True}),
              frozenset({"tokenize", "hash"}) | WHOLE), [b64]),
        (Form("int-array", array_of({"type": "int32", "optional": True}),
              frozenset({"tokenize", "format-preserve", "hash", "bucket"}) | WHOLE), signed(raw)),
        (Form("bigint-array", array_of({"type": "int64", "optional": True}),
              frozenset({"tokenize", "format-preserve", "hash", "bucket"}) | WHOLE), signed(raw)),
        (Form("uuid-array", array_of(string_schema(name=UUID_NAME, version=1)),
              frozenset({"tokenize", "format-preserve", "hash"}) | WHOLE), [java_name_uuid(raw)]),
        (Form("hstore", {"type": "map", "keys": {"type": "string", "optional": False},
                         "values": {"type": "string", "optional": True}, "optional": True}, WHOLE), {text: text}),
        (Form("hstore-json", string_schema(name=JSON_NAME, version=1), frozenset({"hash"}) | WHOLE),
         json.dumps({text: text}, separators=(",", ":"))),
    ]


# Fixed by Debezium whatever the configured placeholder.
GEO_FORMS: list[tuple[Form, Any]] = [
    (Form("geometry", geo_schema("Geometry"), WHOLE), {"wkb": GEOMETRY_WKB, "srid": 4326}),
    (Form("geography", geo_schema("Geography"), WHOLE), {"wkb": GEOGRAPHY_WKB, "srid": 4326}),
    (Form("point", POINT_SCHEMA, WHOLE),
     {"x": -99999999.0, "y": -99999999.0, "wkb": point_wkb(-99999999.0, -99999999.0), "srid": None}),
]
FORMS = forms_of(DEFAULT) + GEO_FORMS


def test_the_java_uuid_here_is_javas() -> None:
    """``UUID.nameUUIDFromBytes("hello".getBytes())`` in Java is 5d41402a-bc4b-3a76-b971-9d911017c592."""
    assert java_name_uuid(b"hello") == "5d41402a-bc4b-3a76-b971-9d911017c592"


# -- policies and records -----------------------------------------------------------------------------------


def policy_yaml(val_spec: dict[str, Any], placeholders: list[str] | None = None,
                extra_fields: dict[str, dict[str, Any]] | None = None) -> bytes:
    lines = ["version: 1", "key: {env: STREAMMASK_TEST_KEY, id: t}", "tables:", f"  {QUALIFIED}:",
             "    passthrough: [id]", "    fields:", f"      val: {json.dumps(val_spec)}"]
    lines += [f"      {name}: {json.dumps(spec)}" for name, spec in (extra_fields or {}).items()]
    if placeholders is not None:
        lines.append(f"placeholders: {json.dumps(placeholders)}")
    return ("\n".join(lines) + "\n").encode()


_MASKERS: dict[tuple[str, tuple[str, ...] | None], RecordMasker] = {}


def masker(strategy: str, placeholders: list[str] | None = None) -> RecordMasker:
    cache_key = (strategy, None if placeholders is None else tuple(placeholders))
    m = _MASKERS.get(cache_key)
    if m is None:
        loaded = parse_policy(policy_yaml(STRATEGY_SPECS[strategy], placeholders))
        m = _MASKERS[cache_key] = RecordMasker(CompiledPolicy(loaded, KEY))
    return m


def as_masked(outcome: Outcome) -> Masked:
    assert isinstance(outcome, Masked), f"expected Masked, got {outcome!r}"
    return outcome


def rows_of(out: Masked, with_schema: bool) -> dict[str, Any]:
    assert out.value is not None
    doc = orjson.loads(out.value)
    return doc["payload"] if with_schema else doc


def audit_of(*outcomes: Masked) -> dict[str, Any]:
    counts = AuditCounts("0" * 64, "t")
    for i, out in enumerate(outcomes):
        counts.add(Coordinates(TOPIC, 0, i), out)
    return counts.as_dict()


def placeholder_cases(forms: list[tuple[Form, Any]]) -> list[Any]:
    """(form, value, strategy, with_schema) for every accepting strategy with a schema, and every strategy
    without one (the placeholder is recognised before any type is inferred)."""
    cases = []
    for form, value in forms:
        for strategy in sorted(ALL):
            for with_schema in (True, False):
                if with_schema and strategy not in form.accepted:
                    continue
                label = f"{form.id}-{strategy}-{'schema' if with_schema else 'schemaless'}"
                cases.append(pytest.param(form, value, strategy, with_schema, id=label))
    return cases


# -- the default placeholder, in every form, under every strategy ----------------------------------------


@pytest.mark.parametrize(("form", "value", "strategy", "with_schema"), placeholder_cases(FORMS))
def test_a_placeholder_passes_unchanged_and_is_counted_apart(
    form: Form, value: Any, strategy: str, with_schema: bool
) -> None:
    m = masker(strategy)
    fields = [ID, ev.with_name(form.schema, "val")]
    row = {"id": ROW_ID, "val": value}
    stats = ColumnStats(QUALIFIED, "val", strategy)
    create = as_masked(m.mask(TOPIC, None, ev.envelope(fields, None, row, "c", TABLE, with_schema=with_schema)))
    update = as_masked(m.mask(TOPIC, None, ev.envelope(fields, row, row, "u", TABLE, with_schema=with_schema)))
    assert rows_of(create, with_schema)["after"] == row
    assert rows_of(update, with_schema)["before"] == row and rows_of(update, with_schema)["after"] == row
    assert create.placeholders == [stats] and update.placeholders == [stats, stats]
    assert create.masked_columns == [] and update.masked_columns == []
    column = audit_of(create, update)["tables"][QUALIFIED]["columns"]["val"]
    assert column == {"strategy": strategy, "values_masked": 0, "placeholders": 3}


@pytest.mark.parametrize(("form", "value"), FORMS, ids=[f.id for f, _ in FORMS])
def test_strategies_not_listed_for_a_form_do_not_accept_its_column_type(form: Form, value: Any) -> None:
    """The lists above are exactly the strategies that accept each column type: any other one blocks
    the record (placeholder or not) with strategy-not-applicable."""
    for strategy in sorted(ALL - form.accepted):
        fields = [ID, ev.with_name(form.schema, "val")]
        out = masker(strategy).mask(TOPIC, None, ev.envelope(fields, None, {"id": ROW_ID, "val": value}, "c", TABLE))
        assert isinstance(out, Blocked) and out.reason.code is BlockCode.NOT_APPLICABLE, (strategy, out)


def test_a_placeholder_is_counted_under_placeholders_beside_values_masked() -> None:
    """A column with placeholders in some records and values in others reports both counts."""
    m = masker("hash")
    fields = [ID, ev.col("val", "string", True)]
    real = as_masked(m.mask(TOPIC, None, ev.envelope(fields, None, {"id": 1, "val": "annek@noanswer.org"}, "c", TABLE)))
    held = as_masked(m.mask(TOPIC, None, ev.envelope(fields, None, {"id": 2, "val": DEFAULT}, "c", TABLE)))
    column = audit_of(real, held, held)["tables"][QUALIFIED]["columns"]["val"]
    assert column == {"strategy": "hash", "values_masked": 1, "placeholders": 2}
    assert "placeholders" not in audit_of(real)["tables"][QUALIFIED]["columns"]["val"]


# -- an update mixing placeholders and values -------------------------------------------------------------

MIXED_SPECS: dict[str, dict[str, Any]] = {
    "bio": {"strategy": "hash"},
    "email": {"strategy": "format-preserve"},
    "tags": {"strategy": "hash"},
    "avatar": {"strategy": "tokenize"},
    "scores": {"strategy": "tokenize"},
    "prefs": {"strategy": "redact"},
}
MIXED_SCHEMAS = {
    "bio": string_schema(),
    "email": string_schema(),
    "tags": array_of({"type": "string", "optional": True}),
    "avatar": {"type": "bytes", "optional": True},
    "scores": array_of({"type": "int64", "optional": True}),
    "prefs": {"type": "map", "keys": {"type": "string", "optional": False},
              "values": {"type": "string", "optional": True}, "optional": True},
}
DEFAULT_FORMS = {form.id: value for form, value in forms_of(DEFAULT)}
MIXED_PLACEHOLDERS = {"bio": DEFAULT, "email": DEFAULT, "tags": DEFAULT_FORMS["text-array"],
                      "avatar": DEFAULT_FORMS["bytes-base64"], "scores": DEFAULT_FORMS["bigint-array"],
                      "prefs": DEFAULT_FORMS["hstore"]}
MIXED_VALUES = {"bio": "Anne grew up in Springfield", "email": "annek@noanswer.org", "tags": ["vip", "annek"],
                "avatar": ev.b64(b"\x89PNG anne's face"), "scores": [9_007_199_254_740_993, 123_456_789],
                "prefs": {"owner": "Anne Kretchmar"}}
MIXED_MASKER = RecordMasker(CompiledPolicy(parse_policy(
    b"version: 1\nkey: {env: STREAMMASK_TEST_KEY, id: t}\ntables:\n  public.docs:\n    passthrough: [id]\n"
    b"    fields:\n" + b"".join(f"      {n}: {json.dumps(s)}\n".encode() for n, s in MIXED_SPECS.items())
), KEY))


@FEW
@given(held=st.sets(st.sampled_from(sorted(MIXED_SPECS)), min_size=1, max_size=len(MIXED_SPECS) - 1),
       with_schema=st.booleans(), full_before=st.booleans())
def test_an_update_with_placeholders_in_some_columns_masks_the_others(
    held: set[str], with_schema: bool, full_before: bool
) -> None:
    fields = [ID, *(ev.with_name(MIXED_SCHEMAS[n], n) for n in MIXED_SPECS)]
    before = {"id": ROW_ID, **MIXED_VALUES} if full_before else None
    after = {"id": ROW_ID, **{n: MIXED_PLACEHOLDERS[n] if n in held else MIXED_VALUES[n] for n in MIXED_SPECS}}
    out = as_masked(MIXED_MASKER.mask(TOPIC, None, ev.envelope(fields, before, after, "u", TABLE,
                                                               with_schema=with_schema)))
    masked_after = rows_of(out, with_schema)["after"]
    for name in MIXED_SPECS:
        if name in held:
            assert masked_after[name] == after[name], name
        else:
            assert masked_after[name] != after[name], name
    assert sorted(s.column for s in out.placeholders) == sorted(held)
    after_masked = {s.column for s in out.masked_columns} if not full_before else None
    if after_masked is not None:
        assert after_masked == set(MIXED_SPECS) - held
    else:
        # the full before is masked whole; the after's held columns are counted as placeholders only
        assert len(out.masked_columns) == len(MIXED_SPECS) + len(set(MIXED_SPECS) - held)
    assert b"annek" not in (out.value or b"") and b"Springfield" not in (out.value or b"")


# -- configured placeholders -------------------------------------------------------------------------------

CUSTOM = "n/a-toast"
HEX = "hex:00ff10"


@pytest.mark.parametrize(("form", "value", "strategy", "with_schema"), placeholder_cases(forms_of(CUSTOM)))
def test_a_configured_placeholder_passes_in_every_form(
    form: Form, value: Any, strategy: str, with_schema: bool
) -> None:
    m = masker(strategy, [CUSTOM])
    row = {"id": ROW_ID, "val": value}
    out = as_masked(m.mask(TOPIC, None, ev.envelope([ID, ev.with_name(form.schema, "val")], None, row, "c", TABLE,
                                                    with_schema=with_schema)))
    assert rows_of(out, with_schema)["after"] == row
    assert out.placeholders == [ColumnStats(QUALIFIED, "val", strategy)] and out.masked_columns == []


# A hex placeholder's bytes need not be text: its forms are the bytes-based ones.
HEX_FORM_IDS = {"bytes-base64", "bytes-base64-url", "bytes-hex", "bytea-array", "int-array", "bigint-array",
                "uuid-array"}


@pytest.mark.parametrize(("form", "value", "strategy", "with_schema"),
                         placeholder_cases([fv for fv in forms_of(HEX) if fv[0].id in HEX_FORM_IDS]))
def test_a_hex_placeholder_passes_in_its_byte_forms(
    form: Form, value: Any, strategy: str, with_schema: bool
) -> None:
    m = masker(strategy, [HEX])
    row = {"id": ROW_ID, "val": value}
    out = as_masked(m.mask(TOPIC, None, ev.envelope([ID, ev.with_name(form.schema, "val")], None, row, "c", TABLE,
                                                    with_schema=with_schema)))
    assert rows_of(out, with_schema)["after"] == row
    assert out.placeholders == [ColumnStats(QUALIFIED, "val", strategy)]


def test_the_hex_placeholder_forms_are_debeziums_bytes() -> None:
    forms = {f.id: v for f, v in forms_of(HEX)}
    assert forms["bytes-base64"] == "AP8Q" and forms["bytes-hex"] == "00ff10"
    assert forms["int-array"] == [0, -1, 16]


# The default's forms that a hash column takes, and that hash always changes (a hex digest, a digest's
# bytes, a version-8 uuid): once the default is no placeholder, each must come out masked.
CHANGED_BY_HASH = ["text", "bytes-base64", "bytes-base64-url", "text-array", "bytea-array", "uuid-array",
                   "int-array", "hstore-json"]


@pytest.mark.parametrize("configured", [[CUSTOM], [HEX], [CUSTOM, HEX]], ids=["custom", "hex", "both"])
@pytest.mark.parametrize("with_schema", [True, False], ids=["schema", "schemaless"])
@pytest.mark.parametrize("form_id", CHANGED_BY_HASH)
def test_listing_placeholders_replaces_the_default(configured: list[str], with_schema: bool, form_id: str) -> None:
    form, value = next((f, v) for f, v in forms_of(DEFAULT) if f.id == form_id)
    row = {"id": ROW_ID, "val": value}
    out = as_masked(masker("hash", configured).mask(
        TOPIC, None, ev.envelope([ID, ev.with_name(form.schema, "val")], None, row, "c", TABLE,
                                 with_schema=with_schema)))
    assert rows_of(out, with_schema)["after"]["val"] != value
    assert out.placeholders == [] and out.masked_columns == [ColumnStats(QUALIFIED, "val", "hash")]


def test_several_configured_placeholders_all_pass() -> None:
    """Topics fed by connectors with different placeholders: each listed one passes."""
    m = masker("hash", [CUSTOM, DEFAULT])
    fields = [ID, ev.col("val", "string", True)]
    for value in (CUSTOM, DEFAULT):
        out = as_masked(m.mask(TOPIC, None, ev.envelope(fields, None, {"id": 1, "val": value}, "c", TABLE)))
        assert out.placeholders == [ColumnStats(QUALIFIED, "val", "hash")]


@pytest.mark.parametrize("entry", ["hex:zz", "hex:0", "hex:00f", "hex:0x00"])
def test_an_invalid_hex_placeholder_is_a_policy_error_naming_its_line(entry: str) -> None:
    raw = policy_yaml(STRATEGY_SPECS["hash"], [DEFAULT, entry])
    line = next(i for i, text in enumerate(raw.decode().splitlines(), 1) if text.startswith("placeholders:"))
    with pytest.raises(PolicyError) as caught:
        parse_policy(raw, "policy.yaml")
    assert any(p.line == line and "hex" in p.message for p in caught.value.problems), caught.value.problems
    assert f"policy.yaml:{line}" in str(caught.value)
