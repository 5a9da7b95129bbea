"""Audit records as read back from the audit topic: where each one is, and the parts the checks use.

A record that is not one (not JSON, fields missing or of the wrong type) is refused with a reason
naming the field, never quoting the record.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import orjson

from streammask.errors import StreamMaskError


class NotAnAuditRecord(StreamMaskError):
    """A record in the audit topic that streammask did not write in this shape."""


@dataclass(frozen=True, slots=True, order=True)
class Position:
    """A record's place in a topic; how every report points at evidence (never at a value)."""

    topic: str
    partition: int
    offset: int

    def __str__(self) -> str:
        return f"{self.topic}/{self.partition}/{self.offset}"


@dataclass(frozen=True, slots=True)
class SourceRange:
    topic: str
    partition: int
    first: int
    last: int
    records: int
    counted: bool = True
    """False for records written before ranges carried their count: ``records`` then assumes no holes."""


@dataclass(frozen=True)
class AuditEntry:
    at: Position
    doc: dict[str, Any]
    ranges: tuple[SourceRange, ...]
    committed_at: dt.datetime

    @property
    def group(self) -> str:
        return str(self.doc["group_id"])

    @property
    def instance(self) -> str:
        return str(self.doc["instance"])

    @property
    def sequence(self) -> int:
        return int(self.doc["sequence"])

    @property
    def counts(self) -> dict[str, int]:
        """``records``: in, out, blocked."""
        return {k: int(self.doc["records"][k]) for k in ("in", "out", "blocked")}

    def blocked_offsets(self) -> set[tuple[str, int, int]]:
        return {(str(b["topic"]), int(b["partition"]), int(b["offset"])) for b in self.doc["blocked"]}

    @property
    def blocked_unlisted(self) -> int:
        """Blocked records the capped ``blocked`` list leaves out (0 when it lists them all)."""
        return max(0, self.counts["blocked"] - len(self.doc["blocked"]))


_FIELDS: dict[str, type | tuple[type, ...]] = {
    "group_id": str, "instance": str, "sequence": int, "hash": str, "prev_hash": str, "committed_at": str,
    "source_ranges": list, "records": dict, "blocked": list, "tables": dict,
}


def parse_time(text: str) -> dt.datetime:
    """An ISO-8601 time with a UTC offset (or ``Z``); a time without one is refused, not guessed."""
    value = dt.datetime.fromisoformat(text)
    if value.tzinfo is None:
        raise ValueError(f"{text!r} has no UTC offset; add one, e.g. Z or +02:00")
    return value


def parse_entry(at: Position, value: bytes | None) -> AuditEntry:
    """The audit record at ``at``; NotAnAuditRecord says which part is wrong."""
    if not value:
        raise NotAnAuditRecord(f"{at}: empty record")
    try:
        doc = orjson.loads(value)
    except orjson.JSONDecodeError:
        raise NotAnAuditRecord(f"{at}: not JSON") from None
    if not isinstance(doc, dict) or doc.get("type") != "streammask.audit.transaction":
        raise NotAnAuditRecord(f"{at}: not a streammask audit record (type is not streammask.audit.transaction)")
    for name, kind in _FIELDS.items():
        if not isinstance(doc.get(name), kind) or isinstance(doc.get(name), bool):
            raise NotAnAuditRecord(f"{at}: field {name} missing or not a {getattr(kind, '__name__', kind)}")
    try:
        ranges = tuple(_range(r) for r in doc["source_ranges"])
        committed_at = parse_time(doc["committed_at"])
        for key in ("in", "out", "blocked"):
            int(doc["records"][key])
        for b in doc["blocked"]:
            str(b["topic"]), int(b["partition"]), int(b["offset"])
    except (KeyError, TypeError, ValueError) as exc:
        raise NotAnAuditRecord(f"{at}: malformed ({type(exc).__name__} in source_ranges, records, blocked or "
                               "committed_at)") from None
    return AuditEntry(at, doc, ranges, committed_at)


def _range(item: dict[str, Any]) -> SourceRange:
    first, last = int(item["first_offset"]), int(item["last_offset"])
    records = item.get("records")
    if records is None:
        return SourceRange(str(item["topic"]), int(item["partition"]), first, last, last - first + 1, counted=False)
    return SourceRange(str(item["topic"]), int(item["partition"]), first, last, int(records))
