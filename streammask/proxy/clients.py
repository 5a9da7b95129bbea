"""Kafka clients as streammask needs them: the properties that make delivery guarantees hold are set
here, on top of whatever the user's config passes through."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from confluent_kafka import (
    TIMESTAMP_CREATE_TIME,
    TIMESTAMP_LOG_APPEND_TIME,
    Consumer,
    KafkaError,
    Message,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from streammask.outcome import Coordinates, SourceRecord
from streammask.proxy.config import KafkaProps, ProxyConfig
from streammask.proxy.log_limits import limit

StatsCb = Callable[[str], None]
ErrorCb = Callable[[KafkaError], None]

# One config section feeds both kinds of client; each gets only the properties that apply to it.
_CONSUMER_ONLY = ("session.timeout.ms", "heartbeat.interval.ms", "max.poll.interval.ms", "auto.offset.reset",
                  "partition.assignment.strategy", "group.", "fetch.", "queued.", "check.crcs",
                  "enable.partition.eof", "auto.commit.interval.ms", "isolation.level")
_PRODUCER_ONLY = ("acks", "linger.ms", "batch.", "queue.buffering.", "message.send.max.retries", "retries",
                  "delivery.timeout.ms", "partitioner", "compression.type", "transaction.timeout.ms",
                  "request.required.acks", "sticky.partitioning")


def client_props(base: KafkaProps, kind: str, **extra: Any) -> dict[str, Any]:
    """``base`` with only the properties a ``kind`` of client (producer, consumer, admin) takes, ``extra``
    added (``_`` for ``.``), and librdkafka's logs routed into the JSON logs (at most a line per client and
    broker every 10 s: ``log_limits``)."""
    drop = {"producer": _CONSUMER_ONLY, "consumer": _PRODUCER_ONLY, "admin": _CONSUMER_ONLY + _PRODUCER_ONLY}[kind]
    props: dict[str, Any] = {k: v for k, v in base.items() if not k.startswith(drop)}
    props.update({k.replace("_", "."): v for k, v in extra.items()})
    props["logger"] = limit(logging.getLogger(f"streammask.librdkafka.{kind}"))  # into the JSON logs
    return props


def _callbacks(props: dict[str, Any], stats_cb: StatsCb | None, error_cb: ErrorCb | None) -> None:
    if stats_cb is not None:
        props.setdefault("statistics.interval.ms", 5_000)
        props["stats_cb"] = stats_cb
    if error_cb is not None:
        props["error_cb"] = error_cb  # errors (all brokers down…) come here instead of as consume() events


def transactional_id(config: ProxyConfig) -> str:
    return f"streammask-{config.group_id}-{config.instance_id}"


def source_consumer(config: ProxyConfig, stats_cb: StatsCb | None = None, error_cb: ErrorCb | None = None) -> Consumer:
    props = client_props(
        config.source,
        "consumer",
        enable_auto_commit=False,
        enable_auto_offset_store=False,
        auto_offset_reset=config.source.get("auto.offset.reset", "earliest"),
    )
    props["group.id"] = config.group_id
    # Static membership (KIP-345): a restart within session.timeout.ms takes its partitions back without a
    # rebalance, and the broker refuses a second live member with this id (FENCED_INSTANCE_ID). librdkafka
    # sends no LeaveGroup for a static member: a stopped instance's partitions move after session.timeout.ms.
    props["group.instance.id"] = config.instance_id
    props["isolation.level"] = "read_committed"
    props.setdefault("session.timeout.ms", 10_000)
    _callbacks(props, stats_cb, error_cb)
    return Consumer(props)


def target_producer(config: ProxyConfig, stats_cb: StatsCb | None = None, error_cb: ErrorCb | None = None) -> Producer:
    props = client_props(config.target_props, "producer")
    props["enable.idempotence"] = True
    # Output asks every record's delivery report, to name the topic a failed one was for: only failures
    # come back, so records that were delivered cost nothing.
    props.setdefault("delivery.report.only.error", True)
    props.setdefault("acks", "all")
    props.setdefault("linger.ms", 10)
    # murmur2: the Java clients' hash of the (masked) key; null keys go to one partition, not a random one,
    # so a replay lands every record where it landed before.
    props.setdefault("partitioner", "murmur2")
    if config.delivery == "transactional":
        props["transactional.id"] = transactional_id(config)
        props.setdefault("transaction.timeout.ms", 60_000)
    _callbacks(props, stats_cb, error_cb)
    return Producer(props)


def quarantine_producer(config: ProxyConfig, error_cb: ErrorCb | None = None) -> Producer:
    """Blocked raw records go back to the SOURCE (production) cluster only."""
    props = client_props(config.source, "producer")
    props["enable.idempotence"] = True
    props.setdefault("acks", "all")
    _callbacks(props, None, error_cb)
    return Producer(props)


def produce_waiting(producer: Producer, topic: str, keep_waiting: Callable[[], None] = lambda: None,
                    **record: Any) -> None:
    """``producer.produce(topic, **record)``; while the local queue is full, serve delivery reports and try
    again (``keep_waiting`` is called before each wait and raises to give up)."""
    while True:
        try:
            producer.produce(topic, **record)
            return
        except BufferError:
            keep_waiting()
            producer.poll(0.1)


def groupless_reader(props: KafkaProps, group_id: str, offset_reset: str = "earliest") -> dict[str, Any]:
    """Consumer properties for reading with ``assign()`` only: committed data, no offsets committed. (librdkafka
    wants a ``group.id`` even then; this one is never joined.) ``offset_reset``: ``error`` where an offset that
    retention deleted must not be skipped silently."""
    out = client_props(props, "consumer")
    out["group.id"] = group_id
    out["enable.auto.commit"] = False
    out["isolation.level"] = "read_committed"
    out["auto.offset.reset"] = offset_reset
    return out


def target_reader(config: ProxyConfig, scan: bool = False) -> Consumer:
    """A groupless reader of the target cluster (checkpoints, audit verify), committed data only.
    ``scan``: for reading whole topics to their end: an event at each partition's end (how a scan knows
    it read everything) and short fetch waits (so that end is seen soon)."""
    props = groupless_reader(config.target_props, f"streammask-{config.group_id}-{config.instance_id}-reader")
    if scan:
        props["enable.partition.eof"] = True
        props.setdefault("fetch.wait.max.ms", 50)
    return Consumer(props)


def read_target_topic(
    config: ProxyConfig, topic: str, last: int | None = None, timeout: float = 30.0
) -> list[tuple[bytes | None, bytes | None]]:
    """Every (key, value) of a topic on the target cluster up to its end as of now (``last``: per partition,
    only the last ones), with a reader opened and closed for it."""
    reader = target_reader(config)
    try:
        return read_to_end(reader, topic, timeout, last)
    finally:
        reader.close()


def fetch(consumer: Consumer, max_records: int = 500, wait_s: float = 0.1) -> list[Message]:
    """Up to ``max_records`` records: those already fetched, at once; only when there are none, wait
    up to ``wait_s`` for some. (``consume(n, t)`` alone waits until it has all ``n`` or ``t`` has passed,
    idling with records in hand whenever fewer than ``n`` are queued.)"""
    messages: list[Message] = consumer.consume(max_records, 0)
    return messages or consumer.consume(max_records, wait_s)


_TSTYPES = {TIMESTAMP_CREATE_TIME: "create", TIMESTAMP_LOG_APPEND_TIME: "logappend"}


def source_record(msg: Message) -> SourceRecord:
    """A fetched record as the pipeline's ``SourceRecord`` (the caller checked it is one: not an error, its
    topic, partition and offset set)."""
    topic, partition, offset = msg.topic(), msg.partition(), msg.offset()
    if topic is None or partition is None or offset is None:
        raise ValueError("not a record")
    raw = msg.headers()
    headers: list[tuple[str, bytes | None]] = []
    if raw:
        items = raw.items() if isinstance(raw, dict) else raw
        headers = [(k, v.encode() if isinstance(v, str) else v) for k, v in items]
    ts_type, ts = msg.timestamp()
    tstype = _TSTYPES.get(ts_type)
    return SourceRecord(Coordinates(topic, partition, offset), msg.key(), msg.value(), headers,
                        tstype, ts if tstype is not None else None)


def admin(props: KafkaProps) -> AdminClient:
    return AdminClient(client_props(props, "admin"))


def ensure_topics(client: AdminClient, wanted: dict[str, tuple[int, dict[str, str]]], timeout: float = 30.0) -> None:
    """Create the topics in ``wanted`` (name -> (partitions, configs)) that do not exist yet."""
    existing = set(client.list_topics(timeout=timeout).topics)
    new = [NewTopic(t, num_partitions=n, replication_factor=-1, config=c) for t, (n, c) in wanted.items()
           if t not in existing]
    if not new:
        return
    for topic, future in client.create_topics(new, request_timeout=timeout).items():
        try:
            future.result()
        except Exception as exc:  # a concurrent instance may have created it first
            if topic not in client.list_topics(timeout=timeout).topics:
                raise RuntimeError(f"cannot create topic {topic}: {exc}") from None


def read_to_end(
    reader: Consumer, topic: str, timeout: float = 30.0, last: int | None = None
) -> list[tuple[bytes | None, bytes | None]]:
    """Every (key, value) of ``topic`` from the beginning (or the ``last`` offsets of each partition) up to
    the end as of now."""
    meta = reader.list_topics(topic, timeout=timeout).topics.get(topic)
    if meta is None or meta.error is not None:
        return []
    ends: dict[int, int] = {}
    starts: list[TopicPartition] = []
    for p in meta.partitions:
        low, high = reader.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout, cached=False)
        if high > low:
            ends[p] = high
            starts.append(TopicPartition(topic, p, low if last is None else max(low, high - last)))
    if not starts:
        return []
    reader.assign(starts)
    out: list[tuple[bytes | None, bytes | None]] = []
    pending = dict(ends)
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        for msg in reader.consume(500, 0.5):
            if msg.error():
                continue
            out.append((msg.key(), msg.value()))
            partition, offset = msg.partition(), msg.offset()
            if partition is not None and offset is not None and offset + 1 >= pending.get(partition, 0):
                pending.pop(partition, None)
        for p in list(pending):
            pos = reader.position([TopicPartition(topic, p)])[0].offset
            if pos >= ends[p]:
                pending.pop(p)
    reader.unassign()
    if pending:
        raise RuntimeError(f"could not read {topic} to its end within {timeout:.0f} s")
    return out


@dataclass
class KafkaClients:
    """The clients the proxy drives. Built from the config in production; tests may pass their own
    (e.g. to exercise tombstones or aborts that the local test broker cannot carry end to end)."""

    consumer: Consumer
    producer: Producer
    quarantine: Producer | None
    read_checkpoints: Callable[[], list[tuple[bytes | None, bytes | None]]]
    ensure_own_topics: Callable[[dict[str, tuple[int, dict[str, str]]]], None]
    read_audit_tail: Callable[[int], list[tuple[bytes | None, bytes | None]]] | None = None
    """The last n records of each audit topic partition (only read for checkpoints that predate key ids)."""

    @classmethod
    def for_config(
        cls,
        config: ProxyConfig,
        stats_cb: StatsCb | None = None,
        target_stats_cb: StatsCb | None = None,
        error_cb: Callable[[str, KafkaError], None] | None = None,
    ) -> KafkaClients:
        """``stats_cb``: the source consumer's statistics; ``target_stats_cb``: the target producer's;
        ``error_cb(cluster, error)``: every client's errors, by cluster (``source`` or ``target``)."""
        def on_error(cluster: str) -> ErrorCb | None:
            return None if error_cb is None else lambda err: error_cb(cluster, err)

        return cls(
            consumer=source_consumer(config, stats_cb=stats_cb, error_cb=on_error("source")),
            producer=target_producer(config, stats_cb=target_stats_cb, error_cb=on_error("target")),
            quarantine=quarantine_producer(config, error_cb=on_error("source")) if config.quarantine_topic else None,
            read_checkpoints=lambda: read_target_topic(config, config.checkpoint_topic),
            ensure_own_topics=lambda wanted: ensure_topics(admin(config.target_props), wanted),
            read_audit_tail=lambda n: read_target_topic(config, config.audit_topic, n),
        )
