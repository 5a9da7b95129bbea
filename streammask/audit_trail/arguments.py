"""The ``streammask audit`` subcommand's arguments. The commands load only when one runs: the Kafka
client is imported then, never by the offline commands."""

from __future__ import annotations

import argparse
import datetime as dt
from collections.abc import Callable
from typing import Any

from streammask.audit_trail.records import parse_time


def add_audit_parser(sub: Any) -> None:
    """``audit verify`` and ``audit export`` under ``sub`` (the top-level subparsers)."""
    audit = sub.add_parser("audit", help="verify or export the proxy's audit topic")
    commands = audit.add_subparsers(dest="audit_command", required=True)

    verify = commands.add_parser(
        "verify", help="check every instance's hash chain and that every committed source record is in the output "
        "or listed as blocked (exit 1 on any mismatch)")
    verify.add_argument("--config", required=True, help="proxy config YAML (the one the proxy ran with)")
    verify.add_argument("--since", type=_time, help="check only transactions committed at or after this "
                        "ISO-8601 time (with an offset or Z), e.g. when older records were deleted by retention")
    verify.add_argument("--json", action="store_true", help="print the report as JSON")
    verify.set_defaults(func=_command("verify"))

    export = commands.add_parser("export", help="one row per transaction (time, instance, policy, key id, topics, "
                                 "fields and strategies, counts, outcome)")
    export.add_argument("--config", required=True, help="proxy config YAML")
    export.add_argument("--format", choices=("csv", "jsonl"), default="csv")
    export.add_argument("--since", type=_time, help="only transactions committed at or after this ISO-8601 time "
                        "(with an offset or Z)")
    export.add_argument("--output", help="write here (default: stdout)")
    export.set_defaults(func=_command("export"))


def _time(text: str) -> dt.datetime:
    try:
        return parse_time(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an ISO-8601 time with an offset: {exc}") from None


def _command(name: str) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        from streammask.audit_trail import commands

        func: Callable[[argparse.Namespace], int] = getattr(commands, f"cmd_{name}")
        return func(args)

    return run
