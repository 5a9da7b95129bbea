"""Replay to topics at processor level (tests/fake_kafka.py): transactions of ``batch.max_records`` with an
audit record each, tombstones (which the test broker cannot carry), the key recorded per target topic, and a
blocked record under ``on_blocked: stop`` leaving nothing visible."""

from __future__ import annotations

import orjson
import pytest
from fake_kafka import FakeCluster, FakeConsumer, FakeProducer
from replay_rig import OTHER, TARGET, TARGET_PARTITIONS, TOPIC, change, config, customer_key, setup_for

from streammask.pipeline import SOURCE_HEADERS
from streammask.proxy import checkpoint
from streammask.proxy.audit_record import GENESIS, verify_chain
from streammask.replay.replayer import ReplayBlocked, replay, resolve
from streammask.replay.topics import TopicWriter


def source(n: int, tombstone_after: int | None = None) -> FakeCluster:
    cluster = FakeCluster("source")
    cluster.create_topic(TOPIC, 1)
    cluster.create_topic(TARGET, TARGET_PARTITIONS[TARGET])
    for i in range(n):
        cluster.write(TOPIC, *change(i))
        if i == tombstone_after:
            cluster.write(TOPIC, *change(i, "d"))
            cluster.write(TOPIC, customer_key(i), None)
    return cluster


def writer_for(cluster: FakeCluster, max_records: int, **overrides: object) -> tuple[TopicWriter, FakeProducer]:
    setup = setup_for()
    producer = FakeProducer(cluster)
    writer = TopicWriter(config(**overrides), producer, "replay-t1", setup.loaded.sha256, setup.key.key_id,
                         max_records=max_records)
    writer.unannounced = {TARGET}
    writer.start()
    return writer, producer


def run_replay(cluster: FakeCluster, writer: TopicWriter, **overrides: object) -> None:
    cfg, setup = config(**overrides), setup_for()
    reader = FakeConsumer(cluster, "not-a-group")
    replay(reader, cfg, setup, resolve(reader, cfg), target_partitions=TARGET_PARTITIONS, sink=writer)
    writer.commit()


def test_records_go_out_in_transactions_of_max_records_each_with_a_chained_audit_record() -> None:
    cluster = source(5, tombstone_after=2)  # 7 records: 5 creates, a delete, its tombstone
    writer, _ = writer_for(cluster, max_records=3)
    run_replay(cluster, writer)
    out = cluster.committed_view(TARGET)
    assert len(out) == 7 and sum(1 for m in out if m.value() is None) == 1  # the tombstone, masked key
    coordinates = sorted(int(dict(m.headers() or [])[SOURCE_HEADERS[2]] or b"-1") for m in out)
    assert coordinates == list(range(7))
    audit = [orjson.loads(m.value() or b"") for m in cluster.committed_view(config().audit_topic)]
    assert [a["records"]["in"] for a in audit] == [3, 3, 1] and writer.transactions == 3
    assert [a["instance"] for a in audit] == ["replay-t1"] * 3
    assert audit[0]["prev_hash"] == GENESIS and verify_chain(audit) == []
    assert [r["records"] for a in audit for r in a["source_ranges"]] == [3, 3, 1]
    assert sum(span[2] for span in writer.written.values()) == 7


def test_the_first_commit_records_the_key_each_target_topic_is_written_under() -> None:
    cluster = source(2)
    writer, _ = writer_for(cluster, max_records=10)
    run_replay(cluster, writer)
    records = [(m.key(), m.value()) for m in cluster.committed_view(config().checkpoint_topic)]
    state = checkpoint.CheckpointState.of(config().group_id, records)
    assert state.targets[TARGET].key_id == setup_for().key.key_id
    assert state.targets[TARGET].instance == "replay-t1"


def test_a_blocked_record_under_stop_aborts_the_open_transaction() -> None:
    cluster = source(4)
    cluster.create_topic(OTHER, 1)
    key, value = change(99)
    cluster.write(OTHER, key, value.replace(b"customers", b"orders"))  # a table the policy does not have
    cfg = config(topics=[TOPIC, OTHER], on_blocked="stop")
    writer, _ = writer_for(cluster, max_records=100, topics=[TOPIC, OTHER], on_blocked="stop")
    reader = FakeConsumer(cluster, "not-a-group")
    with pytest.raises(ReplayBlocked, match=rf"{OTHER}/0/0: .*on_blocked: stop"):
        replay(reader, cfg, setup_for(), resolve(reader, cfg), target_partitions=TARGET_PARTITIONS, sink=writer)
    writer.abort()
    assert cluster.committed_view(TARGET) == []
    assert cluster.committed_view(cfg.audit_topic) == []
