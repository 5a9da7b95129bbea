"""An in-memory stand-in for the confluent-kafka clients the proxy drives (test infrastructure).

``FakeCluster`` holds topic logs and committed group offsets. Each log entry has a state: records of a
transactional producer are ``open`` until ``commit_transaction`` (then ``committed``) or
``abort_transaction`` (then ``aborted``); aborted records keep their offsets, as in Kafka. A
non-transactional producer's records are ``inflight`` until a ``poll``/``flush`` delivers them.
``committed_view`` is what a ``read_committed`` consumer sees.

``FakeConsumer`` is a one-member group: the first ``consume`` after ``subscribe`` (or after a revoke or
loss) assigns every partition of the subscribed topics through ``on_assign``; ``revoke()``/``lose()``
fire the other callbacks, ``close()`` fires ``on_revoke`` like librdkafka. Before each ``consume`` it
runs the next queued hook (``then``), so a test scripts rebalances, clock steps or a stop between
fetches; after two empty fetches in a row with no hook left it calls ``on_idle`` (tests: stop the run).

For ``replay`` it also answers the offset queries a groupless reader makes: ``list_topics`` (topics and
their partitions), ``get_watermark_offsets`` (low: the log start, which ``delete_before`` moves as
retention would; high: a read_committed consumer's, the first offset of an open transaction or of an
undelivered record, else the log's end) and ``offsets_for_times`` (the first offset in [low, high) whose
record timestamp is at or after the time, -1 when none: Kafka's answer; aborted records count, as they
sit in the log and its time index).

Errors are injected per method (``FakeProducer.fail``) with real ``KafkaError`` objects: an abortable
error leaves the transaction needing an abort, a fatal one poisons the producer, a retriable one fails
that call only. Every client call that matters for ordering is appended to a shared ``journal``.
"""

from __future__ import annotations

import re
import zlib
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import (
    OFFSET_END,
    OFFSET_INVALID,
    TIMESTAMP_CREATE_TIME,
    KafkaError,
    KafkaException,
    TopicPartition,
)

Headers = list[tuple[str, bytes | None]]
DeliveryCb = Callable[[KafkaError | None, Any], None]


class FakeMessage:
    """The parts of ``confluent_kafka.Message`` the proxy reads."""

    def __init__(
        self,
        topic: str | None,
        partition: int | None,
        offset: int | None,
        key: bytes | None,
        value: bytes | None,
        headers: Headers | None = None,
        timestamp: int = 0,
        error: KafkaError | None = None,
    ) -> None:
        self._topic, self._partition, self._offset = topic, partition, offset
        self._key, self._value, self._headers = key, value, headers
        self._timestamp, self._error = timestamp, error

    @classmethod
    def of_error(cls, error: KafkaError) -> FakeMessage:
        return cls(None, None, None, None, None, error=error)

    def topic(self) -> str | None:
        return self._topic

    def partition(self) -> int | None:
        return self._partition

    def offset(self) -> int | None:
        return self._offset

    def key(self) -> bytes | None:
        return self._key

    def value(self) -> bytes | None:
        return self._value

    def headers(self) -> Headers | None:
        return list(self._headers) if self._headers else None

    def timestamp(self) -> tuple[int, int]:
        return (TIMESTAMP_CREATE_TIME, self._timestamp) if self._timestamp > 0 else (0, 0)

    def error(self) -> KafkaError | None:
        return self._error


@dataclass
class Entry:
    message: FakeMessage
    state: str  # committed | open | aborted | inflight | failed


