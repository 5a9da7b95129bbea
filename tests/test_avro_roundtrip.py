"""Avro round trips (hypothesis): what streammask does not mask leaves as it came, byte for byte.

Rows are generated from a catalogue of columns: every type of ``events.ALL_TYPES`` (int8/int16 with
``connect.type``, int32/64, float32/64, boolean, string, bytes, Decimal with its ``connect.parameters``,
VariableScaleDecimal, ``io.debezium.time.*`` ints, longs and strings, Uuid, Json, ``io.debezium.data.Enum``
with ``allowed``, string columns with ``__debezium.source.column.*`` parameters, arrays, maps, structs), plus
optional columns with defaults, a nested struct holding an array of structs and a map, a Decimal with
source-column parameters, and native Avro enums (``{"type": "enum", "symbols": [...]}``, required and
optional), which no Connect schema gives but other Avro producers write. Each example picks columns, writes
a create, update or delete with fastavro's raw writer under a fresh topic, and checks:

1. the codec: decode then encode of the payload as decoded gives the input body byte for byte (key and
   value), and ``reframed`` too, with the target registry's id in front;
2. the masker, every column passthrough or ``keep``: the output is the input byte for byte but for the
   4 id bytes, which are the id the target registry holds under the target subject;
3. the masker, some columns masked (each with its natural strategy and one of its samples) and the others
   passthrough with arbitrary values: the passthrough columns and the envelope decode to identical values,
   masked NOT NULL columns stay non-null, and masked enums (Avro's and Debezium's) stay within their symbols.
"""

from __future__ import annotations

import copy
import itertools
import json
import math
from collections.abc import Iterator
from typing import Any

import avro_events as ae
import events as ev
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streammask.codec.avro import AvroCodec
from streammask.codec.avro_schema import AVRO_ENUM, avro_datum_of, avro_schema_of, connect_schema_of
from streammask.codec.base import KEY as KEY_PART
from streammask.codec.base import VALUE, RecordContext
from streammask.keys import MasterKey
from streammask.masker import RecordMasker
from streammask.outcome import Masked, Outcome
from streammask.plan import CompiledPolicy
from streammask.policy.loader import parse_policy
from streammask.types import INT_RANGES
from tests.fake_registry import FakeRegistry

