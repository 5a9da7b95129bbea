"""CLI commands ``audit verify`` and ``audit export``: read the topics, run the pure checks, print.

Exit codes of verify: 0 everything matches; 1 a mismatch (chain gap, break, fork or altered record,
a committed source record neither in the output nor listed blocked, differing duplicates, no audit
record at all); 2 the check could not be made (usage, config, a topic unreadable, routing that does
not cover a source topic the audit names).
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO

import orjson
from confluent_kafka import KafkaException

from streammask.audit_trail import export
from streammask.audit_trail.chain import check_chains
from streammask.audit_trail.read import AuditTopic, TopicMissing, read_audit, read_heads, read_output
from streammask.audit_trail.reconcile import reconcile
from streammask.audit_trail.verify import VerifyReport
from streammask.errors import StreamMaskError
from streammask.proxy.config import ProxyConfig, UnroutedTopic, load_config

log = logging.getLogger("streammask.audit")

EXIT_OK, EXIT_MISMATCH, EXIT_UNCHECKED = 0, 1, 2


class RoutingGap(StreamMaskError):
    """The config routes a source topic named in the audit nowhere: verify with the config that ran."""


def cmd_verify(args: argparse.Namespace) -> int:
    config, _ = load_config(args.config)
    try:
        report = verify(config, args.since)
    except KafkaException as exc:
        print(f"error: Kafka: {exc.args[0].name()}: {exc.args[0].str()}", file=sys.stderr)
        return EXIT_UNCHECKED
    if args.json:
        sys.stdout.write(orjson.dumps(report.as_json(), option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        sys.stdout.write(report.text())
    return EXIT_OK if report.ok else EXIT_MISMATCH


def verify(config: ProxyConfig, since: dt.datetime | None = None) -> VerifyReport:
    """Read the audit topic, then the target topics it leads to (so every transaction the audit
    records is already committed in them), and check both."""
    heads = read_heads(config)  # before the audit topic: a head read after it could be ahead of it
    notes = [] if heads is not None else [
        f"checkpoint topic {config.checkpoint_topic} does not exist: the chains' ends are not checked"]
    try:
        audit = read_audit(config)
    except TopicMissing:
        audit = AuditTopic()
        problems = [f"audit topic {config.audit_topic} does not exist on the target cluster"]
    else:
        problems = list(audit.refused)
    checked = [e for e in audit.entries if since is None or e.committed_at >= since]
    notes += [f"{n} record(s) of group {g} ignored" for g, n in sorted(audit.other_groups.items())]
    if since is not None:
        notes.append(f"only the {len(checked)} record(s) committed at or after {since.isoformat()} are checked")
    if not audit.entries and not problems:  # e.g. a mistyped group_id: never a vacuous pass
        problems.append(f"no audit record of group {config.group_id} in {config.audit_topic}")
    elif not checked:
        notes.append("no transaction was committed in that time")
    targets = sorted({target_of(config, r.topic) for e in checked for r in e.ranges})
    index, missing = read_output(config, targets)
    problems += [f"target topic {t} does not exist on the target cluster" for t in missing]
    chains = check_chains(checked, heads, since, config.group_id)
    return VerifyReport(config.audit_topic, config.group_id, len(checked), chains,
                        reconcile(checked, index, audit.entries), problems, notes)


def target_of(config: ProxyConfig, source_topic: str) -> str:
    try:
        return config.target_topic(source_topic)
    except UnroutedTopic as exc:
        raise RoutingGap(f"the audit names source topic {source_topic}, but: {exc}; verify with the config the "
                         "proxy ran with") from None


def cmd_export(args: argparse.Namespace) -> int:
    config, _ = load_config(args.config)
    try:
        audit = read_audit(config)
    except KafkaException as exc:
        print(f"error: Kafka: {exc.args[0].name()}: {exc.args[0].str()}", file=sys.stderr)
        return EXIT_UNCHECKED
    for refused in audit.refused:
        log.warning("not an audit record; not exported", extra={"fields": {"reason": refused}})

    def route(topic: str) -> str | None:
        try:
            return config.target_topic(topic)
        except UnroutedTopic:
            return None

    table = export.rows(audit.entries, route, args.since)
    with _output(args.output) as out:
        (export.write_csv if args.format == "csv" else export.write_jsonl)(table, out)
    log.info("audit exported", extra={"fields": {"rows": len(table), "format": args.format,
                                                 "audit_topic": config.audit_topic, "group": config.group_id}})
    return EXIT_OK


@contextmanager
def _output(path: str | None) -> Iterator[IO[str]]:
    if path is None or path == "-":
        yield sys.stdout
        sys.stdout.flush()
        return
    with open(path, "w", newline="", encoding="utf-8") as handle:
        yield handle
