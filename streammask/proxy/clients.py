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
    Message,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from streammask.outcome import Coordinates, SourceRecord
from streammask.proxy.config import KafkaProps, ProxyConfig

# One config section feeds both kinds of client; each gets only the properties that apply to it.
_CONSUMER_ONLY = ("session.timeout.ms", "heartbeat.interval.ms", "max.poll.interval.ms", "auto.offset.reset",
                  "partition.assignment.strategy", "group.", "fetch.", "queued.", "check.crcs",
                  "enable.partition.eof", "auto.commit.interval.ms", "isolation.level")
_PRODUCER_ONLY = ("acks", "linger.ms", "batch.", "queue.buffering.", "message.send.max.retries", "retries",
                  "delivery.timeout.ms", "partitioner", "compression.type", "transaction.timeout.ms",
                  "request.required.acks", "sticky.partitioning")


def client_props(base: KafkaProps, kind: str, **extra: Any) -> dict[str, Any]:
    """``base`` with only the properties a ``kind`` of client (producer, consumer, admin) takes, ``extra``
    added (``_`` for ``.``), and librdkafka's logs routed into the JSON logs."""
    drop = {"producer": _CONSUMER_ONLY, "consumer": _PRODUCER_ONLY, "admin": _CONSUMER_ONLY + _PRODUCER_ONLY}[kind]
    props: dict[str, Any] = {k: v for k, v in base.items() if not k.startswith(drop)}
    props.update({k.replace("_", "."): v for k, v in extra.items()})
    props["logger"] = logging.getLogger(f"streammask.librdkafka.{kind}")  # into the JSON logs
    return props


def source_consumer(config: ProxyConfig, stats_cb: Callable[[str], None] | None = None) -> Consumer:
    props = client_props(
        config.source,
        "consumer",
        enable_auto_commit=False,
        enable_auto_offset_store=False,
        auto_offset_reset=config.source.get("auto.offset.reset", "earliest"),
    )
    props["group.id"] = config.group_id
    props["isolation.level"] = "read_committed"
    props.setdefault("session.timeout.ms", 10_000)
    if stats_cb is not None:
        props.setdefault("statistics.interval.ms", 5_000)
        props["stats_cb"] = stats_cb
    return Consumer(props)


def target_producer(config: ProxyConfig) -> Producer:
    props = client_props(config.target_props, "producer")
    props["enable.idempotence"] = True
    props.setdefault("acks", "all")
    props.setdefault("linger.ms", 10)
    # murmur2: the Java clients' hash of the (masked) key; null keys go to one partition, not a random one,
    # so a replay lands every record where it landed before.
    props.setdefault("partitioner", "murmur2")
    if config.delivery == "transactional":
        props["transactional.id"] = f"streammask-{config.group_id}-{config.instance_id}"
        props.setdefault("transaction.timeout.ms", 60_000)
    return Producer(props)


def quarantine_producer(config: ProxyConfig) -> Producer:
    """Blocked raw records go back to the SOURCE (production) cluster only."""
    props = client_props(config.source, "producer")
    props["enable.idempotence"] = True
    props.setdefault("acks", "all")
    return Producer(props)


def target_reader(config: ProxyConfig, scan: bool = False) -> Consumer:
    """A groupless reader of the target cluster (checkpoints, audit verify), committed data only.
    ``scan``: for reading whole topics to their end: an event at each partition's end (how a scan knows
    it read everything) and short fetch waits (so that end is seen soon)."""
    props = client_props(config.target_props, "consumer")
    props["group.id"] = f"streammask-{config.group_id}-{config.instance_id}-reader"
    props["enable.auto.commit"] = False
    props["isolation.level"] = "read_committed"
    props["auto.offset.reset"] = "earliest"
    if scan:
        props["enable.partition.eof"] = True
        props.setdefault("fetch.wait.max.ms", 50)
    return Consumer(props)


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
    def for_config(cls, config: ProxyConfig, stats_cb: Callable[[str], None] | None = None) -> KafkaClients:
        def read_target(topic: str, last: int | None = None) -> list[tuple[bytes | None, bytes | None]]:
            reader = target_reader(config)
            try:
                return read_to_end(reader, topic, last=last)
            finally:
                reader.close()

        return cls(
            consumer=source_consumer(config, stats_cb=stats_cb),
            producer=target_producer(config),
            quarantine=quarantine_producer(config) if config.quarantine_topic else None,
            read_checkpoints=lambda: read_target(config.checkpoint_topic),
            ensure_own_topics=lambda wanted: ensure_topics(admin(config.target_props), wanted),
            read_audit_tail=lambda n: read_target(config.audit_topic, n),
        )
