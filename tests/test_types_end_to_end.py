"""Every column type of tests/events.py's ALL_TYPES, masked with its natural strategy inside a real
Debezium envelope: never blocked, still valid against the unchanged Connect schema, changed (unless
kept), and never null where the schema says NOT NULL. Plus the validator's own tests."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest

from streammask.keys import MasterKey
from streammask.masker import RecordMasker
from streammask.outcome import BlockCode, Blocked, Masked, Outcome
from streammask.plan import CompiledPolicy
from streammask.policy.loader import parse_policy

try:
    from tests import connect_schema
    from tests import events as ev
except ImportError:  # tests/ itself is on sys.path (rootdir without __init__.py)
    import connect_schema  # type: ignore[no-redef]
    import events as ev  # type: ignore[no-redef]

validate = connect_schema.validate
KEY = MasterKey(bytes(range(32)), "t")
TABLE = "items"
TOPIC = ev.topic(TABLE)
ID = ev.col("id", "int32", False)
ENTITY_ID = 41


def policy_yaml(columns: dict[str, dict[str, Any]]) -> bytes:
    lines = ["version: 1", "key: {env: STREAMMASK_TEST_KEY, id: t}", "tables:", f"  public.{TABLE}:",
             "    passthrough: [id]", "    fields:"]
    lines += [f"      {name}: {json.dumps(spec)}" for name, spec in columns.items()]
    return ("\n".join(lines) + "\n").encode()


_MASKERS: dict[str, RecordMasker] = {}


def masker_for(cdef: ev.ColumnDef) -> RecordMasker:
    m = _MASKERS.get(cdef.id)
    if m is None:
        m = _MASKERS[cdef.id] = RecordMasker(CompiledPolicy(parse_policy(policy_yaml({"val": cdef.strategy})), KEY))
    return m


def as_masked(outcome: Outcome) -> Masked:
    assert isinstance(outcome, Masked), f"expected Masked, got {outcome!r}"
    return outcome


def row(value: Any) -> dict[str, Any]:
    return {"id": ENTITY_ID, "val": value}


def events_for(cdef: ev.ColumnDef, with_schema: bool) -> list[tuple[str, bytes]]:
    fields = [ID, cdef.field("val")]
    s0, s1 = cdef.samples
    return [
        ("create", ev.envelope(fields, None, row(s0), "c", table=TABLE, with_schema=with_schema)),
        ("update", ev.envelope(fields, row(s0), row(s1), "u", table=TABLE, with_schema=with_schema)),
    ]


IDS = [c.id for c in ev.ALL_TYPES]


# -- the catalogue itself --------------------------------------------------------------------------------


@pytest.mark.parametrize("cdef", ev.ALL_TYPES, ids=IDS)
def test_catalogue_samples_are_valid(cdef: ev.ColumnDef) -> None:
    for sample in cdef.samples:
        assert validate(cdef.schema, sample) == [], (cdef.id, sample)
    for _, value in events_for(cdef, True):
        doc = orjson.loads(value)
        assert validate(doc["schema"], doc["payload"]) == []


def test_catalogue_covers_every_type() -> None:
    covered = {(c.schema["type"], c.schema.get("name")) for c in ev.ALL_TYPES}
    plain = {t for t, _ in covered}
    assert {"int8", "int16", "int32", "int64", "float32", "float64", "boolean", "string", "bytes", "struct",
            "array", "map"} <= plain
    names = {name for _, name in covered}
    assert {
        "org.apache.kafka.connect.data.Decimal", "io.debezium.data.VariableScaleDecimal", "io.debezium.time.Date",
        "io.debezium.time.Time", "io.debezium.time.MicroTime", "io.debezium.time.Timestamp",
        "io.debezium.time.MicroTimestamp", "io.debezium.time.NanoTimestamp", "io.debezium.time.ZonedTimestamp",
        "org.apache.kafka.connect.data.Date", "org.apache.kafka.connect.data.Timestamp", "io.debezium.data.Uuid",
        "io.debezium.data.Json", "io.debezium.data.Enum",
    } <= names
    zoned = ev.TYPES_BY_ID["dbz_zoned_timestamp"].samples
    assert any(s.endswith("Z") for s in zoned) and any(s.endswith("+02:00") for s in zoned)


# -- with schema -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("cdef", ev.ALL_TYPES, ids=IDS)
def test_masked_with_schema_stays_valid(cdef: ev.ColumnDef) -> None:
    m = masker_for(cdef)
    masked_create_after = None
    for kind, value in events_for(cdef, True):
        doc = orjson.loads(value)
        out = as_masked(m.mask(TOPIC, ev.key([ID], {"id": ENTITY_ID}, table=TABLE), value))
        masked = orjson.loads(out.value)
        # (b) the schema is unchanged and the payload still conforms to it
        assert masked["schema"] == doc["schema"]
        assert validate(masked["schema"], masked["payload"]) == [], cdef.id
        assert masked["payload"]["source"] == doc["payload"]["source"]
        for side in ("before", "after"):
            original = doc["payload"][side]
            result = masked["payload"][side]
            if original is None:
                assert result is None
                continue
            assert result["id"] == ENTITY_ID
            if cdef.keeps_value:
                assert result["val"] == original["val"]
            else:
                # (c) the sample's value changed
                assert result["val"] != original["val"], (cdef.id, kind, side)
            # (d) NOT NULL columns never become null
            if not cdef.optional:
                assert result["val"] is not None
        if kind == "create":
            masked_create_after = masked["payload"]["after"]
        else:
            # deterministic: the update's before is the create's after, masked the same way
            assert masked["payload"]["before"] == masked_create_after


@pytest.mark.parametrize("cdef", [c for c in ev.ALL_TYPES if c.optional], ids=lambda c: c.id)
def test_null_in_optional_column_stays_null(cdef: ev.ColumnDef) -> None:
    value = ev.envelope([ID, cdef.field("val")], None, row(None), "c", table=TABLE)
    out = as_masked(masker_for(cdef).mask(TOPIC, None, value))
    assert orjson.loads(out.value)["payload"]["after"] == row(None)


def test_all_types_in_one_wide_table() -> None:
    """One row with every catalogue column: one schema compile, one envelope, all valid."""
    columns = {c.id: c.strategy for c in ev.ALL_TYPES}
    m = RecordMasker(CompiledPolicy(parse_policy(policy_yaml(columns)), KEY))
    fields = [ID, *(c.field(c.id) for c in ev.ALL_TYPES)]
    before = {"id": ENTITY_ID, **{c.id: c.samples[0] for c in ev.ALL_TYPES}}
    after = {"id": ENTITY_ID, **{c.id: c.samples[1] for c in ev.ALL_TYPES}}
    for b, a, op in ((None, before, "r"), (before, after, "u"), (after, None, "d")):
        value = ev.envelope(fields, b, a, op, table=TABLE)
        out = as_masked(m.mask(TOPIC, ev.key([ID], {"id": ENTITY_ID}, table=TABLE), value))
        masked = orjson.loads(out.value)
        assert validate(masked["schema"], masked["payload"]) == []
        assert len(out.masked_columns) == sum(
            1 for r in (b, a) if r is not None for c in ev.ALL_TYPES if r[c.id] is not None
        )


# -- without schema ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("cdef", ev.ALL_TYPES, ids=IDS)
def test_masked_without_schema(cdef: ev.ColumnDef) -> None:
    m = masker_for(cdef)
    row_schema = {"type": "struct", "fields": [ID, cdef.field("val")], "optional": True}
    lossy_problems: list[str] = []
    for kind, value in events_for(cdef, False):
        doc = orjson.loads(value)
        out = m.mask(TOPIC, orjson.dumps({"id": ENTITY_ID}), value)
        if cdef.schemaless == "blocked":
            # the strategy cannot tell the semantic type from JSON: fail closed, never guess
            assert isinstance(out, Blocked), out
            assert out.reason.code is BlockCode.NOT_APPLICABLE and out.reason.column == "val"
            continue
        if cdef.schemaless == "rejected":
            # the strategy takes the JSON type, not this value of it: fail closed, never guess
            assert isinstance(out, Blocked), out
            assert out.reason.code is BlockCode.MASKING_FAILED and out.reason.column == "val"
            continue
        masked = orjson.loads(as_masked(out).value)
        assert masked["source"] == doc["source"]
        for side in ("before", "after"):
            original, result = doc[side], masked[side]
            if original is None:
                assert result is None
                continue
            assert result["id"] == ENTITY_ID
            if cdef.schemaless == "null":
                assert result["val"] is None  # documented: redact without a schema gives null
                continue
            if cdef.keeps_value:
                assert result["val"] == original["val"]
            else:
                assert result["val"] != original["val"], (cdef.id, kind, side)
            problems = validate(row_schema, result)
            if cdef.schemaless == "valid":
                assert problems == [], cdef.id
            else:
                assert cdef.schemaless == "lossy"
                lossy_problems += problems
    if lossy_problems:
        pytest.xfail(f"known schemaless limitation: {cdef.note}: {lossy_problems[0]}")


# -- types the masker must not get wrong -----------------------------------------------------------------------


def _mask_one(strategy: dict[str, Any], schema: dict[str, Any], value: Any, m: RecordMasker | None = None) -> Outcome:
    m = m or RecordMasker(CompiledPolicy(parse_policy(policy_yaml({"val": strategy})), KEY))
    fields = [ID, ev.with_name(schema, "val")]
    return m.mask(TOPIC, None, ev.envelope(fields, None, row(value), "c", table=TABLE))


def _masked_val(outcome: Outcome) -> Any:
    return orjson.loads(as_masked(outcome).value)["payload"]["after"]["val"]


def test_redact_array_is_null_or_empty_not_per_element() -> None:
    """redact's contract: a nullable column becomes null, a NOT NULL array becomes []; redacting
    element by element would keep the array's length and null positions."""
    optional = {"type": "array", "items": {"type": "string", "optional": True}, "optional": True}
    required = {"type": "array", "items": {"type": "string", "optional": False}, "optional": False}
    emails = ["annek@noanswer.org", "anne@work.example"]
    assert _masked_val(_mask_one({"strategy": "redact"}, optional, emails)) is None
    assert _masked_val(_mask_one({"strategy": "redact"}, required, emails)) == []


