"""The one record path every command shares: a source of records, one mask step, a sink.

``run`` reads a consumer group's partitions, ``replay`` a bounded range of them, ``mask`` and ``check`` kcat
lines. Each turns what it reads into ``SourceRecord``s; ``MaskStep`` masks one with the core, routes it to
its target topic and partition and adds the source-coordinate headers; the ``Addressed`` record goes to a
``Sink``: Kafka (``proxy.output.Output``) or kcat lines (``LineSink``). ``Pipeline`` ties a step and a sink to
the audit counts and the blocked-record handling of a command that reads to the end (``mask``, ``replay``);
``run`` drives the same step and sink from its transaction loop, which also owns rebalances and commits.
Nothing here imports a Kafka client.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import IO, Literal, Protocol

from streammask.audit import AuditCounts
from streammask.kcat_io import LineForm, format_line
from streammask.masker import RecordMasker
from streammask.outcome import BlockCode, Blocked, BlockReason, Coordinates, Masked, SourceRecord, Unreadable

Headers = list[tuple[str, bytes | None]]
SOURCE_HEADERS = ("streammask.source.topic", "streammask.source.partition", "streammask.source.offset")
"""Where a masked record came from: every record ``run`` and ``replay`` write carries them (``audit verify``
reconciles the audit trail against them)."""
PARTITION_BY_KEY = -1
"""librdkafka's RD_KAFKA_PARTITION_UA: the producer's partitioner picks the partition from the masked key."""
Partitioning = Literal["key", "source"]
Partitioner = Callable[[str, bytes | None], int]
"""(target topic, masked key) -> target partition, for ``key`` partitioning when it must be known before
producing (``replay`` digests records per target partition)."""


@dataclass(frozen=True, slots=True)
class Addressed:
    """A masked record and where it goes: target topic, partition (``PARTITION_BY_KEY``: the producer's
    partitioner decides) and the headers to write (the masker's, then the source coordinates)."""

    source: SourceRecord
    masked: Masked
    topic: str
    partition: int
    headers: Headers

    @property
    def timestamp(self) -> int:
        """The timestamp to produce with: the source record's, or 0 (the time of producing) when it has none."""
        ts = self.source.ts
        return ts if ts is not None and ts > 0 else 0


class Sink(Protocol):
    def write(self, item: Addressed) -> None: ...


@dataclass(frozen=True, slots=True)
class _Destination:
    topic: str
    partition: int
    headers: tuple[tuple[str, bytes], ...]


class MaskStep:
    """Mask, route, add headers: the same for every command.

    ``route`` maps a source topic to its target topic (None: the same topic, as ``mask`` writes it).
    ``partitioning``: ``source`` keeps the source partition; ``key`` leaves it to ``partitioner`` (None: the
    producer's). ``coordinate_headers``: add ``SOURCE_HEADERS`` (``run`` and ``replay``; ``mask`` keeps the
    input's coordinates on the line instead)."""

    def __init__(
        self,
        masker: RecordMasker,
        route: Callable[[str], str] | None = None,
        partitioning: Partitioning = "key",
        partitioner: Partitioner | None = None,
        coordinate_headers: bool = True,
    ) -> None:
        self.masker = masker
        self._route = route
        self._by_source = partitioning == "source"
        self._partitioner = partitioner
        self._coordinate_headers = coordinate_headers
        self._destinations: dict[tuple[str, int], _Destination] = {}

    def __call__(self, record: SourceRecord) -> Addressed | Blocked:
        where = record.coordinates
        dest = self._destinations.get((where.topic, where.partition))
        if dest is None:
            dest = self._destinations[(where.topic, where.partition)] = self._destination(where)
        # The target topic names the target registry's subjects (Avro): masking needs it, not only producing.
        outcome = self.masker.mask(where.topic, record.key, record.value, record.headers, dest.topic)
        if isinstance(outcome, Blocked):
            return outcome
        headers = outcome.headers
        if self._coordinate_headers:
            headers = [*headers, *dest.headers, (SOURCE_HEADERS[2], b"%d" % where.offset)]
        partition = dest.partition
        if partition == PARTITION_BY_KEY and self._partitioner is not None:
            partition = self._partitioner(dest.topic, outcome.key)
        return Addressed(record, outcome, dest.topic, partition, headers)

    def _destination(self, where: Coordinates) -> _Destination:
        """Per source partition: what does not change from record to record."""
        topic = where.topic if self._route is None else self._route(where.topic)
        partition = where.partition if self._by_source else PARTITION_BY_KEY
        headers = ((SOURCE_HEADERS[0], where.topic.encode()), (SOURCE_HEADERS[1], b"%d" % where.partition))
        return _Destination(topic, partition, headers)


class LineSink:
    """kcat -J lines (``form``: text or the lossless base64 form per part): the record as it goes out, with
    the target topic and partition and the source record's offset and timestamp."""

    def __init__(self, stream: IO[bytes], form: LineForm) -> None:
        self.stream = stream
        self.form = form
        self.written = 0

    def write(self, item: Addressed) -> None:
        source = item.source
        where = Coordinates(item.topic, item.partition, source.coordinates.offset)
        self.stream.write(format_line(source, item.masked.key, item.masked.value, item.headers, self.form, where))
        self.written += 1


OnBlocked = Callable[[SourceRecord | Unreadable, Blocked], None]


class Pipeline:
    """source → step → sink for the commands that read to an end: each outcome counted in ``audit``, each
    masked record written to ``sink``, each blocked one handed to ``on_blocked`` (which logs it, records it,
    or raises to stop)."""

    def __init__(self, step: MaskStep, sink: Sink, audit: AuditCounts, on_blocked: OnBlocked) -> None:
        self.step = step
        self.sink = sink
        self.audit = audit
        self.on_blocked = on_blocked

    def feed(self, item: SourceRecord | Unreadable) -> Addressed | Blocked:
        if isinstance(item, Unreadable):
            blocked = Blocked(BlockReason(BlockCode.UNDECODABLE, item.detail))
            self.audit.add_blocked(item.coordinates, blocked)
            self.on_blocked(item, blocked)
            return blocked
        out = self.step(item)
        if isinstance(out, Blocked):
            self.audit.add_blocked(item.coordinates, out)
            self.on_blocked(item, out)
            return out
        self.audit.add_masked(out.masked)
        self.sink.write(out)
        return out

    def drain(self, source: Iterable[SourceRecord | Unreadable]) -> None:
        for item in source:
            self.feed(item)
