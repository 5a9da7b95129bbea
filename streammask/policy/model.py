"""The policy model: the reviewable contract of what is masked, how, and with which key."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from streammask.placeholders import DEFAULT as DEFAULT_PLACEHOLDER
from streammask.strategies.bucket import BucketOptions
from streammask.strategies.format_preserve import FormatPreserveOptions
from streammask.strategies.hash import HashOptions
from streammask.strategies.keep import KeepOptions
from streammask.strategies.redact import RedactOptions
from streammask.strategies.replace import ReplaceOptions
from streammask.strategies.shift import ShiftOptions
from streammask.strategies.tokenize import TokenizeOptions

FieldSpec = Annotated[
    ReplaceOptions
    | FormatPreserveOptions
    | RedactOptions
    | ShiftOptions
    | BucketOptions
    | HashOptions
    | TokenizeOptions
    | KeepOptions,
    Field(discriminator="strategy"),
]


def _readable_placeholder(entry: str) -> str:
    if not entry:
        raise ValueError("a placeholder cannot be empty")
    if entry.startswith("hex:"):
        try:
            raw = bytes.fromhex(entry[4:])
        except ValueError:
            raise ValueError("a `hex:` placeholder needs hex digits after `hex:`") from None
        if not raw:
            raise ValueError("a `hex:` placeholder needs at least one byte after `hex:`")
    return entry


Placeholder = Annotated[str, AfterValidator(_readable_placeholder)]
"""One connector's unavailable.value.placeholder, checked per entry so an error names its own line."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class KeySource(_Strict):
    """Where the masking key lives. The key itself never appears in a policy."""

    env: str | None = Field(default=None, min_length=1)
    file: str | None = Field(default=None, min_length=1)
    id: str = Field(min_length=1, description="Public key id, written to every audit record.")

    @model_validator(mode="after")
    def _exactly_one(self) -> KeySource:
        if (self.env is None) == (self.file is None):
            raise ValueError("key needs exactly one of `env` (a variable name) or `file` (a path)")
        return self


class TablePolicy(_Strict):
    passthrough: list[str] = Field(default_factory=list, description="Columns classified as not sensitive.")
    fields: dict[str, FieldSpec] = Field(default_factory=dict, description="Masked columns.")


class EventsPolicy(_Strict):
    schema_changes: Literal["block", "pass"] = "block"
    """Schema-change events carry DDL; they are blocked unless set to pass."""
    messages: Literal["block", "pass", "redact"] = "block"
    """Logical decoding messages (op m) carry arbitrary content; redact empties it."""
    heartbeat_topics: list[str] = Field(default_factory=lambda: ["__debezium-heartbeat.*"])
    """Topics (fnmatch patterns) where a value without a schema that is only {ts_ms} is a heartbeat
    (Debezium's topic.heartbeat.prefix); elsewhere such a value could be a row and is blocked."""
    transaction_topics: list[str] = Field(default_factory=lambda: ["*.transaction"])
    """Topics (fnmatch patterns) where a BEGIN/END value without a schema is transaction metadata
    (Debezium's topic.transaction); elsewhere it is blocked."""


class LeakGuardPolicy(_Strict):
    """After masking, each record's output is searched for the raw values of its masked columns."""

    enabled: bool = True
    min_length: int = Field(default=6, ge=1, le=4096)
    """Only raw values at least this many bytes long (as text) are searched: shorter ones match by chance."""
    approved_by: str | None = Field(default=None, min_length=1)
    reason: str | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _off_only_with_approval(self) -> LeakGuardPolicy:
        if not self.enabled and (self.approved_by is None or self.reason is None):
            raise ValueError("turning the leak guard off needs `approved_by` and `reason`, like `keep`")
        return self


class HeadersPolicy(_Strict):
    passthrough: list[str] = Field(default_factory=lambda: ["__debezium.context.*"])
    """Header names (fnmatch patterns) copied unchanged; every other header is dropped, except
    __debezium.oldkey/__debezium.newkey, which are masked like the message key."""


class Policy(_Strict):
    version: Literal[1]
    key: KeySource
    tables: dict[str, TablePolicy] = Field(min_length=1)
    events: EventsPolicy = Field(default_factory=EventsPolicy)
    headers: HeadersPolicy = Field(default_factory=HeadersPolicy)
    placeholders: list[Placeholder] = Field(default_factory=lambda: [DEFAULT_PLACEHOLDER], min_length=1)
    """Debezium's unavailable.value.placeholder of each connector feeding these topics (``hex:...`` for
    raw bytes, as Debezium reads it): where a column holds one, it passes unchanged and is counted."""
    leak_guard: LeakGuardPolicy = Field(default_factory=LeakGuardPolicy)

