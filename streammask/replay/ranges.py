"""Resolve ``--from``/``--to`` SPECs against the source cluster into half-open offset ranges per partition.

Everything is read once, when the replay starts: the partitions of the config's source topics, each one's
watermarks and, for a timestamp, ``offsets_for_times``. So ``end`` is the end as it was then, and records
written during the replay are not part of it. The rules:

- ``earliest`` is the low watermark, ``end`` the high one (with ``isolation.level: read_committed`` the
  consumer's high watermark is the last stable offset: an open transaction's records are not in range);
- a timestamp is the first offset whose timestamp is at or after it; when there is none (Kafka answers
  -1), the high watermark: the range then ends there (``--to``) or is empty (``--from``);
- offsets named in a list are used as given, partitions not named take the option's default;
- every position is then clamped to [low, high] (records before low are gone; none exist past high);
- a range whose start is after its end is an error naming the partition, and so is a list that names a
  partition after its ``--to`` (both named), or a partition the source topics do not have. An empty range
  (start = end) is allowed: there is nothing to replay there.

A range counts offsets, not records: transaction markers and compaction leave offsets without a record, so
a reader is done with a partition when its position reaches ``end``, not after ``end - start`` records.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from confluent_kafka import KafkaException, TopicPartition

from streammask.errors import StreamMaskError
from streammask.replay.spec import EARLIEST, END, Earliest, End, Offsets, PartitionKey, Spec, Timestamp

if TYPE_CHECKING:
    from streammask.proxy.config import ProxyConfig

OFFSET_END = -1  # what offsets_for_times answers when no record is at or after the time


class RangeError(StreamMaskError):
    """The SPECs do not fit the cluster: a partition it does not have, a start after an end, no answer."""


class TopicMetadata(Protocol):
    @property
    def partitions(self) -> Mapping[int, Any]: ...

    @property
    def error(self) -> Any: ...


class ClusterMetadata(Protocol):
    @property
    def topics(self) -> Mapping[str, TopicMetadata]: ...


class OffsetsReader(Protocol):
    """The parts of ``confluent_kafka.Consumer`` resolution needs (tests pass a fake)."""

    def list_topics(self, topic: str | None = None, timeout: float = -1) -> ClusterMetadata: ...

    def get_watermark_offsets(
        self, partition: TopicPartition, timeout: float = -1, cached: bool = False
    ) -> tuple[int, int] | None: ...

    def offsets_for_times(self, partitions: list[TopicPartition], timeout: float = -1) -> list[TopicPartition]: ...


@dataclass(frozen=True)
class Range:
    """Offsets [start, end) of one partition, and its watermarks [low, high) when they were read."""

    start: int
    end: int
    low: int
    high: int

    @property
    def empty(self) -> bool:
        return self.start >= self.end

    def __contains__(self, offset: object) -> bool:
        return isinstance(offset, int) and self.start <= offset < self.end


Ranges = dict[PartitionKey, Range]
"""Per (topic, partition), sorted."""


def source_topics(config: ProxyConfig, cluster_topics: Iterable[str]) -> list[str]:
    """The config's source topics as the cluster has them: the listed ones (each must exist), or those the
    pattern matches, without the topics streammask writes itself (``config.own_topics``)."""
    present = set(cluster_topics)
    if config.topics is not None:
        missing = [t for t in config.topics if t not in present]
        if missing:
            raise RangeError(f"source topic {missing[0]} does not exist on the source cluster")
        return sorted(set(config.topics))
    return sorted(t for t in present if config.matches(t) and t not in config.own_topics)


def resolve_ranges(
    reader: OffsetsReader, config: ProxyConfig, start: Spec = EARLIEST, end: Spec = END, timeout: float = 30.0
) -> Ranges:
    """The range of every partition of the config's source topics, from the ``start`` and ``end`` SPECs."""
    if isinstance(start, Timestamp) and isinstance(end, Timestamp) and start.ms > end.ms:
        raise RangeError("--from is a later time than --to")
    partitions = _partitions(reader, config, timeout)
    _check_named(start, partitions, "--from")
    _check_named(end, partitions, "--to")
    watermarks = {tp: _watermarks(reader, tp, timeout) for tp in partitions}
    starts = _positions(reader, start, watermarks, at_end=False, timeout=timeout)
    ends = _positions(reader, end, watermarks, at_end=True, timeout=timeout)
    out: Ranges = {}
    for tp, (low, high) in watermarks.items():
        named = isinstance(start, Offsets) and isinstance(end, Offsets) and tp in start.offsets and tp in end.offsets
        if named and starts[tp] > ends[tp]:
            raise RangeError(f"partition {tp[0]}/{tp[1]}: --from offset {starts[tp]} is after --to offset {ends[tp]}")
        first, last = (min(max(p, low), high) for p in (starts[tp], ends[tp]))
        if first > last:
            raise RangeError(f"partition {tp[0]}/{tp[1]}: --from resolves to offset {first}, after --to's {last}")
        out[tp] = Range(first, last, low, high)
    return out


