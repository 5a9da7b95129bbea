"""``streammask.partitioner`` against Kafka's and librdkafka's own test vectors, and end to end against
librdkafka's ``murmur2`` partitioner on the test broker (the partition each delivery report names)."""

from __future__ import annotations

from typing import Any

import pytest
from confluent_kafka import Producer

from streammask.partitioner import murmur2, partition_for_key, to_positive
from tests.broker import create_topic, unique_topic

# apache/kafka clients/src/test/java/org/apache/kafka/common/utils/UtilsTest.java, testMurmur2 (read at
# commit 1eb7644349cb07139d6a3c1ad1986979647cac99).
KAFKA_VECTORS = {
    b"21": -973932308,
    b"foobar": -790332482,
    b"a-little-bit-long-string": -985981536,
    b"a-little-bit-longer-string": -1486304829,
    b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
    b"abc": 479470107,
}

# confluentinc/librdkafka src/rdmurmur2.c, unittest_murmur2 (its "java_murmur2_results", as uint32).
_UNALIGNED = b"PreAmbleWillBeRemoved,ThePrePartThatIs"
LIBRDKAFKA_VECTORS = {
    b"kafka": 0xD067CF64,
    b"giberish123456789": 0x8F552B0C,
    b"1234": 0x9FC97B14,
    b"234": 0xE7C009CA,
    b"34": 0x873930DA,
    b"4": 0x5A4B5CA1,
    _UNALIGNED: 0x78424F1C,
    _UNALIGNED[1:]: 0x4A62B377,
    _UNALIGNED[2:]: 0xE0E4E09E,
    _UNALIGNED[3:]: 0x62B8B43F,
    b"": 0x106E08D9,  # librdkafka hashes a NULL key as this too
}


@pytest.mark.parametrize(("data", "expected"), KAFKA_VECTORS.items(), ids=[k.decode() for k in KAFKA_VECTORS])
def test_murmur2_matches_kafka_utils_test(data: bytes, expected: int) -> None:
    assert murmur2(data) == expected


@pytest.mark.parametrize(("data", "expected"), LIBRDKAFKA_VECTORS.items(), ids=[repr(k) for k in LIBRDKAFKA_VECTORS])
def test_murmur2_matches_librdkafka_unittest(data: bytes, expected: int) -> None:
    assert murmur2(data) & 0xFFFFFFFF == expected
    assert -(2**31) <= murmur2(data) < 2**31


def test_to_positive_is_javas_not_abs() -> None:
    assert to_positive(-(2**31)) == 0
    assert to_positive(-1) == 2**31 - 1
    assert to_positive(-790332482) == -790332482 & 0x7FFFFFFF
    assert to_positive(5) == 5


def test_partition_for_key() -> None:
    assert partition_for_key(b"foobar", 50) == to_positive(-790332482) % 50
    assert partition_for_key(None, 7) == partition_for_key(b"", 7) == 0x106E08D9 % 7
    assert all(partition_for_key(b"x", 1) == 0 for _ in range(3))
    with pytest.raises(ValueError, match="at least one partition"):
        partition_for_key(b"x", 0)


def _keys() -> list[bytes | None]:
    """Every tail length, non-ASCII and binary bytes, a JSON key as Debezium writes one, the empty key, and
    null keys spread through the sequence."""
    keys: list[bytes | None] = [f"key-{i}".encode() * (1 + i % 5) for i in range(120)]
    keys += [bytes(range(n)) for n in range(0, 9)] + ["clé-ü-€".encode(), bytes([0xFF] * 7)]
    keys.append(b'{"schema":{"type":"struct","fields":[{"type":"int32","field":"id"}]},"payload":{"id":1004}}')
    for i in range(0, len(keys), 10):
        keys.insert(i, None)
    return keys


@pytest.mark.parametrize("partitions", [7, 12])
def test_matches_librdkafka_murmur2_partitioner_end_to_end(kafka_broker: str, partitions: int) -> None:
    """Each record's partition, as librdkafka's delivery report names it, is ``partition_for_key``'s."""
    topic = unique_topic("murmur2")
    create_topic(kafka_broker, topic, partitions)
    producer = Producer({"bootstrap.servers": kafka_broker, "partitioner": "murmur2", "linger.ms": 5})
    keys = _keys()
    reports: dict[int, int] = {}
    errors: list[str] = []

    def report_for(i: int) -> Any:
        def report(err: Any, msg: Any) -> None:
            if err is not None:
                errors.append(str(err))
            else:
                reports[i] = msg.partition()

        return report

    for i, key in enumerate(keys):
        producer.produce(topic, key=key, value=b"v%d" % i, on_delivery=report_for(i))
    assert producer.flush(30) == 0
    assert not errors, errors[:3]
    expected = {i: partition_for_key(key, partitions) for i, key in enumerate(keys)}
    assert reports == expected
    assert len(set(expected.values())) > partitions // 2  # the keys do spread: not a degenerate check
    assert {reports[i] for i, key in enumerate(keys) if key is None} == {partition_for_key(None, partitions)}
