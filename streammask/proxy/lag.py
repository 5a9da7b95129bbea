"""Consumer lag: per partition, the records between the committed position and the partition's end.

``from_stats`` reads it from librdkafka's statistics for the running proxy's gauge; ``lag_rows`` asks the
brokers (and, across clusters, the checkpoint topic) for ``streammask lag``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from confluent_kafka import TopicPartition

from streammask.proxy import checkpoint
from streammask.proxy.clients import read_target_topic, source_consumer
from streammask.proxy.config import ProxyConfig

Partition = tuple[str, int]


def from_stats(
    stats: Mapping[str, Any], assigned: Iterable[Partition], committed: Mapping[Partition, int]
) -> dict[Partition, int]:
    """Lag of each ``assigned`` partition found in librdkafka's statistics: its end (the last stable
    offset, as a read_committed consumer sees it; else the high watermark) minus the position in
    ``committed`` (what this instance committed: offsets committed through a transaction never show in
    the consumer's statistics), or the consumer's committed offset before this instance committed any."""
    wanted = set(assigned)
    out: dict[Partition, int] = {}
    for topic, tstats in (stats.get("topics") or {}).items():
        for pid, pstats in (tstats.get("partitions") or {}).items():
            if pid == "-1" or (topic, int(pid)) not in wanted:
                continue
            end = pstats.get("ls_offset", -1)
            if not isinstance(end, int) or end < 0:
                end = pstats.get("hi_offset", -1)
            position = committed.get((topic, int(pid)), pstats.get("committed_offset", -1))
            if isinstance(end, int) and isinstance(position, int) and end >= 0 and position >= 0:
                out[(topic, int(pid))] = max(0, end - position)
    return out


def lag_rows(config: ProxyConfig, timeout: float = 15.0) -> list[tuple[str, int, int, int, int]]:
    """(topic, partition, committed next offset, end offset, lag) for every source partition."""
    consumer = source_consumer(config)
    try:
        md = consumer.list_topics(timeout=timeout)
        topics = sorted(t for t in md.topics if config.matches(t))
        tps = [TopicPartition(t, p) for t in topics for p in sorted(md.topics[t].partitions)]
        committed: dict[tuple[str, int], int] = {}
        for tp in consumer.committed(tps, timeout=timeout) if tps else []:
            if tp.offset >= 0:
                committed[(tp.topic, tp.partition)] = tp.offset
        if not config.same_cluster:  # run resumes from its checkpoints; from the group's offsets where it has none
            records = read_target_topic(config, config.checkpoint_topic, timeout=timeout)
            committed.update(checkpoint.CheckpointState.of(config.group_id, records).offsets)
        rows = []
        for tp in tps:
            low, high = consumer.get_watermark_offsets(tp, timeout=timeout, cached=False)
            pos = committed.get((tp.topic, tp.partition), low)
            rows.append((tp.topic, tp.partition, pos, high, max(0, high - pos)))
        return rows
    finally:
        consumer.close()