def test_decimal_bucket_stays_within_precision() -> None:
    """numeric(4,2): the band floor of -99.99 with step 100 is -100.00, which has 5 digits."""
    cdef = ev.TYPES_BY_ID["decimal_precision_edge"]
    for sample in cdef.samples:
        out = _mask_one(cdef.strategy, cdef.schema, sample)
        assert validate(cdef.schema, _masked_val(out)) == []


def test_array_element_type_change_recompiles() -> None:
    """Schema evolution of an array column (smallint[] -> integer[]) must not reuse the transform
    compiled for the old element type."""
    m = RecordMasker(CompiledPolicy(parse_policy(policy_yaml({"val": {"strategy": "tokenize"}})), KEY))
    small = {"type": "array", "items": {"type": "int16", "optional": True}, "optional": True}
    wide = {"type": "array", "items": {"type": "int32", "optional": True}, "optional": True}
    texts = {"type": "array", "items": {"type": "string", "optional": True}, "optional": True}
    first = _masked_val(_mask_one({}, small, [5, 300], m))
    assert len(first) == 2
    out = _mask_one({}, wide, [5, 300, 70_000], m)
    assert validate(wide, _masked_val(out)) == []
    assert _masked_val(out)[:2] == first  # same values, same tokens
    assert validate(texts, _masked_val(_mask_one({}, texts, ["vip"], m))) == []


