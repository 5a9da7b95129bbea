"""Avro in and out through Confluent's own client: inputs written by confluent-kafka's ``AvroSerializer``
(auto-registering, against the source fake registry), streammask's output read by confluent-kafka's
``AvroDeserializer`` against the *target* fake registry, which it asks for the writer schema by id.

Every column type of ``events.ALL_TYPES`` in one Debezium row, each under its natural strategy, plus a
passthrough column: masked columns differ from their raw values (an enum may land on its own label: a
keyed choice among a handful of symbols, still one of them), kept and passthrough columns and the envelope
are identical, NOT NULL columns stay non-null, and the masked key is the masked row's ``id``.

How the serializer is fed: see ``avro_events`` (logical-type values, as a Python producer would give them).
"""

from __future__ import annotations

import json

import avro_events as ae
import events as ev
import pytest

from streammask.codec.avro import AvroCodec
from streammask.keys import MasterKey
from streammask.masker import RecordMasker
from streammask.outcome import Masked, Outcome
from streammask.plan import CompiledPolicy
from streammask.policy.loader import parse_policy
from tests.fake_registry import FakeRegistry

KEY = MasterKey(bytes(range(32)), "t")
TABLE = "all_types"
TOPIC = ev.topic(TABLE)
TARGET_TOPIC = "masked.all_types"
ID = ev.col("id", "int32", False)
PASS = ev.col("created_at", "int64", False, name="io.debezium.time.MicroTimestamp", version=1)
FIELDS = [ID, PASS, *(c.field(c.id) for c in ev.ALL_TYPES)]
VALUE_SCHEMA = ev.envelope_schema(FIELDS, TABLE)
KEY_SCHEMA = ev.key_schema([ID], TABLE)
ENUMS = {c.id for c in ev.ALL_TYPES if c.schema.get("name") == "io.debezium.data.Enum"}
KEPT = {c.id for c in ev.ALL_TYPES if c.keeps_value} | {"created_at"}
ROWS = [
    ("c", None, {"id": 7, "created_at": 1_577_836_800_000_001, **{c.id: c.samples[0] for c in ev.ALL_TYPES}}),
    ("u", {"id": 7, "created_at": 1_577_836_800_000_001, **{c.id: c.samples[0] for c in ev.ALL_TYPES}},
     {"id": 7, "created_at": 1_577_836_800_000_001, **{c.id: c.samples[1] for c in ev.ALL_TYPES}}),
    ("d", {"id": 7, "created_at": 1_577_836_800_000_001, **{c.id: c.samples[1] for c in ev.ALL_TYPES}}, None),
]


def policy() -> bytes:
    fields = {"id": {"strategy": "tokenize"}, **{c.id: c.strategy for c in ev.ALL_TYPES}}
    doc = {"version": 1, "key": {"env": "STREAMMASK_TEST_KEY", "id": "t"},
           "tables": {f"public.{TABLE}": {"passthrough": ["created_at"], "fields": fields}}}
    return json.dumps(doc).encode()


def as_masked(outcome: Outcome) -> Masked:
    assert isinstance(outcome, Masked), f"expected Masked, got {outcome!r}"
    return outcome


@pytest.fixture
def seeded_target(target_registry: FakeRegistry) -> FakeRegistry:
    """A target registry that already holds other schemas: its ids cannot coincide with the source's."""
    for n in range(3):
        target_registry.register_direct(f"other-{n}", json.dumps({"type": "record", "name": f"O{n}", "fields": []}))
    return target_registry


