"""``streammask run``: consume → mask → produce, one Kafka transaction per batch.

A small chain in the manner of arroyo's processing strategies: ``clients.fetch`` feeds ``_submit``,
which masks each record with the pure core and hands it to ``Output``; a ``Transaction`` collects
what one commit covers (source offset ranges, audit counts, metric counts); ``CommitPolicy`` decides
when it commits; ``Output.commit`` runs the commit sequence (offsets or checkpoints, audit record,
quarantine flush, ``commit_transaction``). If the commit needs an abort, the transaction is aborted
and the consumer rewound to the transaction's first records, so the batch is re-read and re-masked
byte-identically.

Blocked records never reach the target: with ``stop`` the transaction is aborted and the run ends
with an error naming the record; with ``skip`` they are counted, audited and optionally sent raw to
a quarantine topic on the *source* cluster.

Health tells the truth (``Health``): not ready while a cluster is unreachable (``Outage``) or a source
topic is missing (``SourceTopics``); a cluster unreachable for ``broker_timeout_s`` ends the run with
``BrokerUnreachable``, a fenced producer with ``InstanceFenced`` (two instances share an ``instance_id``).
Every 30 s a ``progress`` line (``ProgressLog``).
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from streammask import topic_names
from streammask.audit import AuditCounts
from streammask.bootstrap import MaskingSetup
from streammask.errors import StreamMaskError
from streammask.outcome import Blocked, SourceRecord, blocked_fields
from streammask.pipeline import MaskStep
from streammask.proxy import checkpoint, lag
from streammask.proxy.audit_record import GENESIS, TransactionAudit, build_record
from streammask.proxy.clients import KafkaClients, fetch, source_record, transactional_id
from streammask.proxy.commit_policy import CommitPolicy
from streammask.proxy.config import ProxyConfig
from streammask.proxy.continuity import AUDIT_TAIL, assess, last_of_group, predates_key_ids
from streammask.proxy.http import Health
from streammask.proxy.metrics import Metrics
from streammask.proxy.outage import BrokerUnreachable, Outage, unreachable_at_start
from streammask.proxy.output import Output
from streammask.proxy.progress_log import ProgressLog
from streammask.proxy.source_topics import SourceTopics
from streammask.proxy.watchdog import Watchdog
from streammask.proxy.write_errors import InstanceFenced, fenced, invalid_target, kafka_error
from streammask.strategies.replace import build_pools

log = logging.getLogger("streammask.proxy")

MAX_CONSECUTIVE_ABORTS = 5  # a batch that keeps aborting is a persistent error, not a transient one


class BlockedRecordStop(StreamMaskError):
    """``on_blocked: stop`` met a blocked record: the run ends, nothing of that batch was committed."""


class TransactionsFailing(StreamMaskError):
    """The same batch aborted MAX_CONSECUTIVE_ABORTS times in a row."""


@dataclass
class Transaction:
    """What the open transaction covers."""

    audit: TransactionAudit
    started: float
    records: int = 0
    delays_ms: list[int] = field(default_factory=list)
    topics_out: Counter[str] = field(default_factory=Counter)  # published to metrics at commit
    blocked: Counter[tuple[str, str]] = field(default_factory=Counter)  # (topic, code) of skipped records


class Proxy:
    def __init__(
        self,
        config: ProxyConfig,
        setup: MaskingSetup,
        metrics: Metrics,
        health: Health,
        clock: Callable[[], float] = time.monotonic,
        clients: KafkaClients | None = None,
        sleep: Callable[[float], None] = time.sleep,
        progress_every_s: float = 30.0,
        watchdog: Watchdog | None = None,
    ) -> None:
        """``watchdog``: told what the loop is doing and when it ends (``proxy.watchdog``)."""
        self.config = config
        self.watchdog = watchdog
        self._doing: Callable[[str], None] = watchdog.doing if watchdog is not None else lambda phase: None
        self.setup = setup
        self.metrics = metrics
        self.health = health
        self.clock = clock
        self.policy = CommitPolicy(config.batch.max_records, config.batch.max_ms)
        self.outage = Outage({"source": str(config.source["bootstrap.servers"]),
                              "target": str(config.target_props["bootstrap.servers"])},
                             config.broker_timeout_s, clock)
        clients = clients or KafkaClients.for_config(config, stats_cb=self._on_stats,
                                                     target_stats_cb=self._on_target_stats,
                                                     error_cb=self._on_client_error)
        self.clients = clients
        self.consumer = clients.consumer
        self.output = Output(config, clients.producer, clients.quarantine, sleep, keep_waiting=self._keep_waiting,
                             doing=self._doing)
        self.source_topics = SourceTopics(config, lambda: self.consumer.list_topics(timeout=5.0).topics, clock)
        health.watch(ready=self.outage.unreachable, alive=lambda: str(dead) if (dead := self.outage.dead()) else None)
        health.watch(ready=self.source_topics.missing)
        self.progress = ProgressLog(metrics, clock, progress_every_s, state=health.not_ready)
        self.txn: Transaction | None = None
        self.audit_seq = 0
        self.audit_prev = GENESIS
        self.consecutive_aborts = 0
        self.step = MaskStep(setup.masker, config.target_topic, config.partitioning)
        self._assigned: set[tuple[str, int]] = set()
        self._committed_next: dict[tuple[str, int], int] = {}  # next source offset, as this instance committed it
        self._notes: dict[str, Any] = {}  # for the next audit record: what this start found (continuity)
        self._unannounced: set[str] = set()  # target topics to record under this key at the next commit
        self._announced_sources: set[str] = set()  # source topics whose target is recorded since the start
        self._fence: KafkaError | None = None  # a fatal fencing error a client reported (error_cb)
        self._last_poll = clock()  # when the consumer last served rebalance events (a fetch began)
        self._generation = 0  # assignments seen: a change means the fetched records' assignment is gone
        self._held: list[Message] = []  # records a poll before a commit fetched: processed at the next turn
        metrics.policy_info.labels(config.instance_id, config.group_id, setup.loaded.sha256, setup.key.key_id,
                                   setup.key.fingerprint).set(1)

    # -- lifecycle ----------------------------------------------------------------------------------

    def prepare(self) -> None:
        """Check routes, create streammask's own topics, start transactions, restore the audit chain head,
        refuse target topics written under another key (``proxy.continuity``), build the ``replace`` pools (so
        the first transaction does not wait for them)."""
        build_pools(f for t in self.setup.loaded.policy.tables.values() for f in t.fields.values())
        for topic in self.config.topics or ():
            # an unrouted topic, or one routed to a name Kafka refuses, fails now, not at its first record
            problem = invalid_target(self.config, self.config.target_topic(topic), topic)
            if problem is not None:
                raise problem
        with self._reaching("target"):
            self.clients.ensure_own_topics(
                {
                    # the audit trail is a compliance record: kept until someone decides otherwise (a topic
                    # that already exists keeps its own settings)
                    self.config.audit_topic: (1, {"retention.ms": "-1"}),
                    self.config.checkpoint_topic: (1, {"cleanup.policy": "compact"}),
                },
            )
            self.output.start()
            state = self._read_checkpoints()
        head = state.audit_heads.get(self.config.instance_id)
        if head is not None:
            self.audit_seq, self.audit_prev = head
        self._publish_audit_sequence()  # only now: a 0 before the restore would read as the chain starting over
        self._check_continuity(state)
        self.source_topics.check()

    @contextlib.contextmanager
    def _reaching(self, cluster: str) -> Iterator[None]:
        """Start-up calls to ``cluster``: one that fails for want of it names the cluster and its address."""
        try:
            yield
        except KafkaException as exc:
            problem = unreachable_at_start(cluster, self.outage.address(cluster), exc)
            if problem is None:
                raise
            raise problem from None

    def _check_continuity(self, state: checkpoint.CheckpointState) -> None:
        """Refuse (``KeyChanged``) to continue target topics last written under another key, unless the
        config acknowledges it; note an acknowledged rotation and a policy change for the audit."""
        cfg, key_id, policy = self.config, self.setup.key.key_id, self.setup.loaded.sha256
        targets = self._current_targets()
        legacy = None
        if predates_key_ids(state):
            if self.clients.read_audit_tail is not None:
                with self._reaching("target"):
                    legacy = last_of_group(self.clients.read_audit_tail(AUDIT_TAIL), cfg.group_id)
            if legacy is None:
                log.warning("key continuity not checked: the checkpoints predate key ids and no recent audit "
                            "record of the group names one", extra={"fields": {"group": cfg.group_id}})
        found = assess(state, group=cfg.group_id, instance=cfg.instance_id, key_id=key_id,
                                  policy_sha256=policy, targets=targets, rotation=cfg.key_rotation, legacy=legacy,
                                  key_fingerprint=self.setup.key.fingerprint)
        self._notes = found.notes()
        if "key_rotation" in self._notes:
            log.warning("key rotation acknowledged: target topics continue under a new key, mixing two mappings",
                        extra={"fields": {"group": cfg.group_id, **self._notes["key_rotation"]}})
        elif cfg.key_rotation is not None:
            log.info("key_rotation has nothing to acknowledge: no target topic was written under another key; "
                     "remove it once every instance has started", extra={"fields": {"group": cfg.group_id}})
        if found.policy_from is not None:
            log.warning(f"policy changed from {found.policy_from} to {policy}", extra={"fields": {
                "group": cfg.group_id, "from_policy_sha256": found.policy_from, "policy_sha256": policy}})
            self.metrics.policy_changed.labels(cfg.instance_id, found.policy_from, policy).set(time.time())
        self._unannounced = set(targets)

    def _current_targets(self) -> set[str]:
        """The target topics this start writes: the listed topics' routes or, with a pattern, the routes of
        the source topics that match it now."""
        cfg = self.config
        if cfg.topics is not None:
            return {cfg.target_topic(t) for t in cfg.topics}
        with self._reaching("source"):
            names = self.consumer.list_topics(timeout=30.0).topics
        routes = (cfg.route(t) for t in names if cfg.matches(t) and t not in cfg.own_topics)
        # an unrouted topic, or one routed to a name Kafka refuses, fails at its first record (target_topic)
        return {target for target in routes if target is not None and topic_names.problem(target) is None}

    def run(self, stop: threading.Event) -> None:
        """Process until ``stop`` is set; then commit what is open and leave the group cleanly."""
        self.consumer.subscribe(
            self.config.subscription(), on_assign=self._on_assign, on_revoke=self._on_revoke, on_lost=self._on_lost
        )
        ended_by: BaseException | None = None
        try:
            while not stop.is_set():
                self.health.beat()
                self._keep_waiting()
                self.source_topics.check()
                self.progress.tick()
                self._doing("fetching records")
                messages, self._held = self._held, []
                if not messages:
                    self._last_poll = self.clock()
                    messages = fetch(self.consumer)
                generation = self._generation
                self._doing("masking records")
                for i, msg in enumerate(messages):
                    self._submit(msg)
                    if self.txn is not None and self.txn.records >= self.policy.max_records:
                        rewound = self._commit()
                        if self._generation != generation:  # a rebalance before the commit: the rest is not ours
                            break
                        if rewound is not None:  # aborted: the rest of this list is re-read after the rewind
                            held, self._held = self._held, []
                            self._rewind_rest(messages[i + 1 :] + held, rewound)
                            break
                if self.txn is not None and self.policy.due(self.txn.records, self.txn.started, self.clock()):
                    rewound = self._commit()
                    if rewound is not None:
                        held, self._held = self._held, []
                        self._rewind_rest(held, rewound)
                self.output.poll()
            if self.txn is not None:
                self._commit()
        except (BrokerUnreachable, InstanceFenced) as exc:
            # No abort: it would wait for a cluster that does not answer, or fail (fenced). The open transaction
            # is aborted by the broker when it times out, or by the next start's init_transactions.
            self.txn, ended_by = None, exc
            raise
        except KafkaException as exc:
            err = kafka_error(exc)
            problem = self._fenced(err)
            if problem is None:
                self._abort("shutdown after an error")
                raise
            self.txn, ended_by = None, problem
            raise problem from None
        except BaseException:
            self._abort("shutdown after an error")
            raise
        finally:
            self.health.ready = False
            if self.watchdog is not None:  # the rest is bounded by shutdown_timeout_s
                self.watchdog.stopping("the run ended" if ended_by is None else type(ended_by).__name__)
            self._doing("leaving the group (consumer close)")
            self.consumer.close()  # leaves the group: revoke runs with nothing open
            if ended_by is None and sys.exc_info()[1] is None:
                self.output.close(10.0)
            # else nothing to wait for (all is re-read), and a flush would serve delivery callbacks while the
            # client is failing (fenced): confluent-kafka then raises SystemError in the callback
            self.progress.log(final=True)

    def _keep_waiting(self) -> None:
        """Between turns and retries: give up on a fenced instance or a cluster unreachable for too long."""
        if self._fence is not None:
            problem = self._fenced(self._fence)
            if problem is not None:
                raise problem
        self.outage.check()

    def _fenced(self, err: KafkaError | None) -> InstanceFenced | None:
        return None if err is None else fenced(self.config, err, transactional_id(self.config))

    def _on_client_error(self, cluster: str, err: KafkaError) -> None:
        """Every client's ``error_cb``: a fatal fencing error (confluent-kafka passes the underlying code) ends
        the run at the loop's next turn or retry, whichever call it surfaced in or not."""
        if err.fatal() and self._fenced(err) is not None and self._fence is None:
            self._fence = err
        self.outage.on_error(cluster, err)

    # -- per record ---------------------------------------------------------------------------------

    def _submit(self, msg: Message) -> None:
        err = msg.error()
        if err is not None:
            self._consumer_error(err, msg.topic())
            return
        topic, partition, offset = msg.topic(), msg.partition(), msg.offset()
        if topic is None or partition is None or offset is None:
            return  # not a record (librdkafka only sets these together)
        self.outage.up("source")
        txn = self.txn or self._begin()
        txn.audit.consumed((topic, partition), offset)
        txn.records += 1
        record = source_record(msg)
        out = self.step(record)
        if isinstance(out, Blocked):
            txn.audit.counts.add_blocked(record.coordinates, out)
            self._blocked(record, out)
            return
        masked = out.masked
        txn.audit.counts.add_masked(masked)
        self.output.write(out)
        txn.topics_out[topic] += 1
        if masked.source_ts_ms is not None:
            txn.delays_ms.append(masked.source_ts_ms)

    def _consumer_error(self, err: KafkaError, topic: str | None) -> None:
        code = err.code()
        if code == KafkaError._PARTITION_EOF:
            return
        if err.fatal() or code == KafkaError.FENCED_INSTANCE_ID:
            problem = self._fenced(err) or (self._fenced(self._fence) if self._fence is not None else None)
            if problem is not None:  # another process uses this instance_id: no abort, no retry
                raise problem
            raise KafkaException(err)
        if code == KafkaError._ALL_BROKERS_DOWN:  # without an error_cb, librdkafka reports it here
            self.outage.down("source", err.str())
            return
        fields: dict[str, Any] = {"error": err.name(), "retriable": err.retriable()}
        if topic:
            fields["topic"] = topic
        if code == KafkaError.UNKNOWN_TOPIC_OR_PART:
            self.source_topics.recheck()
        log.warning(f"consumer error{f' on {topic}' if topic else ''}", extra={"fields": fields})

    def _blocked(self, record: SourceRecord, outcome: Blocked) -> None:
        where, reason = record.coordinates, outcome.reason
        fields = blocked_fields(where, reason)
        if self.config.on_blocked == "stop":
            log.error("record blocked; stopping (on_blocked: stop)", extra={"fields": fields})
            self.metrics.records_blocked.labels(where.topic, reason.code.value).inc()  # the run ends here
            self._abort("blocked record")
            consequence = (
                "nothing of its transaction was committed"
                if self.output.transactional
                else "it was not produced and offsets from its batch on were not committed"
            )
            raise BlockedRecordStop(
                f"record blocked at {where.topic}/{where.partition}/{where.offset}: {reason.describe()}; {consequence}"
            )
        log.warning("record blocked; skipped (on_blocked: skip)", extra={"fields": fields})
        if self.txn is not None:
            self.txn.blocked[(where.topic, reason.code.value)] += 1
        self.output.quarantine(record, reason.code.value)

    # -- transactions -------------------------------------------------------------------------------

    def _begin(self) -> Transaction:
        self.output.begin()
        key = self.setup.key
        counts = AuditCounts(self.setup.loaded.sha256, key.key_id, self.setup.loaded.policy.leak_guard, key.fingerprint)
        self.txn = Transaction(TransactionAudit(counts), self.clock())
        return self.txn

    def _commit(self, in_callback: bool = False) -> set[tuple[str, int]] | None:
        """Commit the open transaction. On an abort, the consumer is rewound to the transaction's
        first records; returns the partitions rewound then (None when committed). ``in_callback``: from a
        rebalance callback (the consumer may not be polled there; its generation is current)."""
        txn = self.txn
        if txn is None:
            return None
        if not in_callback and not self._still_assigned(txn):
            return None
        self._doing(f"committing transaction {self.audit_seq + 1} ({txn.records} records)")
        started = self.clock()
        offsets = txn.audit.next_offsets()
        record = build_record(
            txn.audit,
            instance=self.config.instance_id,
            sequence=self.audit_seq + 1,
            prev_hash=self.audit_prev,
            group_id=self.config.group_id,
            notes=self._notes,
        )
        fresh = {topic for topic, _ in txn.audit.ranges} - self._announced_sources
        targets = self._unannounced | {self.config.target_topic(topic) for topic in fresh}
        try:
            self.output.commit(offsets, record, self.consumer, targets)
        except KafkaException as exc:
            err = kafka_error(exc)
            problem = self._fenced(err) or self._fenced(self._fence)
            if problem is not None:  # not transient: another instance has this transactional.id now; no abort
                self.txn = None
                raise problem from None
            if isinstance(err, KafkaError) and err.txn_requires_abort():
                log.warning("transaction aborted; re-reading its records", extra={"fields": {"error": err.name()}})
                self._abort(err.name())
                self.consecutive_aborts += 1
                if self.consecutive_aborts >= MAX_CONSECUTIVE_ABORTS:
                    raise TransactionsFailing(
                        f"{self.consecutive_aborts} transactions in a row aborted, the last with {err.name()}: "
                        f"{err.str()}; check that the target topics exist and the producer may write them"
                    ) from None
                return self._rewind(txn)
            raise
        self.txn = None
        self.consecutive_aborts = 0
        self.outage.up("target")
        self.audit_seq, self.audit_prev = record["sequence"], record["hash"]
        self._publish_audit_sequence()
        self._notes, self._unannounced = {}, set()
        self._announced_sources |= fresh
        self._committed_next.update(offsets)
        now_wall = time.time()
        self._publish_counts(txn)
        self.metrics.transactions.labels("committed").inc()
        self.metrics.commit_seconds.observe(self.clock() - started)
        self.metrics.batch_seconds.observe(self.clock() - txn.started)
        self.metrics.last_commit.set(now_wall)
        for ts_ms in txn.delays_ms:
            self.metrics.end_to_end_delay.observe(max(0.0, now_wall - ts_ms / 1000))
        if not self.config.same_cluster or not self.output.transactional:
            tps = [TopicPartition(t, p, o) for (t, p), o in offsets.items()]
            self.consumer.commit(offsets=tps, asynchronous=True)  # for lag tools; checkpoints are the truth
        return None

    def _still_assigned(self, txn: Transaction) -> bool:
        """Before a commit after a pause longer than the session timeout (a stopped process, a long GC…): the group
        may have moved the partitions on, and librdkafka says so only when polled. Poll (timeout 0: rebalance
        callbacks run, an ``on_lost`` aborts) and commit only if every partition of the transaction is still
        assigned (Kafka's KIP-447 check refuses a stale commit too; not every broker makes it). Records the poll
        fetched are held for the loop's next turn (librdkafka drops those of a previous assignment)."""
        if self.clock() - self._last_poll <= self.config.session_timeout_s:
            return True
        gap = self.clock() - self._last_poll
        self._doing("polling the consumer for rebalances after a pause")
        generation, self._last_poll = self._generation, self.clock()
        for msg in self.consumer.consume(self.policy.max_records, 0):
            err = msg.error()
            if err is not None:
                self._consumer_error(err, msg.topic())
            else:
                self._held.append(msg)
        mine = set(txn.audit.ranges) <= self._assigned
        if self.txn is txn and mine and self._generation == generation:
            return True
        log.warning("not committing a transaction after a pause: its partitions were reassigned meanwhile; they are "
                    "re-read by their owner", extra={"fields": {"pause_s": round(gap, 1), "records": txn.records}})
        self._abort("partitions reassigned during a pause")
        return False

    def _publish_audit_sequence(self) -> None:
        self.metrics.audit_sequence.labels(self.config.instance_id, self.config.group_id).set(self.audit_seq)

    def _publish_counts(self, txn: Transaction) -> None:
        """Counters count committed work: per transaction, not per record (cheaper, and an aborted
        batch that is re-read is not counted twice)."""
        m = self.metrics
        for topic, n in txn.audit.records_by_topic().items():
            m.records_in.labels(topic).inc(n)
        for topic, n in txn.topics_out.items():
            m.records_out.labels(topic).inc(n)
        for (topic, code), n in txn.blocked.items():
            m.records_blocked.labels(topic, code).inc(n)
        by_strategy: Counter[tuple[str, str]] = Counter()
        for stats, n in txn.audit.counts.columns.items():
            by_strategy[(stats.table, stats.strategy)] += n
        for (table, strategy), n in by_strategy.items():
            m.values_masked.labels(table, strategy).inc(n)

    def _abort(self, why: str) -> None:
        if self.txn is None:
            return
        self.txn = None
        if self._fenced(self._fence) is not None:
            return  # a fenced producer cannot abort (the next owner's init_transactions did)
        try:
            self.output.abort()
        except KafkaException as exc:
            err = kafka_error(exc)
            problem = self._fenced(err)
            if problem is not None:
                raise problem from None
            log.error("abort failed", extra={"fields": {"why": why, "error": err.name() if err else str(exc)}})
            return
        self.metrics.transactions.labels("aborted").inc()

    def _rewind(self, txn: Transaction) -> set[tuple[str, int]]:
        """After an abort: seek each partition of the aborted transaction back to its first record
        there, so the batch is re-read (and re-masked byte-identically). Returns those partitions."""
        rewound = set()
        for (topic, partition), offsets in txn.audit.ranges.items():
            if (topic, partition) in self._assigned:
                self.consumer.seek(TopicPartition(topic, partition, offsets.first))
                rewound.add((topic, partition))
        return rewound

    def _rewind_rest(self, rest: list[Message], rewound: set[tuple[str, int]]) -> None:
        """Records fetched after an abort that were not processed: seek their partitions back to them."""
        for msg in rest:
            topic, partition, offset = msg.topic(), msg.partition(), msg.offset()
            if msg.error() is not None or topic is None or partition is None or offset is None:
                continue
            if (topic, partition) not in rewound and (topic, partition) in self._assigned:
                self.consumer.seek(TopicPartition(topic, partition, offset))
                rewound.add((topic, partition))

    # -- rebalances ---------------------------------------------------------------------------------

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        if not self.config.same_cluster:
            state = self._read_checkpoints()
            for tp in partitions:
                next_offset = state.offsets.get((tp.topic, tp.partition))
                if next_offset is not None:
                    tp.offset = next_offset
        consumer.assign(partitions)
        self._generation, self._held = self._generation + 1, []
        self._assigned = {(tp.topic, tp.partition) for tp in partitions}
        self.metrics.assigned_partitions.set(len(self._assigned))
        self.health.ready = bool(self._assigned)  # /readyz: 200 means partitions are assigned
        log.info("partitions assigned", extra={"fields": {"partitions": sorted(f"{t}/{p}" for t, p in self._assigned)}})

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        if self.txn is not None:
            try:
                self._commit(in_callback=True)  # still in the old generation: the commit is valid
            except KafkaException as exc:
                log.warning(
                    "commit on revoke failed; the new owner re-reads",
                    extra={"fields": {"error": str(exc.args[0].name())}},
                )
                self._abort("revoke")
        self._unassign(consumer)
        log.info("partitions revoked", extra={"fields": {"count": len(partitions)}})

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._abort("partitions lost")  # another member owns them now: never commit for them
        self._unassign(consumer)
        log.warning("partitions lost", extra={"fields": {"count": len(partitions)}})

    def _unassign(self, consumer: Consumer) -> None:
        """Forget everything about the partitions given up: their next owner may move them on."""
        consumer.unassign()
        self._generation, self._held = self._generation + 1, []
        for topic, partition in self._assigned:
            with contextlib.suppress(KeyError):
                self.metrics.consumer_lag.remove(topic, str(partition))
        self._assigned = set()
        self._committed_next.clear()
        self.metrics.assigned_partitions.set(0)
        self.health.ready = False

    # -- checkpoints and lag ------------------------------------------------------------------------

    def _read_checkpoints(self) -> checkpoint.CheckpointState:
        return checkpoint.CheckpointState.of(self.config.group_id, self.clients.read_checkpoints())

    def _on_stats(self, stats_json: str) -> None:
        try:
            stats = orjson.loads(stats_json)
        except orjson.JSONDecodeError:
            return
        self.outage.on_stats("source", stats)
        for (topic, partition), n in lag.from_stats(stats, self._assigned, self._committed_next).items():
            self.metrics.consumer_lag.labels(topic, str(partition)).set(n)

    def _on_target_stats(self, stats_json: str) -> None:
        try:
            stats = orjson.loads(stats_json)
        except orjson.JSONDecodeError:
            return
        self.outage.on_stats("target", stats)
