"""Avro end to end: ``streammask run --config FILE`` as a subprocess (``tests/proxy_harness.py``) against the
test broker (Tansu, ``tests/broker.py``), with ``format: avro`` and ``schema_registry`` pointing at two fake
registries (``tests/fake_registry.py``: real HTTP servers in the pytest process, which the subprocess reaches
over the network like any registry). Debezium-like Avro records are produced with confluent-kafka's
``AvroSerializer`` through the source registry and read back with its ``AvroDeserializer`` through the target
registry (``tests/avro_events.py``).

One proxy run (``on_blocked: skip``) is shared by the tests that inspect it: one source topic per scenario
(plain records, a new schema version produced while it runs, an unclassified column, a version the target
registry refuses). Runs that must end (``on_blocked: stop``, a registry down) have their own.

Tansu's gaps (``tests/broker.py``): a null value is never delivered, so tombstones are tested at processor
level (``test_proxy_runner_avro.py``, ``test_avro_codec.py``), not here; ``read_committed`` readers see the
records of aborted transactions, so "nothing of that transaction" is checked where only a commit writes: the
audit topic and the group's committed offsets.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import avro_events as ae
import events as ev
import orjson
import pytest
from confluent_kafka import Consumer, TopicPartition
from test_proxy_integration import DRAIN_S, START_S, committed_chain, covered_offsets

from streammask.keys import MasterKey
from streammask.masker import RecordMasker
from streammask.outcome import Masked
from streammask.plan import CompiledPolicy
from streammask.policy.loader import parse_policy
from tests.broker import create_topic, unique_topic
from tests.fake_registry import FakeRegistry
from tests.proxy_harness import (
    KEY_HEX,
    Record,
    SourceRecord,
    audit_records,
    distinct_sources,
    parse_metrics,
    produce,
    proxy_config,
    read_topic,
    read_until,
    run_proxy,
)

TABLE = "customers"
ID = ev.col("id", "int32", False)
V1 = [ID, ev.col("name", "string", False), ev.col("email", "string", True),
      ev.col("created_at", "int64", False, name="io.debezium.time.MicroTimestamp", version=1)]
V2 = [*V1, ev.col("loyalty", "string", True)]  # a new optional column the policy passes through
V_SSN = [*V1, ev.col("ssn", "string", True)]  # a new column the policy does not classify
V_NO_NAME = [c for c in V1 if c["field"] != "name"]  # a dropped NOT NULL column: not FORWARD compatible
KEY_SCHEMA = ev.key_schema([ID], TABLE)
POLICY = b"""
version: 1
key: {env: STREAMMASK_KEY, id: t}
tables:
  public.customers:
    passthrough: [created_at, loyalty]
    fields:
      id:    {strategy: tokenize, domain: customer_id}
      name:  {strategy: replace, kind: full_name}
      email: {strategy: format-preserve}
