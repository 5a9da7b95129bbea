"""Small shared helpers for the tests, imported as ``helpers`` (pytest puts tests/ on sys.path: no __init__.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from streammask.codec.connect_json import FORMS
from streammask.keys import MasterKey
from streammask.strategies import STRATEGIES
from streammask.strategies.base import CompileContext, Transform
from streammask.types import ColumnType

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures"


def fixtures_dir() -> Path:
    """Debezium's example events (third-party, see ``tests/fixtures/debezium/README.md`` for their
    provenance), carried by the project so a fresh clone tests on its own."""
    return FIXTURES / "debezium"


def compile_ctx(
    key: MasterKey,
    table: str = "public.t",
    column: str = "c",
    entity_domain: Callable[[str], str] | str | None = None,
) -> CompileContext:
    """A CompileContext for ``table.column``.

    ``entity_domain`` is what ``shift`` uses to name the domain of its entity column: a callable
    (column -> domain), a fixed domain string for every entity, or None for the default ``table.column``.
    """
    if entity_domain is None:
        domain_of: Callable[[str], str] = lambda c: f"{table}.{c}"  # noqa: E731
    elif isinstance(entity_domain, str):
        fixed = entity_domain
        domain_of = lambda c: fixed  # noqa: E731
    else:
        domain_of = entity_domain
    return CompileContext(key=key, table=table, column=column, entity_domain=domain_of)


def compile_transform(
    strategy: str,
    key: MasterKey,
    column_type: ColumnType,
    *,
    table: str = "public.t",
    column: str = "c",
    entity_domain: Callable[[str], str] | str | None = None,
    **options: Any,
) -> Transform:
    """``STRATEGIES[strategy].compile(Options(strategy=..., **options), column_type, ctx)``, reading and
    writing values as JsonConverter holds them (the plan wraps every transform so)."""
    impl = STRATEGIES[strategy]
    opts = impl.Options(strategy=strategy, **options)
    transform = impl.compile(opts, column_type, compile_ctx(key, table, column, entity_domain))
    return FORMS.wrap(
        column_type, transform, getattr(impl, "reads_value", True), getattr(impl, "writes_value", True)
    )
