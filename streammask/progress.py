"""Progress of a long command on a terminal: records so far, their rate, blocked ones, partitions done (when
the command reads partitions).

Drawn on one line (carriage return) at most every ``interval_s``, and only when the stream is a terminal: in
a pipe or a log file the command prints its summary and nothing else. Counts, rates and partition numbers only:
never a record.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import IO


class Progress:
    def __init__(
        self,
        what: str,
        partitions: int | None,
        stream: IO[str],
        interval_s: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
        force: bool | None = None,
    ) -> None:
        self.what = what
        self.partitions = partitions
        self.stream = stream
        self.interval_s = interval_s
        self.clock = clock
        self.enabled = stream.isatty() if force is None else force
        self.records = 0
        self.blocked = 0
        self.done = 0
        self.started = clock()
        self._drawn = self.started
        self._width = 0

    def record(self, blocked: bool = False) -> None:
        self.records += 1
        if blocked:
            self.blocked += 1
        if self.enabled and self.records % 256 == 0:
            self._maybe_draw()

    def partition_done(self) -> None:
        self.done += 1
        if self.enabled:
            self._maybe_draw(always=True)

    @property
    def elapsed_s(self) -> float:
        return self.clock() - self.started

    @property
    def rate(self) -> float:
        elapsed = self.elapsed_s
        return self.records / elapsed if elapsed > 0 else 0.0

    def line(self) -> str:
        blocked = f", {self.blocked:,} blocked" if self.blocked else ""
        done = "" if self.partitions is None else f", {self.done}/{self.partitions} partitions done"
        return f"{self.what}: {self.records:,} records{blocked}, {self.rate:,.0f}/s{done}"

    def finish(self) -> None:
        """Clear the progress line (the caller prints its summary)."""
        if self.enabled and self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self.stream.flush()
            self._width = 0

    def _maybe_draw(self, always: bool = False) -> None:
        now = self.clock()
        if not always and now - self._drawn < self.interval_s:
            return
        self._drawn = now
        text = self.line()
        pad = max(0, self._width - len(text))
        self.stream.write("\r" + text + " " * pad)
        self.stream.flush()
        self._width = len(text)
