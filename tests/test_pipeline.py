"""The shared record path: one mask step (mask, route, headers) between any source and any sink."""

from __future__ import annotations

import io
from typing import Any

import orjson
import pytest

from streammask.audit import AuditCounts
from streammask.kcat_io import KCAT, line_source, parse_line
from streammask.keys import MasterKey
from streammask.masker import RecordMasker
from streammask.outcome import BlockCode, Blocked, Coordinates, SourceRecord, Unreadable
from streammask.pipeline import PARTITION_BY_KEY, SOURCE_HEADERS, Addressed, LineSink, MaskStep, Pipeline
from streammask.plan import CompiledPolicy
from streammask.policy.loader import parse_policy

try:
    from tests import events as ev
except ImportError:  # tests/ itself is on sys.path
    import events as ev  # type: ignore[no-redef]

KEY = MasterKey(bytes(range(32)), "k1")
POLICY = b"""
version: 1
key: {env: STREAMMASK_TEST_KEY, id: k1}
tables:
  public.customers:
    fields:
      id:    {strategy: tokenize, domain: customer_id}
      email: {strategy: format-preserve}
"""
TOPIC = ev.topic("customers")
FIELDS = [ev.col("id", "int32", False), ev.col("email", "string", False)]


def masker() -> RecordMasker:
    return RecordMasker(CompiledPolicy(parse_policy(POLICY), KEY))


def record(i: int, partition: int = 0, offset: int | None = None, **extra: Any) -> SourceRecord:
    fields = FIELDS + [ev.col(k, "string", True) for k in extra]
    value = ev.envelope(fields, None, {"id": i, "email": f"person{i}@example.org", **extra}, "c")
    key = ev.key([ev.col("id", "int32", False)], {"id": i})
    return SourceRecord(Coordinates(TOPIC, partition, i if offset is None else offset), key, value,
                        [("trace", b"t1")], "create", 1_700_000_000_000)


def addressed(out: Addressed | Blocked) -> Addressed:
    assert isinstance(out, Addressed), out
    return out


def test_the_step_routes_masks_and_appends_the_source_coordinates_after_the_masker_headers() -> None:
    step = MaskStep(masker(), route=lambda topic: "staging." + topic)
    src = record(7, partition=3, offset=41)
    out = addressed(step(src))
    direct = masker().mask(TOPIC, src.key, src.value, src.headers, "staging." + TOPIC)
    assert not isinstance(direct, Blocked)
    assert out.topic == "staging." + TOPIC
    assert out.partition == PARTITION_BY_KEY  # key partitioning, no partitioner: the producer decides
    assert (out.masked.key, out.masked.value) == (direct.key, direct.value)
    assert out.headers == [*direct.headers, (SOURCE_HEADERS[0], TOPIC.encode()), (SOURCE_HEADERS[1], b"3"),
                           (SOURCE_HEADERS[2], b"41")]
    assert out.source is src


def test_source_partitioning_keeps_the_partition_and_a_partitioner_decides_by_the_masked_key() -> None:
    assert addressed(MaskStep(masker(), partitioning="source")(record(1, partition=5))).partition == 5
    seen: list[tuple[str, bytes | None]] = []

    def partitioner(topic: str, key: bytes | None) -> int:
        seen.append((topic, key))
        return 2

    out = addressed(MaskStep(masker(), partitioner=partitioner)(record(1, partition=5)))
    assert out.partition == 2
    assert seen == [(TOPIC, out.masked.key)]  # the masked key, never the raw one
    assert out.masked.key != record(1).key


def test_without_coordinate_headers_only_the_masker_headers_go_out() -> None:
    out = addressed(MaskStep(masker(), coordinate_headers=False)(record(1)))
    assert not any(name.startswith("streammask.source.") for name, _ in out.headers)


def test_a_record_the_policy_does_not_cover_is_blocked_by_the_step() -> None:
    out = MaskStep(masker())(record(1, ssn="078-05-1120"))
    assert isinstance(out, Blocked)
    assert out.reason.code is BlockCode.UNCLASSIFIED_COLUMN


