"""The proxy's processing loop (``runner.Proxy``) against the in-memory Kafka fake, with an injected clock.

These cover what the local test broker cannot carry end to end: tombstones, aborted transactions that
must stay invisible to read_committed readers, injected abortable/fatal/retriable errors, rebalance
callbacks at chosen moments. Expected results are computed here from the inputs, not from the runner.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import orjson
import pytest
from confluent_kafka import KafkaError, KafkaException
from fake_kafka import FakeCluster, FakeConsumer, FakeMessage, FakeProducer
from helpers import fixtures_dir

from streammask.bootstrap import MaskingSetup
from streammask.errors import StreamMaskError
from streammask.keys import MasterKey
from streammask.masker import RecordMasker
from streammask.pipeline import SOURCE_HEADERS
from streammask.plan import CompiledPolicy
from streammask.policy.loader import parse_policy
from streammask.proxy import checkpoint
from streammask.proxy.audit_record import GENESIS, verify_chain
from streammask.proxy.clients import KafkaClients
from streammask.proxy.config import ProxyConfig, UnroutedTopic
from streammask.proxy.http import Health
from streammask.proxy.metrics import Metrics
from streammask.proxy.runner import (
    MAX_CONSECUTIVE_ABORTS,
    BlockedRecordStop,
    Proxy,
    TransactionsFailing,
)

try:
    from tests import events as ev
except ImportError:  # tests/ itself is on sys.path
    import events as ev  # type: ignore[no-redef]

REPO = Path(__file__).resolve().parent.parent
AUDIT_RECORD_SCHEMA = json.loads((REPO / "schemas" / "audit-record.schema.json").read_text())
KEY = MasterKey(bytes(range(32)), "k1")
POLICY = b"""
version: 1
key: {env: STREAMMASK_TEST_KEY, id: k1}
tables:
  public.customers:
    fields:
      id:         {strategy: tokenize, domain: customer_id}
      first_name: {strategy: replace, kind: first_name}
      last_name:  {strategy: replace, kind: last_name}
      email:      {strategy: format-preserve}
