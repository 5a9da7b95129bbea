"""Order-sensitive digests of a replay's output records, so a verify can prove it reproduced them.

**Record encoding** (``streammask-record-v1``), of what is produced, never the timestamp (a replay produces
at a new time)::

    record   = nullable(key) nullable(value) u32(header count) header*
    header   = u32(byte length of name) name nullable(header value)
    nullable = 0x00                          a null (a tombstone's value, a null key or header value)
             | 0x01 u32(byte length) bytes   present, possibly empty
    u32      = 4 bytes, unsigned, big-endian

Header names are UTF-8; a header value given as text is its UTF-8 bytes (as confluent-kafka sends it).
Headers are in produce order (the masked record's, then ``streammask.source.*``).

**Chains.** A chain is the output records one source partition sent to one target partition, in source
offset order; its digest is SHA-256 over the concatenation of their encodings (self-delimiting, so the
concatenation is unambiguous). Not one chain per target partition: with key partitioning several source
partitions feed one target partition, and how their records interleave depends on how they were fetched,
which a verify does not reproduce; each source partition's own order it does.

**Blocks.** After every ``block_size`` records of a chain, and after its last one, a checkpoint keeps the
digest of the chain so far and the source offsets of the block's first and last record. A manifest holds
these, not a digest per record (millions of records stay a small file); a verify builds the same and the
first block that differs holds the first differing record, named by its source offsets.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from streammask.outcome import Coordinates
from streammask.partitioner import partition_for_key
from streammask.replay.manifest import DEFAULT_BLOCK_SIZE, Block, Chain, Digests

HeaderValue = bytes | str | None
_NULL = b"\x00"
_U32 = struct.Struct(">I")


def _nullable(data: bytes | None) -> bytes:
    return _NULL if data is None else b"\x01" + _U32.pack(len(data)) + data


def encode_record(key: bytes | None, value: bytes | None, headers: Iterable[tuple[str, HeaderValue]]) -> bytes:
    """One record in the ``streammask-record-v1`` encoding (see the module docstring)."""
    items = list(headers)
    parts = [_nullable(key), _nullable(value), _U32.pack(len(items))]
    for name, raw in items:
        encoded_name = name.encode("utf-8")
        parts += [_U32.pack(len(encoded_name)), encoded_name,
                  _nullable(raw.encode("utf-8") if isinstance(raw, str) else raw)]
    return b"".join(parts)


def target_partition(
    partitioning: Literal["key", "source"], source_partition: int, key: bytes | None, partitions: int
) -> int:
    """Where the target producer puts a record: the source partition's number (``source``), or the murmur2
    partition of the masked key over the target topic's ``partitions`` (``key``)."""
    if partitioning == "source":
        if source_partition >= partitions:
            raise ValueError(f"source partition {source_partition} does not exist in a target topic of "
                             f"{partitions} partition(s)")
        return source_partition
    return partition_for_key(key, partitions)


@dataclass
class _Chain:
    hasher: hashlib._Hash = field(default_factory=hashlib.sha256)
    records: int = 0
    last_offset: int = -1
    block_first: int | None = None
    blocks: list[Block] = field(default_factory=list)

    def checkpoint(self) -> Block:
        assert self.block_first is not None
        return Block(records=self.records, sha256=self.hasher.hexdigest(), first_offset=self.block_first,
                     last_offset=self.last_offset)


@dataclass(frozen=True)
class RecordDifference:
    """The first record two passes disagree on: its source coordinates, where it was sent, and whether the
    second pass lacks it (``missing``), has one the first has not (``unexpected``) or holds other bytes."""

    source: Coordinates
    target_topic: str
    target_partition: int
    what: str

    def __str__(self) -> str:
        s = self.source
        return (f"source record {s.topic}/{s.partition}/{s.offset} -> {self.target_topic}/{self.target_partition}: "
                f"{self.what}")


class OutputDigests:
    """Accumulates the chains of a replay (or of its verify) as records are produced."""

    def __init__(self, block_size: int = DEFAULT_BLOCK_SIZE, keep_records: bool = False) -> None:
        if block_size < 1:
            raise ValueError("block_size is at least 1")
        self.block_size = block_size
        self._chains: dict[tuple[str, int, str, int], _Chain] = {}
        self.records: dict[tuple[str, int, str, int], list[tuple[int, bytes]]] | None = {} if keep_records else None
        """With ``keep_records`` (a verify): per chain, each record's source offset and the sha256 of its
        encoding, so two passes can be compared record by record (about 100 bytes a record)."""

    def add(
        self,
        target_topic: str,
        target_partition: int,
        source: Coordinates,
        key: bytes | None,
        value: bytes | None,
        headers: Iterable[tuple[str, HeaderValue]],
    ) -> None:
        """One output record, sent to ``target_topic``/``target_partition`` for the source record at
        ``source``. A source partition's records come in offset order, each once."""
        chain_key = (target_topic, target_partition, source.topic, source.partition)
        chain = self._chains.get(chain_key)
        if chain is None:
            chain = self._chains[chain_key] = _Chain()
        if source.offset <= chain.last_offset:
            raise ValueError(f"source {source.topic}/{source.partition}: offset {source.offset} after "
                             f"{chain.last_offset}; a chain takes each record once, in offset order")
        encoded = encode_record(key, value, headers)
        chain.hasher.update(encoded)
        if self.records is not None:
            self.records.setdefault(chain_key, []).append((source.offset, hashlib.sha256(encoded).digest()))
        chain.records += 1
        chain.last_offset = source.offset
        if chain.block_first is None:
            chain.block_first = source.offset
        if chain.records % self.block_size == 0:
            chain.blocks.append(chain.checkpoint())
            chain.block_first = None

    def first_difference(self, other: OutputDigests) -> RecordDifference | None:
        """The first record where ``other`` differs from these (both kept records), chain by chain in sorted
        order; None when every chain holds the same records in the same order."""
        if self.records is None or other.records is None:
            raise ValueError("first_difference needs both passes made with keep_records")
        for chain_key in sorted(self.records.keys() | other.records.keys()):
            mine, theirs = self.records.get(chain_key, []), other.records.get(chain_key, [])
            for index in range(max(len(mine), len(theirs))):
                a = mine[index] if index < len(mine) else None
                b = theirs[index] if index < len(theirs) else None
                if a != b:
                    target_topic, target_partition, topic, partition = chain_key
                    offset = min(x[0] for x in (a, b) if x is not None)
                    if a is None or b is None or a[0] != b[0]:
                        what = "missing" if b is None or (a is not None and a[0] < b[0]) else "unexpected"
                    else:
                        what = "different"
                    return RecordDifference(Coordinates(topic, partition, offset), target_topic, target_partition,
                                            what)
        return None

    def digests(self) -> Digests:
        """The chains so far, each with its last, partial block (recording goes on unchanged)."""
        chains = []
        for (target_topic, target_partition, topic, partition), chain in sorted(self._chains.items()):
            blocks = list(chain.blocks)
            if chain.block_first is not None:
                blocks.append(chain.checkpoint())
            chains.append(Chain(target_topic=target_topic, target_partition=target_partition, source_topic=topic,
                                source_partition=partition, records=chain.records, sha256=blocks[-1].sha256,
                                blocks=blocks))
        return Digests(block_size=self.block_size, chains=chains)
