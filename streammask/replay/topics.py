"""Replay's Kafka sink: masked records to the routed target topics, in transactions, each with its audit record.

A replay writes what ``run`` writes (same masked bytes, same source-coordinate headers, same partitions), one
transaction per ``batch.max_records`` records, each ending with an audit record (``audit_record``'s format,
chained) under its own instance name, ``replay-<replay id>``: ``audit verify`` then accounts for replayed
records as it does for ``run``'s. Its first commit records, per target topic, the key (id and fingerprint) and
policy it wrote under (``target/`` checkpoint records, as ``run`` does): the command refuses beforehand to continue
topics of another key (``proxy.continuity``). It never touches source offsets: a replay moves no group.

The producer's ``transactional.id`` is ``streammask-replay-<group>-<instance>``: a second replay from the same
instance fences the first rather than interleaving with it. Where each record landed (partition, offset) comes
from the delivery reports; the manifest keeps the offset range written per target partition.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import orjson
from confluent_kafka import KafkaError, Message, Producer

from streammask.audit import AuditCounts
from streammask.errors import StreamMaskError
from streammask.outcome import Blocked, SourceRecord
from streammask.pipeline import Addressed
from streammask.policy.model import LeakGuardPolicy
from streammask.proxy import checkpoint
from streammask.proxy.audit_record import GENESIS, TransactionAudit, build_record
from streammask.proxy.clients import client_props, produce_waiting
from streammask.proxy.config import ProxyConfig

TXN_TIMEOUT_S = 30.0


class ReplayWriteFailed(StreamMaskError):
    """A replay transaction could not be committed: what it held was aborted, nothing of it is visible."""


def replay_producer(config: ProxyConfig) -> Producer:
    props: dict[str, Any] = client_props(config.target_props, "producer")
    props["enable.idempotence"] = True
    props.setdefault("acks", "all")
    props.setdefault("linger.ms", 10)
    props.setdefault("partitioner", "murmur2")  # partitions are given explicitly; this only backs them up
    props["transactional.id"] = f"streammask-replay-{config.group_id}-{config.instance_id}"
    props.setdefault("transaction.timeout.ms", 60_000)
    return Producer(props)


class TopicWriter:
    """The pipeline's sink for ``replay`` without ``--output``. ``consumed`` is told every record read (masked
    or blocked) so each transaction's audit record covers its source ranges."""

    def __init__(
        self,
        config: ProxyConfig,
        producer: Producer,
        instance: str,
        policy_sha256: str,
        key_id: str,
        leak_guard: LeakGuardPolicy | None = None,
        max_records: int | None = None,
        key_fingerprint: str | None = None,
    ) -> None:
        self.config = config
        self.producer = producer
        self.instance = instance
        self.max_records = max_records or config.batch.max_records
        self._identity = (policy_sha256, key_id, leak_guard, key_fingerprint)
        self._txn: TransactionAudit | None = None
        self._records = 0
        self._sequence = 0
        self._prev = GENESIS
        self._error: KafkaError | None = None
        self.notes: dict[str, Any] = {}
        """What the first audit record notes (an acknowledged ``key_rotation``, ``policy_changed_from``), as
        ``run``'s first record after a start does."""
        self.unannounced: set[str] = set()
        """Target topics whose ``target/`` checkpoint record (the key and policy they are written under) goes
        into the next commit, so a later ``run`` or replay under another key is refused (``continuity``)."""
        self.written: dict[tuple[str, int], list[int]] = {}
        """(target topic, partition) -> [first offset, last offset, records] written (from delivery reports)."""
        self.transactions = 0

    def start(self) -> None:
        self.producer.init_transactions(TXN_TIMEOUT_S)

    def consumed(self, record: SourceRecord, outcome: Addressed | Blocked) -> None:
        txn = self._open()
        where = record.coordinates
        txn.consumed((where.topic, where.partition), where.offset)
        if isinstance(outcome, Blocked):
            txn.counts.add_blocked(where, outcome)
        else:
            txn.counts.add_masked(outcome.masked)
        self._records += 1
        if self._records >= self.max_records:
            self.commit()

    def write(self, item: Addressed) -> None:
        self._open()
        produce_waiting(self.producer, item.topic, key=item.masked.key, value=item.masked.value,
                        headers=list(item.headers), partition=item.partition, timestamp=item.timestamp,
                        on_delivery=self._delivered)

    def commit(self) -> None:
        """Commit the open transaction with its audit record (nothing open: nothing to do)."""
        txn = self._txn
        if txn is None:
            return
        record = build_record(txn, instance=self.instance, sequence=self._sequence + 1, prev_hash=self._prev,
                              group_id=self.config.group_id, notes=self.notes)
        self.producer.produce(self.config.audit_topic, key=self.instance.encode(), value=orjson.dumps(record))
        for topic in sorted(self.unannounced):
            self.producer.produce(self.config.checkpoint_topic, key=checkpoint.target_key(self.config.group_id, topic),
                                  value=checkpoint.encode_target(record["key_id"], record["policy_sha256"],
                                                                 self.instance, record.get("key_fingerprint")))
        remaining = self.producer.flush(TXN_TIMEOUT_S)  # serves the delivery reports: where records landed
        if remaining or self._error is not None:
            self._abort()
            why = self._error.name() if self._error is not None else f"{remaining} pending"
            raise ReplayWriteFailed(f"replay transaction {record['sequence']}: records not delivered ({why}); "
                                    "it was aborted")
        try:
            self.producer.commit_transaction(TXN_TIMEOUT_S)
        except Exception as exc:
            self._abort()
            raise ReplayWriteFailed(f"replay transaction {record['sequence']} failed and was aborted: {exc}") from None
        self._sequence, self._prev = record["sequence"], record["hash"]
        self.unannounced.clear()
        self.notes = {}
        self._txn, self._records = None, 0
        self.transactions += 1

    def abort(self) -> None:
        self._abort()

    def close(self) -> None:
        self.producer.flush(TXN_TIMEOUT_S)

    def _open(self) -> TransactionAudit:
        if self._txn is None:
            self.producer.begin_transaction()
            policy, key_id, guard, fingerprint = self._identity
            self._txn = TransactionAudit(AuditCounts(policy, key_id, guard, fingerprint))
        return self._txn

    def _abort(self) -> None:
        if self._txn is None:
            return
        self._txn, self._records = None, 0
        with contextlib.suppress(Exception):  # the transaction is dead either way; the error that led here is
            self.producer.abort_transaction(TXN_TIMEOUT_S)  # reported

    def _delivered(self, err: KafkaError | None, msg: Message) -> None:
        if err is not None:
            self._error = self._error or err
            return
        topic, partition, offset = msg.topic(), msg.partition(), msg.offset()
        if topic is None or partition is None or offset is None:
            return
        span = self.written.get((topic, partition))
        if span is None:
            self.written[(topic, partition)] = [offset, offset, 1]
        else:
            span[0], span[1], span[2] = min(span[0], offset), max(span[1], offset), span[2] + 1


OnConsumed = Callable[[SourceRecord, Addressed | Blocked], None]
