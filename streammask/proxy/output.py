"""The proxy's writing side: masked records, quarantined records and the commit sequence.

One ``Output`` per instance drives the target producer, one transaction at a time (or, with
``delivery: at-least-once``, produce-then-flush), and the optional quarantine producer on the source
cluster. ``commit`` runs the documented sequence, in order:

1. the masked records were produced into the open transaction as they were masked;
2. same cluster: the source offsets go in with ``send_offsets_to_transaction`` (KIP-447, with the
   consumer's group metadata); other cluster: checkpoint records on the target cluster, same transaction;
3. the audit record, the instance's audit chain head and, for target topics written first since the
   start, under which key (id and fingerprint) and policy they are written now (``continuity`` reads them
   at the next start);
4. the quarantine producer is flushed: a skipped record must be there before the offsets move past it;
5. ``commit_transaction`` (retriable errors retried), or at-least-once: flush, every record delivered.

At-least-once has no transaction to tie the audit record to the records it counts, so there the masked
records are flushed (and their delivery checked) before step 2, and everything else after step 4.

An error that needs an abort leaves ``commit`` as the ``KafkaException`` librdkafka raised; the caller
aborts (``abort``) and re-reads. A record that could not be written for its topic's sake (invalid name,
missing, not authorised) leaves ``write`` or ``commit`` as ``TargetTopicUnwritable`` naming the topic and
its route: re-reading would not help.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from typing import Any

import orjson
from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

from streammask.errors import StreamMaskError
from streammask.outcome import SourceRecord
from streammask.pipeline import Addressed
from streammask.proxy import checkpoint
from streammask.proxy.clients import produce_waiting
from streammask.proxy.config import ProxyConfig
from streammask.proxy.write_errors import kafka_error, unwritable

COMMIT_ATTEMPTS = 5
Headers = list[tuple[str, str | bytes | None]]


class QuarantineFailed(StreamMaskError):
    """``skip`` with a quarantine topic: a blocked record could not be written there."""


class DeliveryFailed(StreamMaskError):
    """At-least-once: records were not delivered, so their offsets are not committed."""


class Output:
    def __init__(
        self,
        config: ProxyConfig,
        producer: Producer,
        quarantine: Producer | None,
        sleep: Callable[[float], None] = time.sleep,
        keep_waiting: Callable[[], None] = lambda: None,
        doing: Callable[[str], None] = lambda phase: None,
    ) -> None:
        """``keep_waiting``: called before waiting again on the target (a full queue, a commit retry); raises
        to give up (``Outage.check``: a cluster unreachable for too long). ``doing``: told each blocking step (the
        watchdog names it if the process has to be ended in it). Every blocking call is bounded by the target's
        ``transaction.timeout.ms`` (``txn_timeout_s``), never infinite."""
        self.config = config
        self.timeout_s = config.txn_timeout_s
        self._doing = doing
        self.producer = producer
        self.quarantine_producer = quarantine
        self.transactional = config.delivery == "transactional"
        self._sleep = sleep  # the backoff between retries of a commit
        self._keep_waiting = keep_waiting
        # The first record not delivered since the last check: its error and topic. The target
        # producer reports failures only (clients.target_producer), so asking costs nothing per record.
        self._delivery_error: tuple[KafkaError, str | None] | None = None
        self._source_of: dict[str, str] = {}  # target topic -> a source topic routed to it (to name the route)
        self._quarantine_error: KafkaError | None = None

    def start(self) -> None:
        """Fence older producers of this instance's transactional.id and abort their open transaction."""
        if self.transactional:
            self._doing("initialising transactions")
            self.producer.init_transactions(self.timeout_s)

    def begin(self) -> None:
        self._delivery_error = None
        if self.transactional:
            self.producer.begin_transaction()

    def produce(self, topic: str, key: bytes | None, value: bytes | None, headers: Headers, partition: int,
                timestamp: int) -> None:
        """One masked record; ``timestamp`` 0 means the time of producing. Waits while the local queue is full."""
        produce_waiting(self.producer, topic, self._keep_waiting, key=key, value=value, headers=headers,
                        partition=partition, timestamp=timestamp, on_delivery=self._on_delivery)

    def write(self, item: Addressed) -> None:
        """The pipeline's sink: a masked record, produced with its source record's timestamp (when the
        source gave one; otherwise the time of producing)."""
        source = item.source
        if item.topic not in self._source_of:
            self._source_of[item.topic] = source.coordinates.topic
        try:
            self.produce(item.topic, item.masked.key, item.masked.value, list(item.headers), item.partition,
                         item.timestamp)
        except KafkaException as exc:
            err = kafka_error(exc)
            problem = None if err is None else unwritable(self.config, err, item.topic, source.coordinates.topic)
            if problem is not None:
                raise problem from None
            raise

    def quarantine(self, record: SourceRecord, code: str) -> None:
        """A blocked record, raw, to the quarantine topic on the SOURCE cluster (never to non-prod)."""
        if self.quarantine_producer is None or not self.config.quarantine_topic:
            return
        self.quarantine_producer.produce(
            self.config.quarantine_topic,
            key=record.key,
            value=record.value,
            headers=[*record.headers, ("streammask.blocked", code.encode())],
            on_delivery=self._on_quarantine_delivery,
        )

    def poll(self) -> None:
        self.producer.poll(0)

    def commit(
        self,
        offsets: dict[tuple[str, int], int],
        audit_record: dict[str, Any],
        consumer: Consumer,
        targets: Collection[str] = (),
    ) -> None:
        """Steps 2–5 of the commit sequence for the open transaction (see the module docstring). ``targets``:
        target topics to record as written under the audit record's key and policy (``target/`` checkpoints)."""
        cfg = self.config
        tps = [TopicPartition(t, p, o) for (t, p), o in offsets.items()]
        if not self.transactional:
            # Nothing makes the audit record atomic with the records it counts: they must be delivered
            # before it is produced, or a crash between the two leaves an audit of records never written.
            self._flush_delivered()
        if self.transactional and cfg.same_cluster:
            self._retried("sending offsets to the transaction", lambda: self.producer.send_offsets_to_transaction(
                tps, consumer.consumer_group_metadata(), self.timeout_s))
        if not cfg.same_cluster:
            for (t, p), o in offsets.items():
                self.producer.produce(
                    cfg.checkpoint_topic,
                    key=checkpoint.offsets_key(cfg.group_id, t, p),
                    value=checkpoint.encode_offset(t, p, o, cfg.instance_id),
                )
        self.producer.produce(cfg.audit_topic, key=cfg.instance_id.encode(), value=orjson.dumps(audit_record))
        key_id, policy_sha256 = audit_record["key_id"], audit_record["policy_sha256"]
        fingerprint = audit_record.get("key_fingerprint")
        self.producer.produce(
            cfg.checkpoint_topic,
            key=checkpoint.audit_head_key(cfg.group_id, cfg.instance_id),
            value=checkpoint.encode_audit_head(audit_record["sequence"], audit_record["hash"], key_id, policy_sha256,
                                               fingerprint),
        )
        for topic in sorted(targets):
            self.producer.produce(
                cfg.checkpoint_topic,
                key=checkpoint.target_key(cfg.group_id, topic),
                value=checkpoint.encode_target(key_id, policy_sha256, cfg.instance_id, fingerprint),
            )
        self._flush_quarantine()
        if self.transactional:
            self._commit_transaction()
        else:
            self._flush_delivered()

    def abort(self) -> None:
        """Abort the open transaction (nothing to undo in at-least-once mode). Raises KafkaException."""
        if self.transactional:
            self._doing("aborting the transaction")
            self.producer.abort_transaction(self.timeout_s)

    def close(self, timeout_s: float = 10.0) -> None:
        self._doing("flushing the producer at close")
        self.producer.flush(timeout_s)
        if self.quarantine_producer is not None:
            self.quarantine_producer.flush(timeout_s)

    # -- internals ----------------------------------------------------------------------------------

    def _commit_transaction(self) -> None:
        try:
            self._retried("committing the transaction", lambda: self.producer.commit_transaction(self.timeout_s))
        except KafkaException:
            self.producer.poll(0)  # the failed records' reports, if not served yet
            self._raise_if_topic_failed()
            raise

    def _retried(self, phase: str, call: Callable[[], None]) -> None:
        """A transactional call that librdkafka allows to repeat after a retriable error (a timeout): repeated,
        with a backoff, while the target is not given up (``keep_waiting``), at most COMMIT_ATTEMPTS times."""
        for attempt in range(COMMIT_ATTEMPTS):
            self._doing(phase if attempt == 0 else f"{phase} (attempt {attempt + 1})")
            try:
                call()
                return
            except KafkaException as exc:
                err = exc.args[0]
                if isinstance(err, KafkaError) and err.retriable() and attempt < COMMIT_ATTEMPTS - 1:
                    self._keep_waiting()
                    self._sleep(0.5 * (attempt + 1))
                    continue
                raise

    def _raise_if_topic_failed(self) -> None:
        """A record not delivered because of its topic: re-reading cannot help, say which topic and route."""
        if self._delivery_error is None:
            return
        err, topic = self._delivery_error
        problem = None if topic is None else unwritable(self.config, err, topic, self._source_of.get(topic))
        if problem is not None:
            raise problem

    def _flush_delivered(self) -> None:
        self._doing("flushing records (at-least-once)")
        remaining = self.producer.flush(self.timeout_s)
        self._raise_if_topic_failed()
        failed, self._delivery_error = self._delivery_error, None
        err = failed[0] if failed else None
        if remaining or err is not None:
            raise DeliveryFailed(
                f"records not delivered ({remaining} pending, error {err.name() if err else '-'});"
                " offsets not committed, they will be re-read"
            )

    def _flush_quarantine(self) -> None:
        """Blocked records skipped in this transaction must be in the quarantine topic before the
        transaction commits past them; otherwise they would be nowhere."""
        if self.quarantine_producer is None:
            return
        self._doing("flushing the quarantine producer")
        remaining = self.quarantine_producer.flush(self.timeout_s)
        err, self._quarantine_error = self._quarantine_error, None
        if remaining or err is not None:
            raise QuarantineFailed(
                f"blocked records not written to quarantine topic {self.config.quarantine_topic} "
                f"({remaining} pending, error {err.name() if err else '-'}); the transaction is aborted"
            )

    def _on_delivery(self, err: KafkaError | None, msg: Message) -> None:
        if err is not None and self._delivery_error is None:
            self._delivery_error = (err, msg.topic())

    def _on_quarantine_delivery(self, err: KafkaError | None, msg: Message) -> None:
        if err is not None and self._quarantine_error is None:
            self._quarantine_error = err
