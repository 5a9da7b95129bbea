"""When to commit the open transaction: after ``max_records`` source records or ``max_ms``.

Pure and clock-free: the caller passes ``now``, so tests never sleep.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CommitPolicy:
    max_records: int
    max_ms: int

    def due(self, records: int, started_at: float, now: float) -> bool:
        """``started_at`` and ``now`` in seconds (any monotonic clock)."""
        return records >= self.max_records or (records > 0 and (now - started_at) * 1000 >= self.max_ms)
