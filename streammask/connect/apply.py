"""``streammask connect apply``: PUT each connector's config, then poll each one's status until the connector
and all its tasks are RUNNING. A FAILED connector or task stops it at once with the first line of Connect's
trace; the timeout stops it naming what is not running yet. Prints names and states, never a config value.

Exit codes: 0 every connector and task runs; 1 Connect refused a config, something FAILED, or the timeout
passed; 2 a config file is invalid (``configs``)."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TextIO

from streammask.connect.configs import ConnectorConfig, ConnectorFileError, load_connector
from streammask.connect.rest import ConnectError, ConnectRest, first_line, scrub

EXIT_OK, EXIT_FAILED = 0, 1


@dataclass(frozen=True)
class Verdict:
    state: Literal["running", "failed", "waiting"]
    detail: str


def judge(status: Mapping[str, Any] | None, config: Mapping[str, str]) -> Verdict:
    """What a status document (Connect's ``GET /connectors/<name>/status``) says about a connector."""
    if status is None:
        return Verdict("waiting", "no status yet")
    connector = status.get("connector") or {}
    tasks = sorted(status.get("tasks") or [], key=lambda t: t.get("id", 0))
    if connector.get("state") == "FAILED":
        return Verdict("failed", f"connector FAILED: {scrub(first_line(str(connector.get('trace', ''))), config)}")
    for task in tasks:
        if task.get("state") == "FAILED":
            trace = scrub(first_line(str(task.get("trace", ""))), config)
            return Verdict("failed", f"task {task.get('id')} FAILED: {trace}")
    states = [str(t.get("state")) for t in tasks]
    if connector.get("state") == "RUNNING" and tasks and all(s == "RUNNING" for s in states):
        return Verdict("running", f"RUNNING ({len(tasks)} task{'s' if len(tasks) != 1 else ''})")
    task_text = ", ".join(f"task {t.get('id')} {s}" for t, s in zip(tasks, states, strict=True)) or "no tasks yet"
    hint = ""
    if connector.get("state") in ("PAUSED", "STOPPED"):
        hint = " (resume it: PUT /connectors/<name>/resume)"
    return Verdict("waiting", f"connector {connector.get('state', '?')}{hint}, {task_text}")


def apply(rest: ConnectRest, connectors: Sequence[ConnectorConfig], timeout_s: float, poll_s: float,
          out: TextIO, clock: Callable[[], float] = time.monotonic,
          sleep: Callable[[float], None] = time.sleep) -> int:
    deadline = clock() + timeout_s
    try:
        version = rest.wait_until_up(deadline, poll_s)
        print(f"Kafka Connect {version} at {rest.shown}", file=out)
        for c in connectors:
            created = rest.put_config(c.name, c.config, deadline, poll_s)
            print(f"{c.name}: config {'created' if created else 'applied (updated or unchanged)'}", file=out)
    except ConnectError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    pending = {c.name: c for c in connectors}
    last: dict[str, Verdict] = {}
    while True:
        for name, c in list(pending.items()):
            try:
                verdict = judge(rest.status(name), c.config)
            except ConnectError as exc:
                print(f"error: {exc}", file=sys.stderr)
                return EXIT_FAILED
            if verdict.state == "failed":
                print(f"error: {name}: {verdict.detail}", file=sys.stderr)
                print(f"error: {name}: see the Connect worker's log; after fixing the cause, restart it with "
                      f"POST /connectors/{name}/restart?includeTasks=true&onlyFailed=true", file=sys.stderr)
                return EXIT_FAILED
            if verdict.state == "running":
                print(f"{name}: {verdict.detail}", file=out)
                del pending[name]
            last[name] = verdict
        if not pending:
            return EXIT_OK
        if clock() + poll_s > deadline:
            for name in pending:
                print(f"error: {name}: not RUNNING after {timeout_s:g} s: {last[name].detail}", file=sys.stderr)
            return EXIT_FAILED
        sleep(poll_s)


def cmd_connect_apply(args: argparse.Namespace) -> int:
    connectors = [load_connector(path) for path in args.files]  # every file is checked before any is applied
    names = [c.name for c in connectors]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ConnectorFileError(f"connector name given by more than one file: {', '.join(duplicates)}")
    rest = ConnectRest(args.url)
    try:
        return apply(rest, connectors, args.timeout, args.poll_interval, sys.stdout)
    finally:
        rest.close()
