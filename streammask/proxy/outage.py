"""Whether the clusters ``run`` talks to are reachable, and since when they are not.

librdkafka never gives up on a broker: it reconnects forever, and without this the proxy would too,
healthy to every probe. ``Outage`` decides from what the clients report: while a cluster is unreachable
the proxy is not ready; once one has been unreachable for ``broker_timeout_s`` it is dead, and the run
ends with ``BrokerUnreachable`` naming the cluster and its address, so that a supervisor restarts it.

Down: ``_ALL_BROKERS_DOWN`` from a client's error callback (every broker it knows is disconnected;
librdkafka repeats it while that lasts). Up again: a statistics report with a broker ``UP``, a record
fetched (source), a transaction committed (target). A single broker's ``_TRANSPORT`` error is not an
outage: the cluster may have others (librdkafka logs it anyway).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaError, KafkaException

from streammask.errors import StreamMaskError
from streammask.proxy.log_limits import RateLimit

log = logging.getLogger("streammask.proxy")

# What a call that needed a cluster raises when it could not reach it (at start, before any callback).
_UNREACHABLE_CODES = frozenset({
    KafkaError._ALL_BROKERS_DOWN, KafkaError._TRANSPORT, KafkaError._TIMED_OUT, KafkaError._RESOLVE,
    KafkaError._MSG_TIMED_OUT,
})


class BrokerUnreachable(StreamMaskError):
    """A cluster was unreachable for longer than ``broker_timeout_s`` (or at start)."""

    def __init__(self, message: str, cluster: str, address: str) -> None:
        super().__init__(message)
        self.cluster = cluster
        self.address = address


@dataclass
class _Cluster:
    address: str
    down_since: float | None = None
    why: str = ""


class Outage:
    """Per cluster (``source``, ``target``): reachable, or unreachable since when and why. The HTTP thread
    reads it (``unreachable``, ``dead``); the loop's thread updates it (the clients' callbacks run there)."""

    def __init__(self, addresses: Mapping[str, str], timeout_s: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._clusters = {name: _Cluster(address) for name, address in addresses.items()}
        self.timeout_s = timeout_s
        self._clock = clock
        self._errors = RateLimit(clock=clock)

    # -- what the clients report --------------------------------------------------------------------

    def down(self, cluster: str, why: str) -> None:
        state = self._clusters[cluster]
        if state.down_since is not None:
            return
        state.down_since, state.why = self._clock(), why
        log.warning(f"{cluster} cluster unreachable", extra={"fields": {
            "cluster": cluster, "address": state.address, "reason": why, "broker_timeout_s": self.timeout_s}})

    def up(self, cluster: str) -> None:
        state = self._clusters[cluster]
        if state.down_since is None:
            return
        lasted = self._clock() - state.down_since
        state.down_since, state.why = None, ""
        log.info(f"{cluster} cluster reachable again", extra={"fields": {
            "cluster": cluster, "address": state.address, "unreachable_s": round(lasted, 1)}})

    def on_error(self, cluster: str, err: KafkaError) -> None:
        """A client's ``error_cb``. Connection errors are logged by librdkafka's logger (rate-limited there);
        anything else (authentication, a fatal error…) is logged here, once per 10 s per cluster and error."""
        code = err.code()
        if code == KafkaError._ALL_BROKERS_DOWN:
            self.down(cluster, err.str())
            return
        if code == KafkaError._TRANSPORT:
            return
        suppressed = self._errors.admit((cluster, code))
        if suppressed is None:
            return
        fields: dict[str, Any] = {"cluster": cluster, "address": self._clusters[cluster].address,
                                  "error": err.name(), "reason": err.str(), "fatal": err.fatal()}
        if suppressed:
            fields["suppressed"] = suppressed
        log.warning("kafka client error", extra={"fields": fields})

    def on_stats(self, cluster: str, stats: Mapping[str, Any]) -> None:
        """A client's statistics: a broker connection ``UP`` means the cluster is reachable."""
        brokers = stats.get("brokers")
        if isinstance(brokers, dict) and any(isinstance(b, dict) and b.get("state") == "UP" for b in brokers.values()):
            self.up(cluster)

    # -- what health and the loop ask ---------------------------------------------------------------

    def unreachable(self) -> str | None:
        """Why the proxy is not ready (None while every cluster is reachable)."""
        now = self._clock()
        parts = [f"{name} cluster ({c.address}) unreachable for {now - c.down_since:.0f} s"
                 for name, c in self._clusters.items() if c.down_since is not None]
        return "; ".join(parts) or None

    def dead(self) -> BrokerUnreachable | None:
        """The error to end the run with, once a cluster has been unreachable for ``timeout_s``."""
        now = self._clock()
        down = [(name, c) for name, c in self._clusters.items() if c.down_since is not None]
        expired = [(name, c) for name, c in down if c.down_since is not None and now - c.down_since >= self.timeout_s]
        if not expired:
            return None
        name, c = expired[0]
        assert c.down_since is not None
        message = (f"{name} cluster ({c.address}) unreachable for {now - c.down_since:.0f} s, longer than "
                   f"broker_timeout_s ({self.timeout_s:g}): {c.why}")
        for other, o in down:
            if other != name:
                same = " (the same cluster)" if o.address == c.address else ""
                message += f"; the {other} cluster ({o.address}){same} is unreachable too"
        message += "; check that its brokers are up and reachable from here (streammask exits so that it is restarted)"
        return BrokerUnreachable(message, name, c.address)

    def check(self) -> None:
        """Raise ``BrokerUnreachable`` once a cluster has been unreachable for too long."""
        dead = self.dead()
        if dead is not None:
            raise dead

    def address(self, cluster: str) -> str:
        return self._clusters[cluster].address


def unreachable_at_start(cluster: str, address: str, exc: KafkaException) -> BrokerUnreachable | None:
    """A start-up call (metadata, ``init_transactions``, reading checkpoints) that failed for want of the
    cluster, as an error naming it; None for any other failure."""
    err = exc.args[0] if exc.args else None
    if not isinstance(err, KafkaError) or err.code() not in _UNREACHABLE_CODES:
        return None
    return BrokerUnreachable(
        f"{cluster} cluster ({address}) unreachable at start: {err.name()}: {err.str()}; check that its brokers "
        "are up and reachable from here, and its bootstrap.servers", cluster, address)
