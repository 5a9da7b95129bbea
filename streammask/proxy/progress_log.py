"""``run``'s progress line: every 30 s, one INFO ``progress`` log with what the proxy did.

Read from the metrics (committed work: records in and out, blocked, commits and aborts since the start,
the rates over the last interval, the current lag), so the line and ``/metrics`` never disagree.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from prometheus_client import Counter, Gauge

from streammask.proxy.metrics import Metrics

log = logging.getLogger("streammask.proxy")

EVERY_S = 30.0


def _sum(metric: Counter | Gauge, suffix: str = "", **labels: str) -> int:
    return int(sum(s.value for family in metric.collect() for s in family.samples
                   if s.name.endswith(suffix) and labels.items() <= s.labels.items()))


def totals(metrics: Metrics) -> dict[str, int]:
    """Counts since the start, and the lag now (summed over the assigned partitions)."""
    return {
        "records_in": _sum(metrics.records_in, "_total"),
        "records_out": _sum(metrics.records_out, "_total"),
        "blocked": _sum(metrics.records_blocked, "_total"),
        "commits": _sum(metrics.transactions, "_total", result="committed"),
        "aborts": _sum(metrics.transactions, "_total", result="aborted"),
        "lag": _sum(metrics.consumer_lag),
        "partitions": _sum(metrics.assigned_partitions),
    }


class ProgressLog:
    def __init__(self, metrics: Metrics, clock: Callable[[], float] = time.monotonic, every_s: float = EVERY_S,
                 state: Callable[[], str | None] = lambda: None) -> None:
        """``state``: why the proxy is not ready (None: ready), for the line's ``not_ready`` field."""
        self._metrics = metrics
        self._clock = clock
        self._every = every_s
        self._state = state
        self._last_at = clock()
        self._last = totals(metrics)

    def tick(self) -> None:
        """Log the line if ``every_s`` has passed since the last one."""
        if self._clock() - self._last_at >= self._every:
            self.log()

    def log(self, final: bool = False) -> None:
        now, counts = self._clock(), totals(self._metrics)
        interval = now - self._last_at
        fields: dict[str, Any] = dict(counts)
        fields["interval_s"] = round(interval, 1)
        for name in ("records_in", "records_out"):
            fields[f"{name}_per_s"] = round((counts[name] - self._last[name]) / interval, 1) if interval > 0 else 0.0
        not_ready = self._state()
        if not_ready is not None:
            fields["not_ready"] = not_ready
        if final:
            fields["final"] = True
        log.info("progress", extra={"fields": fields})
        self._last_at, self._last = now, counts