"""
STRATEGY = {"id": "tokenize", "first_name": "replace", "last_name": "replace", "email": "format-preserve"}
TOPIC = ev.topic("customers")  # dbserver1.public.customers
OUT = "staging.public.customers"
GROUP = "g1"
PLANTED_SSN = "078-05-1120"
FIELDS = [ev.col("id", "int32", False), ev.col("first_name", "string", False),
          ev.col("last_name", "string", False), ev.col("email", "string", False)]
KEY_FIELDS = [ev.col("id", "int32", False)]

ABORTABLE = KafkaError(KafkaError._STATE, "injected: transaction needs abort", txn_requires_abort=True)
FATAL = KafkaError(KafkaError._FATAL, "injected: fatal", fatal=True)
RETRIABLE = KafkaError(KafkaError._TIMED_OUT, "injected: timed out", retriable=True)


def setup_for(policy: bytes = POLICY) -> MaskingSetup:
    loaded = parse_policy(policy)
    return MaskingSetup(loaded, KEY, RecordMasker(CompiledPolicy(loaded, KEY)))


SETUP = setup_for()


def row(i: int) -> dict[str, Any]:
    """A customer row whose strings are unlikely to come out of any masking strategy by chance."""
    return {"id": 1000 + i, "first_name": f"Quirinus{i}", "last_name": f"Zabriskie{i}",
            "email": f"quirinus.zab{i}@noanswer.org"}


def raw_secrets(rows: list[dict[str, Any]]) -> set[bytes]:
    return {str(v).encode() for r in rows for k, v in r.items() if k != "id"}


def change(i: int, op: str = "c", **overrides: Any) -> tuple[bytes, bytes]:
    """(key, value) of a customer change event with schema, ``overrides`` added to its ``after``."""
    after = {**row(i), **overrides}
    before = row(i) if op in ("u", "d") else None
    fields = FIELDS + [ev.col(k, "string", True) for k in overrides]
    value = ev.envelope(fields, before, None if op == "d" else after, op, ts_ms=ev.BASE_TS_MS + i)
    return ev.key(KEY_FIELDS, {"id": 1000 + i}), value


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


class Rig:
    """One proxy over fake clusters: ``same_cluster`` shares one, else source and target are separate."""

    def __init__(self, *, same_cluster: bool = True, max_per_consume: int = 500, setup: MaskingSetup = SETUP,
                 source: FakeCluster | None = None, target: FakeCluster | None = None, partitions: int = 1,
                 source_props: dict[str, Any] | None = None, **config: Any) -> None:
        self.source = source or FakeCluster("source")
        self.target = target or (self.source if same_cluster else FakeCluster("target", journal=self.source.journal))
        self.journal = self.source.journal
        cfg: dict[str, Any] = {
            "source": {"bootstrap.servers": "prod:9092", **(source_props or {})},
            "topics": [TOPIC],
            "routing": [{"match": r"[^.]+\.(.*)", "to": r"staging.\1"}],
            "policy": "unused.yaml",
            "group_id": GROUP,
            "instance_id": "i1",
            "batch": {"max_records": 1000, "max_ms": 1000},
        }
        if not same_cluster:
            cfg["target"] = {"bootstrap.servers": "qa:9092"}
        cfg.update(config)
        self.config = ProxyConfig.model_validate(cfg)
        self.source.create_topic(TOPIC, partitions)
        self.clock = Clock()
        self.metrics = Metrics()
        self.health = Health(clock=self.clock)
        self.stop = threading.Event()
        self.consumer = FakeConsumer(self.source, GROUP, max_per_consume=max_per_consume)
        self.consumer.on_idle = self.stop.set
        self.producer = FakeProducer(self.target, transactional=self.config.delivery == "transactional")
        self.quarantine = FakeProducer(self.source, transactional=False) if self.config.quarantine_topic else None
        checkpoint_topic = self.config.checkpoint_topic

        def read_checkpoints() -> list[tuple[bytes | None, bytes | None]]:
            return [(m.key(), m.value()) for m in self.target.committed_view(checkpoint_topic)]

        def ensure(wanted: dict[str, tuple[int, dict[str, str]]]) -> None:
            for topic, (partitions, _) in wanted.items():
                self.target.create_topic(topic, partitions)

        clients = KafkaClients(self.consumer, self.producer, self.quarantine, read_checkpoints, ensure)  # type: ignore[arg-type]
        self.proxy = Proxy(self.config, setup, self.metrics, self.health, clock=self.clock, clients=clients,
                           sleep=self.clock.sleep)

    def write(self, *records: tuple[bytes | None, bytes | None], topic: str = TOPIC, partition: int = 0) -> None:
        for k, v in records:
            self.source.write(topic, k, v, partition=partition, timestamp=ev.BASE_TS_MS)

    def run(self) -> None:
        self.proxy.prepare()
        self.proxy.run(self.stop)

    def output(self, topic: str = OUT) -> list[FakeMessage]:
        return self.target.committed_view(topic)

    def audit(self) -> list[dict[str, Any]]:
        return [orjson.loads(m.value() or b"") for m in self.target.committed_view(self.config.audit_topic)]

    def metric(self, name: str, **labels: str) -> float:
        return self.metrics.registry.get_sample_value(name, labels) or 0.0

    def target_bytes(self) -> bytes:
        """Every byte written to the target cluster (any topic, any state), source topics excluded."""
        chunks = []
        for e in self.target.all_entries():
            m = e.message
            if m.topic() in (self.config.topics or []) or m.topic() == self.config.quarantine_topic:
                continue
            chunks += [m.key() or b"", m.value() or b""]
            chunks += [v or b"" for _, v in m.headers() or []]
        return b"\n".join(chunks)


def source_offsets(messages: list[FakeMessage]) -> list[int]:
    out = []
    for m in messages:
        h = dict(m.headers() or [])
        out.append(int(h["streammask.source.offset"] or b"-1"))
    return out


def payload(data: bytes | None) -> Any:
    doc = orjson.loads(data or b"null")
    return doc["payload"] if isinstance(doc, dict) and "payload" in doc and "schema" in doc else doc


# -- the shared Debezium fixtures: masked, committed, audited -----------------------------------------------


def fixture_doc(name: str) -> dict[str, Any]:
    doc = orjson.loads((fixtures_dir() / name).read_bytes())
    assert isinstance(doc, dict)
    return doc


def test_fixture_batch_is_masked_committed_and_audited() -> None:
    topic = "PostgreSQL_server.public.customers"
    rig = Rig(topics=[topic])
    key_with_schema = orjson.dumps({"schema": {"type": "struct", "optional": False,
                                               "name": f"{topic}.Key",
                                               "fields": [{"type": "int32", "optional": False, "field": "id"}]},
                                    "payload": {"id": 1}})
    key = orjson.dumps({"id": 1})
    values = [orjson.dumps(fixture_doc(n)) for n in
              ("postgres-create.json", "postgres-update.payload.json", "postgres-delete.payload.json")]
    records = [(key_with_schema, values[0]), (key, values[1]), (key, values[2]), (key, None)]
    rig.write(*records, topic=topic)
    rig.run()

    out = rig.output()
    assert len(out) == 4
    for i, m in enumerate(out):
        headers = dict(m.headers() or [])
        assert [headers.get(h) for h in SOURCE_HEADERS] == [topic.encode(), b"0", str(i).encode()]
    assert out[3].value() is None  # the tombstone stays a tombstone
    raw = {"Anne", "Anne Marie", "Kretchmar", "annek@noanswer.org"}
    everything = rig.target_bytes()
    assert not [s for s in raw if s.encode() in everything]
    assert rig.source.group_offsets == {(GROUP, topic, 0): 4}

    # counts expected from the inputs: every non-null row value and key column is masked once
    expected_columns: Counter[str] = Counter()
    expected_ops: Counter[str] = Counter()
    for k, v in records:
        expected_columns.update(payload(k))
        if v is None:
            expected_ops["tombstone"] += 1
            continue
        p = payload(v)
        expected_ops[p["op"]] += 1
        for side in ("before", "after"):
            expected_columns.update(c for c, x in (p[side] or {}).items() if x is not None)
    [record] = rig.audit()
    jsonschema.validate(record, AUDIT_RECORD_SCHEMA)
    assert record["records"] == {"in": 4, "out": 4, "blocked": 0}
    assert record["source_ranges"] == [
        {"topic": topic, "partition": 0, "first_offset": 0, "last_offset": 3, "records": 4}]
    table = record["tables"]["public.customers"]
    assert table["ops"] == dict(expected_ops)
    assert {c: (s["strategy"], s["values_masked"]) for c, s in table["columns"].items()} == {
        c: (STRATEGY[c], n) for c, n in expected_columns.items()
    }
    assert (record["sequence"], record["prev_hash"]) == (1, GENESIS)
    assert verify_chain([record]) == []

    assert rig.metric("streammask_records_in_total", topic=topic) == 4
    assert rig.metric("streammask_records_out_total", topic=topic) == 4
    assert rig.metric("streammask_transactions_total", result="committed") == 1
    for strategy in set(STRATEGY.values()):
        want = sum(n for c, n in expected_columns.items() if STRATEGY[c] == strategy)
        assert rig.metric("streammask_values_masked_total", table="public.customers", strategy=strategy) == want
    # same cluster: offsets go in the transaction, before its commit
    j = rig.journal
    assert j.index("send_offsets_to_transaction") < j.index("commit_transaction")
    assert "consumer.commit" not in j


def test_audit_chain_continues_across_a_restart() -> None:
    first = Rig(max_per_consume=2, batch={"max_records": 2, "max_ms": 1000})
    first.write(*(change(i) for i in range(4)))
    first.run()
    assert [r["sequence"] for r in first.audit()] == [1, 2]

    second = Rig(source=first.source, target=first.target, max_per_consume=2,
                 batch={"max_records": 2, "max_ms": 1000})
    second.write(*(change(i) for i in range(4, 6)))
    second.run()
    chain = second.audit()
    assert [r["sequence"] for r in chain] == [1, 2, 3]
    assert chain[2]["prev_hash"] == chain[1]["hash"]
    assert verify_chain(chain) == []
    assert source_offsets(second.output()) == list(range(6))


def test_audit_sequence_gauge_follows_the_chain_and_drops_only_when_the_head_is_lost() -> None:
    """``streammask_audit_chain_sequence`` is what the StreamMaskAuditChainRestarted alert watches: restored
    from the checkpoint topic's chain head before any commit (so a restart is no drop), one more per commit;
    a start that finds no head (a deleted checkpoint topic) starts the chain over at 0."""
    labels = {"instance": "i1", "group": GROUP}
    first = Rig(max_per_consume=2, batch={"max_records": 2, "max_ms": 1000})
    first.write(*(change(i) for i in range(4)))
    first.run()
    assert first.metrics.registry.get_sample_value("streammask_audit_chain_sequence", labels) == 2

    second = Rig(source=first.source, target=first.target, max_per_consume=2,
                 batch={"max_records": 2, "max_ms": 1000})
    assert second.metrics.registry.get_sample_value("streammask_audit_chain_sequence", labels) is None
    second.proxy.prepare()
    assert second.metrics.registry.get_sample_value("streammask_audit_chain_sequence", labels) == 2
    second.write(*(change(i) for i in range(4, 6)))
    second.proxy.run(second.stop)
    assert second.metrics.registry.get_sample_value("streammask_audit_chain_sequence", labels) == 3

    headless = Rig(source=first.source, same_cluster=False)  # checkpoints on a fresh target: no chain head
    headless.proxy.prepare()
    assert headless.metrics.registry.get_sample_value("streammask_audit_chain_sequence", labels) == 0


def test_transaction_results_are_served_at_zero_before_any_transaction() -> None:
    """An alert on ``increase(streammask_transactions_total{result="aborted"}[...])`` needs the series before
    the first abort: Prometheus does not count a series' first sample as an increase."""
    rig = Rig()
    for result in ("committed", "aborted"):
        assert rig.metrics.registry.get_sample_value("streammask_transactions_total", {"result": result}) == 0


