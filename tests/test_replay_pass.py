"""The replay building blocks together at processor level (tests/replay_rig.py): ranges on the in-memory
cluster, the real masker, digests, counts, the manifest, and a verify's comparison. Timestamps and
tombstones are tested here because the test broker cannot carry them (its offsets_for_times answers 0, and
it never delivers a null value). Expected digests are computed here from the masked records."""

from __future__ import annotations

import hashlib

from fake_kafka import FakeCluster
from replay_rig import (
    OTHER,
    TARGET,
    TARGET_PARTITIONS,
    TOPIC,
    change,
    config,
    customer_key,
    replay_pass,
    row,
    setup_for,
    verify_pass,
)

from streammask.keys import MasterKey
from streammask.outcome import EventKind
from streammask.pipeline import SOURCE_HEADERS
from streammask.replay.digest import encode_record, target_partition
from streammask.replay.manifest import compare
from streammask.replay.spec import Timestamp

T0 = 1_717_412_400_000


def cluster_with_tombstone() -> FakeCluster:
    """customers, 2 partitions. Partition 0: creates of 0..3, the delete of 1 and its tombstone; partition 1:
    creates of 10..12. Every record one second after the one before it in its partition."""
    cluster = FakeCluster("source")
    cluster.create_topic(TOPIC, 2)
    p0 = [change(i) for i in range(4)] + [change(1, "d"), (customer_key(1), None)]
    for n, (key, value) in enumerate(p0):
        cluster.write(TOPIC, key, value, partition=0, timestamp=T0 + 1000 * n)
    for n, i in enumerate(range(10, 13)):
        key, value = change(i)
        cluster.write(TOPIC, key, value, partition=1, timestamp=T0 + 1000 * n)
    return cluster


def test_a_tombstone_in_range_is_digested_as_null_and_counted() -> None:
    cluster = cluster_with_tombstone()
    manifest, masked = replay_pass(cluster, config(), setup_for())
    tombstones = [(where, m) for where, m in masked if m.kind is EventKind.TOMBSTONE]
    assert [(w.partition, w.offset) for w, _ in tombstones] == [(0, 5)]
    [(where, tombstone)] = tombstones
    assert tombstone.value is None and tombstone.key is not None
    assert manifest.counts.events == {"change": 8, "tombstone": 1}
    assert manifest.counts.tables == {"public.customers": {"c": 7, "d": 1, "tombstone": 1}}
    assert (manifest.counts.records_in, manifest.counts.records_out, manifest.counts.blocked) == (9, 9, 0)
    assert [(r.topic, r.partition, r.start, r.end, r.records) for r in manifest.source.partitions] == [
        (TOPIC, 0, 0, 6, 6), (TOPIC, 1, 0, 3, 3)
    ]

    # Every chain's digest, worked out here: the masked records per (target partition, source partition),
    # each with its coordinate headers, in offset order; the tombstone's value encoded as null.
    chains: dict[tuple[int, int], list[bytes]] = {}
    for w, m in masked:
        headers = [*m.headers, (SOURCE_HEADERS[0], w.topic.encode()), (SOURCE_HEADERS[1], str(w.partition).encode()),
                   (SOURCE_HEADERS[2], str(w.offset).encode())]
        out = target_partition("key", w.partition, m.key, TARGET_PARTITIONS[TARGET])
        chains.setdefault((out, w.partition), []).append(encode_record(m.key, m.value, headers))
    got = {(c.target_partition, c.source_partition): (c.records, c.sha256) for c in manifest.digests.chains}
    assert got == {tp: (len(e), hashlib.sha256(b"".join(e)).hexdigest()) for tp, e in chains.items()}
    tombstone_chain = chains[(target_partition("key", 0, tombstone.key, 3), 0)]
    key_field = b"\x01" + len(tombstone.key).to_bytes(4, "big") + tombstone.key
    assert tombstone_chain[-1].startswith(key_field + b"\x00")  # its value: null (0x00), not empty (0x01 0…0)
    # the tombstone lands with the delete it follows (same masked key, same partition)
    assert tombstone.key == next(m.key for w, m in masked if w.offset == 4 and w.partition == 0)


def test_timestamps_select_the_records_of_a_time_range() -> None:
    cluster = cluster_with_tombstone()
    # [T0 + 2 s, T0 + 5 s): partition 0 offsets 2..4, partition 1 offset 2
    manifest, masked = replay_pass(cluster, config(), setup_for(), Timestamp(T0 + 2000), Timestamp(T0 + 5000))
    assert [(w.partition, w.offset) for w, _ in masked] == [(0, 2), (0, 3), (0, 4), (1, 2)]
    assert manifest.source.from_spec == "2024-06-03T11:00:02.000Z"
    assert [(r.partition, r.start, r.end) for r in manifest.source.partitions] == [(0, 2, 5), (1, 2, 3)]
    # the tombstone, at T0 + 5 s, is the first record after the range: by timestamp it is the next one's start
    manifest, masked = replay_pass(cluster, config(), setup_for(), Timestamp(T0 + 5000))
    assert [(w.partition, w.offset, m.kind) for w, m in masked] == [(0, 5, EventKind.TOMBSTONE)]
    assert manifest.counts.events == {"tombstone": 1}


