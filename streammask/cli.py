"""The ``streammask`` command line: ``mask`` (offline, kcat -J lines), ``check`` and ``policy-schema``.
``mask`` and ``check`` read JSON or Avro records (``wire_options``); Avro lines use the lossless
``key_b64``/``payload_b64`` form (``kcat_io``).

Exit codes: 0 success; 1 records blocked or policy gaps found; 2 invalid policy, key, input or usage.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO

import orjson

from streammask import __version__, logs
from streammask.audit import AuditCounts
from streammask.audit_trail.arguments import add_audit_parser
from streammask.bootstrap import MaskingSetup, open_masker
from streammask.check import check_sample
from streammask.codec import Codec, build_codecs, close_codecs
from streammask.connect.arguments import add_connect_parser
from streammask.errors import ConfigError, PolicyError, StreamMaskError
from streammask.kcat_io import LineForm, line_source
from streammask.outcome import Blocked, SourceRecord, Unreadable, blocked_fields
from streammask.pipeline import LineSink, MaskStep, Pipeline
from streammask.policy import LoadedPolicy, load_policy
from streammask.policy.schema_export import policy_json_schema
from streammask.replay.arguments import add_arguments as add_replay_arguments
from streammask.wire_options import add_wire_arguments, wire_options

log = logging.getLogger("streammask.cli")

EXIT_OK, EXIT_BLOCKED, EXIT_INVALID = 0, 1, 2
MAX_LINES_EXPLAINED = 20  # `check --sample` names the first refused lines, then counts the rest


@contextlib.contextmanager
def _open(path: str | None, mode: str, default: IO[bytes]) -> Iterator[IO[bytes]]:
    if path is None or path == "-":
        yield default
    else:
        with open(path, mode) as handle:
            yield handle


def cmd_mask(args: argparse.Namespace) -> int:
    wire = wire_options(args)
    setup = open_masker(args.policy, wire.value_format, wire.key_format, wire.registries)
    try:
        return _mask(args, setup, wire.line_form)
    finally:
        setup.close()


def _mask(args: argparse.Namespace, setup: MaskingSetup, form: LineForm) -> int:
    if args.audit:
        Path(args.audit).touch()  # an unwritable audit path fails now, before any record is written
    audit = AuditCounts(setup.loaded.sha256, setup.key.key_id, setup.loaded.policy.leak_guard)
    # mask has no routing: each record keeps its topic, partition and offset on its line
    step = MaskStep(setup.masker, partitioning="source", coordinate_headers=False)
    with _open(args.input, "rb", sys.stdin.buffer) as src, _open(args.output, "wb", sys.stdout.buffer) as dst:
        Pipeline(step, LineSink(dst, form), audit, _log_blocked).drain(line_source(src))
    if args.audit:
        Path(args.audit).write_bytes(orjson.dumps(audit.as_dict(), option=orjson.OPT_INDENT_2) + b"\n")
    log.info("mask finished", extra={"fields": {"records_in": audit.records_in, "records_out": audit.records_out,
                                                "blocked": audit.blocked_total}})
    return EXIT_BLOCKED if audit.blocked_total else EXIT_OK


def _log_blocked(item: SourceRecord | Unreadable, outcome: Blocked) -> None:
    log.error("record blocked", extra={"fields": blocked_fields(item.coordinates, outcome.reason)})


def cmd_check(args: argparse.Namespace) -> int:
    wire = wire_options(args)
    loaded = load_policy(args.policy)
    print(f"{args.policy}: policy valid ({len(loaded.policy.tables)} tables, sha256 {loaded.sha256[:12]}…)")
    if not args.sample:
        return EXIT_OK
    value_codec, key_codec = build_codecs(wire.value_format, wire.key_format, wire.registries)
    try:
        return _check_sample(args, loaded, value_codec, key_codec)
    finally:
        close_codecs(value_codec, key_codec)


def _check_sample(args: argparse.Namespace, loaded: LoadedPolicy, value_codec: Codec, key_codec: Codec) -> int:
    with _open(args.sample, "rb", sys.stdin.buffer) as src:
        records: list[SourceRecord] = []
        refused: list[str] = []  # why each line that mask would block is not a record; never a value
        for item in line_source(src):
            if isinstance(item, Unreadable):
                refused.append(item.detail)
            else:
                records.append(item)
    report = check_sample(loaded, records, value_codec, key_codec)  # a registry failure raises: exit 2
    report.undecodable += len(refused)
    source = "<stdin>" if args.sample == "-" else args.sample
    for reason in refused[:MAX_LINES_EXPLAINED]:
        print(f"{source}: {reason}")
    if len(refused) > MAX_LINES_EXPLAINED:
        print(f"{source}: {len(refused) - MAX_LINES_EXPLAINED} more line(s) not in kcat -J's shape")
    for line in report.lines():
        print(line)
    print(f"{report.records} record(s) scanned, {len(report.seen_tables)} table(s) seen: "
          + ("no gaps" if report.ok else "gaps found"))
    return EXIT_OK if report.ok else EXIT_BLOCKED


def cmd_policy_schema(args: argparse.Namespace) -> int:
    sys.stdout.write(policy_json_schema())
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="streammask", description="Mask Debezium change events for non-prod.")
    parser.add_argument("--version", action="version", version=f"streammask {__version__}")
    parser.add_argument("--log-level", default="INFO", help="log level for the JSON logs on stderr")
    sub = parser.add_subparsers(dest="command", required=True)

    mask = sub.add_parser("mask", help="mask records given as kcat -J JSON lines")
    mask.add_argument("--policy", required=True, help="policy YAML file")
    mask.add_argument("--input", help="input JSON lines (default: stdin)")
    mask.add_argument("--output", help="output JSON lines (default: stdout)")
    mask.add_argument("--audit", help="write a JSON audit summary here")
    add_wire_arguments(mask)
    mask.set_defaults(func=cmd_mask)

    check = sub.add_parser("check", help="validate a policy; with --sample, report unclassified tables/columns")
    check.add_argument("--policy", required=True)
    check.add_argument("--sample", help="kcat -J JSON lines to check coverage against")
    add_wire_arguments(check)
    check.set_defaults(func=cmd_check)

    schema = sub.add_parser("policy-schema", help="print the policy file's JSON Schema")
    schema.set_defaults(func=cmd_policy_schema)

    for name, help_text in (
        ("run", "run the streaming proxy"),
        ("validate", "validate a proxy config and the policy it names"),
        ("lag", "print consumer lag per source partition"),
    ):
        cmd = sub.add_parser(name, help=help_text)
        cmd.add_argument("--config", required=True, help="proxy config YAML")
        cmd.set_defaults(func=_proxy_command(name))
    replay = sub.add_parser("replay", help="re-mask a range of the source topics to the target topics or a file, "
                                           "with a manifest; --verify proves a replay")
    add_replay_arguments(replay)
    replay.set_defaults(func=_replay_command)
    demo = sub.add_parser("demo", help="run the proxy on a local broker with the example events")
    demo.add_argument("--metrics-port", type=int, default=0, help="metrics port (default: any free one)")
    demo.set_defaults(func=_proxy_command("demo"))
    add_audit_parser(sub)  # audit verify / audit export (streammask/audit_trail)
    add_connect_parser(sub)  # connect apply (streammask/connect): the Docker kit's connector setup
    return parser


def _replay_command(args: argparse.Namespace) -> int:
    from streammask.replay.command import cmd_replay

    return cmd_replay(args)


def _proxy_command(name: str) -> Callable[[argparse.Namespace], int]:
    """Kafka clients load only when a proxy command runs: the offline commands never need them."""

    def run(args: argparse.Namespace) -> int:
        if name == "demo":
            from streammask.proxy.demo import cmd_demo

            return cmd_demo(args)
        from streammask.proxy import commands

        func: Callable[[argparse.Namespace], int] = getattr(commands, f"cmd_{name}")
        return func(args)

    return run


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logs.configure(args.log_level)
    try:
        return int(args.func(args))
    except (PolicyError, ConfigError) as exc:
        for problem in exc.problems:
            print(f"error: {problem}", file=sys.stderr)
        return EXIT_INVALID
    except StreamMaskError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INVALID
    except OSError as exc:
        print(f"error: {exc.filename or ''}: {exc.strerror}", file=sys.stderr)
        return EXIT_INVALID


if __name__ == "__main__":
    sys.exit(main())