def test_array_element_narrowing_stays_in_range() -> None:
    """bigint[] -> integer[]: format-preserve must bound digits by the new element type."""
    m = RecordMasker(CompiledPolicy(parse_policy(policy_yaml({"val": {"strategy": "format-preserve"}})), KEY))
    wide = {"type": "array", "items": {"type": "int64", "optional": True}, "optional": True}
    narrow = {"type": "array", "items": {"type": "int32", "optional": True}, "optional": True}
    as_masked(_mask_one({}, wide, [2_000_000_000], m))
    values = [2_000_000_000 + i for i in range(20)]
    assert validate(narrow, _masked_val(_mask_one({}, narrow, values, m))) == []


def test_non_optional_struct_redact_fails_closed() -> None:
    """No neutral value exists for a NOT NULL struct: the record is blocked, never emitted invalid."""
    schema = dict(ev.TYPES_BY_ID["struct_keep"].schema)
    out = _mask_one({"strategy": "redact"}, schema, {"street": "1 Main St", "city": "Springfield", "zip": None})
    assert isinstance(out, Blocked) and out.reason.code is BlockCode.MASKING_FAILED
    assert out.reason.column == "val" and "Main St" not in out.reason.describe()


@pytest.mark.parametrize(
    "edge",
    [-(2**31), 2**31 - 1, -1, 0, 127, 128, 32_767, 32_768],
)
def test_tokenize_int32_edges_stay_in_range(edge: int) -> None:
    schema = {"type": "int32", "optional": False}
    assert validate(schema, _masked_val(_mask_one({"strategy": "tokenize"}, schema, edge))) == []