def test_verify_of_the_same_ranges_finds_no_difference_though_the_source_moved_on() -> None:
    cluster = cluster_with_tombstone()
    expected, _ = replay_pass(cluster, config(), setup_for())
    for i in range(20, 23):  # written after the replay: not in its ranges, nor in the verify's
        key, value = change(i)
        cluster.write(TOPIC, key, value, partition=1)
    actual = verify_pass(cluster, config(), setup_for(), expected)
    assert compare(expected, actual) is None
    assert actual.digests == expected.digests and actual.counts == expected.counts


def test_verify_names_the_first_differing_block() -> None:
    """Another key under the same key id masks every record otherwise (and sends them to other partitions):
    the manifest's key fingerprint says so first; without it (a manifest from before fingerprints) the
    difference is in the first chain, names source coordinates, and never a value."""
    cluster = cluster_with_tombstone()
    expected, masked = replay_pass(cluster, config(), setup_for())
    other = setup_for(MasterKey(bytes(range(100, 132)), "k1"))
    actual = verify_pass(cluster, config(), other, expected)
    diff = compare(expected, actual)
    assert diff is not None and diff.what == "key"
    assert str(diff) == (f"key: key fingerprint differs: {other.key.fingerprint}, expected "
                         f"{setup_for().key.fingerprint} (the same key id k1, other key material)")
    expected = expected.model_copy(update={"key_fingerprint": None})
    diff = compare(expected, actual)
    assert diff is not None and diff.what == "output"
    first = min((c.target_topic, c.target_partition, c.source_topic, c.source_partition)
                for c in [*expected.digests.chains, *actual.digests.chains])
    assert diff.target == first[:2]
    assert diff.at is not None and diff.until is not None
    assert (diff.at.topic, diff.at.partition) == (diff.until.topic, diff.until.partition) == first[2:]
    assert diff.at.offset <= diff.until.offset
    first_blocks = [c.blocks[0] for c in [*expected.digests.chains, *actual.digests.chains]
                    if (c.target_topic, c.target_partition, c.source_topic, c.source_partition) == first]
    assert diff.at.offset == min(b.first_offset for b in first_blocks)
    assert diff.at.offset in {w.offset for w, _ in masked if w.partition == first[3]}
    assert str(diff).startswith(f"output at {diff.at}: source {TOPIC}/{first[3]} offsets ")
    for secret in ("Quirinus", "Zabriskie", "noanswer"):
        assert secret not in str(diff)


def test_verify_narrows_a_difference_to_its_block() -> None:
    """One output record that differs (simulated by rewriting a source record in place) is narrowed to the
    block that holds it: the blocks before it still match."""
    cluster = cluster_with_tombstone()
    expected, _ = replay_pass(cluster, config(partitioning="source"), setup_for(), block_size=2)
    # partition 0 holds offsets 0..5 in blocks [0, 1] [2, 3] [4, 5]; change offset 3's record
    entry = cluster.logs[TOPIC][0][3]
    key, value = change(50)
    entry.message._value = value  # the record is not what was replayed any more
    diff = compare(expected, verify_pass(cluster, config(partitioning="source"), setup_for(), expected))
    assert diff is not None and diff.target == ("staging.public.customers", 0)
    assert (str(diff.at), str(diff.until)) == (f"{TOPIC}/0/2", f"{TOPIC}/0/3")


def test_a_blocked_record_is_listed_with_its_coordinates_and_reason_never_its_value() -> None:
    cluster = cluster_with_tombstone()
    cluster.create_topic(OTHER, 1)
    secret = row(99)
    key, value = change(99)
    cluster.write(OTHER, key, value.replace(b"customers", b"orders"))  # a table the policy does not have
    cfg = config(topics=[TOPIC, OTHER])
    manifest, _ = replay_pass(cluster, cfg, setup_for())
    [blocked] = manifest.blocked
    assert (blocked.topic, blocked.partition, blocked.offset, blocked.code) == (OTHER, 0, 0, "unknown-table")
    assert manifest.counts.blocked == 1 and manifest.counts.records_in == 10
    text = manifest.to_json()
    for raw in (secret["first_name"], secret["last_name"], secret["email"]):
        assert raw.encode() not in text
    assert compare(manifest, verify_pass(cluster, cfg, setup_for(), manifest)) is None
