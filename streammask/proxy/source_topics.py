"""Source topics the config names that the source cluster does not have.

librdkafka reports a subscribed topic that does not exist once, without its name in the warning the
proxy used to log, and consumes the others as if nothing were wrong. Here the source cluster's topics are
checked at start and, while any is missing, every 30 s: each check warns naming every missing topic (or
the ``topic_pattern`` that matches none), and the proxy is not ready until they exist. The check lists
every topic through the consumer, which also makes it notice a topic created since (it rejoins the group
with it instead of waiting for its next metadata refresh).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection

from confluent_kafka import KafkaException

from streammask.proxy.config import ProxyConfig

log = logging.getLogger("streammask.proxy")

EVERY_S = 30.0


class SourceTopics:
    def __init__(self, config: ProxyConfig, list_topics: Callable[[], Collection[str]],
                 clock: Callable[[], float] = time.monotonic, every_s: float = EVERY_S) -> None:
        self._config = config
        self._list = list_topics
        self._clock = clock
        self._every = every_s
        self._due: float | None = clock()  # None: nothing missing at the last check; no more checks
        self._problem: str | None = None

    def check(self) -> None:
        """List the source cluster's topics if a check is due; warn about what is missing."""
        now = self._clock()
        if self._due is None or now < self._due:
            return
        self._due = now + self._every
        try:
            names = set(self._list())
        except KafkaException:
            return  # the cluster is unreachable: ``Outage`` reports that; check again later
        cfg = self._config
        if cfg.topic_pattern is not None:
            matched = any(cfg.matches(t) and t not in cfg.own_topics for t in names)
            self._problem = None if matched else f"no source topic matches topic_pattern {cfg.topic_pattern!r}"
            if not matched:
                log.warning(f"no source topic matches topic_pattern {cfg.topic_pattern!r}; not ready until one does",
                            extra={"fields": {"topic_pattern": cfg.topic_pattern}})
        else:
            missing = [t for t in cfg.topics or () if t not in names]
            self._problem = f"source topic(s) missing: {', '.join(missing)}" if missing else None
            for topic in missing:
                log.warning(f"source topic {topic} does not exist; not ready until it does",
                            extra={"fields": {"topic": topic}})
        if self._problem is None:
            self._due = None
            what = {"topics": cfg.topics} if cfg.topic_pattern is None else {"topic_pattern": cfg.topic_pattern}
            log.info("source topics present", extra={"fields": what})

    def recheck(self) -> None:
        """Check at the next ``check`` (the consumer reported an unknown topic: one may have been deleted);
        while topics are known to be missing, the next check is already scheduled."""
        if self._problem is None:
            self._due = self._clock()

    def missing(self) -> str | None:
        """Why the proxy is not ready, as far as source topics go (None: all there)."""
        return self._problem
