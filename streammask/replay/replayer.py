"""One replay pass: a bounded source, the shared mask step, a sink, and the manifest that proves what it did.

``replay`` reads the resolved source ranges (``reader.read_ranges``), masks each record with the pipeline's
``MaskStep`` (the same as ``run``: route, partition, source-coordinate headers), digests every output record
for the manifest, and hands it to the sink: a file of kcat lines, the target topics (``topics.TopicWriter``),
or nothing (``--verify`` re-masks without writing). The consumer, the sink and the progress display are passed
in, so the same function runs against Kafka in the command and against the in-memory cluster in tests.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from streammask.audit import AuditCounts
from streammask.bootstrap import MaskingSetup
from streammask.errors import StreamMaskError
from streammask.outcome import Blocked, SourceRecord, Unreadable, blocked_fields
from streammask.pipeline import Addressed, MaskStep, Pipeline, Sink
from streammask.progress import Progress
from streammask.proxy.config import ProxyConfig
from streammask.replay.digest import OutputDigests, target_partition
from streammask.replay.manifest import (
    DEFAULT_BLOCK_SIZE,
    ConfigIdentity,
    FileOutput,
    Formats,
    Manifest,
    Source,
    TopicsOutput,
    counts_of,
)
from streammask.replay.ranges import Ranges, resolve_ranges
from streammask.replay.reader import RangeConsumer, read_ranges
from streammask.replay.spec import EARLIEST, END, Spec, format_spec

log = logging.getLogger("streammask.replay")


class ReplayBlocked(StreamMaskError):
    """``on_blocked: stop`` met a blocked record: the replay ends there (a topics replay aborts its open
    transaction; a file replay leaves what it wrote, and no manifest)."""


class ReplayReader(RangeConsumer, Protocol):
    """A consumer that can resolve ranges (metadata, watermarks, times) and read them."""

    def list_topics(self, topic: str | None = None, timeout: float = -1) -> Any: ...
    def get_watermark_offsets(self, partition: Any, timeout: float = -1, cached: bool = False) -> Any: ...
    def offsets_for_times(self, partitions: Any, timeout: float = -1) -> Any: ...


class ConsumedSink(Sink, Protocol):
    """A sink that also sees every record read, masked or blocked (the topics writer audits each
    transaction's source ranges)."""

    def consumed(self, record: SourceRecord, outcome: Addressed | Blocked) -> None: ...


class _DigestingSink:
    def __init__(self, digests: OutputDigests, inner: Sink | None) -> None:
        self.digests = digests
        self.inner = inner

    def write(self, item: Addressed) -> None:
        masked = item.masked
        self.digests.add(item.topic, item.partition, item.source.coordinates, masked.key, masked.value, item.headers)
        if self.inner is not None:
            self.inner.write(item)


@dataclass
class ReplayRun:
    """What a pass read and produced, before it becomes a manifest."""

    ranges: Ranges
    read: Counter[tuple[str, int]]
    audit: AuditCounts
    digests: OutputDigests
    start: Spec
    end: Spec

    def manifest(self, setup: MaskingSetup, config: ProxyConfig, target_partitions: dict[str, int],
                 output: TopicsOutput | FileOutput, formats: Formats | None = None) -> Manifest:
        counts, blocked, truncated = counts_of(self.audit)
        targets = {config.target_topic(t) for t, _ in self.ranges}
        return Manifest(
            policy_sha256=setup.loaded.sha256,
            key_id=setup.key.key_id,
            key_fingerprint=setup.key.fingerprint,
            formats=formats or Formats.of(config),
            config=ConfigIdentity.of(config),
            source=Source.of(format_spec(self.start), format_spec(self.end), self.ranges, self.read),
            target_partitions={t: n for t, n in target_partitions.items() if t in targets},
            output=output,
            counts=counts,
            blocked=blocked,
            blocked_truncated=truncated,
            digests=self.digests.digests(),
        )


def resolve(reader: ReplayReader, config: ProxyConfig, start: Spec = EARLIEST, end: Spec = END,
            only: set[tuple[str, int]] | None = None) -> Ranges:
    """The ranges to read; ``only``: just these partitions (a verify reads the manifest's)."""
    ranges = resolve_ranges(reader, config, start, end)
    return ranges if only is None else {tp: r for tp, r in ranges.items() if tp in only}


def partitioner_for(config: ProxyConfig, target_partitions: dict[str, int]) -> Callable[[str, bytes | None], int]:
    """Key partitioning, decided before producing (as librdkafka's murmur2 partitioner would): the digests
    need each record's target partition, and a verify recomputes it without producing."""

    def partition(topic: str, key: bytes | None) -> int:
        return target_partition("key", -1, key, target_partitions[topic])

    return partition


def replay(
    reader: ReplayReader,
    config: ProxyConfig,
    setup: MaskingSetup,
    ranges: Ranges,
    *,
    start: Spec = EARLIEST,
    end: Spec = END,
    target_partitions: dict[str, int],
    sink: Sink | ConsumedSink | None = None,
    block_size: int = DEFAULT_BLOCK_SIZE,
    progress: Progress | None = None,
    stall_timeout_s: float = 60.0,
    keep_records: bool = False,
) -> ReplayRun:
    """Read ``ranges``, mask, digest and write each record to ``sink`` (None: nowhere, as a verify)."""
    for topic, partition in ranges:
        target = config.target_topic(topic)
        if config.partitioning == "source" and partition >= target_partitions[target]:
            raise StreamMaskError(f"partitioning: source, but target topic {target} has "
                                  f"{target_partitions[target]} partition(s) and source {topic} has partition "
                                  f"{partition}; give the target topic at least as many partitions")
    step = MaskStep(setup.masker, config.target_topic, config.partitioning, partitioner_for(config, target_partitions))
    digests = OutputDigests(block_size, keep_records)
    audit = AuditCounts(setup.loaded.sha256, setup.key.key_id, setup.loaded.policy.leak_guard, setup.key.fingerprint)
    consumed = getattr(sink, "consumed", None)

    def on_blocked(item: SourceRecord | Unreadable, outcome: Blocked) -> None:
        fields = blocked_fields(item.coordinates, outcome.reason)
        if config.on_blocked == "stop":
            where = item.coordinates
            raise ReplayBlocked(f"record blocked at {where.topic}/{where.partition}/{where.offset}: "
                                f"{outcome.reason.describe()} (on_blocked: stop)")
        log.warning("record blocked; skipped (on_blocked: skip)", extra={"fields": fields})

    pipeline = Pipeline(step, _DigestingSink(digests, sink), audit, on_blocked)
    read: Counter[tuple[str, int]] = Counter()
    on_done = None if progress is None else (lambda _tp: progress.partition_done())
    for record in read_ranges(reader, ranges, stall_timeout_s=stall_timeout_s, on_done=on_done):
        where = record.coordinates
        read[(where.topic, where.partition)] += 1
        out = pipeline.feed(record)
        if consumed is not None:
            consumed(record, out)
        if progress is not None:
            progress.record(blocked=isinstance(out, Blocked))
    return ReplayRun(ranges, read, audit, digests, start, end)
