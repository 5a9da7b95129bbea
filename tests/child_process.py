"""What the test servers (tests/broker.py's Tansu, tests/qa_db.py's PostgreSQL) do with their child process:
make it die with pytest, and stop it politely, then surely."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
from collections.abc import Callable


def _die_with_parent() -> None:
    """In the child, before exec (after any switch of user): SIGTERM it if pytest dies without tearing down."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


DIE_WITH_PARENT: Callable[[], None] | None = _die_with_parent if sys.platform.startswith("linux") else None
"""``preexec_fn`` for ``subprocess.Popen`` (Linux only: elsewhere None)."""


def stop_process(proc: subprocess.Popen[bytes] | None, sig: signal.Signals, timeout_s: float) -> None:
    """Send ``sig`` to a running ``proc`` and wait up to ``timeout_s``; then kill it and wait again."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout_s)