# -- tombstones -----------------------------------------------------------------------------------------


def test_tombstone_keeps_a_key_masked_like_the_delete_events_key() -> None:
    rig = Rig()
    k, delete = change(7, "d")
    rig.write((k, delete), (k, None))
    rig.run()
    masked_delete, tombstone = rig.output()
    assert tombstone.value() is None
    assert tombstone.key() == masked_delete.key()
    masked_id = payload(tombstone.key())["id"]
    assert masked_id != 1007
    assert payload(masked_delete.value())["before"]["id"] == masked_id


# -- aborts -----------------------------------------------------------------------------------------------


def test_abortable_commit_error_rereads_and_recommits_the_batch_byte_identically() -> None:
    rig = Rig(max_per_consume=3, batch={"max_records": 3, "max_ms": 1000})
    rig.write(*(change(i) for i in range(6)))
    rig.producer.fail("commit_transaction", ABORTABLE, after=1)
    rig.run()

    out = rig.output()
    assert source_offsets(out) == list(range(6))
    aborted = [e.message for e in rig.target.all_entries() if e.state == "aborted" and e.message.topic() == OUT]
    assert source_offsets(aborted) == [3, 4, 5]
    for a, c in zip(aborted, out[3:], strict=True):
        assert (a.key(), a.value(), a.headers()) == (c.key(), c.value(), c.headers())
    j = rig.journal
    assert j.index("abort_transaction") < j.index(f"seek {TOPIC}/0@3")
    assert rig.source.group_offsets[(GROUP, TOPIC, 0)] == 6
    # committed work is counted once
    assert rig.metric("streammask_records_in_total", topic=TOPIC) == 6
    assert rig.metric("streammask_records_out_total", topic=TOPIC) == 6
    assert rig.metric("streammask_values_masked_total", table="public.customers", strategy="replace") == 12
    assert rig.metric("streammask_transactions_total", result="committed") == 2
    assert rig.metric("streammask_transactions_total", result="aborted") == 1
    audit = rig.audit()
    assert [r["records"]["in"] for r in audit] == [3, 3]
    assert [r["sequence"] for r in audit] == [1, 2] and verify_chain(audit) == []


