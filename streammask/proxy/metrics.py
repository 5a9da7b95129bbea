"""The metric catalogue: every metric streammask exports, with its labels and meaning.

Labels are topics, partitions, tables, strategies and codes: never a value. One ``Metrics`` object per
process holds its own registry (no module-level singletons), so tests can build as many as they like.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_DELAY_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        r = self.registry = registry or CollectorRegistry()
        self.records_in = Counter(
            "streammask_records_in", "Source records consumed, by source topic.", ["topic"], registry=r)
        self.records_out = Counter(
            "streammask_records_out", "Masked records produced, by source topic.", ["topic"], registry=r)
        self.records_blocked = Counter(
            "streammask_records_blocked", "Records blocked (never produced), by source topic and reason code.",
            ["topic", "code"], registry=r)
        self.values_masked = Counter(
            "streammask_values_masked", "Values transformed, by table and strategy.", ["table", "strategy"],
            registry=r)
        self.transactions = Counter(
            "streammask_transactions", "Transactions ended, by result (committed, aborted).", ["result"], registry=r)
        for result in ("committed", "aborted"):  # served at 0 from the start: increase() ignores a series' first sample
            self.transactions.labels(result)
        self.batch_seconds = Histogram(
            "streammask_batch_seconds", "Time from a transaction's first record to its commit.",
            buckets=_LATENCY_BUCKETS, registry=r)
        self.commit_seconds = Histogram(
            "streammask_commit_seconds", "Latency of committing a transaction (offsets, audit, commit).",
            buckets=_LATENCY_BUCKETS, registry=r)
        self.end_to_end_delay = Histogram(
            "streammask_end_to_end_delay_seconds",
            "From the change in the source database (Debezium source.ts_ms) to its masked record's commit.",
            buckets=_DELAY_BUCKETS, registry=r)
        self.consumer_lag = Gauge(
            "streammask_consumer_lag", "Records between the committed position and the end of a source partition.",
            ["topic", "partition"], registry=r)
        self.last_commit = Gauge(
            "streammask_last_commit_timestamp_seconds", "Unix time of the last committed transaction.", registry=r)
        self.assigned_partitions = Gauge(
            "streammask_assigned_partitions", "Source partitions currently assigned to this instance.", registry=r)
        self.policy_info = Gauge(
            "streammask_policy_info",
            "Always 1; labels name the instance, its group and the policy and key (id and fingerprint) in force.",
            ["instance", "group", "policy_sha256", "key_id", "key_fingerprint"], registry=r)
        self.policy_changed = Gauge(
            "streammask_policy_changed_timestamp_seconds",
            "Unix time this process started under policy_sha256 where it (or its target topics) had been "
            "written under from_policy_sha256; no sample when the policy did not change (one at most).",
            ["instance", "from_policy_sha256", "policy_sha256"], registry=r)
        self.audit_sequence = Gauge(
            "streammask_audit_chain_sequence",
            "Sequence of this instance's last audit record: the chain head restored from the checkpoint topic at "
            "start, then one more per commit. It only grows; a drop means the chain started over (a fork).",
            ["instance", "group"], registry=r)
