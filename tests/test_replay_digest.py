"""Replay output digests: the record encoding byte for byte (as documented, so another implementation can
reproduce it), chains per (target partition, source partition), block checkpoints, target partitions."""

from __future__ import annotations

import hashlib

import pytest

from streammask.outcome import Coordinates
from streammask.partitioner import partition_for_key
from streammask.replay.digest import OutputDigests, encode_record, target_partition
from streammask.replay.manifest import Block

SRC = "dbserver1.public.customers"


def test_encoding_byte_for_byte() -> None:
    encoded = encode_record(b"k", None, [("h", b""), ("n", None), ("s", "é")])
    assert encoded == bytes.fromhex(
        "01" "00000001" "6b"                 # key: present, 1 byte, "k"
        "00"                                 # value: null (a tombstone)
        "00000003"                           # 3 headers
        "00000001" "68" "01" "00000000"      # "h": present and empty
        "00000001" "6e" "00"                 # "n": null
        "00000001" "73" "01" "00000002" "c3a9"  # "s": text, as its UTF-8 bytes
    )


def test_null_and_empty_differ_and_no_header_is_zero_headers() -> None:
    assert encode_record(None, None, []) == bytes.fromhex("00" "00" "00000000")
    assert encode_record(b"", b"", []) == bytes.fromhex("01" "00000000" "01" "00000000" "00000000")
    assert len({encode_record(None, b"", []), encode_record(b"", None, []), encode_record(None, None, [])}) == 3


def test_encoding_is_unambiguous_where_concatenation_would_not_be() -> None:
    assert encode_record(b"ab", b"c", []) != encode_record(b"a", b"bc", [])
    assert encode_record(None, None, [("ab", b"c")]) != encode_record(None, None, [("a", b"bc")])
    ab, ba = [("a", b"1"), ("b", b"2")], [("b", b"2"), ("a", b"1")]
    assert encode_record(None, None, ab) != encode_record(None, None, ba)


def test_a_chain_digest_is_sha256_of_the_concatenated_encodings() -> None:
    digests = OutputDigests()
    records = [(b"k1", b"v1", [("x", b"1")]), (b"k2", None, []), (None, b"v3", [("x", None)])]
    for offset, (key, value, headers) in enumerate(records, start=10):
        digests.add("out", 0, Coordinates(SRC, 2, offset), key, value, headers)
    [chain] = digests.digests().chains
    expected = hashlib.sha256(b"".join(encode_record(*r) for r in records)).hexdigest()
    assert (chain.target_topic, chain.target_partition) == ("out", 0)
    assert (chain.source_topic, chain.source_partition) == (SRC, 2)
    assert (chain.records, chain.sha256) == (3, expected)
    assert chain.blocks == [Block(records=3, sha256=expected, first_offset=10, last_offset=12)]


def test_order_matters_within_a_chain() -> None:
    def digest(values: list[bytes]) -> str:
        d = OutputDigests()
        for offset, value in enumerate(values):
            d.add("out", 0, Coordinates(SRC, 0, offset), b"k", value, [])
        return d.digests().chains[0].sha256

    assert digest([b"a", b"b"]) != digest([b"b", b"a"])


def test_interleaving_of_source_partitions_does_not_change_the_digests() -> None:
    """Key partitioning sends several source partitions to one target partition; the order they were
    fetched in is not reproducible, each one's own order is."""
    records = [(p, o, b"v%d-%d" % (p, o)) for p in range(2) for o in range(4)]

    def digests(order: list[tuple[int, int, bytes]]) -> object:
        d = OutputDigests(block_size=3)
        for p, o, value in order:
            d.add("out", 1, Coordinates(SRC, p, o), b"k", value, [])
        return d.digests()

    interleaved = [r for pair in zip(records[:4], records[4:], strict=True) for r in pair]
    assert digests(records) == digests(interleaved)


def test_blocks_checkpoint_the_chain_every_block_size_records() -> None:
    d = OutputDigests(block_size=2)
    encodings = []
    for offset in (0, 1, 5, 6, 9):  # gaps: blocked records, transaction markers
        d.add("out", 0, Coordinates(SRC, 0, offset), None, b"%d" % offset, [])
        encodings.append(encode_record(None, b"%d" % offset, []))
    chain = d.digests().chains[0]

    def prefix(n: int) -> str:
        return hashlib.sha256(b"".join(encodings[:n])).hexdigest()

    assert chain.blocks == [
        Block(records=2, sha256=prefix(2), first_offset=0, last_offset=1),
        Block(records=4, sha256=prefix(4), first_offset=5, last_offset=6),
        Block(records=5, sha256=prefix(5), first_offset=9, last_offset=9),
    ]
    assert chain.sha256 == prefix(5)
    # digests() leaves the accumulation as it was: the partial block goes on filling
    d.add("out", 0, Coordinates(SRC, 0, 10), None, b"10", [])
    encodings.append(encode_record(None, b"10", []))
    assert d.digests().chains[0].blocks[-1] == Block(records=6, sha256=prefix(6), first_offset=9, last_offset=10)


def test_chains_are_sorted_and_separate() -> None:
    d = OutputDigests()
    d.add("out.b", 0, Coordinates(SRC, 0, 0), None, b"x", [])
    d.add("out.a", 1, Coordinates(SRC, 1, 0), None, b"x", [])
    d.add("out.a", 1, Coordinates(SRC, 0, 1), None, b"x", [])
    d.add("out.a", 0, Coordinates(SRC, 0, 2), None, b"x", [])
    keys = [(c.target_topic, c.target_partition, c.source_partition) for c in d.digests().chains]
    assert keys == [("out.a", 0, 0), ("out.a", 1, 0), ("out.a", 1, 1), ("out.b", 0, 0)]


def test_a_chain_takes_each_record_once_in_offset_order() -> None:
    d = OutputDigests()
    d.add("out", 0, Coordinates(SRC, 0, 5), None, b"x", [])
    with pytest.raises(ValueError, match=rf"source {SRC}/0: offset 5 after 5"):
        d.add("out", 0, Coordinates(SRC, 0, 5), None, b"x", [])  # e.g. re-read after a rewind
    d.add("out", 0, Coordinates(SRC, 1, 0), None, b"x", [])  # another source partition: its own chain


def test_no_records_no_chains() -> None:
    assert OutputDigests().digests().chains == []
    with pytest.raises(ValueError):
        OutputDigests(block_size=0)


def test_target_partition() -> None:
    assert target_partition("source", 3, b"k", 4) == 3
    assert target_partition("key", 3, b"k", 4) == partition_for_key(b"k", 4)
    assert target_partition("key", 3, None, 4) == partition_for_key(b"", 4)
    with pytest.raises(ValueError, match="source partition 4 does not exist in a target topic of 4"):
        target_partition("source", 4, b"k", 4)