def test_serializer_written_events_mask_and_read_back_with_the_deserializer_on_the_target_registry(
    source_registry: FakeRegistry, seeded_target: FakeRegistry
) -> None:
    producer = ae.Reference(source_registry.url)
    codec = AvroCodec(ae.fast_client(source_registry.url), ae.fast_client(seeded_target.url))
    masker = RecordMasker(CompiledPolicy(parse_policy(policy()), KEY), codec)
    not_changed: list[str] = []
    for op, before, after in ROWS:
        key = producer.serialize(TOPIC, KEY_SCHEMA, {"id": 7}, key=True)
        value = producer.serialize(TOPIC, VALUE_SCHEMA, ev.envelope_payload(before, after, op, TABLE))
        out = as_masked(masker.mask(TOPIC, key, value, target_topic=TARGET_TOPIC))
        assert out.value is not None and out.key is not None

        # ids: the target registry's, for the source's schema texts, under the target topic's subjects
        for data, masked, subject in ((value, out.value, f"{TARGET_TOPIC}-value"),
                                      (key, out.key, f"{TARGET_TOPIC}-key")):
            source_id, target_id = ae.schema_id_of(data), ae.schema_id_of(masked)
            assert target_id != source_id
            assert json.loads(ae.registered_text(seeded_target.url, target_id)) == json.loads(
                ae.registered_text(source_registry.url, source_id))
            assert ae.subject_ids(seeded_target.url, subject) == [target_id]

        consumer = ae.Reference(seeded_target.url)  # a fresh client: the writer schema comes by id over HTTP
        raw = producer.deserialize(TOPIC, value)
        got = consumer.deserialize(TARGET_TOPIC, out.value)
        assert seeded_target.calls("GET", f"/schemas/ids/{ae.schema_id_of(out.value)}")

        assert {k: got[k] for k in ("source", "op", "ts_ms", "ts_us", "ts_ns", "transaction")} == {
            k: raw[k] for k in ("source", "op", "ts_ms", "ts_us", "ts_ns", "transaction")}
        for side in ("before", "after"):
            if raw[side] is None:
                assert got[side] is None
                continue
            assert got[side].keys() == raw[side].keys()
            for cdef in ev.ALL_TYPES:
                r, m = raw[side][cdef.id], got[side][cdef.id]
                if not cdef.optional:
                    assert m is not None, f"{side}.{cdef.id}: NOT NULL column masked to null"
                if cdef.id in KEPT:
                    assert m == r, f"{side}.{cdef.id}: kept column changed"
                elif cdef.id in ENUMS:
                    assert m in cdef.schema["parameters"]["allowed"].split(","), f"{side}.{cdef.id}: {m!r}"
                elif m == r:
                    not_changed.append(f"{side}.{cdef.id}")
            assert got[side]["created_at"] == raw[side]["created_at"]
            assert got[side]["id"] != raw[side]["id"]

        got_key = consumer.deserialize(TARGET_TOPIC, out.key, key=True)
        row = got["after"] if got["after"] is not None else got["before"]
        assert got_key == {"id": row["id"]}
    assert not_changed == [], f"masked columns left as they were: {not_changed}"


def test_the_source_and_target_registries_see_what_each_side_needs_and_no_more(
    source_registry: FakeRegistry, seeded_target: FakeRegistry
) -> None:
    """The masker reads writer schemas from the source only and registers on the target only: the source
    keeps exactly the two subjects the producer made, the target gets the two target subjects."""
    producer = ae.Reference(source_registry.url)
    codec = AvroCodec(ae.fast_client(source_registry.url), ae.fast_client(seeded_target.url))
    masker = RecordMasker(CompiledPolicy(parse_policy(policy()), KEY), codec)
    op, before, after = ROWS[0]
    key = producer.serialize(TOPIC, KEY_SCHEMA, {"id": 7}, key=True)
    value = producer.serialize(TOPIC, VALUE_SCHEMA, ev.envelope_payload(before, after, op, TABLE))
    source_registry.clear_log()
    for _ in range(3):
        as_masked(masker.mask(TOPIC, key, value, target_topic=TARGET_TOPIC))
    assert {c.method for c in source_registry.requests} == {"GET"}
    assert sorted(c.path for c in source_registry.calls("GET", None) if c.path.startswith("/schemas/ids/")) == sorted(
        {f"/schemas/ids/{ae.schema_id_of(key)}", f"/schemas/ids/{ae.schema_id_of(value)}"})
    assert sorted(c.path for c in seeded_target.calls("POST")) == [
        f"/subjects/{TARGET_TOPIC}-key/versions", f"/subjects/{TARGET_TOPIC}-value/versions"]
