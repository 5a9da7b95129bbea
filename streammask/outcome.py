"""Typed results of masking one record: masked, passed (metadata events) or blocked (with a reason)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from streammask.plan import ColumnStats


class EventKind(Enum):
    CHANGE = "change"
    TOMBSTONE = "tombstone"
    TRANSACTION = "transaction"
    HEARTBEAT = "heartbeat"
    SCHEMA_CHANGE = "schema-change"
    MESSAGE = "message"


class BlockCode(Enum):
    UNDECODABLE = "undecodable"
    """The record value does not decode (or, for ``mask``, an input line is not a record)."""
    UNDECODABLE_KEY = "undecodable-key"
    """The record key does not decode; told apart from the value, as the two have their own format and converter."""
    NOT_DEBEZIUM = "not-debezium"
    UNKNOWN_TABLE = "unknown-table"
    UNCLASSIFIED_COLUMN = "unclassified-column"
    NOT_APPLICABLE = "strategy-not-applicable"
    MASKING_FAILED = "masking-failed"
    UNKNOWN_FIELD = "unknown-envelope-field"
    SCHEMA_CHANGE = "schema-change-blocked"
    MESSAGE = "message-blocked"
    UNCERTAIN_KIND = "uncertain-event-kind"
    """The record looks like a Debezium event kind, but what identifies that kind (schema name, shape,
    topic) does not agree: it could be a row, so it is not passed."""
    SCHEMA_MISMATCH = "schema-payload-mismatch"
    """A row or key field that its embedded schema does not declare."""
    TYPE_NOT_PRESERVED = "type-not-preserved"
    """The strategy cannot keep the value valid for its column type."""
    LEAK_GUARD = "leak-guard"
    """A raw value of a masked column was found in the record's output."""
    WRONG_FORMAT = "wrong-format"
    """The record is not in the configured wire format (``format``/``key_format``) or framing."""
    SCHEMA_REGISTRY = "schema-registry"
    """A Schema Registry call failed (down, or 4xx such as an incompatible schema): nothing is written
    with a schema id the target registry has not given."""


@dataclass(frozen=True)
class Coordinates:
    topic: str
    partition: int
    offset: int


@dataclass(frozen=True, slots=True)
class SourceRecord:
    """One record as a command reads it, from Kafka or a kcat -J line: coordinates, key and value bytes,
    headers, and the timestamp (kcat's ``tstype``: create, logappend or unknown; ``ts`` in ms) and broker
    when known."""

    coordinates: Coordinates
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes | None]]
    tstype: str | None = None
    ts: int | None = None
    broker: int | None = None


@dataclass(frozen=True, slots=True)
class Unreadable:
    """An input item that is not a record (a line not in kcat's shape): blocked as undecodable. ``detail``
    names a field, never a value."""

    coordinates: Coordinates
    detail: str


@dataclass(frozen=True)
class BlockReason:
    """Why a record was blocked. ``detail`` is written by streammask and never holds a value."""

    code: BlockCode
    detail: str
    table: str | None = None
    column: str | None = None

    def describe(self) -> str:
        where = "".join(
            f" {label} {v}" for label, v in (("table", self.table), ("column", self.column)) if v is not None
        )
        return f"{self.code.value}:{where} {self.detail}".replace(":  ", ": ")


def blocked_fields(where: Coordinates, reason: BlockReason) -> dict[str, str | int | None]:
    """A blocked record as audit entries and log lines show it: coordinates and reason, no value."""
    return {
        "topic": where.topic,
        "partition": where.partition,
        "offset": where.offset,
        "code": reason.code.value,
        "table": reason.table,
        "column": reason.column,
        "reason": reason.detail,
    }


@dataclass(slots=True)
class Masked:
    """What to produce: masked key, value and headers (bytes, ready for Kafka)."""

    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes | None]] = field(default_factory=list)
    kind: EventKind = EventKind.CHANGE
    table: str | None = None
    op: str | None = None
    masked_columns: list[ColumnStats] = field(default_factory=list)
    """One entry per value masked (before, after, key, key headers), for audit counts."""
    source_ts_ms: int | None = None
    """Debezium's source.ts_ms: when the change happened in the database (for end-to-end delay)."""
    placeholders: list[ColumnStats] = field(default_factory=list)
    """One entry per Debezium placeholder passed unchanged (an unavailable TOASTed value, a LOB)."""


@dataclass(slots=True)
class Blocked:
    reason: BlockReason
    kind: EventKind | None = None
    op: str | None = None


Outcome = Masked | Blocked
