"""``--from``/``--to`` SPEC parsing: each form, the errors (naming the bad part), and the canonical text."""

from __future__ import annotations

import datetime as dt

import pytest

from streammask.errors import StreamMaskError
from streammask.replay.spec import (
    EARLIEST,
    END,
    Offsets,
    SpecError,
    Timestamp,
    format_spec,
    parse_spec,
)

UTC_11H = int(dt.datetime(2024, 6, 3, 11, tzinfo=dt.UTC).timestamp()) * 1000


def test_keywords() -> None:
    assert parse_spec("earliest") == EARLIEST
    assert parse_spec(" end ", "--to") == END


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("2024-06-03T11:00:00Z", UTC_11H),
        ("2024-06-03T13:00:00+02:00", UTC_11H),
        ("2024-06-03T06:30:00-04:30", UTC_11H),
        ("2024-06-03 11:00:00.250Z", UTC_11H + 250),
        ("2024-06-03T11:00:00.000001Z", UTC_11H + 1),  # the first whole millisecond at or after it
        ("2024-06-03T11:00:00.999999+00:00", UTC_11H + 1000),
        ("1970-01-01T00:00:00Z", 0),
    ],
)
def test_timestamps(text: str, ms: int) -> None:
    assert parse_spec(text) == Timestamp(ms)


@pytest.mark.parametrize("text", ["2024-06-03T11:00:00", "2024-06-03", "2024-06-03 11:00"])
def test_a_time_without_offset_is_refused(text: str) -> None:
    with pytest.raises(SpecError, match=r"--to '.*': the time has no UTC offset; add Z for UTC") as info:
        parse_spec(text, "--to")
    assert isinstance(info.value, StreamMaskError)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2024-13-03T11:00:00Z", "not an ISO-8601 date-time"),
        ("2024-06-03T11:00:00Zulu", "not an ISO-8601 date-time"),
        ("1969-12-31T23:59:59Z", "before 1970-01-01T00:00:00Z"),
    ],
)
def test_bad_timestamps(text: str, message: str) -> None:
    with pytest.raises(SpecError, match=message):
        parse_spec(text)


def test_offset_lists() -> None:
    spec = parse_spec("orders:3:1200, db.public.customers:0:0,orders:1:7")
    assert spec == Offsets({("orders", 3): 1200, ("db.public.customers", 0): 0, ("orders", 1): 7})
    assert isinstance(spec, Offsets)
    assert list(spec.offsets) == [("db.public.customers", 0), ("orders", 1), ("orders", 3)]  # sorted
    assert parse_spec("t:0:9223372036854775807") == Offsets({("t", 0): 2**63 - 1})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("orders:1", r"item 1 'orders:1': expected TOPIC:PARTITION:OFFSET"),
        ("orders:1:5,", r"item 2 '': expected TOPIC:PARTITION:OFFSET"),
        ("orders:1:5,orders:x:5", r"item 2 'orders:x:5': partition 'x' is not a partition number"),
        ("orders:-1:5", r"partition '-1' is not a partition number"),
        ("orders:2147483648:5", r"partition '2147483648' is not a partition number"),
        ("orders:1:-5", r"offset '-5' is not an offset"),
        ("orders:1:+5", r"offset '\+5' is not an offset"),
        ("orders:1:1_000", r"offset '1_000' is not an offset"),
        ("orders:1:9223372036854775808", r"offset '9223372036854775808' is not an offset"),
        ("ord ers:1:5", r"'ord ers' is not a Kafka topic name"),
        ("a:b:1:5", r"'a:b' is not a Kafka topic name"),
        ("..:0:5", r"'\.\.' is not a Kafka topic name"),
        (":0:5", r"'' is not a Kafka topic name"),
        ("t:0:5,t:0:6", r"item 2 't:0:6': t:0 is named twice"),
    ],
)
def test_bad_offset_lists_name_the_item(text: str, message: str) -> None:
    with pytest.raises(SpecError, match=message):
        parse_spec(text)


@pytest.mark.parametrize("text", ["", "latest", "beginning", "1200", "END"])
def test_unknown_forms_list_the_accepted_ones(text: str) -> None:
    with pytest.raises(SpecError, match="expected earliest, end, TOPIC:PARTITION:OFFSET"):
        parse_spec(text, "--from")


@pytest.mark.parametrize(
    "text", ["earliest", "end", "2024-06-03T11:00:00.250Z", "a:0:1,b.c:2:30", "1970-01-01T00:00:00.000Z"]
)
def test_format_spec_is_canonical_and_reads_back(text: str) -> None:
    spec = parse_spec(text)
    assert format_spec(spec) == text
    assert parse_spec(format_spec(spec)) == spec


def test_format_spec_normalises_times_to_utc_milliseconds() -> None:
    assert format_spec(parse_spec("2024-06-03T13:00:00+02:00")) == "2024-06-03T11:00:00.000Z"


def test_an_offsets_spec_names_a_partition() -> None:
    with pytest.raises(ValueError, match="at least one partition"):
        Offsets({})
