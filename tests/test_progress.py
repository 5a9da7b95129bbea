"""Progress lines: drawn on a terminal only, throttled, and cleared before the summary."""

from __future__ import annotations

import io

from streammask.progress import Progress


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_progress_is_silent_when_the_stream_is_not_a_terminal() -> None:
    out = io.StringIO()  # isatty() is False
    p = Progress("replay", 2, out)
    for _ in range(1000):
        p.record()
    p.partition_done()
    p.finish()
    assert out.getvalue() == ""
    assert p.records == 1000 and p.done == 1


def test_on_a_terminal_it_draws_records_rate_and_partitions_at_most_every_interval() -> None:
    out, clock = io.StringIO(), Clock()
    p = Progress("replay", 3, out, interval_s=0.5, clock=clock, force=True)
    for _ in range(512):
        p.record()
    assert out.getvalue() == ""  # not half a second yet
    clock.now += 1.0
    for _ in range(256):
        p.record(blocked=True)
    assert out.getvalue() == "\rreplay: 768 records, 256 blocked, 768/s, 0/3 partitions done"
    p.partition_done()  # a partition finishing is always shown
    assert out.getvalue().endswith("\rreplay: 768 records, 256 blocked, 768/s, 1/3 partitions done")
    p.finish()
    assert out.getvalue().endswith("\r" + " " * len(p.line()) + "\r")
