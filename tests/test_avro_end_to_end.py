"""Avro end to end on the test broker (Tansu, ``tests/broker.py``): Debezium-like Avro records produced by
confluent-kafka's ``AvroSerializer`` to a source topic, masked, and read back from the target topic with
confluent-kafka's ``AvroDeserializer`` against the target registry.

STOPGAP: the proxy runner does not read ``format: avro`` yet in this branch, so these tests move the records
with ``mask_topic`` below (the Kafka clients read the source topic, ``RecordMasker`` with the Avro codec masks,
the masked records are produced in order, a blocked one is not written). Switch ``mask_topic`` to
``streammask run`` with ``format: avro`` and ``schema_registry`` once the runner has them; the assertions
stay. Tansu's gaps (``tests/broker.py``): a null value is never delivered, so tombstones are tested at
processor level (``test_avro_codec.py``), not here.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import avro_events as ae
import events as ev
import pytest

from streammask.codec.avro import AvroCodec
from streammask.keys import MasterKey
from streammask.masker import RecordMasker
from streammask.outcome import BlockCode, Blocked, Masked, Outcome
from streammask.plan import CompiledPolicy
from streammask.policy.loader import parse_policy
from tests.broker import create_topic, unique_topic
from tests.fake_registry import FakeRegistry
from tests.proxy_harness import Record, SourceRecord, produce, read_topic

KEY = MasterKey(bytes(range(32)), "t")
TABLE = "customers"
ID = ev.col("id", "int32", False)
V1 = [ID, ev.col("name", "string", False), ev.col("email", "string", True),
      ev.col("created_at", "int64", False, name="io.debezium.time.MicroTimestamp", version=1)]
V2 = [*V1, ev.col("loyalty", "string", True)]
V_SSN = [*V1, ev.col("ssn", "string", True)]
KEY_SCHEMA = ev.key_schema([ID], TABLE)
POLICY = b"""
version: 1
key: {env: STREAMMASK_TEST_KEY, id: t}
tables:
  public.customers:
    passthrough: [created_at, loyalty]
    fields:
      id:    {strategy: tokenize, domain: customer_id}
      name:  {strategy: replace, kind: full_name}
      email: {strategy: format-preserve}