@dataclass
class FakeCluster:
    name: str = "cluster"
    partitions: int = 1  # for topics created by a produce
    logs: dict[str, list[list[Entry]]] = field(default_factory=dict)
    group_offsets: dict[tuple[str, str, int], int] = field(default_factory=dict)
    offset_history: list[tuple[tuple[str, str, int], int]] = field(default_factory=list)  # every commit, in order
    journal: list[str] = field(default_factory=list)
    log_start: dict[tuple[str, int], int] = field(default_factory=dict)  # offsets before it were deleted

    def create_topic(self, topic: str, partitions: int | None = None) -> None:
        self.logs.setdefault(topic, [[] for _ in range(partitions or self.partitions)])

    def append(self, topic: str, partition: int, message: FakeMessage, state: str) -> Entry:
        self.create_topic(topic)
        log = self.logs[topic][partition]
        entry = Entry(
            FakeMessage(topic, partition, len(log), message.key(), message.value(), message.headers(),
                        message.timestamp()[1]),
            state,
        )
        log.append(entry)
        return entry

    def commit_offsets(self, offsets: dict[tuple[str, str, int], int]) -> None:
        self.group_offsets.update(offsets)
        self.offset_history.extend(offsets.items())

    def write(self, topic: str, key: bytes | None, value: bytes | None, *, partition: int = 0,
              headers: Headers | None = None, timestamp: int = 0) -> int:
        """A committed record, as a non-transactional upstream producer (Debezium) writes it; its offset."""
        entry = self.append(topic, partition, FakeMessage(topic, partition, None, key, value, headers, timestamp),
                            "committed")
        offset = entry.message.offset()
        assert offset is not None
        return offset

    def committed_view(self, topic: str, partition: int | None = None) -> list[FakeMessage]:
        """What a read_committed consumer of ``topic`` (one partition or all) reads, in log order."""
        logs = self.logs.get(topic, [])
        numbered = list(enumerate(logs)) if partition is None else list(enumerate(logs))[partition:partition + 1]
        return [e.message for p, log in numbered for e in log[self.log_start.get((topic, p), 0):]
                if e.state == "committed"]

    def delete_before(self, topic: str, partition: int, offset: int) -> None:
        """Retention: records before ``offset`` are gone (offsets are kept, as in Kafka)."""
        self.log_start[(topic, partition)] = offset

    def watermarks(self, topic: str, partition: int) -> tuple[int, int]:
        """(low, high) as a read_committed consumer is told them."""
        log = self.logs[topic][partition]
        low = self.log_start.get((topic, partition), 0)
        high = next((i for i, e in enumerate(log) if e.state in ("open", "inflight")), len(log))
        return low, max(low, high)

    def all_entries(self) -> list[Entry]:
        return [e for logs in self.logs.values() for log in logs for e in log]


@dataclass(frozen=True)
class FakeGroupMetadata:
    group_id: str


@dataclass(frozen=True)
class FakePartitionMetadata:
    id: int


@dataclass(frozen=True)
class FakeTopicMetadata:
    topic: str
    partitions: dict[int, FakePartitionMetadata]
    error: KafkaError | None = None


@dataclass(frozen=True)
class FakeClusterMetadata:
    topics: dict[str, FakeTopicMetadata]


