"""The policy model: the reviewable contract of what is masked, how, and with which key."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

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
