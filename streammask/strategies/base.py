"""What every strategy shares: the options base model, the compile context and the row context.

A strategy is a class with a ``name``, an ``Options`` pydantic model (its policy entry), ``accepts``
(which column kinds it can mask) and ``compile`` (options + column type -> a pure value transform).
Transforms never see nulls (the plan keeps null as null) and raise ``MaskingError`` without the value.
They see plain values, never a wire format: bytes as ``bytes``, a Decimal as its unscaled ``int`` (the
scale is the column's), a VariableScaleDecimal as a ``VariableDecimal`` (``streammask.codec`` converts).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from pydantic import BaseModel, ConfigDict

from streammask.crypto import Permutation, Prf
from streammask.errors import MaskingError
from streammask.keys import MasterKey
from streammask.types import ColumnType, Kind

Transform = Callable[[Any, "RowContext"], Any]


class StrategyOptions(BaseModel):
    """Base of every strategy's options: unknown options are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    strategy: str


class RowContext:
    """The raw (unmasked) rows of the event a value belongs to, for strategies that read other columns
    (``shift`` reads its entity): the row itself first, then the event's other row, then the key."""

    __slots__ = ("rows",)

    def __init__(self, *rows: dict[str, Any] | None) -> None:
        self.rows = rows

    def lookup(self, column: str) -> tuple[bool, Any]:
        for row in self.rows:
            if row is not None and column in row:
                return True, row[column]
        return False, None


@dataclass(frozen=True)
class CompileContext:
    """What a strategy may use while compiling a transform for one column."""

    key: MasterKey
    table: str
    column: str
    # The domain an entity column's values live in (its `domain` option, or table.column).
    entity_domain: Callable[[str], str]

    def default_domain(self) -> str:
        return f"{self.table}.{self.column}"

    def prf(self, purpose: str) -> Prf:
        return Prf(self.key.subkey(purpose))

    def permutation(self, purpose: str, n: int, tweak: bytes = b"") -> Permutation:
        return Permutation(self.key.subkey(purpose), n, tweak)


class Strategy(Protocol):
    """A strategy may also say ``reads_value = False`` (it replaces values unread) or ``writes_value =
    False`` (it passes them as they came): the plan then skips the wire-to-plain conversion."""

    name: ClassVar[str]
    Options: ClassVar[type[StrategyOptions]]

    def accepts(self, column: ColumnType) -> bool: ...

    def compile(self, options: Any, column: ColumnType, ctx: CompileContext) -> Transform: ...


class AcceptsKinds:
    """For strategies whose applicability is a set of column kinds."""

    kinds: ClassVar[frozenset[Kind]] = frozenset()

    def accepts(self, column: ColumnType) -> bool:
        return column.kind in self.kinds


def canonical_bytes(value: Any) -> bytes:
    """The bytes a keyed function reads for a value: ints and strings alike by their text."""
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, bool):
        return b"true" if value else b"false"
    if isinstance(value, int | float):
        return repr(value).encode()
    import orjson

    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def require(cond: bool, message: str, column: str) -> None:
    if not cond:
        raise MaskingError(message, column=column)


def expect_type(value: Any, kind: type | tuple[type, ...], column: ColumnType, name: str) -> None:
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise MaskingError(f"value does not match the column's type {column.describe()}", column=name)


_MISSING: Any = object()


class Memo:
    """A bounded memo for a deterministic function: values repeat (ids in before/after/key, names,
    cities), and a hit costs a dict lookup instead of a cipher. Cleared whole when full."""

    __slots__ = ("_data", "_fn", "_limit", "lookup")

    def __init__(self, fn: Callable[[Any], Any], limit: int = 65_536) -> None:
        self._data: dict[Any, Any] = {}
        self._fn = fn
        self._limit = limit
        self.lookup = self._data.get  # the hit path, with no Python frame: callers try it first

    def __call__(self, value: Any) -> Any:
        result = self._data.get(value, _MISSING)
        return self.fill(value) if result is _MISSING else result

    def fill(self, value: Any) -> Any:
        """Compute and remember ``fn(value)``: for callers whose ``lookup`` just missed."""
        result = self._fn(value)
        if len(self._data) >= self._limit:
            self._data.clear()
        self._data[value] = result
        return result


def memoized_str(fn: Callable[[str], str], column: ColumnType, name: str) -> Transform:
    """A string column's transform: type-checked, with ``fn``'s results memoized (an update's before
    and after, and the key, mostly repeat a value)."""
    memo = Memo(fn)
    lookup, fill = memo.lookup, memo.fill

    def transform(value: Any, row: RowContext) -> Any:
        if value.__class__ is not str:
            expect_type(value, str, column, name)
        hit = lookup(value)
        if hit is not None:
            return hit
        try:
            return fill(value)
        except MaskingError as exc:  # ``fn`` knows the value, not the column: name it here
            if exc.column is None:
                exc.column = name
            raise

    return transform