class FakeConsumer:
    def __init__(self, cluster: FakeCluster, group_id: str, *, max_per_consume: int = 500) -> None:
        self.cluster = cluster
        self.group_id = group_id
        self.max_per_consume = max_per_consume
        self.positions: dict[tuple[str, int], int] = {}
        self.hooks: deque[Callable[[], None]] = deque()
        self.injected: list[FakeMessage] = []  # delivered (e.g. error events) before the next records
        self.on_idle: Callable[[], None] | None = None
        self.closed = False
        self._empty_fetches = 0
        self._subscription: list[str] | None = None
        self._callbacks: dict[str, Callable[[Any, list[TopicPartition]], None]] = {}

    # -- scripting -------------------------------------------------------------------------------

    def then(self, *hooks: Callable[[], None]) -> None:
        """Run each hook before one later fetch, in order. The proxy fetches (``clients.fetch``) with a
        non-blocking ``consume`` and, only when that returned nothing, a waiting one: a fetch starts
        with a ``consume`` of timeout 0."""
        self.hooks.extend(hooks)

    def revoke(self) -> None:
        self._callbacks["on_revoke"](self, self.assignment())

    def lose(self) -> None:
        self._callbacks["on_lost"](self, self.assignment())

    def assignment(self) -> list[TopicPartition]:
        return [TopicPartition(t, p) for t, p in sorted(self.positions)]

    # -- the Consumer API ------------------------------------------------------------------------

    def subscribe(self, topics: list[str], on_assign: Any = None, on_revoke: Any = None, on_lost: Any = None) -> None:
        self._subscription = list(topics)
        self._callbacks = {"on_assign": on_assign, "on_revoke": on_revoke, "on_lost": on_lost}

    def _subscribed_partitions(self) -> list[TopicPartition]:
        out = []
        for topic in sorted(self.cluster.logs):
            for wanted in self._subscription or ():
                if (re.match(wanted, topic) if wanted.startswith("^") else wanted == topic):
                    out.extend(TopicPartition(topic, p) for p in range(len(self.cluster.logs[topic])))
                    break
        return out

    def consume(self, num_messages: int = 1, timeout: float = -1) -> list[FakeMessage]:
        if self.closed:
            raise RuntimeError("Consumer closed")
        if self.hooks and timeout == 0:
            self.hooks.popleft()()
        if not self.positions and self._subscription is not None and not self.closed:
            partitions = self._subscribed_partitions()
            if partitions:
                self.cluster.journal.append("rebalance:assign")
                self._callbacks["on_assign"](self, partitions)
        out, self.injected = self.injected, []
        limit = min(num_messages, self.max_per_consume)
        for (topic, partition), position in sorted(self.positions.items()):
            for msg in self.cluster.committed_view(topic, partition):
                offset = msg.offset()
                assert offset is not None
                if offset >= position and len(out) < limit:
                    out.append(msg)
                    self.positions[(topic, partition)] = offset + 1
        if out:
            self._empty_fetches = 0
        elif timeout != 0:  # a waiting consume that got nothing: the fetch found nothing
            self._empty_fetches += 1
        if self._empty_fetches >= 2 and not self.hooks and self.on_idle is not None:
            self.on_idle()
        return out

    def assign(self, partitions: list[TopicPartition]) -> None:
        self.cluster.journal.append("assign")
        self.positions = {}
        for tp in partitions:
            offset = tp.offset
            if offset < 0:
                offset = self.cluster.group_offsets.get((self.group_id, tp.topic, tp.partition), 0)
            self.positions[(tp.topic, tp.partition)] = offset

    def unassign(self) -> None:
        self.cluster.journal.append("unassign")
        self.positions = {}

    def incremental_unassign(self, partitions: list[TopicPartition]) -> None:
        self.cluster.journal.append("incremental_unassign")
        for tp in partitions:
            self.positions.pop((tp.topic, tp.partition), None)

    def position(self, partitions: list[TopicPartition]) -> list[TopicPartition]:
        """The next offset to fetch. As in Kafka, a read_committed consumer's position moves past what it
        never delivers (aborted records, failed ones) up to the first open or undelivered record."""
        out = []
        for tp in partitions:
            key = (tp.topic, tp.partition)
            if key not in self.positions:
                out.append(TopicPartition(tp.topic, tp.partition, OFFSET_INVALID))
                continue
            log = self.cluster.logs[tp.topic][tp.partition]
            position = self.positions[key]
            while position < len(log) and log[position].state in ("aborted", "failed"):
                position += 1
            out.append(TopicPartition(tp.topic, tp.partition, position))
        return out

    def seek(self, tp: TopicPartition) -> None:
        if (tp.topic, tp.partition) not in self.positions:
            raise KafkaException(KafkaError(KafkaError._STATE, f"{tp.topic}/{tp.partition} is not assigned"))
        self.cluster.journal.append(f"seek {tp.topic}/{tp.partition}@{tp.offset}")
        self.positions[(tp.topic, tp.partition)] = tp.offset

    def committed(self, partitions: list[TopicPartition], timeout: float = -1) -> list[TopicPartition]:
        return [
            TopicPartition(tp.topic, tp.partition,
                           self.cluster.group_offsets.get((self.group_id, tp.topic, tp.partition), OFFSET_INVALID))
            for tp in partitions
        ]

    def commit(self, message: Any = None, offsets: list[TopicPartition] | None = None,
               asynchronous: bool = True) -> None:
        self.cluster.commit_offsets({(self.group_id, tp.topic, tp.partition): tp.offset for tp in offsets or ()})
        self.cluster.journal.append("consumer.commit")

    def consumer_group_metadata(self) -> FakeGroupMetadata:
        return FakeGroupMetadata(self.group_id)

    def list_topics(self, topic: str | None = None, timeout: float = -1) -> FakeClusterMetadata:
        def meta(name: str) -> FakeTopicMetadata:
            if name not in self.cluster.logs:
                return FakeTopicMetadata(name, {}, KafkaError(KafkaError.UNKNOWN_TOPIC_OR_PART))
            return FakeTopicMetadata(name, {p: FakePartitionMetadata(p) for p in range(len(self.cluster.logs[name]))})

        names = sorted(self.cluster.logs) if topic is None else [topic]
        return FakeClusterMetadata({name: meta(name) for name in names})

    def _log_of(self, topic: str, partition: int) -> None:
        if partition < 0 or partition >= len(self.cluster.logs.get(topic, [])):
            raise KafkaException(KafkaError(KafkaError._UNKNOWN_PARTITION, f"{topic}/{partition}"))

    def get_watermark_offsets(self, partition: TopicPartition, timeout: float | None = None,
                              cached: bool = False) -> tuple[int, int]:
        self._log_of(partition.topic, partition.partition)
        return self.cluster.watermarks(partition.topic, partition.partition)

    def offsets_for_times(self, partitions: list[TopicPartition], timeout: float | None = None) -> list[TopicPartition]:
        """The ``offset`` of each asked partition is a time in ms, as in confluent-kafka."""
        out = []
        for tp in partitions:
            self._log_of(tp.topic, tp.partition)
            low, high = self.cluster.watermarks(tp.topic, tp.partition)
            log = self.cluster.logs[tp.topic][tp.partition]
            found = next((i for i in range(low, high)
                          if log[i].state != "failed" and log[i].message.timestamp()[1] >= tp.offset), OFFSET_END)
            out.append(TopicPartition(tp.topic, tp.partition, found))
        return out

    def close(self) -> None:
        if self.positions and "on_revoke" in self._callbacks:
            self.revoke()  # librdkafka runs the rebalance callback when leaving the group
        self.positions = {}
        self.closed = True
        self.cluster.journal.append("close")