def test_abort_in_the_middle_of_a_fetched_list_produces_each_record_once() -> None:
    rig = Rig(batch={"max_records": 2, "max_ms": 1000})  # one fetch returns all six records
    rig.write(*(change(i) for i in range(6)))
    rig.producer.fail("commit_transaction", ABORTABLE, after=1)  # records 2, 3; then 4, 5 are still in the list
    rig.run()
    assert source_offsets(rig.output()) == list(range(6))
    committed = [offset for _, offset in rig.source.offset_history]
    assert committed == sorted(committed), "committed offsets moved backwards"


def test_abort_rereads_fetched_records_of_other_partitions_that_were_not_processed() -> None:
    rig = Rig(partitions=2, batch={"max_records": 2, "max_ms": 1000})
    rig.write(*(change(i) for i in range(2)), partition=0)  # one fetch: p0's two records, then p1's three
    rig.write(*(change(i) for i in range(2, 5)), partition=1)
    rig.producer.fail("commit_transaction", ABORTABLE)  # the first transaction (p0 0, 1) aborts
    rig.run()
    headers = [dict(m.headers() or []) for m in rig.output()]
    got = sorted((int(h["streammask.source.partition"]), int(h["streammask.source.offset"])) for h in headers)
    assert got == [(0, 0), (0, 1), (1, 0), (1, 1), (1, 2)], "each record once, none lost"


def test_abort_of_the_very_first_batch_rereads_it() -> None:
    rig = Rig(batch={"max_records": 3, "max_ms": 1000})
    rig.write(*(change(i) for i in range(3)))
    rig.producer.fail("commit_transaction", ABORTABLE)
    rig.run()
    assert source_offsets(rig.output()) == [0, 1, 2]


def test_abort_after_a_reassignment_rewinds_to_the_groups_position_not_a_stale_one() -> None:
    rig = Rig(max_per_consume=2, batch={"max_records": 2, "max_ms": 1000})
    rig.write(*(change(i) for i in range(5)))

    def moved_elsewhere_and_back() -> None:
        rig.consumer.revoke()  # nothing open: records 0, 1 were committed
        rig.source.group_offsets[(GROUP, TOPIC, 0)] = 4  # another member committed 2, 3 meanwhile
        rig.producer.fail("commit_transaction", ABORTABLE)

    def time_passes() -> None:
        rig.clock.now += 5  # the one-record batch (offset 4) becomes due, and its commit aborts

    rig.consumer.then(lambda: None, moved_elsewhere_and_back, time_passes)
    rig.run()
    assert source_offsets(rig.output()) == [0, 1, 4]