@pytest.mark.parametrize("width", ["int8", "int16", "int32"])
def test_bucket_int_edges_stay_in_range(width: str) -> None:
    lo, hi = connect_schema.INT_RANGES[width]
    schema = {"type": width, "optional": False}
    m = RecordMasker(CompiledPolicy(parse_policy(policy_yaml({"val": {"strategy": "bucket", "step": 1000}})), KEY))
    for v in (lo, hi):
        assert validate(schema, _masked_val(_mask_one({}, schema, v, m))) == []


def test_shift_date_near_year_9999_fails_closed_or_stays_valid() -> None:
    schema = {"type": "string", "optional": False, "name": "io.debezium.time.ZonedTimestamp"}
    out = _mask_one({"strategy": "shift", "entity": "id", "max_days": 90}, schema, "9999-12-31T23:59:59Z")
    if isinstance(out, Masked):
        assert validate(schema, _masked_val(out)) == []
    else:
        assert out.reason.code is BlockCode.TYPE_NOT_PRESERVED


# -- special values pass a real envelope unchanged -------------------------------------------------------------

SHIFT = {"strategy": "shift", "entity": "id", "max_days": 90}
BUCKET = {"strategy": "bucket", "step": 100}


def _ts(name: str) -> dict[str, Any]:
    return {"type": "int64", "optional": False, "name": name}


SPECIALS = [
    (_ts("io.debezium.time.MicroTimestamp"), SHIFT, 9_223_372_036_825_200_000),
    (_ts("io.debezium.time.MicroTimestamp"), SHIFT, -9_223_372_036_832_400_000),
    (_ts("io.debezium.time.Timestamp"), SHIFT, 9_223_372_036_825_200),
    (_ts("org.apache.kafka.connect.data.Timestamp"), SHIFT, -9_223_372_036_832_400),
    (_ts("io.debezium.time.NanoTimestamp"), SHIFT, 2**63 - 1),
    (_ts("io.debezium.time.NanoTimestamp"), SHIFT, -(2**63)),
    ({"type": "string", "optional": False, "name": "io.debezium.time.ZonedTimestamp"}, SHIFT, "infinity"),
    ({"type": "string", "optional": True, "name": "io.debezium.time.ZonedTimestamp"}, SHIFT, "-infinity"),
    ({"type": "float64", "optional": False}, BUCKET, "NaN"),
    ({"type": "float32", "optional": True}, BUCKET, "-Infinity"),
    ({"type": "string", "optional": True}, BUCKET, "Infinity"),
    ({"type": "string", "optional": False}, {"strategy": "replace", "kind": "full_name"}, "  "),
    ({"type": "string", "optional": False}, {"strategy": "replace", "kind": "email"}, ""),
]


@pytest.mark.parametrize(
    "schema,strategy,value", SPECIALS, ids=[f"{s.get('name', s['type'])}:{v!r}" for s, _, v in SPECIALS]
)
def test_special_values_pass_a_real_envelope_unchanged(
    schema: dict[str, Any], strategy: dict[str, Any], value: Any
) -> None:
    out = _mask_one(strategy, schema, value)
    assert isinstance(out, Masked), out
    assert _masked_val(out) == value and out.masked_columns
    if not isinstance(value, str):
        return  # the int markers have no schemaless form: without a schema an int is just an int64
    m = RecordMasker(CompiledPolicy(parse_policy(policy_yaml({"val": strategy})), KEY))
    schemaless = ev.envelope([], None, row(value), "c", table=TABLE, with_schema=False)
    masked = orjson.loads(as_masked(m.mask(TOPIC, orjson.dumps({"id": ENTITY_ID}), schemaless)).value)
    assert masked["after"]["val"] == value


