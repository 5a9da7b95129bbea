"""``resolve_ranges`` against the in-memory cluster (tests/fake_kafka.py), whose watermarks come from its
logs and whose ``offsets_for_times`` from its records' timestamps (the test broker answers 0 to the latter,
so timestamps are tested here). Expected ranges are worked out from the records written."""

from __future__ import annotations

from typing import Any

import pytest
from confluent_kafka import Consumer, TopicPartition
from fake_kafka import FakeCluster, FakeConsumer, FakeMessage, FakeProducer

from streammask.proxy.config import ProxyConfig
from streammask.replay.ranges import Range, RangeError, resolve_ranges, source_topics
from streammask.replay.spec import EARLIEST, END, Offsets, Timestamp, parse_spec
from tests.broker import create_topic, unique_topic
from tests.proxy_harness import SourceRecord, produce

T0 = 1_717_412_400_000  # 2024-06-03T11:00:00Z
ORDERS, CUSTOMERS = "dbserver1.public.orders", "dbserver1.public.customers"


def config(**overrides: Any) -> ProxyConfig:
    doc: dict[str, Any] = {
        "source": {"bootstrap.servers": "prod:9092"},
        "topics": [ORDERS, CUSTOMERS],
        "routing": [{"match": r"[^.]+\.(.*)", "to": r"staging.\1"}],
        "policy": "unused.yaml",
    }
    doc.update(overrides)
    return ProxyConfig.model_validate(doc)


def cluster_with_times() -> FakeCluster:
    """orders: 2 partitions of 5 records, one a second from T0 (partition 1 a half second later);
    customers: 1 partition of 3 records at T0, T0 + 10 s, T0 + 20 s."""
    cluster = FakeCluster("source")
    cluster.create_topic(ORDERS, 2)
    cluster.create_topic(CUSTOMERS, 1)
    for i in range(5):
        cluster.write(ORDERS, b"k", b"v", partition=0, timestamp=T0 + 1000 * i)
        cluster.write(ORDERS, b"k", b"v", partition=1, timestamp=T0 + 500 + 1000 * i)
    for i in range(3):
        cluster.write(CUSTOMERS, b"k", b"v", timestamp=T0 + 10_000 * i)
    return cluster


def starts_ends(ranges: dict[tuple[str, int], Range]) -> dict[tuple[str, int], tuple[int, int]]:
    return {tp: (r.start, r.end) for tp, r in ranges.items()}


def test_defaults_are_earliest_to_end() -> None:
    cluster = cluster_with_times()
    ranges = resolve_ranges(FakeConsumer(cluster, "g"), config())
    assert starts_ends(ranges) == {(CUSTOMERS, 0): (0, 3), (ORDERS, 0): (0, 5), (ORDERS, 1): (0, 5)}
    assert list(ranges) == sorted(ranges)
    assert ranges[(ORDERS, 0)] == Range(0, 5, 0, 5)


def test_timestamps_resolve_to_the_first_offset_at_or_after_the_time() -> None:
    cluster = cluster_with_times()
    reader = FakeConsumer(cluster, "g")
    # from T0 + 1 s: orders/0 at offset 1 (exactly T0 + 1 s), orders/1 at offset 1 (T0 + 1.5 s), customers at 1.
    # to T0 + 3.2 s: orders/0 ends before offset 4 (T0 + 4 s), orders/1 before 3 (T0 + 3.5 s), customers at 1.
    ranges = resolve_ranges(reader, config(), Timestamp(T0 + 1000), Timestamp(T0 + 3200))
    assert starts_ends(ranges) == {(CUSTOMERS, 0): (1, 1), (ORDERS, 0): (1, 4), (ORDERS, 1): (1, 3)}
    assert ranges[(CUSTOMERS, 0)].empty


def test_a_time_after_every_record_is_the_end() -> None:
    """offsets_for_times answers -1 when no record is at or after the time: an empty range from it, the
    whole partition to it."""
    reader = FakeConsumer(cluster_with_times(), "g")
    later = Timestamp(T0 + 3_600_000)
    assert set(starts_ends(resolve_ranges(reader, config(), later, END)).values()) == {(5, 5), (3, 3)}
    assert starts_ends(resolve_ranges(reader, config(), EARLIEST, later)) == {
        (CUSTOMERS, 0): (0, 3), (ORDERS, 0): (0, 5), (ORDERS, 1): (0, 5)
    }