def test_consecutive_aborts_end_with_transactions_failing() -> None:
    rig = Rig(max_per_consume=3, batch={"max_records": 3, "max_ms": 1000})
    rig.write(*(change(i) for i in range(6)))
    rig.producer.fail("commit_transaction", ABORTABLE, times=MAX_CONSECUTIVE_ABORTS, after=1)
    with pytest.raises(TransactionsFailing, match=f"{MAX_CONSECUTIVE_ABORTS} transactions in a row"):
        rig.run()
    assert source_offsets(rig.output()) == [0, 1, 2]
    assert rig.source.group_offsets == {(GROUP, TOPIC, 0): 3}
    assert rig.metric("streammask_transactions_total", result="aborted") == MAX_CONSECUTIVE_ABORTS
    assert rig.metric("streammask_records_in_total", topic=TOPIC) == 3
    assert rig.consumer.closed


def test_fatal_commit_error_propagates_and_nothing_is_committed(caplog: pytest.LogCaptureFixture) -> None:
    rig = Rig(batch={"max_records": 2, "max_ms": 1000})
    rig.write(*(change(i) for i in range(2)))
    rig.producer.fail("commit_transaction", FATAL)
    with pytest.raises(KafkaException) as info:
        rig.run()
    assert info.value.args[0].fatal()
    assert rig.output() == [] and rig.audit() == []
    assert rig.source.group_offsets == {}
    assert rig.consumer.closed
    assert "commit_transaction" not in rig.journal


def test_retriable_commit_error_is_retried() -> None:
    rig = Rig(batch={"max_records": 2, "max_ms": 1000})
    rig.write(*(change(i) for i in range(2)))
    rig.producer.fail("commit_transaction", RETRIABLE, times=2)
    rig.run()
    assert source_offsets(rig.output()) == [0, 1]
    assert rig.clock.slept == [0.5, 1.0]  # backoff on the injected clock
    assert rig.metric("streammask_transactions_total", result="committed") == 1
    assert rig.metric("streammask_transactions_total", result="aborted") == 0


# -- blocked records --------------------------------------------------------------------------------------


def batch_with_unclassified_column() -> list[tuple[bytes | None, bytes | None]]:
    return [change(0), change(1), change(2, "u", ssn=PLANTED_SSN), change(3)]


def test_on_blocked_stop_aborts_and_names_the_record_without_its_value(caplog: pytest.LogCaptureFixture) -> None:
    rig = Rig(on_blocked="stop")
    rig.write(*batch_with_unclassified_column())
    caplog.set_level(logging.DEBUG)
    with pytest.raises(BlockedRecordStop) as info:
        rig.run()
    text = str(info.value)
    assert f"{TOPIC}/0/2" in text and "ssn" in text and "public.customers" in text
    assert PLANTED_SSN not in text
    for rec in caplog.records:
        assert PLANTED_SSN not in rec.getMessage() and PLANTED_SSN not in repr(rec.__dict__)
    assert any(getattr(r, "fields", {}).get("offset") == 2 for r in caplog.records)
    assert rig.output() == [] and rig.audit() == []
    assert source_offsets([e.message for e in rig.target.all_entries() if e.state == "aborted"
                           and e.message.topic() == OUT]) == [0, 1]
    assert rig.source.group_offsets == {}
    assert rig.metric("streammask_records_blocked_total", topic=TOPIC, code="unclassified-column") == 1
    assert PLANTED_SSN.encode() not in rig.target_bytes()


def test_on_blocked_skip_leaves_the_record_out_counts_and_audits_it(caplog: pytest.LogCaptureFixture) -> None:
    rig = Rig(on_blocked="skip")
    rig.write(*batch_with_unclassified_column())
    caplog.set_level(logging.DEBUG)
    rig.run()
    assert source_offsets(rig.output()) == [0, 1, 3]
    assert rig.source.group_offsets == {(GROUP, TOPIC, 0): 4}
    assert rig.metric("streammask_records_blocked_total", topic=TOPIC, code="unclassified-column") == 1
    assert rig.metric("streammask_records_in_total", topic=TOPIC) == 4
    assert rig.metric("streammask_records_out_total", topic=TOPIC) == 3
    [record] = rig.audit()
    jsonschema.validate(record, AUDIT_RECORD_SCHEMA)
    assert record["records"] == {"in": 4, "out": 3, "blocked": 1}
    assert record["blocked_by_code"] == {"unclassified-column": 1}
    [blocked] = record["blocked"]
    assert (blocked["topic"], blocked["partition"], blocked["offset"], blocked["table"], blocked["column"]) == (
        TOPIC, 0, 2, "public.customers", "ssn")
    assert PLANTED_SSN.encode() not in rig.target_bytes()
    assert not [r for r in caplog.records if PLANTED_SSN in r.getMessage() + repr(r.__dict__)]


