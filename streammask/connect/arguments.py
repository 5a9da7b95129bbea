"""The ``streammask connect`` subcommand's arguments. The command loads only when it runs (it needs
``requests``; the other commands never do)."""

from __future__ import annotations

import argparse
from typing import Any


def add_connect_parser(sub: Any) -> None:
    """``connect apply`` under ``sub`` (the top-level subparsers)."""
    connect = sub.add_parser("connect", help="manage Kafka Connect connectors through Connect's REST API")
    commands = connect.add_subparsers(dest="connect_command", required=True)
    apply = commands.add_parser(
        "apply", help="create or update connectors from JSON files ({\"name\": ..., \"config\": {...}}) and wait "
        "until each connector and task is RUNNING (exit 1 on FAILED or timeout)")
    apply.add_argument("files", nargs="+", metavar="FILE", help="connector config files, applied in this order")
    apply.add_argument("--url", required=True, help="Kafka Connect's REST API, e.g. http://connect:8083")
    apply.add_argument("--timeout", type=_positive, default=120.0,
                       help="seconds to wait for Connect, the configs and every task RUNNING (default 120)")
    apply.add_argument("--poll-interval", type=_positive, default=1.0, help="seconds between status polls")
    apply.set_defaults(func=_apply)


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError("must be more than 0")
    return value


def _apply(args: argparse.Namespace) -> int:
    from streammask.connect.apply import cmd_connect_apply

    return cmd_connect_apply(args)