# -- the validator's own tests ---------------------------------------------------------------------------------

DEC = {"type": "bytes", "optional": False, "name": "org.apache.kafka.connect.data.Decimal",
       "parameters": {"scale": "2", "connect.decimal.precision": "4"}}
STRUCT = {"type": "struct", "optional": False, "fields": [ev.col("a", "int32", False), ev.col("b", "string", True)]}

VIOLATIONS = [
    ({"type": "string", "optional": False}, None, "null in a non-optional"),
    ({"type": "int32", "optional": False}, "12", "expects a JSON integer"),
    ({"type": "int32", "optional": False}, True, "expects a JSON integer"),
    ({"type": "int8", "optional": False}, 128, "out of the int8 range"),
    ({"type": "int16", "optional": False}, -32_769, "out of the int16 range"),
    ({"type": "int32", "optional": False}, 2**31, "out of the int32 range"),
    ({"type": "int64", "optional": False}, 2**63, "out of the int64 range"),
    ({"type": "float64", "optional": False}, "1.5", "expects a JSON number"),
    ({"type": "float32", "optional": False}, 1e39, "out of the float32 range"),
    ({"type": "boolean", "optional": False}, 0, "expects true/false"),
    ({"type": "string", "optional": False}, 5, "expects a JSON string"),
    ({"type": "string", "optional": False, "parameters": {"__debezium.source.column.length": "3"}}, "abcd",
     "exceeds the column length"),
    ({"type": "bytes", "optional": False}, "not base64!", "not valid base64"),
    ({"type": "bytes", "optional": False}, 12, "expects a base64 JSON string"),
    (DEC, "", "Decimal bytes are empty"),
    (DEC, "***", "not valid base64"),
    (DEC, ev.decimal_bytes("-100.00", 2), "more digits than its precision"),
    ({**DEC, "parameters": {}}, "AA==", "no integer `scale`"),
    ({"type": "struct", "optional": True, "name": "io.debezium.data.VariableScaleDecimal",
      "fields": [ev.col("scale", "int32", False), ev.col("value", "bytes", False)]},
     {"scale": 2, "value": ""}, "VariableScaleDecimal value bytes are empty"),
    ({"type": "int32", "optional": False, "name": "io.debezium.time.Date"}, 2_932_897, "outside years"),
    ({"type": "int32", "optional": False, "name": "org.apache.kafka.connect.data.Date"}, -719_163, "outside years"),
    ({"type": "int64", "optional": False, "name": "io.debezium.time.MicroTimestamp"}, 2**62, "outside years"),
    ({"type": "int64", "optional": False, "name": "io.debezium.time.Timestamp"}, -62_135_596_800_001,
     "outside years"),
    ({"type": "int32", "optional": False, "name": "io.debezium.time.Time"}, 86_400_001, "outside 00:00-24:00"),
    ({"type": "int64", "optional": False, "name": "io.debezium.time.MicroTime"}, -1, "outside 00:00-24:00"),
    ({"type": "string", "optional": False, "name": "io.debezium.time.ZonedTimestamp"}, "2024-13-05T10:00:00Z",
     "not ISO-8601"),
    ({"type": "string", "optional": False, "name": "io.debezium.time.ZonedTimestamp"}, "2024-03-05T10:00:00",
     "has no offset"),
    ({"type": "string", "optional": False, "name": "io.debezium.data.Uuid"}, "6f1c2a9e-3b7d-4c1a-9e2f-0a1b2c3d4e5g",
     "not a UUID"),
    ({"type": "string", "optional": False, "name": "io.debezium.data.Json"}, '{"a": ', "not valid JSON"),
    ({"type": "string", "optional": False, "parameters": {"__debezium.source.column.type": "INET"}}, "10.0.0.256",
     "not a valid INET"),
    ({"type": "string", "optional": False, "parameters": {"__debezium.source.column.type": "CIDR"}}, "10.1.2.3/16",
     "not a valid CIDR"),
    ({"type": "string", "optional": False, "parameters": {"__debezium.source.column.type": "MACADDR"}},
     "08:00:2b:01:02:03:04:05", "not a valid MACADDR"),
    ({"type": "string", "optional": False, "parameters": {"__debezium.source.column.type": "UNIQUEIDENTIFIER"}},
     "6F9619FF8B86D011B42D00C04FC964FF", "not a valid UNIQUEIDENTIFIER"),
    ({"type": "string", "optional": False, "name": "io.debezium.data.Enum", "parameters": {"allowed": "a,b,c"}},
     "d", "not one of `allowed`"),
    ({"type": "string", "optional": False, "name": "io.debezium.data.EnumSet", "parameters": {"allowed": "a,b"}},
     "a,z", "outside `allowed`"),
    (STRUCT, {"a": None}, "$.a: null in a non-optional"),
    (STRUCT, {"a": 1, "c": "x"}, "$.c: field not declared"),
    (STRUCT, [1], "struct expects a JSON object"),
    ({"type": "array", "optional": False, "items": {"type": "int16", "optional": False}}, [1, 70_000],
     "$[1]: 70000 is out of the int16 range"),
    ({"type": "array", "optional": False, "items": {"type": "string", "optional": False}}, ["a", None],
     "$[1]: null"),
    ({"type": "array", "optional": False, "items": {"type": "string", "optional": True}}, "a", "expects a JSON array"),
    ({"type": "map", "optional": False, "keys": {"type": "string", "optional": False},
      "values": {"type": "int32", "optional": False}}, {"k": "v"}, "expects a JSON integer"),
    ({"type": "map", "optional": False, "keys": {"type": "int32", "optional": False},
      "values": {"type": "string", "optional": False}}, [[1, "a"], ["x", "b"]], "expects a JSON integer"),
    ({"type": "map", "optional": False, "keys": {"type": "string", "optional": False},
      "values": {"type": "string", "optional": True}}, 5, "map expects"),
]