def test_a_leak_guard_hit_is_skipped_counted_and_audited_without_its_value() -> None:
    """A passthrough column copying a masked email: the guard blocks the record; the proxy counts it under
    code leak-guard, lists it in the audit record, and nothing of it reaches the target."""
    setup = setup_for(POLICY.replace(b"  public.customers:\n", b"  public.customers:\n    passthrough: [contact]\n"))
    rig = Rig(on_blocked="skip", setup=setup)
    leaked = row(1)["email"]
    rig.write(change(0), change(1, contact=f"reach me at {leaked}"), change(2))
    rig.run()
    assert source_offsets(rig.output()) == [0, 2]
    assert rig.metric("streammask_records_blocked_total", topic=TOPIC, code="leak-guard") == 1
    [record] = rig.audit()
    jsonschema.validate(record, AUDIT_RECORD_SCHEMA)
    assert record["leak_guard"] == {"enabled": True, "min_length": 6}
    [blocked] = record["blocked"]
    assert (blocked["offset"], blocked["code"], blocked["column"]) == (1, "leak-guard", "email")
    assert "after.contact" in blocked["reason"] and leaked not in blocked["reason"]
    assert leaked.encode() not in rig.target_bytes()


def test_quarantine_gets_the_raw_record_on_the_source_cluster_only() -> None:
    rig = Rig(same_cluster=False, on_blocked="skip", quarantine_topic="streammask.quarantine")
    records = batch_with_unclassified_column()
    rig.write(*records)
    rig.run()
    [quarantined] = rig.source.committed_view("streammask.quarantine")
    assert (quarantined.key(), quarantined.value()) == records[2]
    assert ("streammask.blocked", b"unclassified-column") in (quarantined.headers() or [])
    assert "streammask.quarantine" not in rig.target.logs
    assert PLANTED_SSN.encode() not in rig.target_bytes()
    assert source_offsets(rig.output()) == [0, 1, 3]


def test_failed_quarantine_write_does_not_commit_past_the_blocked_record() -> None:
    rig = Rig(same_cluster=False, on_blocked="skip", quarantine_topic="streammask.quarantine")
    rig.write(*batch_with_unclassified_column())
    assert rig.quarantine is not None
    rig.quarantine.delivery_error = KafkaError(KafkaError._MSG_TIMED_OUT, "injected: quarantine down")
    with contextlib.suppress(StreamMaskError, KafkaException):  # stopping is one acceptable answer
        rig.run()
    resume_at = max((orjson.loads(m.value() or b"")["next_offset"]
                     for m in rig.target.committed_view("streammask.checkpoints")
                     if (m.key() or b"").startswith(b"offsets/")), default=0)
    quarantined = rig.source.committed_view("streammask.quarantine")
    assert resume_at <= 2 or len(quarantined) == 1, "committed past the blocked record, which is nowhere"


def test_blocked_counter_counts_committed_work_once() -> None:
    rig = Rig(on_blocked="skip", max_per_consume=4, batch={"max_records": 4, "max_ms": 1000})
    rig.write(*(change(i) for i in range(4)))  # first transaction: offsets 0..3, commits
    rig.write(change(4), change(5, "u", ssn=PLANTED_SSN), change(6), change(7))  # second: aborts once
    rig.producer.fail("commit_transaction", ABORTABLE, after=1)
    rig.run()
    assert source_offsets(rig.output()) == [0, 1, 2, 3, 4, 6, 7]
    assert rig.metric("streammask_records_in_total", topic=TOPIC) == 8
    assert rig.metric("streammask_records_blocked_total", topic=TOPIC, code="unclassified-column") == 1


# -- two clusters: checkpoints ----------------------------------------------------------------------------


def test_cross_cluster_resumes_from_the_checkpoint_and_writes_checkpoints_in_the_transaction() -> None:
    rig = Rig(same_cluster=False, max_per_consume=2, batch={"max_records": 2, "max_ms": 1000})
    rig.write(*(change(i) for i in range(6)))
    rig.target.write("streammask.checkpoints", checkpoint.offsets_key(GROUP, TOPIC, 0),
                     checkpoint.encode_offset(TOPIC, 0, 2, "i0"))
    rig.producer.fail("commit_transaction", ABORTABLE, after=1)
    rig.run()

    assert source_offsets(rig.output()) == [2, 3, 4, 5]
    ckpt_key = checkpoint.offsets_key(GROUP, TOPIC, 0)

    def offsets_written(state: str) -> list[int]:
        return [orjson.loads(e.message.value() or b"")["next_offset"] for e in rig.target.all_entries()
                if e.state == state and e.message.topic() == "streammask.checkpoints" and e.message.key() == ckpt_key]

    assert offsets_written("committed") == [2, 4, 6]  # the seeded one, then one per committed transaction
    assert offsets_written("aborted") == [6]  # went down with the aborted output
    assert "send_offsets_to_transaction" not in rig.journal
    j = rig.journal
    assert j.index("commit_transaction") < j.index("consumer.commit")
    assert rig.source.group_offsets == {(GROUP, TOPIC, 0): 6}  # for lag tools, after the transaction
    assert verify_chain(rig.audit()) == []


