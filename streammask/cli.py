"""The ``streammask`` command line: ``mask`` (offline, kcat -J lines), ``check`` and ``policy-schema``.
``mask`` and ``check`` read JSON or Avro records (``wire_options``); Avro lines use the lossless
``key_b64``/``payload_b64`` form (``kcat_io``).

Exit codes: 0 success; 1 records blocked or policy gaps found (or an empty sample); 2 invalid policy, key,
input or usage; 130 ``mask`` interrupted (Ctrl-C: what was masked is written, the audit marked incomplete);
141 ``mask``'s reader went away (a broken pipe, as in ``mask | head``).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO

import orjson

from streammask import __version__, logs
from streammask.audit import AuditCounts
from streammask.audit_trail.arguments import add_audit_parser
from streammask.bootstrap import MaskingSetup, load_key, open_masker
from streammask.check import check_sample
from streammask.codec import Codec, build_codecs, close_codecs
from streammask.connect.arguments import add_connect_parser
from streammask.errors import ConfigError, PolicyError, StreamMaskError
from streammask.kcat_io import LineForm, line_source
from streammask.outcome import Blocked, SourceRecord, Unreadable, blocked_fields
from streammask.pipeline import LineSink, MaskStep, Pipeline
from streammask.policy import LoadedPolicy, load_policy
from streammask.policy.schema_export import policy_json_schema
from streammask.progress import Progress
from streammask.replay.arguments import add_arguments as add_replay_arguments
from streammask.wire_options import add_wire_arguments, wire_options

log = logging.getLogger("streammask.cli")

EXIT_OK, EXIT_BLOCKED, EXIT_INVALID = 0, 1, 2
EXIT_INTERRUPTED, EXIT_BROKEN_PIPE = 130, 141  # as a shell reports SIGINT and SIGPIPE (128 + signal)
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
    audit = AuditCounts(setup.loaded.sha256, setup.key.key_id, setup.loaded.policy.leak_guard, setup.key.fingerprint)
    # mask has no routing: each record keeps its topic, partition and offset on its line
    step = MaskStep(setup.masker, partitioning="source", coordinate_headers=False)
    progress = Progress("mask", None, sys.stderr)
    stopped: str | None = None  # why the input was not read to its end
    try:
        with _open(args.input, "rb", sys.stdin.buffer) as src, _open(args.output, "wb", sys.stdout.buffer) as dst:
            pipeline = Pipeline(step, LineSink(dst, form), audit, _log_blocked)
            try:
                for item in line_source(src):
                    progress.record(blocked=isinstance(pipeline.feed(item), Blocked))
            finally:
                dst.flush()  # what was masked before an interruption is written whole
    except KeyboardInterrupt:
        stopped = "interrupted"
    except BrokenPipeError:  # the reader went away (`mask | head`): nothing to tell it
        stopped = "broken-pipe"
        _detach_stdout()
    progress.finish()
    if args.audit:
        doc = audit.as_dict()
        if stopped is not None:
            doc["incomplete"] = stopped
        Path(args.audit).write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n")
    fields = {"records_in": audit.records_in, "records_out": audit.records_out, "blocked": audit.blocked_total,
              "seconds": round(progress.elapsed_s, 3), "records_per_s": round(progress.rate)}
    # the summary: always as a JSON log line (stderr is JSON logs), and for a person at a terminal as text
    log.info("mask finished" if stopped is None else f"mask stopped ({stopped})", extra={"fields": fields})
    if progress.enabled:
        print(f"mask: {audit.records_in:,} records in, {audit.records_out:,} out, {audit.blocked_total:,} blocked "
              f"in {progress.elapsed_s:.1f} s ({progress.rate:,.0f} records/s)"
              + ("" if stopped is None else f"; stopped before the end of the input ({stopped})"), file=sys.stderr)
    if stopped == "interrupted":
        return EXIT_INTERRUPTED
    if stopped == "broken-pipe":
        return EXIT_BROKEN_PIPE
    return EXIT_BLOCKED if audit.blocked_total else EXIT_OK


def _detach_stdout() -> None:
    """After a broken pipe: point stdout at /dev/null, so the interpreter's final flush raises nothing."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def _log_blocked(item: SourceRecord | Unreadable, outcome: Blocked) -> None:
    log.error("record blocked", extra={"fields": blocked_fields(item.coordinates, outcome.reason)})


def cmd_check(args: argparse.Namespace) -> int:
    wire = wire_options(args)
    loaded = load_policy(args.policy)
    print(f"{args.policy}: policy valid ({len(loaded.policy.tables)} tables, sha256 {loaded.sha256[:12]}…)")
    if args.no_key:
        print(f"{args.policy}: key not checked (--no-key)")
    else:
        key = load_key(loaded)  # a missing or malformed key exits 2, naming where it was looked for
        print(f"{args.policy}: key loaded (key id {key.key_id}, fingerprint {key.fingerprint})")
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
    check.add_argument("--sample", help="kcat -J JSON lines to check coverage against (an empty one fails)")
    check.add_argument("--no-key", action="store_true", help="do not load the policy's key (e.g. in a CI job "
                                                             "that has no secret)")
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
        if name == "validate":
            cmd.add_argument("--offline", action="store_true",
                             help="check config, policy and key only; do not ask the clusters for the source topics")
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
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        _detach_stdout()
        return EXIT_BROKEN_PIPE
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"error: {where}{exc.strerror or exc}", file=sys.stderr)
        return EXIT_INVALID


if __name__ == "__main__":
    sys.exit(main())
