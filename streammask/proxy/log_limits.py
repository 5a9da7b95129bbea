"""At most one librdkafka log line per client and broker every 10 s.

While a broker is down, librdkafka retries its connection every few tens of milliseconds and logs each
failure: about 19 lines a second that bury everything else. The filter lets the first line of a (client,
broker) through, drops the rest for ``every_s``, and gives the next line it lets through a ``suppressed``
field: how many lines of that client and broker it dropped meanwhile.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Hashable

EVERY_S = 10.0
_THREAD = re.compile(r"^\[thrd:([^\]]*)\]")


class RateLimit:
    """One event per key every ``every_s`` seconds; counts the events it turned away."""

    def __init__(self, every_s: float = EVERY_S, clock: Callable[[], float] = time.monotonic) -> None:
        self._every = every_s
        self._clock = clock
        self._last: dict[Hashable, float] = {}
        self._dropped: dict[Hashable, int] = {}
        self._lock = threading.Lock()  # librdkafka may log from the admin client's background thread

    def admit(self, key: Hashable) -> int | None:
        """None: drop this one. Otherwise let it through; the number of events of ``key`` dropped since the
        last one let through."""
        now = self._clock()
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last < self._every:
                self._dropped[key] = self._dropped.get(key, 0) + 1
                return None
            self._last[key] = now
            return self._dropped.pop(key, 0)


def broker_of(text: str) -> str:
    """The broker a librdkafka line is about, from its ``[thrd:NAME]`` prefix: ``host:port`` for a broker
    thread (``127.0.0.1:9092/bootstrap`` and ``127.0.0.1:9092/1`` are the same broker), else the thread's
    name (``main``, ``GroupCoordinator``…)."""
    m = _THREAD.match(text)
    if m is None:
        return ""
    name = m.group(1)
    return name.rsplit("/", 1)[0] if "/" in name else name


class LibrdkafkaLimit(logging.Filter):
    """On a ``streammask.librdkafka.*`` logger: confluent-kafka logs ``"%s [%s] %s"`` with (facility, client
    name, "[thrd:…]: text")."""

    def __init__(self, every_s: float = EVERY_S, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.limit = RateLimit(every_s, clock)

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if not isinstance(args, tuple) or len(args) != 3:
            return True
        facility, client, text = (str(a) for a in args)
        broker = broker_of(text)
        suppressed = self.limit.admit((record.name, client, broker))
        if suppressed is None:
            return False
        fields: dict[str, object] = {"facility": facility, "broker": broker}
        if suppressed:
            fields["suppressed"] = suppressed
        record.fields = fields
        return True


def limit(logger: logging.Logger) -> logging.Logger:
    """Install the filter on ``logger`` once; returns it."""
    if not any(isinstance(f, LibrdkafkaLimit) for f in logger.filters):
        logger.addFilter(LibrdkafkaLimit())
    return logger