KEY = MasterKey(bytes(range(32)), "t")
TABLE = "rt"
ID = ev.col("id", "int32", False)
PROPS = settings(max_examples=40, deadline=None, database=None,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
DECIMAL = "org.apache.kafka.connect.data.Decimal"
_DEC_PARAMS = {"scale": "3", "connect.decimal.precision": "12", "__debezium.source.column.type": "NUMERIC",
               "__debezium.source.column.length": "12", "__debezium.source.column.scale": "3"}
_NESTED = {
    "type": "struct",
    "fields": [
        ev.col("a", "int64", False),
        {"type": "array", "optional": False, "field": "items", "items": {
            "type": "struct", "optional": False, "name": "shop.Item",
            "fields": [ev.col("sku", "string", False), ev.col("qty", "int16", True)]}},
        {"type": "map", "optional": True, "field": "counts", "keys": {"type": "string", "optional": False},
         "values": {"type": "int64", "optional": True}},
    ],
    "optional": True,
    "name": "shop.Nested",
}
# Native Avro enums: a string placeholder in the Connect schema, swapped for the enum in the Avro schema.
AVRO_ENUMS = {"avro_enum": ("Color", ["RED", "GREEN", "BLUE"], False),
              "avro_enum_opt": ("Size", ["S", "M", "L", "XL"], True)}


class Column:
    """A catalogue entry: its Connect schema, samples (JsonConverter form) and natural strategy."""

    def __init__(self, cid: str, schema: dict[str, Any], samples: tuple[Any, Any], strategy: dict[str, Any]) -> None:
        self.id, self.schema, self.samples, self.strategy = cid, schema, samples, strategy


CATALOGUE: dict[str, Column] = {c.id: Column(c.id, c.schema, c.samples, c.strategy) for c in ev.ALL_TYPES}
CATALOGUE.update({
    "int8_default": Column("int8_default", {"type": "int8", "optional": True, "default": 5}, (5, -3),
                           {"strategy": "tokenize"}),
    "string_default": Column("string_default", {"type": "string", "optional": False, "default": "n/a"},
                             ("walk-in customer", "n/a"), {"strategy": "hash", "length": 12}),
    "nested": Column("nested", _NESTED, ({"a": 1, "items": [{"sku": "X-1", "qty": 2}], "counts": {"k": 3}}, None),
                     {"strategy": "redact"}),
    "decimal_source": Column("decimal_source", {"type": "bytes", "optional": True, "name": DECIMAL, "version": 1,
                                                "parameters": _DEC_PARAMS},
                             (ev.decimal_bytes("123456.789", 3), ev.decimal_bytes("-0.001", 3)),
                             {"strategy": "bucket", "step": 100}),
    **{cid: Column(cid, {"type": "string", "optional": optional}, (symbols[0], symbols[-1]), {"strategy": "tokenize"})
       for cid, (_, symbols, optional) in AVRO_ENUMS.items()},
})
NAMES = sorted(CATALOGUE)


def policy() -> bytes:
    """Every column three times: ``p_<id>`` passthrough, ``k_<id>`` kept, ``m_<id>`` masked its natural way."""
    keep = {"strategy": "keep", "approved_by": "dpo@example.com", "reason": "round trip"}
    fields = {f"k_{n}": keep for n in NAMES} | {f"m_{n}": CATALOGUE[n].strategy for n in NAMES}
    doc = {"version": 1, "key": {"env": "STREAMMASK_TEST_KEY", "id": "t"},
           "tables": {f"public.{TABLE}": {"passthrough": ["id", *(f"p_{n}" for n in NAMES)], "fields": fields}}}
    return json.dumps(doc).encode()


COMPILED = CompiledPolicy(parse_policy(policy()), KEY)
_topics = itertools.count()


@pytest.fixture(scope="module")
def registries() -> Iterator[tuple[FakeRegistry, FakeRegistry]]:
    source, target = FakeRegistry().start(), FakeRegistry().start()
    for n in range(5):  # the target's ids start elsewhere than the source's
        target.register_direct(f"seed-{n}", json.dumps({"type": "record", "name": f"S{n}", "fields": []}))
    yield source, target
    source.stop()
    target.stop()


@pytest.fixture(scope="module")
def codec(registries: tuple[FakeRegistry, FakeRegistry]) -> AvroCodec:
    source, target = registries
    return AvroCodec(ae.fast_client(source.url), ae.fast_client(target.url))


@pytest.fixture(scope="module")
def masker(codec: AvroCodec) -> RecordMasker:
    return RecordMasker(COMPILED, codec)


# -- schemas and values --------------------------------------------------------------------------------------


def value_avro(columns: list[tuple[str, str]]) -> tuple[str, dict[str, Any]]:
    """(Avro schema text, its Connect form) of the envelope of a row ``id`` + ``columns`` ((name, catalogue id)),
    native Avro enums swapped in."""
    fields = [ID, *(ev.with_name(CATALOGUE[cid].schema, name) for name, cid in columns)]
    avro: Any = avro_schema_of(ev.envelope_schema(fields, TABLE))
    row = avro["fields"][0]["type"][1]  # before: ["null", <the row record>]; after refers to it by name
    for f in row["fields"]:
        cid = dict(columns).get(f["name"])
        if cid in AVRO_ENUMS:
            type_name, symbols, optional = AVRO_ENUMS[cid]
            enum = {"type": "enum", "name": f"{type_name}_{f['name']}", "symbols": symbols}
            f["type"] = ["null", enum] if optional else enum
    text = json.dumps(avro, separators=(",", ":"))
    return text, connect_schema_of(json.loads(text))


def raw_values(s: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Any raw Avro datum of the Connect schema ``s`` (as read back from Avro): bytes as bytes, a Decimal as
    Java's minimal two's complement, an enum one of its symbols."""
    ctype, params = s["type"], s.get("parameters") or {}
    base: st.SearchStrategy[Any]
    if ctype in INT_RANGES:
        base = st.integers(*INT_RANGES[ctype])
    elif ctype == "float32":
        base = st.floats(width=32)
    elif ctype == "float64":
        base = st.floats()
    elif ctype == "boolean":
        base = st.booleans()
    elif ctype == "string":
        base = st.sampled_from(params["allowed"].split(",")) if "allowed" in params else st.text(max_size=12)
    elif ctype == "bytes" and s.get("name") == DECIMAL:
        base = st.integers(-(10**12) + 1, 10**12 - 1).map(
            lambda u: u.to_bytes(((u if u >= 0 else ~u).bit_length() + 8) // 8, "big", signed=True))
    elif ctype == "bytes":
        base = st.binary(max_size=12)
    elif ctype == "struct":
        base = st.fixed_dictionaries({f["field"]: raw_values(f) for f in s["fields"]})
    elif ctype == "array":
        base = st.lists(raw_values(s["items"]), max_size=3)
    else:
        base = st.dictionaries(st.text(max_size=4), raw_values(s["values"]), max_size=3)
    return st.one_of(st.none(), base) if s.get("optional") else base


def same(a: Any, b: Any) -> bool:
    """Equal, with NaN equal to NaN and bool never equal to an int."""
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or a == b
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def envelope_datum(connect: dict[str, Any], before: Any, after: Any, op: str) -> Any:
    payload = ev.envelope_payload(None, None, op, TABLE)
    datum = avro_datum_of(payload, connect)
    datum["before"], datum["after"] = before, after
    return datum


KEY_SCHEMA = ev.key_schema([ID], TABLE)
KEY_TEXT = ae.avro_text(KEY_SCHEMA)


@st.composite
def change_events(draw: st.DrawFn, prefixes: tuple[str, ...]) -> dict[str, Any]:
    """A topic, the key and value schema texts and raw data of a change event with columns named
    ``<prefix>_<catalogue id>`` (values arbitrary for ``p_``/``k_``, a catalogue sample for ``m_``)."""
    ids = draw(st.lists(st.sampled_from(NAMES), min_size=1, max_size=12, unique=True))
    columns = [(f"{draw(st.sampled_from(prefixes))}_{cid}", cid) for cid in ids]
    text, connect = value_avro(columns)
    row_schema = next(f for f in connect["fields"] if f["field"] == "before")
    by_name = {f["field"]: f for f in row_schema["fields"]}

    def row() -> dict[str, Any]:
        out: dict[str, Any] = {"id": draw(st.integers(*INT_RANGES["int32"]))}
        for name, cid in columns:
            if name.startswith("m_"):
                sample = draw(st.sampled_from(CATALOGUE[cid].samples))
                out[name] = avro_datum_of(sample, by_name[name])
            else:
                out[name] = draw(raw_values(by_name[name]))
        return out

    op = draw(st.sampled_from(["c", "u", "d", "r"]))
    before = row() if op in ("u", "d") else None
    after = row() if op != "d" else None
    return {"topic": f"rt-{next(_topics)}", "text": text, "connect": connect, "columns": columns,
            "datum": envelope_datum(connect, before, after, op), "key": {"id": (after or before or {})["id"]}}


def framed(source: FakeRegistry, event: dict[str, Any]) -> tuple[bytes, bytes]:
    """(key, value) bytes, their schemas registered on the source under the event's topic."""
    topic = event["topic"]
    value_id = source.register_direct(f"{topic}-value", event["text"])
    key_id = source.register_direct(f"{topic}-key", KEY_TEXT)
    return ae.frame(key_id, KEY_TEXT, event["key"]), ae.frame(value_id, event["text"], event["datum"])


def as_masked(outcome: Outcome) -> Masked:
    assert isinstance(outcome, Masked), f"expected Masked, got {outcome!r}"
    return outcome


# -- 1. the codec --------------------------------------------------------------------------------------------


@PROPS
@given(event=change_events(("p", "k", "m")))
def test_decode_then_encode_gives_the_input_bytes_back_with_the_target_id(
    registries: tuple[FakeRegistry, FakeRegistry], codec: AvroCodec, event: dict[str, Any]
) -> None:
    source, target = registries
    key, value = framed(source, event)
    record = RecordContext(event["topic"], "out." + event["topic"])
    out_topic = f"out.{event['topic']}"
    for data, part, subject in ((value, VALUE, f"{out_topic}-value"), (key, KEY_PART, f"{out_topic}-key")):
        doc = codec.decode(data, record, part)
        encoded = doc.encode(copy.deepcopy(doc.payload))
        target_id = ae.subject_ids(target.url, subject)[-1]
        assert encoded == b"\x00" + target_id.to_bytes(4, "big") + data[5:]
        assert doc.reframed() == encoded


# -- 2. the masker, nothing masked ---------------------------------------------------------------------------


@PROPS
@given(event=change_events(("p", "k")))
def test_passthrough_and_kept_columns_leave_byte_for_byte_but_for_the_schema_id(
    registries: tuple[FakeRegistry, FakeRegistry], masker: RecordMasker, event: dict[str, Any]
) -> None:
    source, target = registries
    key, value = framed(source, event)
    out = as_masked(masker.mask(event["topic"], key, value))
    assert out.value is not None and out.key is not None
    assert out.value[5:] == value[5:]
    assert out.key[5:] == key[5:]
    assert ae.schema_id_of(out.value) == ae.subject_ids(target.url, f"{event['topic']}-value")[-1]
    assert ae.schema_id_of(out.key) == ae.subject_ids(target.url, f"{event['topic']}-key")[-1]
    assert {s.strategy for s in out.masked_columns} <= {"keep"}  # kept columns are counted, by their strategy


# -- 3. the masker, some columns masked ----------------------------------------------------------------------


@PROPS
@given(event=change_events(("p", "m")))
def test_unmasked_columns_decode_to_identical_values_and_enums_stay_within_their_symbols(
    registries: tuple[FakeRegistry, FakeRegistry], masker: RecordMasker, event: dict[str, Any]
) -> None:
    source, target = registries
    key, value = framed(source, event)
    out = as_masked(masker.mask(event["topic"], key, value))
    assert out.value is not None and out.key is not None
    text = ae.registered_text(target.url, ae.schema_id_of(out.value))
    assert json.loads(text) == json.loads(event["text"])
    got, raw = ae.raw_read(out.value, text), event["datum"]
    assert same({k: v for k, v in got.items() if k not in ("before", "after")},
                {k: v for k, v in raw.items() if k not in ("before", "after")})
    row_schema = next(f for f in event["connect"]["fields"] if f["field"] == "before")
    by_name = {f["field"]: f for f in row_schema["fields"]}
    for side in ("before", "after"):
        if raw[side] is None:
            assert got[side] is None
            continue
        assert got[side]["id"] == raw[side]["id"]
        for name, _cid in event["columns"]:
            schema = by_name[name]
            if name.startswith("p_"):
                assert same(got[side][name], raw[side][name]), f"{side}.{name} changed"
                continue
            masked = got[side][name]
            if not schema.get("optional"):
                assert masked is not None, f"{side}.{name}: NOT NULL column masked to null"
            allowed = (schema.get("parameters") or {}).get("allowed")
            if allowed is not None and masked is not None:
                assert masked in allowed.split(","), f"{side}.{name}: {masked!r} is not one of the symbols"
    assert ae.raw_read(out.key, KEY_TEXT) == event["key"]


def test_the_catalogue_reaches_every_shape_the_round_trip_promises() -> None:
    """The generated schemas can hold each promised kind of Avro type (so the properties are not vacuous)."""
    text, connect = value_avro([(f"p_{n}", n) for n in NAMES])
    avro = json.loads(text)
    row = avro["fields"][0]["type"][1]
    types = {f["name"]: f["type"] for f in row["fields"]}
    flat = json.dumps(types)
    assert '"connect.type": "int8"' in flat and '"connect.type": "int16"' in flat
    assert '"logicalType": "decimal"' in flat and '"__debezium.source.column.type": "NUMERIC"' in flat
    assert '"connect.name": "io.debezium.time.ZonedTimestamp"' in flat
    assert '"connect.name": "io.debezium.time.MicroTimestamp"' in flat
    assert '"connect.name": "io.debezium.data.Enum"' in flat and '"allowed"' in flat
    assert types["p_avro_enum"]["type"] == "enum" and types["p_avro_enum_opt"][0] == "null"
    assert types["p_int8_default"] == [{"type": "int", "connect.default": 5, "connect.type": "int8"}, "null"]
    assert ["null", "string"] in types.values()
    assert any(isinstance(t, dict) and t.get("type") == "map" for t in types.values())
    assert any(isinstance(t, dict) and t.get("type") == "array" for t in types.values())
    nested = types["p_nested"][1]
    assert nested["type"] == "record" and nested["fields"][1]["type"]["items"]["type"] == "record"
    row_connect = next(f for f in connect["fields"] if f["field"] == "before")
    enums = {f["field"]: f for f in row_connect["fields"] if AVRO_ENUM in (f.get("parameters") or {})}
    assert set(enums) == {"p_avro_enum", "p_avro_enum_opt"}