@pytest.mark.parametrize("schema,value,expected", VIOLATIONS, ids=[v[2][:40] for v in VIOLATIONS])
def test_validator_catches(schema: dict[str, Any], value: Any, expected: str) -> None:
    problems = validate(schema, value)
    assert any(expected in p for p in problems), problems


@pytest.mark.parametrize(
    "schema,value",
    [
        ({"type": "string", "optional": True}, None),
        ({"type": "boolean", "optional": False, "default": False}, None),
        ({"type": "float32", "optional": False}, 3),
        (DEC, ev.decimal_bytes("-99.99", 2)),
        ({"type": "int64", "optional": False, "name": "io.debezium.time.NanoTimestamp"}, -1),
        ({"type": "string", "optional": False, "name": "io.debezium.time.ZonedTimestamp"},
         "2024-03-05T10:15:30.123456+02:00"),
        ({"type": "string", "optional": False, "name": "io.debezium.data.Json"}, '"x"'),
        ({"type": "map", "optional": False, "keys": {"type": "int32", "optional": False},
          "values": {"type": "string", "optional": True}}, [[1, "a"], [2, None]]),
        (STRUCT, {"a": 1}),
    ],
)
def test_validator_accepts(schema: dict[str, Any], value: Any) -> None:
    assert validate(schema, value) == []


@pytest.mark.parametrize("strategy", [{"strategy": "format-preserve"}, {"strategy": "tokenize"}])
def test_schemaless_arrays_are_masked_element_wise(strategy: dict[str, Any]) -> None:
    """Without a schema an array's element type is its first non-null element's: format-preserve and
    tokenize apply element by element, nulls and length kept, every element changed."""
    m = RecordMasker(CompiledPolicy(parse_policy(policy_yaml({"val": strategy})), KEY))
    emails = ["annek@noanswer.org", None, "anne.k@example.net"]
    value = ev.envelope([], None, row(emails), "c", table=TABLE, with_schema=False)
    masked = orjson.loads(as_masked(m.mask(TOPIC, orjson.dumps({"id": ENTITY_ID}), value)).value)["after"]["val"]
    assert len(masked) == 3 and masked[1] is None
    for raw, out in zip(emails, masked, strict=True):
        if raw is not None:
            assert out != raw and len(out) == len(raw)
    ints = ev.envelope([], None, row([1_234_567, 7_654_321]), "c", table=TABLE, with_schema=False)
    out_ints = orjson.loads(as_masked(m.mask(TOPIC, None, ints)).value)["after"]["val"]
    assert all(isinstance(v, int) and v != raw for v, raw in zip(out_ints, [1_234_567, 7_654_321], strict=True))