def _partitions(reader: OffsetsReader, config: ProxyConfig, timeout: float) -> list[PartitionKey]:
    topics = reader.list_topics(timeout=timeout).topics
    out: list[PartitionKey] = []
    for topic in source_topics(config, topics):
        meta = topics[topic]
        if meta.error is not None:
            raise RangeError(f"source topic {topic}: metadata error {meta.error}")
        out.extend((topic, p) for p in sorted(meta.partitions))
    return out


def _check_named(spec: Spec, partitions: list[PartitionKey], option: str) -> None:
    if not isinstance(spec, Offsets):
        return
    counts: dict[str, int] = {}
    for topic, _ in partitions:
        counts[topic] = counts.get(topic, 0) + 1
    for topic, partition in spec.offsets:
        if topic not in counts:
            raise RangeError(f"{option} names {topic}:{partition}, but {topic} is not a source topic of this config")
        if (topic, partition) not in partitions:
            raise RangeError(f"{option} names {topic}:{partition}, but {topic} has {counts[topic]} partition(s)")


def _watermarks(reader: OffsetsReader, tp: PartitionKey, timeout: float) -> tuple[int, int]:
    answer = reader.get_watermark_offsets(TopicPartition(*tp), timeout=timeout, cached=False)
    if answer is None:
        raise RangeError(f"partition {tp[0]}/{tp[1]}: no watermark offsets within {timeout:g} s")
    return int(answer[0]), int(answer[1])


def _positions(
    reader: OffsetsReader, spec: Spec, watermarks: dict[PartitionKey, tuple[int, int]], *, at_end: bool,
    timeout: float,
) -> dict[PartitionKey, int]:
    """Each partition's position for ``spec``, before clamping; ``at_end``: the spec is ``--to``."""
    def default(tp: PartitionKey) -> int:
        return watermarks[tp][1] if at_end else watermarks[tp][0]

    if isinstance(spec, Earliest):
        return {tp: low for tp, (low, _) in watermarks.items()}
    if isinstance(spec, End):
        return {tp: high for tp, (_, high) in watermarks.items()}
    if isinstance(spec, Offsets):
        return {tp: spec.offsets.get(tp, default(tp)) for tp in watermarks}
    return _by_time(reader, spec, watermarks, timeout)


def _by_time(
    reader: OffsetsReader, spec: Timestamp, watermarks: dict[PartitionKey, tuple[int, int]], timeout: float
) -> dict[PartitionKey, int]:
    if not watermarks:
        return {}
    asked = [TopicPartition(t, p, spec.ms) for t, p in watermarks]
    try:
        found = reader.offsets_for_times(asked, timeout=timeout)
    except KafkaException as exc:
        raise RangeError(f"offsets_for_times of the source topics failed: {exc}") from None
    answers = {(tp.topic, tp.partition): tp for tp in found}
    out: dict[PartitionKey, int] = {}
    for tp, (_, high) in watermarks.items():
        answer = answers.get(tp)
        if answer is None:
            raise RangeError(f"partition {tp[0]}/{tp[1]}: no offsets_for_times answer")
        if answer.error is not None:
            raise RangeError(f"partition {tp[0]}/{tp[1]}: offsets_for_times failed: {answer.error}")
        if answer.offset < 0 and answer.offset != OFFSET_END:
            raise RangeError(f"partition {tp[0]}/{tp[1]}: offsets_for_times answered offset {answer.offset}")
        out[tp] = high if answer.offset == OFFSET_END else int(answer.offset)
    return out


__all__ = [
    "ClusterMetadata", "OffsetsReader", "Range", "RangeError", "Ranges", "TopicMetadata",
    "resolve_ranges", "source_topics",
]
