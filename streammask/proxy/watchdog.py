"""Bounds on how long ``run`` can hang: after SIGTERM, and when its loop stops turning.

librdkafka's blocking calls hold the main thread in C, where Python runs no signal handler: a SIGTERM then
waits for the call to return, which with a dead broker can take minutes. The ``Watchdog`` thread does not
wait for the main thread: the signal's C-level handler writes to a wakeup fd (``signal.set_wakeup_fd``), the
thread reads it and arms a deadline of ``shutdown_s``; a process still alive then logs what it was doing
(``doing``: the phase) and exits 1. The same thread exits 1 when the loop has not beaten (``Health.beat``) for
``stall_s``; ``/healthz`` says ``stalled`` earlier (``Health``'s ``stall_after_s``), so a supervisor that probes
it acts first.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable
from types import FrameType

log = logging.getLogger("streammask.proxy")

EXIT_CODE = 1


class Watchdog:
    """``idle()``: seconds since the loop last turned. ``tick()`` decides (tests drive it with a fake clock);
    ``start()`` runs it on a daemon thread every ``interval_s``."""

    def __init__(
        self,
        *,
        idle: Callable[[], float],
        stall_s: float,
        shutdown_s: float,
        clock: Callable[[], float] = time.monotonic,
        exit: Callable[[int], None] = os._exit,  # noqa: A002 (the process's exit, injectable)
        interval_s: float = 1.0,
        failing: Callable[[], str | None] = lambda: None,
        failing_grace_s: float = 5.0,
    ) -> None:
        self._idle = idle
        self._failing = failing
        self._failing_grace = failing_grace_s
        self._failing_since: float | None = None
        self.stall_s = stall_s
        self.shutdown_s = shutdown_s
        self._clock = clock
        self._exit = exit
        self._interval = interval_s
        self._phase = "starting"
        self._stop_at: float | None = None
        self._why = ""
        self._closed = threading.Event()
        self._thread: threading.Thread | None = None
        self._wakeup: tuple[socket.socket, socket.socket] | None = None
        self.fired: str | None = None  # the reason it exited (tests: with an exit that returns)

    # -- what the loop reports ----------------------------------------------------------------------

    def doing(self, phase: str) -> None:
        """What the main thread is about to do: named if the process has to be ended during it."""
        self._phase = phase

    @property
    def phase(self) -> str:
        return self._phase

    def stopping(self, why: str) -> None:
        """Shutdown has begun (a signal, or the run ended): the process must be gone within ``shutdown_s``."""
        if self._stop_at is None:
            self._stop_at, self._why = self._clock(), why

    # -- the decision -------------------------------------------------------------------------------

    def tick(self) -> None:
        if self.fired is not None:
            return
        now = self._clock()
        if self._stop_at is not None and now - self._stop_at >= self.shutdown_s:
            self._fire(f"shutdown ({self._why}) did not finish within shutdown_timeout_s ({self.shutdown_s:g} s), "
                       f"stuck {self._phase}; exiting without finishing it (an open transaction is aborted by the "
                       "broker or the next start)")
            return
        failing = self._failing()
        if failing is None:
            self._failing_since = None
        elif self._failing_since is None:
            self._failing_since = now
        elif now - self._failing_since >= self._failing_grace:
            # the main loop ends the run itself when it can; still here: it is blocked in a Kafka call
            self._fire(f"{failing}; stuck {self._phase}, so the watchdog ends the process")
            return
        idle = self._idle()
        if self._stop_at is None and idle >= self.stall_s:
            self._fire(f"the processing loop has not turned for {idle:.0f} s (watchdog_timeout_s "
                       f"{self.stall_s:g}), stuck {self._phase}; exiting so that it is restarted")

    def _fire(self, message: str) -> None:
        self.fired = message
        log.error(message, extra={"fields": {"phase": self._phase}})
        with contextlib.suppress(Exception):
            print(f"error: {message}", file=sys.stderr, flush=True)
        self._exit(EXIT_CODE)

    # -- the thread ---------------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._watch, name="watchdog", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._closed.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5.0)
        if self._wakeup is not None:
            with contextlib.suppress(ValueError):  # not the main thread
                signal.set_wakeup_fd(-1)
            for s in self._wakeup:
                s.close()
            self._wakeup = None

    def on_signals(self, stop: threading.Event,
                   signals: Iterable[signal.Signals] = (signal.SIGTERM, signal.SIGINT)) -> None:
        """Install handlers (main thread only): a signal sets ``stop`` (a graceful end) and arms the shutdown
        deadline at once, even while the main thread is blocked in a C call."""
        names = {int(s): s.name for s in signals}

        def handler(signum: int, frame: FrameType | None) -> None:
            stop.set()
            self.stopping(names.get(signum, str(signum)))

        for sig in signals:
            signal.signal(sig, handler)
        read, write = socket.socketpair()
        read.setblocking(False)
        write.setblocking(False)
        signal.set_wakeup_fd(write.fileno(), warn_on_full_buffer=False)
        self._wakeup = (read, write)
        self._names = names
        self._stop_event = stop

    def _watch(self) -> None:
        while not self._closed.is_set():
            wakeup = self._wakeup
            if wakeup is None:
                self._closed.wait(self._interval)
            else:
                readable, _, _ = select.select([wakeup[0]], [], [], self._interval)
                if readable:
                    with contextlib.suppress(OSError):
                        for signum in wakeup[0].recv(64):
                            self._stop_event.set()
                            self.stopping(self._names.get(signum, str(signum)))
            if not self._closed.is_set():
                self.tick()