def test_a_time_before_every_record_is_the_start() -> None:
    reader = FakeConsumer(cluster_with_times(), "g")
    ranges = resolve_ranges(reader, config(), parse_spec("2024-06-03T10:00:00Z"), parse_spec("2024-06-03T11:00:00Z"))
    assert starts_ends(ranges) == {(CUSTOMERS, 0): (0, 0), (ORDERS, 0): (0, 0), (ORDERS, 1): (0, 0)}


def test_from_a_later_time_than_to_is_refused() -> None:
    with pytest.raises(RangeError, match="--from is a later time than --to"):
        resolve_ranges(FakeConsumer(cluster_with_times(), "g"), config(), Timestamp(T0 + 2), Timestamp(T0 + 1))


def test_end_is_captured_at_start() -> None:
    """Records written after resolution are outside the range: a replay always terminates."""
    cluster = cluster_with_times()
    reader = FakeConsumer(cluster, "g")
    ranges = resolve_ranges(reader, config(topics=[ORDERS]))
    for _ in range(3):
        cluster.write(ORDERS, b"k", b"late", partition=0, timestamp=T0 + 60_000)
    assert ranges[(ORDERS, 0)] == Range(0, 5, 0, 5)
    assert resolve_ranges(reader, config(topics=[ORDERS]))[(ORDERS, 0)].end == 8  # the cluster did move on
    reader.assign([TopicPartition(ORDERS, 0, ranges[(ORDERS, 0)].start)])
    read = [m for m in reader.consume(100, 0) if m.offset() in ranges[(ORDERS, 0)]]
    assert [m.value() for m in read] == [b"v"] * 5


def test_end_stops_at_an_open_transaction() -> None:
    """A read_committed consumer's high watermark is the last stable offset: the first record of an open
    transaction, and what follows it, are not in range, though a committed record comes after them."""
    cluster = cluster_with_times()
    producer = FakeProducer(cluster)
    producer.init_transactions()
    producer.begin_transaction()
    producer.produce(ORDERS, b"open", b"k", partition=0)
    cluster.write(ORDERS, b"k", b"after", partition=0)
    ranges = resolve_ranges(FakeConsumer(cluster, "g"), config(topics=[ORDERS]))
    assert ranges[(ORDERS, 0)] == Range(0, 5, 0, 5)
    producer.commit_transaction()
    assert resolve_ranges(FakeConsumer(cluster, "g"), config(topics=[ORDERS]))[(ORDERS, 0)].end == 7


def test_offset_lists_name_some_partitions_the_others_take_the_default() -> None:
    reader = FakeConsumer(cluster_with_times(), "g")
    ranges = resolve_ranges(reader, config(), parse_spec(f"{ORDERS}:1:2"), parse_spec(f"{ORDERS}:0:3,{CUSTOMERS}:0:1"))
    assert starts_ends(ranges) == {(CUSTOMERS, 0): (0, 1), (ORDERS, 0): (0, 3), (ORDERS, 1): (2, 5)}


def test_positions_are_clamped_to_the_watermarks() -> None:
    cluster = cluster_with_times()
    cluster.delete_before(ORDERS, 0, 2)  # retention: offsets 0 and 1 are gone
    reader = FakeConsumer(cluster, "g")
    ranges = resolve_ranges(reader, config(topics=[ORDERS]), Offsets({(ORDERS, 0): 0, (ORDERS, 1): 9}),
                            Offsets({(ORDERS, 0): 99}))
    assert ranges[(ORDERS, 0)] == Range(2, 5, 2, 5)
    assert ranges[(ORDERS, 1)] == Range(5, 5, 0, 5)  # from past the end: nothing to replay there
    # a time before the first record left is the first record left
    assert resolve_ranges(reader, config(topics=[ORDERS]), Timestamp(T0))[(ORDERS, 0)].start == 2


