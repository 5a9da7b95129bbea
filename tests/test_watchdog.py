"""The watchdog (``proxy.watchdog``): driven by ``tick()`` on a fake clock, and once for real, in a subprocess whose
main thread is stuck in a C call that a signal does not interrupt (as in a librdkafka call with a dead broker)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from streammask.proxy.http import Health
from streammask.proxy.watchdog import Watchdog

REPO = Path(__file__).resolve().parent.parent


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def rig(stall_s: float = 180.0, shutdown_s: float = 30.0) -> tuple[Clock, Health, Watchdog, list[int]]:
    clock, exits = Clock(), []
    health = Health(stall_after_s=stall_s / 2, clock=clock)
    dog = Watchdog(idle=health.idle, stall_s=stall_s, shutdown_s=shutdown_s, clock=clock, exit=exits.append)
    return clock, health, dog, exits


def test_a_loop_that_stops_turning_is_reported_by_healthz_first_then_the_process_exits_1() -> None:
    clock, health, dog, exits = rig()
    dog.doing("committing transaction 7 (500 records)")
    clock.now += 90
    dog.tick()
    assert exits == [] and health.dead() == "stalled: the processing loop has not run for 90 s"
    clock.now += 89.9
    dog.tick()
    assert exits == []
    clock.now += 0.1
    dog.tick()
    assert exits == [1]
    assert dog.fired == ("the processing loop has not turned for 180 s (watchdog_timeout_s 180), stuck committing "
                         "transaction 7 (500 records); exiting so that it is restarted")
    dog.tick()
    assert exits == [1]  # once


def test_a_loop_that_keeps_turning_is_left_alone() -> None:
    clock, health, dog, exits = rig()
    for _ in range(100):
        clock.now += 60
        health.beat()
        dog.tick()
    assert exits == []


def test_a_shutdown_that_does_not_finish_in_shutdown_timeout_s_exits_1_naming_what_it_was_stuck_in(
    capsys: pytest.CaptureFixture[str],
) -> None:
    clock, health, dog, exits = rig(shutdown_s=30)
    dog.doing("sending offsets to the transaction")
    dog.stopping("SIGTERM")
    clock.now += 20
    dog.stopping("the run ended")  # the first reason and time count
    clock.now += 9.9
    health.beat()
    dog.tick()
    assert exits == []
    clock.now += 0.1
    dog.tick()
    assert exits == [1]
    # (`in`, not `==`: a JSON log handler another test left on a stream pytest has closed may add noise)
    assert (
        "error: shutdown (SIGTERM) did not finish within shutdown_timeout_s (30 s), stuck sending offsets to the "
        "transaction; exiting without finishing it (an open transaction is aborted by the broker or the next start)\n"
    ) in capsys.readouterr().err


def test_a_failing_liveness_check_the_main_thread_cannot_act_on_ends_the_process_after_a_grace() -> None:
    """A cluster unreachable past broker_timeout_s: the loop ends the run itself when it can; when it is
    blocked in a Kafka call the watchdog does, 5 s later, with the same reason and what it was stuck in."""
    clock, exits = Clock(), []
    health = Health(clock=clock)
    why: list[str | None] = [None]
    health.watch(alive=lambda: why[0])
    dog = Watchdog(idle=health.idle, stall_s=180, shutdown_s=30, clock=clock, exit=exits.append,
                   failing=health.failing)
    dog.doing("sending offsets to the transaction")
    dog.tick()
    why[0] = "source cluster (k:9092) unreachable for 120 s, longer than broker_timeout_s (120): down"
    dog.tick()
    clock.now += 3
    health.beat()  # the failing check counts even while the loop turns
    why[0] = None  # ...and a recovery resets the grace
    dog.tick()
    why[0] = "source cluster (k:9092) unreachable for 125 s, longer than broker_timeout_s (120): down"
    dog.tick()
    clock.now += 4.9
    dog.tick()
    assert exits == []
    clock.now += 0.1
    dog.tick()
    assert exits == [1]
    assert dog.fired == (f"{why[0]}; stuck sending offsets to the transaction, so the watchdog ends the process")


def test_during_a_shutdown_only_its_deadline_counts() -> None:
    clock, _, dog, exits = rig(stall_s=20, shutdown_s=30)
    dog.stopping("SIGTERM")
    clock.now += 25  # the loop does not turn while it shuts down: no stall verdict
    dog.tick()
    assert exits == []


STUCK = """
import os, signal, sys, threading, time
sys.path.insert(0, {repo!r})
from streammask.proxy.watchdog import Watchdog
stop = threading.Event()
dog = Watchdog(idle=lambda: 0.0, stall_s=60, shutdown_s={shutdown_s}, interval_s=0.05)
dog.on_signals(stop)
dog.start()
print("ready", flush=True)
if {stuck}:
    dog.doing("committing transaction 3")
    os.system("sleep 8")  # C system(): waitpid retried on EINTR, no Python code runs (a stuck librdkafka call)
    sys.exit(0)
while not stop.is_set():  # a loop that turns: a graceful end
    time.sleep(0.01)
dog.close()
sys.exit(0)
"""


def run_and_signal(stuck: bool, shutdown_s: float) -> tuple[int, str, float]:
    code = STUCK.format(repo=str(REPO), shutdown_s=shutdown_s, stuck=stuck)
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
        time.sleep(0.2)  # into the C call
        sent = time.monotonic()
        proc.terminate()
        rc = proc.wait(timeout=7)
        took = time.monotonic() - sent
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # its own process group: the sleep child too
    return rc, proc.stderr.read() if proc.stderr else "", took


def test_sigterm_while_the_main_thread_is_stuck_in_a_c_call_exits_1_within_shutdown_timeout_s() -> None:
    rc, err, took = run_and_signal(stuck=True, shutdown_s=0.5)
    assert rc == 1, err
    assert 0.5 <= took < 3.0
    assert "error: shutdown (SIGTERM) did not finish within shutdown_timeout_s (0.5 s), stuck committing " \
           "transaction 3" in err


def test_sigterm_to_a_loop_that_turns_ends_it_gracefully() -> None:
    rc, err, took = run_and_signal(stuck=False, shutdown_s=5)
    assert (rc, err) == (0, "")
    assert took < 2.0
