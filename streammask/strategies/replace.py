"""``replace``: a realistic fake of the right kind, drawn deterministically from Faker's locale data.

Kinds: first_name, last_name, full_name, email, username, phone, street_address, city, postcode,
country, company, job. E-mails use the reserved example.com/.org/.net domains. Not collision-free:
use ``tokenize`` or ``format-preserve`` for unique columns. Empty and whitespace-only strings stay as
they are: there is no one to replace.

A fake name is no uuid, MAC or IP address: a column whose source type declares one is not accepted
(strategy not applicable), and a value that has such a shape is refused (``TypeNotPreserved``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar, Literal

from pydantic import field_validator

from streammask import fakes
from streammask.errors import TypeNotPreserved
from streammask.strategies.base import (
    CompileContext,
    StrategyOptions,
    Transform,
    memoized_str,
)
from streammask.strategies.shapes import Shape, declared_shapes, detect
from streammask.types import ColumnType, Kind

ReplaceKind = Literal[
    "first_name",
    "last_name",
    "full_name",
    "email",
    "username",
    "phone",
    "street_address",
    "city",
    "postcode",
    "country",
    "company",
    "job",
]


class ReplaceOptions(StrategyOptions):
    strategy: Literal["replace"]
    kind: ReplaceKind
    locale: str = "en_US"
    domain: str | None = None

    @field_validator("locale")
    @classmethod
    def _known_locale(cls, value: str) -> str:
        if not fakes.locale_available(value):
            raise ValueError(f"unknown locale {value!r}; use a Faker locale such as en_US, de_DE, fr_FR")
        return value


class Replace:
    name: ClassVar[str] = "replace"
    Options: ClassVar[type[StrategyOptions]] = ReplaceOptions

    def accepts(self, column: ColumnType) -> bool:
        return column.kind is Kind.STRING and declared_shapes(column) is None

    def compile(self, options: ReplaceOptions, column: ColumnType, ctx: CompileContext) -> Transform:
        domain = options.domain or ctx.default_domain()
        prf = ctx.prf(f"replace:{domain}")
        name = ctx.column
        kind = options.kind
        max_len = _max_length(column)
        pick = _picker(kind, options.locale)
        digest = prf.digest

        def fake(value: str) -> str:
            if not value or value.isspace():
                return value  # a blank names no one; a fake would invent data the row never had
            shape = detect(value)
            if shape is not Shape.TEXT:
                raise TypeNotPreserved(
                    f"the value looks like {shape.value}: a fake {kind} would not be valid where one is stored; "
                    "use tokenize, format-preserve or hash for this column"
                )
            out: str = pick(digest(value.encode("utf-8", "surrogatepass")))
            return out[:max_len] if max_len else out

        return memoized_str(fake, column, name)


def build_pools(specs: Iterable[StrategyOptions]) -> None:
    """Build the pools the ``replace`` columns among ``specs`` draw from, now rather than at their
    first record (a pool takes Faker a moment to build)."""
    for spec in specs:
        if isinstance(spec, ReplaceOptions):
            for kind in (spec.kind,) if spec.kind in fakes.POOL_KINDS else ("first_name", "last_name"):
                fakes.pool(spec.locale, kind)


def _index(digest: bytes, slot: int, n: int) -> int:
    return int.from_bytes(digest[4 * slot : 4 * slot + 4], "big") % n


def _picker(kind: str, locale: str) -> Any:
    if kind in fakes.POOL_KINDS:
        values = fakes.pool(locale, kind)
        return lambda d: values[_index(d, 0, len(values))]
    first = fakes.pool(locale, "first_name")
    last = fakes.pool(locale, "last_name")
    if kind == "full_name":
        return lambda d: f"{first[_index(d, 0, len(first))]} {last[_index(d, 1, len(last))]}"

    def handle(d: bytes) -> str:
        f = fakes.ascii_slug(first[_index(d, 0, len(first))]) or "user"
        surname = fakes.ascii_slug(last[_index(d, 1, len(last))]) or "name"
        n = _index(d, 2, 100_000)
        return f"{f}.{surname}{n}" if kind == "email" else f"{f[:1]}{surname}{n}"

    if kind == "username":
        return handle
    return lambda d: f"{handle(d)}@{fakes.SAFE_DOMAINS[_index(d, 3, len(fakes.SAFE_DOMAINS))]}"


def _max_length(column: ColumnType) -> int | None:
    """Debezium's ``column.propagate.source.type`` tells a varchar's length: never exceed it."""
    length = column.param("__debezium.source.column.length")
    return int(length) if length and length.isdigit() else None