"""
NAMES = ["Anne Kretchmar", "Sally Thomas", "George Bailey", "Edward Walker", "Jonathan Harker"]


def row(n: int, **changes: Any) -> dict[str, Any]:
    return {"id": n, "name": NAMES[n % len(NAMES)], "email": f"customer{n}@noanswer.org",
            "created_at": 1_577_836_800_000_000 + n} | changes


def mask_topic(bootstrap: str, masker: RecordMasker, source_topic: str, target_topic: str) -> list[Outcome]:
    """STOPGAP for ``streammask run`` (see the module docstring): every record of ``source_topic`` masked, the
    masked ones produced to ``target_topic`` in their order, the blocked ones not written."""
    outcomes = [masker.mask(source_topic, r.key, r.value, list(r.headers), target_topic=target_topic)
                for r in read_topic(bootstrap, source_topic)]
    produce(bootstrap, target_topic, [SourceRecord(o.key, o.value, o.headers) for o in outcomes
                                      if isinstance(o, Masked)])
    return outcomes


class Pipeline:
    """Topics on the broker, a producer on the source registry, a masker between the two registries."""

    def __init__(self, bootstrap: str, source: FakeRegistry, target: FakeRegistry) -> None:
        self.bootstrap, self.source, self.target = bootstrap, source, target
        self.src, self.dst = unique_topic("avro-src"), unique_topic("avro-dst")
        create_topic(bootstrap, self.src)
        create_topic(bootstrap, self.dst)
        self.producer = ae.Reference(source.url)
        self.codec = AvroCodec(ae.fast_client(source.url), ae.fast_client(target.url))
        self.masker = RecordMasker(CompiledPolicy(parse_policy(POLICY), KEY), self.codec)

    def record(self, fields: list[dict[str, Any]], before: Any, after: Any, op: str = "c") -> SourceRecord:
        n = (after or before)["id"]
        return SourceRecord(self.producer.serialize(self.src, KEY_SCHEMA, {"id": n}, key=True),
                            self.producer.serialize(self.src, ev.envelope_schema(fields, TABLE),
                                                    ev.envelope_payload(before, after, op, TABLE)))

    def send(self, records: Sequence[SourceRecord]) -> None:
        produce(self.bootstrap, self.src, records)

    def run(self) -> list[Outcome]:
        return mask_topic(self.bootstrap, self.masker, self.src, self.dst)

    def output(self) -> list[Record]:
        return read_topic(self.bootstrap, self.dst)

    def decoded(self) -> list[tuple[Any, Any]]:
        """(key, value) of every output record, as confluent-kafka reads them with the target registry."""
        consumer = ae.Reference(self.target.url)
        return [(consumer.deserialize(self.dst, r.key or b"", key=True), consumer.deserialize(self.dst, r.value or b""))
                for r in self.output()]


@pytest.fixture
def pipeline(kafka_broker: str, source_registry: FakeRegistry, target_registry: FakeRegistry) -> Pipeline:
    for n in range(3):  # the target's ids start elsewhere than the source's
        target_registry.register_direct(f"seed-{n}", json.dumps({"type": "record", "name": f"S{n}", "fields": []}))
    return Pipeline(kafka_broker, source_registry, target_registry)


def test_avro_keys_and_values_are_masked_through_the_broker_with_the_target_registry_s_ids(pipeline: Pipeline) -> None:
    inputs = [pipeline.record(V1, None, row(n)) for n in range(1, 6)]
    inputs.append(pipeline.record(V1, row(3), row(3, email="sally@example.net"), "u"))
    pipeline.send(inputs)
    assert all(isinstance(o, Masked) for o in pipeline.run())
    out = pipeline.output()
    assert len(out) == len(inputs)
    value_ids = {ae.schema_id_of(r.value or b"") for r in out}
    key_ids = {ae.schema_id_of(r.key or b"") for r in out}
    assert value_ids == set(ae.subject_ids(pipeline.target.url, f"{pipeline.dst}-value"))
    assert key_ids == set(ae.subject_ids(pipeline.target.url, f"{pipeline.dst}-key"))
    assert not value_ids & {ae.schema_id_of(r.value or b"") for r in inputs}
    for (key, value), raw in zip(pipeline.decoded(), inputs, strict=True):
        source = pipeline.producer.deserialize(pipeline.src, raw.value or b"")
        assert key == {"id": value["after"]["id"]} and value["after"]["id"] != source["after"]["id"]
        assert value["after"]["name"] != source["after"]["name"]
        assert value["after"]["email"] != source["after"]["email"]
        assert value["after"]["created_at"] == source["after"]["created_at"]
        assert value["source"] == source["source"] and value["op"] == source["op"]
        if value["before"] is not None:
            assert value["before"]["id"] == value["after"]["id"]


def test_a_new_schema_version_mid_stream_is_registered_on_the_target_and_the_stream_goes_on(
    pipeline: Pipeline,
) -> None:
    pipeline.send([pipeline.record(V1, None, row(1)), pipeline.record(V2, None, row(2, loyalty="gold")),
                   pipeline.record(V1, None, row(3))])
    assert all(isinstance(o, Masked) for o in pipeline.run())
    ids = [ae.schema_id_of(r.value or b"") for r in pipeline.output()]
    assert ids[0] == ids[2] != ids[1]
    assert ae.subject_ids(pipeline.target.url, f"{pipeline.dst}-value") == ids[:2]
    values = [v for _, v in pipeline.decoded()]
    assert "loyalty" not in values[0]["after"] and values[1]["after"]["loyalty"] == "gold"


def test_an_unclassified_column_in_a_new_version_is_not_written(pipeline: Pipeline) -> None:
    pipeline.send([pipeline.record(V1, None, row(1)), pipeline.record(V_SSN, None, row(2, ssn="078-05-1120")),
                   pipeline.record(V1, None, row(3))])
    outcomes = pipeline.run()
    blocked = [o for o in outcomes if isinstance(o, Blocked)]
    assert [(b.reason.code, b.reason.column) for b in blocked] == [(BlockCode.UNCLASSIFIED_COLUMN, "ssn")]
    out = pipeline.output()
    assert len(out) == 2 and all(b"078-05-1120" not in (r.value or b"") for r in out)
    assert len(ae.subject_ids(pipeline.target.url, f"{pipeline.dst}-value")) == 1


@pytest.mark.parametrize("which", ["source", "target"])
def test_a_registry_down_writes_nothing_until_it_is_back(pipeline: Pipeline, which: str) -> None:
    pipeline.send([pipeline.record(V1, None, row(n)) for n in range(1, 4)])
    registry = pipeline.source if which == "source" else pipeline.target
    registry.down()
    outcomes = pipeline.run()
    assert all(isinstance(o, Blocked) and o.reason.code is BlockCode.SCHEMA_REGISTRY
               and registry.url in o.reason.detail for o in outcomes), outcomes
    assert len(outcomes) == 3 and pipeline.output() == []
    registry.up()
    assert all(isinstance(o, Masked) for o in pipeline.run())
    assert [v["after"]["created_at"] for _, v in pipeline.decoded()] == [row(n)["created_at"] for n in range(1, 4)]
