"""Kafka's murmur2 partitioner: which partition a keyed record lands on.

The target producer sets librdkafka's ``partitioner: murmur2`` (``proxy/clients.py``), which is the Java
client's ``Utils.murmur2`` and ``toPositive(hash) % numPartitions``. A replay manifest records the target
partition of every output record; this computes it offline, so a verify need not ask a producer.

A null key: librdkafka's ``murmur2`` partitioner is not sticky (its NULL keys "are mapped to single
partition"); it hashes the NULL key as zero bytes (``rd_murmur2(NULL, 0)`` = ``murmur2(b"")``), so a null
key lands where an empty key does. The Java client's default partitioner would instead pick a partition.
"""

from __future__ import annotations

import struct

_SEED = 0x9747B28C
_M = 0x5BD1E995
_MASK = 0xFFFFFFFF


def murmur2(data: bytes) -> int:
    """Java's ``Utils.murmur2(data)``: a signed 32-bit int, as Java returns it."""
    length = len(data)
    h = (_SEED ^ length) & _MASK
    words = length // 4
    for k in struct.unpack_from(f"<{words}I", data):
        k = (k * _M) & _MASK
        k ^= k >> 24
        k = (k * _M) & _MASK
        h = ((h * _M) & _MASK) ^ k
    tail = length & 3
    if tail:
        rest = data[length - tail:]
        if tail == 3:
            h ^= rest[2] << 16
        if tail >= 2:
            h ^= rest[1] << 8
        h ^= rest[0]
        h = (h * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    h ^= h >> 15
    return h - (1 << 32) if h & 0x80000000 else h


def to_positive(number: int) -> int:
    """Java's ``Utils.toPositive``: the low 31 bits (not ``abs``: ``Integer.MIN_VALUE`` maps to 0)."""
    return number & 0x7FFFFFFF


def partition_for_key(key: bytes | None, partitions: int) -> int:
    """The partition librdkafka's ``murmur2`` partitioner gives ``key`` among ``partitions``."""
    if partitions < 1:
        raise ValueError(f"a topic has at least one partition, not {partitions}")
    if partitions == 1:
        return 0  # no hash needed (murmur2 in Python costs about 10 µs for a 170-byte key)
    return to_positive(murmur2(key or b"")) % partitions
