"""Replay's source: fixed offset ranges of the source topics, read with ``assign()`` outside any group.

The consumer never subscribes and never commits, so a replay cannot move a group's offsets or take part in a
running ``streammask run``'s rebalances. It reads ``read_committed`` (as ``run`` does): a replay of a range
sees what ``run`` saw. A partition is done when a record at or past its end arrives, or when the consumer's
position has reached the end (the last offsets of a range may be transaction markers, which are never
delivered).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any, Protocol

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from streammask.errors import StreamMaskError
from streammask.outcome import SourceRecord
from streammask.proxy.clients import groupless_reader, source_record
from streammask.proxy.config import ProxyConfig
from streammask.replay.ranges import Ranges


class RangeConsumer(Protocol):
    """What ``read_ranges`` needs of a consumer (confluent-kafka's, or the tests' in-memory one)."""

    def assign(self, partitions: list[TopicPartition]) -> None: ...
    def consume(self, num_messages: int = 1, timeout: float = -1) -> list[Any]: ...
    def position(self, partitions: list[TopicPartition]) -> list[TopicPartition]: ...
    def incremental_unassign(self, partitions: list[TopicPartition]) -> None: ...
    def unassign(self) -> None: ...


class ReplayStalled(StreamMaskError):
    """No progress towards the end of a range for too long: the range's end is not reachable (retention
    deleted it, or a transaction in it stays open)."""


def range_consumer(config: ProxyConfig) -> Consumer:
    """A groupless ``read_committed`` reader of the source cluster: assign() only, no offsets committed."""
    # an offset that retention deleted is an error, not a silent jump
    props = groupless_reader(config.source, f"streammask-replay-{config.group_id}", offset_reset="error")
    props["enable.auto.offset.store"] = False
    # One partition is read at a time and masking is the slow side: a 16 MB prefetch keeps the fetcher ahead
    # without librdkafka's default 64 MB (1 GB for a whole topic) in memory. The config may set its own.
    props.setdefault("queued.max.messages.kbytes", 16_384)
    return Consumer(props)


def read_ranges(
    consumer: RangeConsumer,
    ranges: Ranges,
    stall_timeout_s: float = 60.0,
    on_done: Callable[[tuple[str, int]], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[SourceRecord]:
    """Every record in ``ranges``: one partition after the other, sorted by (topic, partition), each in offset
    order. One at a time, so the order never depends on how fetches interleave: a replay's file has the same
    bytes every time, and its transactions the same records. ``on_done`` is told each partition as it
    completes (progress)."""
    for tp in sorted(ranges):
        yield from _read_range(consumer, tp, ranges, stall_timeout_s, on_done, clock)


def _read_range(
    consumer: RangeConsumer,
    tp: tuple[str, int],
    ranges: Ranges,
    stall_timeout_s: float,
    on_done: Callable[[tuple[str, int]], None] | None,
    clock: Callable[[], float],
) -> Iterator[SourceRecord]:
    r = ranges[tp]
    if r.empty:
        if on_done is not None:
            on_done(tp)
        return
    pending = {tp: r.end}
    consumer.assign([TopicPartition(tp[0], tp[1], r.start)])
    last_progress = clock()
    try:
        while pending:
            messages = consumer.consume(500, 0) or consumer.consume(500, 0.1)  # no idling with records in hand
            for msg in messages:
                err = msg.error()
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF:
                        continue
                    if err.fatal() or err.code() == KafkaError._AUTO_OFFSET_RESET:
                        raise KafkaException(err)
                    continue
                topic, partition, offset = msg.topic(), msg.partition(), msg.offset()
                if topic is None or partition is None or offset is None:
                    continue
                end = pending.get((topic, partition))
                if end is None:
                    continue
                if offset < end:
                    yield source_record(msg)
                    last_progress = clock()
                if offset + 1 >= end:
                    _finish(consumer, pending, (topic, partition), on_done)
            for done in _reached(consumer, pending):
                _finish(consumer, pending, done, on_done)
                last_progress = clock()
            if pending and clock() - last_progress > stall_timeout_s:
                where = ", ".join(f"{t}/{p} (end {pending[(t, p)]})" for t, p in sorted(pending))
                raise ReplayStalled(f"no progress for {stall_timeout_s:.0f} s reading {where}: the range's end is"
                                    " not reachable (an open transaction, or records deleted by retention)")
    finally:
        consumer.unassign()


def _reached(consumer: RangeConsumer, pending: dict[tuple[str, int], int]) -> list[tuple[str, int]]:
    """Partitions whose position is at or past their end (the range ended with records never delivered)."""
    if not pending:
        return []
    positions = consumer.position([TopicPartition(t, p) for t, p in pending])
    return [(tp.topic, tp.partition) for tp in positions if tp.offset >= 0 and tp.offset >= pending[(tp.topic,
                                                                                                      tp.partition)]]


def _finish(consumer: RangeConsumer, pending: dict[tuple[str, int], int], tp: tuple[str, int],
            on_done: Callable[[tuple[str, int]], None] | None) -> None:
    if pending.pop(tp, None) is None:
        return
    consumer.incremental_unassign([TopicPartition(*tp)])  # stop fetching past the end
    if on_done is not None:
        on_done(tp)