# -- rebalances ---------------------------------------------------------------------------------------------


def test_revoke_commits_the_open_transaction_before_unassigning() -> None:
    rig = Rig()
    rig.write(*(change(i) for i in range(3)))
    rig.consumer.then(lambda: None, rig.consumer.revoke)
    rig.run()
    j = rig.journal
    first_unassign = j.index("unassign")
    assert "commit_transaction" in j[:first_unassign]
    assert source_offsets(rig.output()) == [0, 1, 2]
    assert rig.source.group_offsets == {(GROUP, TOPIC, 0): 3}
    assert rig.metric("streammask_transactions_total", result="committed") == 1


def test_lost_partitions_abort_the_open_transaction_and_are_reread_after_reassignment() -> None:
    rig = Rig()
    rig.write(*(change(i) for i in range(3)))
    offsets_at_loss: dict[Any, int] = {}

    def lose() -> None:
        rig.consumer.lose()
        offsets_at_loss.update(rig.source.group_offsets)

    rig.consumer.then(lambda: None, lose)
    rig.run()
    j = rig.journal
    first_unassign = j.index("unassign")
    assert "abort_transaction" in j[:first_unassign] and "commit_transaction" not in j[:first_unassign]
    assert offsets_at_loss == {}
    assert source_offsets(rig.output()) == [0, 1, 2]  # re-read once the partitions came back
    assert rig.metric("streammask_transactions_total", result="aborted") == 1


def test_assignment_sets_readiness_and_the_partition_gauge() -> None:
    rig = Rig()
    seen: list[tuple[bool, float]] = []
    rig.consumer.then(lambda: None, lambda: seen.append((rig.health.ready, rig.metric(
        "streammask_assigned_partitions"))))
    rig.run()
    assert seen == [(True, 1.0)]
    assert rig.health.ready is False  # after the run ends


def test_readiness_ends_with_the_partitions_a_revoke_or_loss_takes() -> None:
    """/readyz means partitions are assigned: after a revoke or a loss, not ready until they come back."""
    rig = Rig()
    rig.write(change(0))
    seen: list[tuple[bool, str | None]] = []

    def look() -> None:
        seen.append((rig.health.ready, rig.health.not_ready()))

    def revoke_then_look() -> None:  # (the fake re-assigns in the same fetch, after its hook)
        rig.consumer.revoke()
        look()

    rig.consumer.then(lambda: None, look, revoke_then_look)  # the first fetch assigns
    rig.run()
    assert seen[0] == (True, None)
    assert seen[1] == (False, "no partitions assigned")
    rig2 = Rig()
    rig2.write(change(0))
    seen2: list[bool] = []
    def lose_then_look() -> None:
        rig2.consumer.lose()
        seen2.append(rig2.health.ready)

    rig2.consumer.then(lambda: None, lambda: seen2.append(rig2.health.ready), lose_then_look)
    rig2.run()
    assert seen2 == [True, False]


# -- delivery modes, shutdown, routing ---------------------------------------------------------------------


def test_at_least_once_flushes_before_committing_offsets() -> None:
    rig = Rig(delivery="at-least-once", batch={"max_records": 3, "max_ms": 1000})
    rig.write(*(change(i) for i in range(3)))
    rig.run()
    j = rig.journal
    assert "begin_transaction" not in j
    assert j.index("flush") < j.index("consumer.commit")
    assert source_offsets(rig.output()) == [0, 1, 2]
    assert rig.source.group_offsets == {(GROUP, TOPIC, 0): 3}
    assert verify_chain(rig.audit()) == []


def test_at_least_once_audits_only_records_already_delivered() -> None:
    """No transaction ties the audit record to its records: they are flushed before it is produced, and
    one that was not delivered means no audit record at all (a crash between the two would otherwise
    leave an audit of records never written)."""
    rig = Rig(delivery="at-least-once", batch={"max_records": 3, "max_ms": 1000})
    rig.write(*(change(i) for i in range(3)))
    rig.run()
    j = rig.journal
    last_record = max(i for i, e in enumerate(j) if e == f"produce {OUT}")
    audit_produced = j.index(f"produce {rig.config.audit_topic}")
    assert last_record < j.index("flush", last_record) < audit_produced

    failing = Rig(delivery="at-least-once", batch={"max_records": 3, "max_ms": 1000})
    failing.write(*(change(i) for i in range(3)))
    failing.producer.delivery_error = KafkaError(KafkaError._MSG_TIMED_OUT, "injected: not delivered")
    with pytest.raises(StreamMaskError, match="offsets not committed"):
        failing.run()
    assert f"produce {failing.config.audit_topic}" not in failing.journal