def test_the_pipeline_counts_writes_masked_records_and_hands_over_blocked_and_unreadable_ones() -> None:
    lines = io.BytesIO()
    blocked: list[tuple[Coordinates, BlockCode]] = []
    audit = AuditCounts("0" * 64, "k1")
    pipeline = Pipeline(MaskStep(masker(), partitioning="source", coordinate_headers=False),
                        LineSink(lines, KCAT), audit,
                        lambda item, out: blocked.append((item.coordinates, out.reason.code)))
    unreadable = Unreadable(Coordinates("<input line 2>", -1, -1), "line 2: not a JSON object")
    pipeline.drain([record(1), unreadable, record(2, ssn="078-05-1120"), record(3)])
    assert (audit.records_in, audit.records_out, audit.blocked_total) == (4, 2, 2)
    assert blocked == [(unreadable.coordinates, BlockCode.UNDECODABLE), (Coordinates(TOPIC, 0, 2),
                                                                          BlockCode.UNCLASSIFIED_COLUMN)]
    written = [parse_line(line, n) for n, line in enumerate(lines.getvalue().splitlines(), 1)]
    assert [r.coordinates for r in written] == [Coordinates(TOPIC, 0, 1), Coordinates(TOPIC, 0, 3)]
    assert b"078-05-1120" not in lines.getvalue() and b"person1@" not in lines.getvalue()


def test_the_line_sink_writes_the_target_topic_and_partition_with_the_source_offset_and_timestamp() -> None:
    lines = io.BytesIO()
    step = MaskStep(masker(), route=lambda t: "qa." + t, partitioner=lambda t, k: 4)
    sink = LineSink(lines, KCAT)
    sink.write(addressed(step(record(9, partition=1, offset=77))))
    doc = orjson.loads(lines.getvalue())
    assert (doc["topic"], doc["partition"], doc["offset"]) == ("qa." + TOPIC, 4, 77)
    assert (doc["tstype"], doc["ts"]) == ("create", 1_700_000_000_000)
    assert doc["headers"][-6:] == [SOURCE_HEADERS[0], TOPIC, SOURCE_HEADERS[1], "1", SOURCE_HEADERS[2], "77"]
    assert sink.written == 1


@pytest.mark.parametrize(("tstype", "ts", "produced"), [("create", 1_700_000_000_000, 1_700_000_000_000),
                                                      ("logappend", 5, 5), (None, None, 0), ("create", 0, 0),
                                                      ("create", -1, 0)])
def test_kafka_sinks_produce_with_the_source_timestamp_or_the_time_of_producing(
    tstype: str | None, ts: int | None, produced: int
) -> None:
    """Output and replay's TopicWriter produce with ``Addressed.timestamp``: 0 lets the producer stamp the time."""
    source = record(1)
    source = SourceRecord(source.coordinates, source.key, source.value, source.headers, tstype, ts)
    assert addressed(MaskStep(masker())(source)).timestamp == produced


def test_lines_that_are_not_records_come_out_of_the_line_source_as_unreadable_with_their_line_number() -> None:
    good = orjson.dumps({"topic": TOPIC, "partition": 0, "offset": 1, "key": None, "payload": None})
    items = list(line_source(io.BytesIO(b"\n".join([good, b"{not json", b"", b'{"topic": "t"}']))))
    assert isinstance(items[0], SourceRecord)
    assert [(type(i).__name__, i.coordinates.topic) for i in items[1:]] == [
        ("Unreadable", "<input line 2>"), ("Unreadable", "<input line 4>")]


@pytest.mark.parametrize("partitioning", ["key", "source"])
def test_the_step_is_deterministic_across_instances(partitioning: str) -> None:
    a = addressed(MaskStep(masker(), partitioning=partitioning)(record(5)))  # type: ignore[arg-type]
    b = addressed(MaskStep(masker(), partitioning=partitioning)(record(5)))  # type: ignore[arg-type]
    assert (a.masked.key, a.masked.value, a.headers, a.partition) == (b.masked.key, b.masked.value, b.headers,
                                                                       b.partition)
