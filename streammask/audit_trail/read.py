"""The audit and target topics as ``audit verify`` and ``audit export`` read them: from the target
cluster, committed data only, outside any group (partitions assigned, nothing committed), every
partition from its start to its end as of the moment the scan starts.

An end is known from the partition-end event, not from the end offset alone: the last offsets may be
transaction markers, and some brokers (Tansu) under-report end offsets. Only digests of the target
records are kept, never their key or value.
"""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from collections.abc import Iterator, Sequence

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from streammask.audit_trail.reconcile import OutputIndex
from streammask.audit_trail.records import AuditEntry, NotAnAuditRecord, Position, parse_entry
from streammask.errors import StreamMaskError
from streammask.outcome import SourceRecord
from streammask.pipeline import SOURCE_HEADERS
from streammask.proxy.checkpoint import CheckpointState
from streammask.proxy.clients import fetch, source_record, target_reader
from streammask.proxy.config import ProxyConfig
from streammask.replay.digest import encode_record

STALL_S = 30.0


class ReadFailed(StreamMaskError):
    """A topic could not be read to its end: the check could not be made (not a mismatch)."""


class TopicMissing(StreamMaskError):
    """The topic does not exist on the target cluster."""


def scan(consumer: Consumer, topic: str, stall_s: float = STALL_S) -> Iterator[Message]:
    """Every record of ``topic`` (each partition's in offset order) up to the end as of now."""
    meta = consumer.list_topics(topic, timeout=stall_s).topics.get(topic)
    if meta is None or meta.error is not None:
        raise TopicMissing(f"topic {topic} does not exist on the target cluster")
    ends: dict[int, int] = {}
    starts = []
    for p in sorted(meta.partitions):
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=stall_s, cached=False)
        if high > low:
            ends[p] = high
            starts.append(TopicPartition(topic, p, low))
    if not starts:
        return
    consumer.assign(starts)
    try:
        pending = set(ends)
        progress = time.monotonic()
        while pending:
            messages = fetch(consumer, 1000)
            if messages:
                progress = time.monotonic()
            elif time.monotonic() - progress > stall_s:
                raise ReadFailed(
                    f"{topic}: no progress for {stall_s:.0f} s reading partition(s) {sorted(pending)} to their end "
                    f"{[ends[p] for p in sorted(pending)]} (an open transaction holds a read_committed reader back "
                    "until it ends, at most transaction.timeout.ms); run again")
            for msg in messages:
                err = msg.error()
                if err is None:
                    yield msg
                elif err.code() == KafkaError._PARTITION_EOF:
                    p = msg.partition()
                    if p in pending and consumer.position([TopicPartition(topic, p)])[0].offset >= ends[p]:
                        pending.discard(p)
                elif err.fatal():
                    raise KafkaException(err)
    finally:
        consumer.unassign()


class AuditTopic:
    """The audit records of one group, and what else the audit topic held."""

    def __init__(self) -> None:
        self.entries: list[AuditEntry] = []
        self.refused: list[str] = []
        self.other_groups: Counter[str] = Counter()


def read_audit(config: ProxyConfig) -> AuditTopic:
    """The config's group's audit records; TopicMissing when there is no audit topic."""
    found = AuditTopic()
    consumer = target_reader(config, scan=True)
    try:
        for msg in scan(consumer, config.audit_topic):
            at = _position(msg)
            try:
                entry = parse_entry(at, msg.value())
            except NotAnAuditRecord as exc:
                found.refused.append(str(exc))
                continue
            if entry.group == config.group_id:
                found.entries.append(entry)
            else:
                found.other_groups[entry.group] += 1
    finally:
        consumer.close()
    return found


def read_heads(config: ProxyConfig) -> dict[str, tuple[int, str]] | None:
    """The group's audit chain heads per instance from the checkpoint topic; None when it does not exist."""
    consumer = target_reader(config, scan=True)
    try:
        records = [(msg.key(), msg.value()) for msg in scan(consumer, config.checkpoint_topic)]
    except TopicMissing:
        return None
    finally:
        consumer.close()
    return CheckpointState.of(config.group_id, records).audit_heads


def read_output(config: ProxyConfig, topics: Sequence[str]) -> tuple[OutputIndex, list[str]]:
    """Digests of the target topics' records by their source coordinates, and the topics that do not exist."""
    index = OutputIndex()
    missing = []
    consumer = target_reader(config, scan=True)
    try:
        for topic in topics:
            try:
                for msg in scan(consumer, topic):
                    record = source_record(msg)
                    at = record.coordinates
                    index.add(source_of(record), Position(at.topic, at.partition, at.offset), digest(record))
            except TopicMissing:
                missing.append(topic)
    finally:
        consumer.close()
    return index, missing


def source_of(record: SourceRecord) -> tuple[str, int, int] | None:
    """The ``streammask.source.*`` headers as (topic, partition, offset); None if any is absent or bad."""
    found: dict[str, bytes] = {}
    for name, value in record.headers:
        if name in SOURCE_HEADERS and name not in found and value is not None:
            found[name] = value
    try:
        topic, partition, offset = (found[h] for h in SOURCE_HEADERS)
        return topic.decode(), int(partition), int(offset)
    except (KeyError, ValueError, UnicodeDecodeError):
        return None


def digest(record: SourceRecord) -> bytes:
    """What must be equal between copies of one source record: key, value and headers (in replay's
    ``streammask-record-v1`` encoding), hashed short: it only tells copies apart, it proves nothing."""
    return hashlib.blake2b(encode_record(record.key, record.value, record.headers), digest_size=16).digest()


def _position(msg: Message) -> Position:
    return Position(msg.topic() or "", msg.partition() or 0, msg.offset() or 0)