def test_from_after_to_is_an_error_naming_the_partition() -> None:
    reader = FakeConsumer(cluster_with_times(), "g")
    with pytest.raises(RangeError, match=rf"partition {ORDERS}/1: --from offset 4 is after --to offset 2"):
        resolve_ranges(reader, config(), parse_spec(f"{ORDERS}:1:4"), parse_spec(f"{ORDERS}:1:2"))
    with pytest.raises(RangeError, match=rf"partition {ORDERS}/0: --from resolves to offset 4, after --to's 2"):
        resolve_ranges(reader, config(), parse_spec(f"{ORDERS}:0:4"), Timestamp(T0 + 1500))


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (f"{ORDERS}:2:0", rf"--from names {ORDERS}:2, but {ORDERS} has 2 partition\(s\)"),
        ("other.topic:0:0", "--from names other.topic:0, but other.topic is not a source topic of this config"),
    ],
)
def test_a_list_naming_a_partition_that_does_not_exist_is_an_error(spec: str, message: str) -> None:
    cluster = cluster_with_times()
    cluster.create_topic("other.topic", 1)
    with pytest.raises(RangeError, match=message):
        resolve_ranges(FakeConsumer(cluster, "g"), config(), parse_spec(spec))


def test_a_listed_source_topic_that_does_not_exist_is_an_error() -> None:
    with pytest.raises(RangeError, match="source topic dbserver1.public.gone does not exist"):
        resolve_ranges(FakeConsumer(cluster_with_times(), "g"), config(topics=[ORDERS, "dbserver1.public.gone"]))


def test_a_pattern_selects_matching_topics_but_not_streammasks_own() -> None:
    cluster = cluster_with_times()
    for topic in ("streammask.audit", "streammask.checkpoints", "quarantine", "elsewhere"):
        cluster.create_topic(topic, 1)
    cfg = config(topics=None, topic_pattern=r"dbserver1\..*|streammask\..*|quarantine", on_blocked="skip",
                 quarantine_topic="quarantine")
    assert source_topics(cfg, cluster.logs) == [CUSTOMERS, ORDERS]
    assert {t for t, _ in resolve_ranges(FakeConsumer(cluster, "g"), cfg)} == {CUSTOMERS, ORDERS}


def test_empty_partitions_give_empty_ranges() -> None:
    cluster = FakeCluster("source")
    cluster.create_topic(ORDERS, 3)
    ranges = resolve_ranges(FakeConsumer(cluster, "g"), config(topics=[ORDERS]), Timestamp(T0), Timestamp(T0 + 1))
    assert starts_ends(ranges) == {(ORDERS, p): (0, 0) for p in range(3)}


def test_a_range_holds_offsets_not_records() -> None:
    """An aborted transaction's records keep their offsets: in range, but a read_committed reader skips them."""
    cluster = FakeCluster("source")
    cluster.write(ORDERS, b"k", b"a")
    aborted = cluster.append(ORDERS, 0, FakeMessage(ORDERS, 0, None, b"k", b"x"), "open")
    aborted.state = "aborted"
    cluster.write(ORDERS, b"k", b"b")
    r = resolve_ranges(FakeConsumer(cluster, "g"), config(topics=[ORDERS]))[(ORDERS, 0)]
    assert (r.start, r.end) == (0, 3)
    assert [m.value() for m in cluster.committed_view(ORDERS, 0) if m.offset() in r] == [b"a", b"b"]



def test_resolves_with_a_real_consumer_on_the_test_broker(kafka_broker: str) -> None:
    """The reader protocol is confluent-kafka's Consumer's: metadata and watermarks from a real broker (one
    record per batch: the test broker's end offsets count batches). Its offsets_for_times answers 0, so
    timestamps are tested on the fake above."""
    topic = unique_topic("replay-ranges")
    create_topic(kafka_broker, topic, 2)
    produce(kafka_broker, topic, [SourceRecord(b"k", b"v%d" % i, partition=i % 2) for i in range(5)],
            one_per_batch=True)
    reader = Consumer({"bootstrap.servers": kafka_broker, "group.id": "never-joined", "isolation.level":
                       "read_committed", "enable.auto.commit": False})
    try:
        cfg = config(topics=[topic])
        assert starts_ends(resolve_ranges(reader, cfg, timeout=10)) == {(topic, 0): (0, 3), (topic, 1): (0, 2)}
        ranges = resolve_ranges(reader, cfg, parse_spec(f"{topic}:0:1"), parse_spec(f"{topic}:1:1"), timeout=10)
        assert starts_ends(ranges) == {(topic, 0): (1, 3), (topic, 1): (0, 1)}
        with pytest.raises(RangeError, match=f"--to names {topic}:2, but {topic} has 2 partition"):
            resolve_ranges(reader, cfg, EARLIEST, parse_spec(f"{topic}:2:0"), timeout=10)
    finally:
        reader.close()
