"""``streammask replay``: reproduce a masked dataset from offsets or times, and ``--verify`` that it was.

::

    streammask replay --config FILE [--from SPEC] [--to SPEC] [--output FILE] [--manifest FILE]
    streammask replay --verify MANIFEST --config FILE

Without ``--output`` the records go to the routed target topics, in transactions (``topics``); with it, to a
file of kcat -J lines (the lossless base64 form for Avro parts). Either way a manifest says what was read,
under which policy, key and versions, and the digests of what was written. ``--verify`` re-reads the
manifest's ranges, re-masks, and compares; then it reads the output back (the file, or the target offsets
the manifest lists) and compares it record by record with the re-masked records. Exit codes: 0 done
(verify: identical); 1 records blocked (``on_blocked: skip``), a blocked record stopped the replay (``stop``),
target topics of another key (id or fingerprint), or verify found a difference or no readable output; 2 invalid
config, SPEC, manifest or usage, or a Kafka error.
"""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from confluent_kafka import Consumer, KafkaException

from streammask.bootstrap import MaskingSetup, open_masker
from streammask.errors import StreamMaskError
from streammask.kcat_io import LineForm, line_source
from streammask.outcome import Coordinates, SourceRecord, Unreadable
from streammask.pipeline import SOURCE_HEADERS, LineSink
from streammask.progress import Progress
from streammask.proxy.checkpoint import CheckpointState
from streammask.proxy.clients import admin, groupless_reader, read_target_topic
from streammask.proxy.config import ProxyConfig, load_config
from streammask.proxy.continuity import KeyChanged, assess
from streammask.replay.digest import OutputDigests
from streammask.replay.manifest import FileOutput, Manifest, TopicsOutput, WrittenRange, compare, utc_now
from streammask.replay.ranges import Range, Ranges
from streammask.replay.reader import range_consumer, read_ranges
from streammask.replay.replayer import ReplayBlocked, ReplayRun, replay, resolve
from streammask.replay.spec import Offsets, Spec, parse_spec
from streammask.replay.topics import TopicWriter, replay_producer

log = logging.getLogger("streammask.replay")

EXIT_OK, EXIT_DIFFERENT, EXIT_INVALID = 0, 1, 2


class OutputUnreadable(StreamMaskError):
    """``--verify`` could not read the output the manifest names."""


def cmd_replay(args: argparse.Namespace) -> int:
    config, policy_path = load_config(args.config)
    setup = open_masker(policy_path, config.format, config.key_format, config.schema_registry)
    try:
        if args.verify:
            return _verify(args, config, setup)
        return _replay(args, config, setup)
    except (ReplayBlocked, KeyChanged, OutputUnreadable) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_DIFFERENT
    except KafkaException as exc:
        print(f"error: Kafka: {exc.args[0].name()}: {exc.args[0].str()}", file=sys.stderr)
        return EXIT_INVALID
    finally:
        setup.close()


def _replay(args: argparse.Namespace, config: ProxyConfig, setup: MaskingSetup) -> int:
    start, end = parse_spec(args.from_spec, "--from"), parse_spec(args.to_spec, "--to")
    replay_id = f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{secrets.token_hex(3)}"
    manifest_path = Path(args.manifest or (f"{args.output}.manifest.json" if args.output
                                           else f"replay-{replay_id}.manifest.json"))
    consumer = range_consumer(config)
    try:
        ranges = resolve(consumer, config, start, end)
        _warn_clamped(start, end, ranges)
        for topic, _ in ranges:
            config.target_topic(topic)  # an unrouted topic fails now, before anything is written
        partitions = _target_partitions(config, ranges, must_exist=not args.output)
        progress = Progress("replay", len(ranges), sys.stderr)
        began = time.monotonic()
        if args.output:
            out_path = Path(args.output)
            form = LineForm.for_formats(config.format, config.key_format)
            with out_path.open("wb") as stream:
                run = replay(consumer, config, setup, ranges, start=start, end=end, target_partitions=partitions,
                             sink=LineSink(stream, form), progress=progress)
            output: TopicsOutput | FileOutput = FileOutput(path=_relative(out_path, manifest_path))
            where = str(out_path)
        else:
            writer = TopicWriter(config, replay_producer(config), f"replay-{replay_id}", setup.loaded.sha256,
                                 setup.key.key_id, setup.loaded.policy.leak_guard,
                                 key_fingerprint=setup.key.fingerprint)
            writer.notes = _check_key(config, setup, set(partitions), writer.instance)
            writer.unannounced = set(partitions)
            writer.start()
            try:
                run = replay(consumer, config, setup, ranges, start=start, end=end, target_partitions=partitions,
                             sink=writer, progress=progress)
                writer.commit()
            except BaseException:
                writer.abort()
                raise
            finally:
                writer.close()
            output = TopicsOutput(written=[
                WrittenRange(topic=t, partition=p, first_offset=first, last_offset=last, records=n)
                for (t, p), (first, last, n) in sorted(writer.written.items())])
            where = "the target topics " + ", ".join(sorted({t for t, _ in writer.written})) if writer.written \
                else "the target topics (nothing written)"
        progress.finish()
    finally:
        consumer.close()
    manifest = run.manifest(setup, config, partitions, output)
    manifest_path.write_bytes(manifest.to_json())
    _summary(run, time.monotonic() - began, where, manifest_path, sys.stdout if args.output else sys.stderr)
    return EXIT_DIFFERENT if run.audit.blocked_total else EXIT_OK