"""
JSON_MASKER = RecordMasker(CompiledPolicy(parse_policy(POLICY), MasterKey(bytes.fromhex(KEY_HEX), "t")))
NAMES = ["Anne Kretchmar", "Sally Thomas", "George Bailey", "Edward Walker", "Jonathan Harker"]
SSN = "078-05-1120"
PASSWORD = "sr-Pa55word-e2e"
FAST_REGISTRY = {"timeout_s": 2, "retries": 1, "backoff_s": 0.05, "backoff_max_s": 0.1}


def row(n: int, **changes: Any) -> dict[str, Any]:
    return {"id": n, "name": NAMES[n % len(NAMES)], "email": f"customer{n}@noanswer.org",
            "created_at": 1_577_836_800_000_000 + n} | changes


def raw_values(changes: list[Change]) -> set[str]:
    """The raw values of masked columns (and the unclassified ssn) of ``changes``: none may be written."""
    return {str(v) for c in changes for side in (c.before, c.after) if side
            for k, v in side.items() if k in ("name", "email", "ssn")}


@dataclass(frozen=True)
class Change:
    """One Debezium change event of public.customers: its columns (the table's schema version) and rows."""

    fields: list[dict[str, Any]]
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    op: str = "c"

    @property
    def id(self) -> int:
        return int((self.after or self.before or {})["id"])

    def avro(self, serde: ae.Reference, topic: str) -> SourceRecord:
        """As Debezium's AvroConverter writes it (schemas registered on the serde's registry)."""
        return SourceRecord(
            serde.serialize(topic, KEY_SCHEMA, {"id": self.id}, key=True),
            serde.serialize(topic, ev.envelope_schema(self.fields, TABLE),
                            ev.envelope_payload(self.before, self.after, self.op, TABLE)),
        )

    def json_masked(self, topic: str, target_topic: str) -> Masked:
        """The same event as JsonConverter writes it, masked in process: the values the Avro output must hold."""
        outcome = JSON_MASKER.mask(topic, ev.key([ID], {"id": self.id}, table=TABLE),
                                   ev.envelope(self.fields, self.before, self.after, self.op, table=TABLE),
                                   target_topic=target_topic)
        assert isinstance(outcome, Masked), outcome
        return outcome


def registry_config(registry: FakeRegistry, **extra: Any) -> dict[str, Any]:
    return {"url": registry.url, **FAST_REGISTRY, **extra}


def avro_config(bootstrap: str, policy: Path, routes: list[tuple[str, str]], source: FakeRegistry,
                target: FakeRegistry, auth: dict[str, str] | None = None, **extra: Any) -> dict[str, Any]:
    """A proxy config reading Avro, each source topic routed to its own target topic."""
    auth = auth or {}
    return proxy_config(
        bootstrap, [s for s, _ in routes], [(re.escape(s), d) for s, d in routes], policy=policy,
        format="avro",
        schema_registry={"source": registry_config(source, **auth), "target": registry_config(target, **auth)},
        **extra,
    )


def write_policy(directory: Path) -> Path:
    path = directory / "policy.yaml"
    path.write_bytes(POLICY)
    return path


def seed(target: FakeRegistry) -> None:
    """Unrelated schemas first, so the target's ids differ from the source's: a record that kept its source
    id would be caught."""
    for n in range(3):
        target.register_direct(f"seed-{n}", json.dumps({"type": "record", "name": f"S{n}", "fields": []}))


def offsets(records: list[Record]) -> list[int]:
    """Source offsets of output records, in output order."""
    return [r.source[2] for r in records]


def committed_offset(bootstrap: str, group: str, topic: str) -> int:
    """The group's committed offset of partition 0 (negative: none), as a commit of the proxy wrote it."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        return int(consumer.committed([TopicPartition(topic, 0)], timeout=10)[0].offset)
    finally:
        consumer.close()


def no_leak(haystacks: dict[str, bytes], secrets: set[str]) -> None:
    for where, data in haystacks.items():
        leaked = sorted(s for s in secrets if s.encode() in data)
        assert not leaked, f"raw values in {where}: {leaked}"


def all_bytes(records: list[Record]) -> bytes:
    return b"\n".join(part for r in records for part in (r.key or b"", r.value or b"",
                                                          *(v or b"" for _, v in r.headers)))


# -- one proxy run, shared ------------------------------------------------------------------------------


SCENARIOS: dict[str, list[Change]] = {
    "keys": [*(Change(V1, None, row(n)) for n in range(1, 6)),
             Change(V1, row(3), row(3, email="sally@example.net"), "u")],
    "evolution": [Change(V1, None, row(1)), Change(V2, None, row(2, loyalty="gold")), Change(V1, None, row(3))],
    "drift": [Change(V1, None, row(1)), Change(V_SSN, None, row(2, ssn=SSN)), Change(V1, None, row(3))],
    "refused": [Change(V1, None, row(1)), Change(V1, None, row(2)), Change(V_NO_NAME, None, {
        k: v for k, v in row(3).items() if k != "name"}), Change(V1, None, row(4))],
}
LATE = {"evolution": 1}  # from this index on, a scenario's records are produced while the proxy runs


@dataclass
class Shared:
    source: FakeRegistry
    target: FakeRegistry
    topics: dict[str, tuple[str, str]]
    """Scenario: (source topic, target topic)."""
    inputs: dict[str, list[SourceRecord]]
    output: dict[str, list[Record]]
    audit: list[dict[str, Any]]
    audit_raw: list[Record]
    metrics: dict[tuple[str, frozenset[tuple[str, str]]], float]
    exit_code: int
    stderr: str
    stdout: str

    def metric(self, name: str, **labels: str) -> float:
        want = set(labels.items())
        return sum(v for (n, ls), v in self.metrics.items() if n == name and want <= ls)

    def decoded(self, scenario: str) -> list[tuple[Any, Any]]:
        """(key, value) of the scenario's output records, as confluent-kafka reads them with the target registry."""
        reader, topic = ae.Reference(self.target.url), self.topics[scenario][1]
        return [(reader.deserialize(topic, r.key or b"", key=True), reader.deserialize(topic, r.value or b""))
                for r in self.output[scenario]]

    def audited_blocked(self, scenario: str) -> list[dict[str, Any]]:
        return [b for a in self.audit for b in a["blocked"] if b["topic"] == self.topics[scenario][0]]


@pytest.fixture(scope="module")
def registries() -> Iterator[tuple[FakeRegistry, FakeRegistry]]:
    """Source and target registry for the shared run (module-scoped, so not ``source_registry``/``target_registry``)."""
    source, target = FakeRegistry().start(), FakeRegistry().start()
    try:
        yield source, target
    finally:
        source.stop()
        target.stop()


@pytest.fixture(scope="module")
def shared(kafka_broker: str, registries: tuple[FakeRegistry, FakeRegistry],
           tmp_path_factory: pytest.TempPathFactory) -> Shared:
    """Every scenario's records through one proxy (``on_blocked: skip``); the new version of ``evolution``
    produced while it runs. The target registry's global level is FULL (a stricter QA registry than the
    source's BACKWARD): the ``refused`` topic's dropped NOT NULL column is refused there (409)."""
    source, target = registries
    seed(target)
    target.global_level = "FULL"
    directory = tmp_path_factory.mktemp("avro-e2e")
    run = unique_topic("avro-src")
    topics = {s: (f"{run}.{s}", f"{run.replace('avro-src-', 'avro-out-')}.{s}") for s in SCENARIOS}
    serde = ae.Reference(source.url)
    inputs = {s: [c.avro(serde, topics[s][0]) for c in changes] for s, changes in SCENARIOS.items()}
    for src, dst in topics.values():
        create_topic(kafka_broker, src)
        create_topic(kafka_broker, dst)
    for s, records in inputs.items():
        produce(kafka_broker, topics[s][0], records[:LATE.get(s, len(records))])
    doc = avro_config(kafka_broker, write_policy(directory), list(topics.values()), source, target,
                      on_blocked="skip", max_records=50, max_ms=150)
    total, early = sum(map(len, inputs.values())), sum(LATE.get(s, len(r)) for s, r in inputs.items())
    with run_proxy(directory, doc) as proxy:
        proxy.wait_ready(START_S)
        proxy.wait_metric("streammask_records_in_total", early, DRAIN_S)
        for s, start in LATE.items():  # a new schema version, mid-stream
            produce(kafka_broker, topics[s][0], inputs[s][start:])
        proxy.wait_metric("streammask_records_in_total", total, DRAIN_S)
        status, text = proxy.get("/metrics")
        assert status == 200, text
        exit_code = proxy.terminate()
        stderr, stdout = proxy.stderr(), proxy.stdout()
    audit_raw = read_topic(kafka_broker, doc["audit_topic"])
    return Shared(
        source, target, topics, inputs, {s: read_topic(kafka_broker, dst) for s, (_, dst) in topics.items()},
        [orjson.loads(r.value or b"") for r in audit_raw], audit_raw, parse_metrics(text), exit_code, stderr, stdout,
    )


def test_avro_keys_and_values_are_masked_through_the_proxy_with_the_target_registry_s_ids(shared: Shared) -> None:
    """Key and value both Avro: written with ids the target registry gave under ``<target-topic>-key/-value``
    (not the source's), the masked values those of the same events in JSON, the key the masked row's id,
    passthrough columns and the source block unchanged, the source coordinates in headers."""
    src, dst = shared.topics["keys"]
    out, inputs = shared.output["keys"], shared.inputs["keys"]
    assert offsets(out) == list(range(len(inputs)))
    value_ids = {ae.schema_id_of(r.value or b"") for r in out}
    key_ids = {ae.schema_id_of(r.key or b"") for r in out}
    assert value_ids == set(ae.subject_ids(shared.target.url, f"{dst}-value")) and len(value_ids) == 1
    assert key_ids == set(ae.subject_ids(shared.target.url, f"{dst}-key")) and len(key_ids) == 1
    assert not (value_ids | key_ids) & {ae.schema_id_of(b) for r in inputs for b in (r.key or b"", r.value or b"")}
    source_reader = ae.Reference(shared.source.url)
    for n, ((key, value), raw, change, r) in enumerate(zip(shared.decoded("keys"), inputs, SCENARIOS["keys"], out,
                                                           strict=True)):
        source = source_reader.deserialize(src, raw.value or b"")
        assert key == {"id": value["after"]["id"]} and value["after"]["id"] != source["after"]["id"]
        assert value["after"]["name"] != source["after"]["name"]
        assert value["after"]["email"] != source["after"]["email"]
        assert value["after"]["created_at"] == source["after"]["created_at"]
        assert value["source"] == source["source"] and value["op"] == source["op"]
        if value["before"] is not None:
            assert value["before"]["id"] == value["after"]["id"]
        reference = change.json_masked(src, dst)  # the same event in JSON, masked by the same policy and key
        payload = orjson.loads(reference.value or b"")["payload"]
        assert (value["before"], value["after"]) == (payload["before"], payload["after"])
        assert key == orjson.loads(reference.key or b"")["payload"]
        assert r.headers[-3:] == (("streammask.source.topic", src.encode()),
                                  ("streammask.source.partition", b"0"),
                                  ("streammask.source.offset", str(n).encode()))
    assert shared.metric("streammask_records_out_total", topic=src) == len(inputs)


def test_a_new_schema_version_mid_stream_is_masked_and_registered_on_the_target(shared: Shared) -> None:
    """A version produced while the proxy runs (a new optional column, passed through) gets its own target id,
    registered as the subject's second version, and the records around it keep the first."""
    src, dst = shared.topics["evolution"]
    out = shared.output["evolution"]
    assert offsets(out) == [0, 1, 2]
    ids = [ae.schema_id_of(r.value or b"") for r in out]
    assert ids[0] == ids[2] != ids[1]
    assert ae.subject_ids(shared.target.url, f"{dst}-value") == ids[:2]
    values = [v for _, v in shared.decoded("evolution")]
    assert "loyalty" not in values[0]["after"] and values[1]["after"]["loyalty"] == "gold"
    for value, change in zip(values, SCENARIOS["evolution"], strict=True):
        assert value["after"] == orjson.loads(change.json_masked(src, dst).value or b"")["payload"]["after"]
    assert shared.metric("streammask_records_blocked_total", topic=src) == 0


def test_an_unclassified_column_in_a_new_version_is_blocked_and_the_others_flow(shared: Shared) -> None:
    """``on_blocked: skip``: the record of the version with an unclassified column is not written (its schema
    not registered on the target either), it is counted and audited as ``unclassified-column``; the records
    before and after it are written."""
    src, dst = shared.topics["drift"]
    out = shared.output["drift"]
    assert offsets(out) == [0, 2]
    assert all(SSN.encode() not in all_bytes([r]) for r in out)
    assert len(ae.subject_ids(shared.target.url, f"{dst}-value")) == 1
    [blocked] = shared.audited_blocked("drift")
    assert (blocked["offset"], blocked["code"], blocked["table"], blocked["column"]) == (
        1, "unclassified-column", "public.customers", "ssn")
    assert shared.metric("streammask_records_blocked_total", topic=src, code="unclassified-column") == 1
    assert shared.metric("streammask_records_out_total", topic=src) == 2


def test_a_version_the_target_registry_refuses_is_blocked_and_the_others_flow(shared: Shared) -> None:
    """A 409 from the target (a dropped NOT NULL column under its FULL level; BACKWARD on the source accepted
    it) is about that record's schema: with ``on_blocked: skip`` it is left out and audited as
    ``schema-registry``, naming the registry and the subject; the records after it still flow."""
    src, dst = shared.topics["refused"]
    assert offsets(shared.output["refused"]) == [0, 1, 3]
    assert len(ae.subject_ids(shared.target.url, f"{dst}-value")) == 1
    [blocked] = shared.audited_blocked("refused")
    assert (blocked["offset"], blocked["code"], blocked["table"]) == (2, "schema-registry", "public.customers")
    assert blocked["reason"].startswith(f"registry {shared.target.url}, subject {dst}-value: register: "
                                        "schema incompatible (409, error 40901)"), blocked
    assert shared.metric("streammask_records_blocked_total", topic=src, code="schema-registry") == 1
    assert shared.metric("streammask_records_out_total", topic=src) == 3


def test_the_shared_run_is_audited_completely_leaks_nothing_and_stops_cleanly(shared: Shared) -> None:
    """Every consumed offset audited once on one verified chain, the counts adding up; no raw value of a
    masked (or unclassified) column in any output byte, audit record or log line; SIGTERM exits 0."""
    total = sum(map(len, shared.inputs.values()))
    chain = committed_chain(shared.audit, "i1")
    assert chain == sorted(shared.audit, key=lambda a: a["sequence"])
    assert covered_offsets(chain) == {(src, 0, o) for s, (src, _) in shared.topics.items()
                                      for o in range(len(shared.inputs[s]))}
    assert sum(a["records"]["in"] for a in chain) == total
    assert sum(a["records"]["blocked"] for a in chain) == 2
    assert sum(a["records"]["out"] for a in chain) == total - 2 == sum(map(len, shared.output.values()))
    secrets = raw_values([c for changes in SCENARIOS.values() for c in changes])
    assert {"Anne Kretchmar", "customer1@noanswer.org", SSN} <= secrets
    no_leak({"output": all_bytes([r for rs in shared.output.values() for r in rs]),
             "audit": all_bytes(shared.audit_raw), "stderr": shared.stderr.encode(),
             "stdout": shared.stdout.encode()}, secrets)
    assert shared.exit_code == 0, shared.stderr[-3000:]
    assert any(json.loads(line).get("msg") == "stopped cleanly" for line in shared.stderr.splitlines() if line)


# -- runs that end ---------------------------------------------------------------------------------------


def test_an_unclassified_column_with_on_blocked_stop_ends_the_run_and_commits_nothing_of_its_transaction(
    kafka_broker: str, source_registry: FakeRegistry, target_registry: FakeRegistry, tmp_path: Path,
) -> None:
    """``on_blocked: stop``: the proxy exits non-zero naming the record; the transaction before it stays
    committed, the one holding it (a good record, then the blocked one) is aborted: not audited, its
    offsets not committed, nothing from the blocked record on written."""
    src, dst = unique_topic("avro-src"), unique_topic("avro-out")
    create_topic(kafka_broker, src)
    create_topic(kafka_broker, dst)
    changes = [Change(V1, None, row(n)) for n in range(1, 4)]
    changes += [Change(V_SSN, None, row(4, ssn=SSN)), Change(V1, None, row(5))]
    serde = ae.Reference(source_registry.url)
    produce(kafka_broker, src, [c.avro(serde, src) for c in changes])
    # two records per transaction: [0, 1] commits, [2, 3] holds the blocked record
    doc = avro_config(kafka_broker, write_policy(tmp_path), [(src, dst)], source_registry, target_registry,
                      max_records=2, max_ms=60_000)
    with run_proxy(tmp_path, doc) as proxy:
        code = proxy.wait_exit(START_S + DRAIN_S)
        stderr = proxy.stderr()
    assert code == 1, stderr[-3000:]
    assert f"error: record blocked at {src}/0/3: " in stderr and "unclassified-column" in stderr, stderr[-3000:]
    logged = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    [blocked] = [e for e in logged if e.get("msg", "").startswith("record blocked")]
    assert {k: blocked[k] for k in ("offset", "code", "column")} == {"offset": 3, "code": "unclassified-column",
                                                                      "column": "ssn"}
    assert committed_offset(kafka_broker, doc["group_id"], src) == 2
    audit = audit_records(kafka_broker, doc["audit_topic"])
    assert covered_offsets(audit) == {(src, 0, 0), (src, 0, 1)}
    written = read_topic(kafka_broker, dst, isolation="read_uncommitted")
    # 2 was produced into the aborted transaction: the abort usually purges it before it is sent, else Tansu shows it
    assert {0, 1} <= set(offsets(written)) <= {0, 1, 2}
    no_leak({"stderr": stderr.encode(), "output": all_bytes(written)}, raw_values(changes))


@pytest.mark.parametrize("which", ["source", "target"])
def test_an_unreachable_registry_stops_the_proxy_and_a_restart_resumes_from_the_committed_offsets(
    kafka_broker: str, registry_factory: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, which: str,
) -> None:
    """``on_blocked: skip`` notwithstanding: the first batch is committed; the registry goes down; the next
    records bring a new schema version (the source registry must give its text, the target one an id): the
    proxy exits non-zero with an error naming the registry's URL (never its credentials) and writes nothing
    of that batch. With the registry back, a restart resumes from the committed offsets: every record once."""
    monkeypatch.setenv("SM_TEST_E2E_SR_AUTH", f"streammask:{PASSWORD}")
    auth = {"basic.auth.user.info": f"streammask:{PASSWORD}"}
    source, target = (registry_factory(basic_auth=("streammask", PASSWORD)) for _ in range(2))
    seed(target)
    registry = source if which == "source" else target
    src, dst = unique_topic("avro-src"), unique_topic("avro-out")
    create_topic(kafka_broker, src)
    create_topic(kafka_broker, dst)
    serde = ae.Reference(source.url, "topic", **auth)
    first = [Change(V1, None, row(n)) for n in range(1, 4)]
    then = [Change(V2, None, row(4, loyalty="gold")), Change(V1, None, row(5)),
            Change(V2, None, row(6, loyalty="silver"))]
    records = [c.avro(serde, src) for c in first + then]  # registered on the source now, while it is up
    produce(kafka_broker, src, records[:3])
    doc = avro_config(kafka_broker, write_policy(tmp_path), [(src, dst)], source, target,
                      auth={"basic.auth.user.info": "${SM_TEST_E2E_SR_AUTH}"}, on_blocked="skip",
                      max_records=50, max_ms=150)

    with run_proxy(tmp_path, doc) as proxy:
        proxy.wait_ready(START_S)
        proxy.wait_metric("streammask_records_in_total", 3, DRAIN_S)  # committed
        registry.down()
        produce(kafka_broker, src, records[3:])
        code = proxy.wait_exit(DRAIN_S)
        stderr, stdout = proxy.stderr(), proxy.stdout()
    assert code == 1, stderr[-3000:]
    what = r": schema id \d+" if which == "source" else re.escape(f", subject {dst}-value: register")
    assert re.search(rf"^error: registry {re.escape(registry.url)}{what}: unreachable after 2 attempts "
                     r"\(last: connection failed\)$", stderr, re.MULTILINE), stderr[-3000:]
    assert PASSWORD not in stderr + stdout
    assert offsets(read_topic(kafka_broker, dst, isolation="read_uncommitted")) == [0, 1, 2]
    assert committed_offset(kafka_broker, doc["group_id"], src) == 3
    assert covered_offsets(audit_records(kafka_broker, doc["audit_topic"])) == {(src, 0, o) for o in range(3)}

    registry.up()
    with run_proxy(tmp_path, doc) as proxy:
        proxy.wait_ready(START_S)
        out = read_until(kafka_broker, dst, lambda rs: len(distinct_sources(rs)) >= len(records), DRAIN_S,
                         "every record after the restart")
        assert proxy.terminate() == 0, proxy.describe()
        stderr = proxy.stderr()
    assert offsets(out) == list(range(len(records)))  # once each: resumed at offset 3
    reader = ae.Reference(target.url, "topic", **auth)
    values = [reader.deserialize(dst, r.value or b"") for r in out]
    assert [v["after"]["created_at"] for v in values] == [c.after["created_at"] for c in first + then if c.after]
    assert [v["after"].get("loyalty") for v in values] == [None, None, None, "gold", None, "silver"]
    assert ae.subject_ids(target.url, f"{dst}-value", auth=("streammask", PASSWORD)) == sorted(
        {ae.schema_id_of(r.value or b"") for r in out})
    chain = committed_chain(audit_records(kafka_broker, doc["audit_topic"]), "i1")
    audited = Counter(o for a in chain for rng in a["source_ranges"]
                      for o in range(rng["first_offset"], rng["last_offset"] + 1))
    assert audited == Counter(range(len(records)))
    assert PASSWORD not in stderr