def test_at_least_once_delivery_error_leaves_offsets_uncommitted() -> None:
    rig = Rig(delivery="at-least-once", batch={"max_records": 3, "max_ms": 1000})
    rig.write(*(change(i) for i in range(3)))
    rig.producer.delivery_error = KafkaError(KafkaError._MSG_TIMED_OUT, "injected: not delivered")
    with pytest.raises(StreamMaskError, match="offsets not committed"):
        rig.run()
    assert rig.source.group_offsets == {}
    assert rig.output() == []


def test_stop_commits_the_open_transaction_and_closes_the_consumer() -> None:
    rig = Rig(batch={"max_records": 1000, "max_ms": 60_000})
    rig.consumer.on_idle = None
    rig.write(*(change(i) for i in range(3)))
    rig.consumer.then(lambda: None, rig.stop.set)
    rig.run()
    j = rig.journal
    assert j.index("commit_transaction") < j.index("close")
    assert rig.consumer.closed
    assert source_offsets(rig.output()) == [0, 1, 2]
    assert rig.source.group_offsets == {(GROUP, TOPIC, 0): 3}


def test_batch_commits_when_max_ms_passes_on_the_injected_clock() -> None:
    rig = Rig(batch={"max_records": 1000, "max_ms": 500})
    rig.consumer.on_idle = None
    rig.write(change(0))
    sizes: list[int] = []

    def tick(seconds: float) -> Callable[[], None]:
        def step() -> None:
            sizes.append(len(rig.output()))
            rig.clock.now += seconds
        return step

    rig.consumer.then(lambda: None, tick(0.4), tick(0.2), rig.stop.set)
    rig.run()
    assert sizes == [0, 0]  # not due at 0.4 s; the commit came after the 0.6 s mark
    assert rig.journal.count("commit_transaction") == 1
    assert rig.metric("streammask_batch_seconds_sum") == pytest.approx(0.6)


def test_partitioning_source_keeps_the_partition_number() -> None:
    rig = Rig(partitioning="source")
    rig.source.logs.pop(TOPIC)
    rig.source.create_topic(TOPIC, 3)
    rig.target.create_topic(OUT, 3)
    for p in range(3):
        rig.write(change(p), partition=p)
    rig.run()
    out = rig.output()
    assert sorted((m.partition(), dict(m.headers() or [])["streammask.source.partition"]) for m in out) == [
        (0, b"0"), (1, b"1"), (2, b"2")]


def test_consumer_errors_non_fatal_are_skipped_fatal_ones_raise() -> None:
    rig = Rig()
    rig.write(change(0))
    eof = KafkaError(KafkaError._PARTITION_EOF, "end of partition")
    transient = KafkaError(KafkaError._TRANSPORT, "injected: broker down", retriable=True)
    rig.consumer.injected = [FakeMessage.of_error(eof), FakeMessage.of_error(transient)]
    rig.run()
    assert source_offsets(rig.output()) == [0]

    rig = Rig()
    rig.write(change(0))
    rig.consumer.then(lambda: None, lambda: rig.consumer.injected.append(
        FakeMessage.of_error(KafkaError(KafkaError._FATAL, "injected: fatal", fatal=True))))
    with pytest.raises(KafkaException):
        rig.run()
    assert rig.output() == [] and rig.consumer.closed


def test_unrouted_topic_fails_at_prepare() -> None:
    rig = Rig(routing=[{"match": "nothing", "to": "x"}])
    with pytest.raises(UnroutedTopic, match=TOPIC):
        rig.proxy.prepare()


def test_consumer_lag_is_the_partition_end_minus_the_position_this_instance_committed() -> None:
    rig = Rig(max_per_consume=3, batch={"max_records": 3, "max_ms": 1000})
    rig.write(*(change(i) for i in range(3)))

    def stats(ls_offset: int) -> str:  # librdkafka's statistics: the group's own commits never show there
        partition = {"ls_offset": ls_offset, "hi_offset": ls_offset + 2, "committed_offset": -1001, "consumer_lag": -1}
        return orjson.dumps({"topics": {TOPIC: {"partitions": {"0": partition, "-1": {}}}}}).decode()

    seen: list[float] = []
    rig.consumer.then(
        lambda: None,  # first fetch: records 0..2, committed (next offset 3)
        lambda: rig.proxy._on_stats(stats(10)),
        lambda: seen.append(rig.metric("streammask_consumer_lag", topic=TOPIC, partition="0")),
    )
    rig.run()
    assert seen == [7.0]  # 10 - 3: the last stable offset, not the high watermark
    # revoked on close: the gauge forgets the partition
    assert rig.metrics.registry.get_sample_value("streammask_consumer_lag", {"topic": TOPIC, "partition": "0"}) is None