def _warn_clamped(start: Spec, end: Spec, ranges: Ranges) -> None:
    """Offsets named past a partition's end (or before its start) are read up to the end (from the start):
    say so, since the replay then holds fewer records than asked for."""
    for option, spec in (("--from", start), ("--to", end)):
        if not isinstance(spec, Offsets):
            continue
        for (topic, partition), asked in sorted(spec.offsets.items()):
            r = ranges.get((topic, partition))
            if r is not None and not r.low <= asked <= r.high:
                print(f"warning: {option} {topic}:{partition}:{asked} is outside the partition's offsets "
                      f"[{r.low}, {r.high}); read from {r.start} to {r.end}", file=sys.stderr)


def _check_key(config: ProxyConfig, setup: MaskingSetup, targets: set[str], instance: str) -> dict[str, Any]:
    """As ``run`` at start (the same ``assess``): refuse (``KeyChanged``) to write ``targets`` when they were last
    written under another key id or key material, unless the config's ``key_rotation`` acknowledges it. Returns
    what the first audit record notes, as ``run``'s does (``Assessment.notes``)."""
    state = CheckpointState.of(config.group_id, read_target_topic(config, config.checkpoint_topic))
    policy = setup.loaded.sha256
    found = assess(state, group=config.group_id, instance=instance, key_id=setup.key.key_id, policy_sha256=policy,
                   targets=targets, rotation=config.key_rotation, key_fingerprint=setup.key.fingerprint)
    notes = found.notes()
    if "key_rotation" in notes:
        log.warning("key rotation acknowledged: the replay continues target topics written under another key",
                    extra={"fields": {"group": config.group_id, **notes["key_rotation"]}})
    if found.policy_from is not None:
        log.warning(f"policy changed from {found.policy_from} to {policy}: the replay writes target topics last "
                    "written under another policy", extra={"fields": {
                        "group": config.group_id, "from_policy_sha256": found.policy_from, "policy_sha256": policy}})
    return notes


def _summary(run: ReplayRun, elapsed: float, where: str, manifest_path: Path, stream: IO[str]) -> None:
    audit = run.audit
    rate = audit.records_in / elapsed if elapsed > 0 else 0.0
    blocked = f", {audit.blocked_total:,} blocked (listed in the manifest)" if audit.blocked_total else ""
    print(f"replayed {audit.records_in:,} records from {len(run.ranges)} partition(s) in {elapsed:.1f} s "
          f"({rate:,.0f} records/s): {audit.records_out:,} written to {where}{blocked}; manifest {manifest_path}",
          file=stream)


def _relative(path: Path, manifest_path: Path) -> str:
    """The output's path as the manifest names it: relative to the manifest's directory (the two move
    together), absolute when they are on different roots."""
    try:
        return os.path.relpath(path.resolve(), manifest_path.resolve().parent)
    except ValueError:
        return str(path.resolve())


def _target_partitions(config: ProxyConfig, ranges: Ranges, must_exist: bool) -> dict[str, int]:
    """Partitions of each target topic on the target cluster (key partitioning hashes over them). A file
    replay of a target topic that does not exist yet counts the source topic's partitions (what a sink
    mirroring the source would create); a topics replay needs the topic."""
    source_counts: dict[str, int] = {}
    for topic, partition in ranges:
        source_counts[topic] = max(source_counts.get(topic, 0), partition + 1)
    targets = {config.target_topic(t): n for t, n in source_counts.items()}
    metadata = admin(config.target_props).list_topics(timeout=30).topics
    out = {}
    for target, source_n in sorted(targets.items()):
        meta = metadata.get(target)
        if meta is None or meta.error is not None or not meta.partitions:
            if must_exist:
                raise StreamMaskError(f"target topic {target} does not exist on the target cluster; create it "
                                      "(as many partitions as its source) before replaying to topics")
            out[target] = source_n
        else:
            out[target] = len(meta.partitions)
    return out


# -- verify -----------------------------------------------------------------------------------------


