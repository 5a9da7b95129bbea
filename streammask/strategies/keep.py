"""``keep``: a sensitive value passed through on purpose, with a named approver and a reason."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from streammask.strategies.base import CompileContext, RowContext, StrategyOptions, Transform
from streammask.types import ColumnType


class KeepOptions(StrategyOptions):
    strategy: Literal["keep"]
    approved_by: str = Field(min_length=1)
    reason: str = Field(min_length=1)


class Keep:
    name: ClassVar[str] = "keep"
    Options: ClassVar[type[StrategyOptions]] = KeepOptions
    writes_value: ClassVar[bool] = False  # what it keeps stays as it came, byte for byte

    def accepts(self, column: ColumnType) -> bool:
        return True

    def compile(self, options: KeepOptions, column: ColumnType, ctx: CompileContext) -> Transform:
        def keep(value: Any, row: RowContext) -> Any:
            return value

        return keep
