"""``--from``/``--to`` SPECs: where a replay starts and where it stops, before any cluster is asked.

A SPEC is one of:

- ``earliest``: each partition's first offset (the default for ``--from``);
- ``end``: each partition's end offset when the replay starts (the default for ``--to``), so it terminates;
- a comma list of ``TOPIC:PARTITION:OFFSET``: those partitions at those offsets; partitions it does not
  name take the option's default (``earliest`` for ``--from``, ``end`` for ``--to``), so
  ``--from orders:3:1200`` replays partition 3 from 1200 and every other partition whole;
- an ISO-8601 date-time with an explicit UTC offset or ``Z`` (``2024-06-03T11:00:00Z``,
  ``2024-06-03T13:00:00.250+02:00``): per partition, the first offset whose timestamp is at or after it.
  A time without an offset is refused: which zone it meant is a guess, and a wrong guess replays the wrong
  hours.

Text that begins with a date (``YYYY-MM-DD``) is read as a timestamp, anything else with a colon as a list.
Offsets are as Kafka gives them: the range is half-open, ``--to`` offset excluded.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from streammask.errors import StreamMaskError

PartitionKey = tuple[str, int]
"""(topic, partition)."""

_TOPIC = re.compile(r"[A-Za-z0-9._-]{1,249}")  # Kafka's legal topic names
_DIGITS = re.compile(r"[0-9]{1,19}")
_DATE_FIRST = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}(?:$|[T ])")
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MS = dt.timedelta(milliseconds=1)
INT32_MAX, INT64_MAX = 2**31 - 1, 2**63 - 1


class SpecError(StreamMaskError):
    """A ``--from``/``--to`` SPEC that cannot be read, or that names what the cluster does not have."""


@dataclass(frozen=True)
class Earliest:
    """Each partition's first offset (its low watermark)."""


@dataclass(frozen=True)
class End:
    """Each partition's end offset (high watermark) as read once, when the replay starts."""


@dataclass(frozen=True)
class Offsets:
    """Named partitions at named offsets; the others take the option's default."""

    offsets: Mapping[PartitionKey, int]

    def __post_init__(self) -> None:
        if not self.offsets:
            raise ValueError("an Offsets spec names at least one partition")
        object.__setattr__(self, "offsets", MappingProxyType(dict(sorted(self.offsets.items()))))


@dataclass(frozen=True)
class Timestamp:
    """Milliseconds since the epoch (UTC): the first offset at or after it, per partition."""

    ms: int


Spec = Earliest | End | Offsets | Timestamp
EARLIEST, END = Earliest(), End()


def parse_spec(text: str, option: str = "--from") -> Spec:
    """The SPEC ``text`` of ``option`` (named in errors), or ``SpecError`` naming the part that is wrong."""
    stripped = text.strip()
    if stripped == "earliest":
        return EARLIEST
    if stripped == "end":
        return END
    if _DATE_FIRST.match(stripped):
        return Timestamp(_timestamp_ms(stripped, option))
    if ":" in stripped:
        return Offsets(_offsets(stripped, option))
    raise SpecError(
        f"{option} {text!r}: expected earliest, end, TOPIC:PARTITION:OFFSET[,…] or an ISO-8601 time with an "
        "offset (2024-06-03T11:00:00Z)"
    )


def _timestamp_ms(text: str, option: str) -> int:
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise SpecError(f"{option} {text!r}: not an ISO-8601 date-time (e.g. 2024-06-03T11:00:00Z)") from None
    if when.tzinfo is None or when.utcoffset() is None:
        raise SpecError(
            f"{option} {text!r}: the time has no UTC offset; add Z for UTC or the zone's offset (+02:00): "
            "a time without one could mean any zone"
        )
    if when < _EPOCH:
        raise SpecError(f"{option} {text!r}: before 1970-01-01T00:00:00Z; Kafka timestamps start there")
    # The first whole millisecond at or after the time: a record at that millisecond is not before it.
    return -((_EPOCH - when) // _MS)


def _offsets(text: str, option: str) -> dict[PartitionKey, int]:
    out: dict[PartitionKey, int] = {}
    for n, item in enumerate(text.split(","), start=1):
        part = item.strip()
        where = f"{option} item {n} {part!r}"
        topic, sep, rest = part.rpartition(":")
        topic, sep2, partition = topic.rpartition(":")
        if not sep or not sep2:
            raise SpecError(f"{where}: expected TOPIC:PARTITION:OFFSET")
        if not _TOPIC.fullmatch(topic) or topic in (".", ".."):
            raise SpecError(f"{where}: {topic!r} is not a Kafka topic name (1 to 249 of a-z, A-Z, 0-9, '.', '_', '-')")
        if not _DIGITS.fullmatch(partition) or int(partition) > INT32_MAX:
            raise SpecError(f"{where}: partition {partition!r} is not a partition number (0 to {INT32_MAX})")
        if not _DIGITS.fullmatch(rest) or int(rest) > INT64_MAX:
            raise SpecError(f"{where}: offset {rest!r} is not an offset (0 to {INT64_MAX})")
        key = (topic, int(partition))
        if key in out:
            raise SpecError(f"{where}: {topic}:{key[1]} is named twice")
        out[key] = int(rest)
    return out


def format_spec(spec: Spec) -> str:
    """The canonical text of ``spec`` (what a manifest records): ``parse_spec`` reads it back to ``spec``."""
    if isinstance(spec, Earliest):
        return "earliest"
    if isinstance(spec, End):
        return "end"
    if isinstance(spec, Timestamp):
        return (_EPOCH + spec.ms * _MS).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return ",".join(f"{topic}:{partition}:{offset}" for (topic, partition), offset in spec.offsets.items())