def _verify(args: argparse.Namespace, config: ProxyConfig, setup: MaskingSetup) -> int:
    manifest_path = Path(args.verify)
    expected = Manifest.from_json(manifest_path.read_bytes(), str(manifest_path))
    start, end = expected.source.specs()
    only = {(r.topic, r.partition) for r in expected.source.partitions}
    consumer = range_consumer(config)
    try:
        ranges = resolve(consumer, config, start, end, only)
        progress = Progress("verify", len(ranges), sys.stderr)
        run = replay(consumer, config, setup, ranges, start=start, end=end,
                     target_partitions=dict(expected.target_partitions), block_size=expected.digests.block_size,
                     progress=progress, keep_records=True)
        progress.finish()
    finally:
        consumer.close()
    actual = run.manifest(setup, config, dict(expected.target_partitions), expected.output)
    # the re-read ranges are the manifest's own; its from/to texts stand for them
    actual = actual.model_copy(update={"source": actual.source.model_copy(
        update={"from_spec": expected.source.from_spec, "to_spec": expected.source.to_spec})})
    diff = compare(expected, actual)
    if diff is not None:
        print(f"{manifest_path}: re-masking the source differs: {diff}")
        return EXIT_DIFFERENT
    written = _output_digests(expected, config, manifest_path)
    first = run.digests.first_difference(written)  # the re-masked records equal the manifest's: compare with them
    if first is not None:
        print(f"{manifest_path}: the output differs from what was replayed: {first}")
        return EXIT_DIFFERENT
    print(f"{manifest_path}: verified at {utc_now()}: {run.audit.records_in:,} source records re-masked to the same "
          f"{sum(c.records for c in expected.digests.chains):,} output records, and the output holds them")
    return EXIT_OK


def _output_digests(expected: Manifest, config: ProxyConfig, manifest_path: Path) -> OutputDigests:
    """The digests of the output the manifest names, read back (streamed): the file's lines, or the target
    offsets the replay wrote."""
    output = expected.output
    if isinstance(output, FileOutput):
        path = Path(output.path)
        if not path.is_absolute():
            path = manifest_path.resolve().parent / path
        if not path.is_file():
            raise OutputUnreadable(f"{manifest_path}: its output file {path} is missing")
        with path.open("rb") as stream:
            return _digest_output(expected, _file_records(line_source(stream)), duplicates_allowed=False)
    consumer = _target_consumer(config)
    try:
        ranges = {(w.topic, w.partition): Range(w.first_offset, w.last_offset + 1, w.first_offset, w.last_offset + 1)
                  for w in output.written}
        return _digest_output(expected, read_ranges(consumer, ranges), duplicates_allowed=True)
    finally:
        consumer.close()


def _digest_output(expected: Manifest, records: Iterable[SourceRecord], duplicates_allowed: bool) -> OutputDigests:
    """``duplicates_allowed`` (target topics): records of other writers between the replay's (a running
    ``run``, an earlier replay) are skipped: outside the replayed ranges, or a copy of a source record already
    seen there."""
    digests = OutputDigests(expected.digests.block_size, keep_records=True)
    replayed = {(r.topic, r.partition): (r.start, r.end) for r in expected.source.partitions}
    seen: set[tuple[str, int, Coordinates]] = set()
    for record in records:
        source = _source_of(record)
        where = record.coordinates
        if source is None:
            raise OutputUnreadable(f"output record {where.topic}/{where.partition}/{where.offset} has no "
                                   f"{SOURCE_HEADERS[0]} headers: it was not written by a replay or run")
        start, end = replayed.get((source.topic, source.partition), (0, 0))
        if duplicates_allowed and not start <= source.offset < end:
            continue
        if (where.topic, where.partition, source) in seen:
            if not duplicates_allowed:
                raise OutputUnreadable(f"output file: source record {source.topic}/{source.partition}/"
                                       f"{source.offset} appears twice")
            continue
        seen.add((where.topic, where.partition, source))
        try:
            digests.add(where.topic, where.partition, source, record.key, record.value, record.headers)
        except ValueError:  # out of source order: not as the replay wrote it
            at = f"{source.topic}/{source.partition}/{source.offset}"
            raise OutputUnreadable(f"output record {where.topic}/{where.partition}/{where.offset} (source {at}) is out "
                                   "of source order") from None
    return digests


def _file_records(items: Iterable[SourceRecord | Unreadable]) -> Iterator[SourceRecord]:
    for item in items:
        if isinstance(item, Unreadable):
            raise OutputUnreadable(f"output file: {item.detail}")
        yield item


def _source_of(record: SourceRecord) -> Coordinates | None:
    """The source coordinates from a written record's last ``streammask.source.*`` headers."""
    found = {name: value for name, value in record.headers if name in SOURCE_HEADERS}
    try:
        topic, partition, offset = (found[name] for name in SOURCE_HEADERS)
        if topic is None or partition is None or offset is None:
            return None
        return Coordinates(topic.decode(), int(partition), int(offset))
    except (KeyError, ValueError, UnicodeDecodeError):
        return None


def _target_consumer(config: ProxyConfig) -> Consumer:
    """A groupless read_committed reader of the target cluster, for the offsets a replay wrote."""
    return Consumer(groupless_reader(config.target_props, f"streammask-replay-verify-{config.group_id}",
                                     offset_reset="error"))