class FakeProducer:
    def __init__(self, cluster: FakeCluster, *, transactional: bool = True) -> None:
        self.cluster = cluster
        self.transactional = transactional
        self._calls: Counter[str] = Counter()
        self._scheduled: dict[tuple[str, int], KafkaError] = {}
        self.delivery_error: KafkaError | None = None  # the next poll/flush fails every pending record
        self._initialised = False
        self._open: list[Entry] | None = None
        self._offsets: dict[tuple[str, str, int], int] = {}
        self._needs_abort = False
        self._fatal: KafkaError | None = None
        self._pending: list[tuple[Entry, DeliveryCb | None]] = []
        self.timeouts: list[tuple[str, float]] = []  # (method, timeout) of every blocking call

    # -- error injection -------------------------------------------------------------------------

    def fail(self, method: str, error: KafkaError, times: int = 1, after: int = 0) -> None:
        """``times`` calls of ``method``, after the next ``after`` ones, raise ``KafkaException(error)``."""
        first = self._calls[method] + after + 1
        for n in range(first, first + times):
            self._scheduled[(method, n)] = error

    def _check(self, method: str) -> None:
        if self._fatal is not None:
            raise KafkaException(self._fatal)
        self._calls[method] += 1
        err = self._scheduled.pop((method, self._calls[method]), None)
        if err is not None:
            if err.fatal():
                self._fatal = err
            elif err.txn_requires_abort():
                self._needs_abort = True
            raise KafkaException(err)

    def _state_error(self, why: str) -> KafkaException:
        return KafkaException(KafkaError(KafkaError._STATE, why))

    # -- the Producer API ------------------------------------------------------------------------

    def init_transactions(self, timeout: float = -1) -> None:
        self.timeouts.append(("init_transactions", timeout))
        self._check("init_transactions")
        self._initialised = True

    def begin_transaction(self) -> None:
        self._check("begin_transaction")
        if not self._initialised or self._open is not None:
            raise self._state_error("begin_transaction: not initialised or a transaction is open")
        self._open = []
        self.cluster.journal.append("begin_transaction")

    def produce(self, topic: str, value: bytes | None = None, key: bytes | None = None, partition: int = -1,
                on_delivery: DeliveryCb | None = None, timestamp: int = 0, headers: Headers | None = None) -> None:
        self._check("produce")
        if self.transactional and (self._open is None or self._needs_abort):
            raise self._state_error("produce outside a usable transaction")
        self.cluster.create_topic(topic)
        count = len(self.cluster.logs[topic])
        if partition < 0:
            partition = 0 if key is None else zlib.crc32(key) % count
        if partition >= count:
            raise KafkaException(KafkaError(KafkaError._UNKNOWN_PARTITION, f"{topic}/{partition}"))
        entry = self.cluster.append(
            topic, partition, FakeMessage(topic, partition, None, key, value, headers, timestamp),
            "open" if self.transactional else "inflight",
        )
        if self._open is not None:
            self._open.append(entry)
        self._pending.append((entry, on_delivery))
        self.cluster.journal.append(f"produce {topic}")

    def poll(self, timeout: float = -1) -> int:
        served, self._pending = self._pending, []
        err, self.delivery_error = self.delivery_error, None
        for entry, callback in served:
            if entry.state == "inflight":
                entry.state = "failed" if err is not None else "committed"
            if callback is not None:
                callback(err, entry.message)
        return len(served)

    def flush(self, timeout: float = -1) -> int:
        self.timeouts.append(("flush", timeout))
        self.cluster.journal.append("flush")
        self.poll(0)
        return 0

    def send_offsets_to_transaction(self, offsets: list[TopicPartition], group_metadata: FakeGroupMetadata,
                                    timeout: float = -1) -> None:
        self.timeouts.append(("send_offsets_to_transaction", timeout))
        self._check("send_offsets_to_transaction")
        if self._open is None or self._needs_abort:
            raise self._state_error("send_offsets_to_transaction outside a usable transaction")
        for tp in offsets:
            self._offsets[(group_metadata.group_id, tp.topic, tp.partition)] = tp.offset
        self.cluster.journal.append("send_offsets_to_transaction")

    def commit_transaction(self, timeout: float = -1) -> None:
        self.timeouts.append(("commit_transaction", timeout))
        self._check("commit_transaction")
        if self._open is None or self._needs_abort:
            raise self._state_error("commit_transaction without a committable transaction")
        self.poll(0)
        for entry in self._open:
            entry.state = "committed"
        self.cluster.commit_offsets(self._offsets)
        self._open, self._offsets = None, {}
        self.cluster.journal.append("commit_transaction")

    def abort_transaction(self, timeout: float = -1) -> None:
        self.timeouts.append(("abort_transaction", timeout))
        self._check("abort_transaction")
        if self._open is None:
            raise self._state_error("abort_transaction without a transaction")
        for entry in self._open:
            entry.state = "aborted"
        self._open, self._offsets, self._needs_abort = None, {}, False
        self.cluster.journal.append("abort_transaction")
