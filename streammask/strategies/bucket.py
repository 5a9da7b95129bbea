"""``bucket``: a number becomes the lower bound of its band.

``step: 100`` gives bands [0,100), [100,200)…; ``boundaries: [18, 30, 50]`` gives [18,30), [30,50),
[50,∞), and values below the first boundary map to it. Integers stay within their type; decimals keep
their scale; floats stay floats.
"""

from __future__ import annotations

import decimal
from bisect import bisect_right
from collections.abc import Callable
from decimal import Decimal
from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from streammask.errors import MaskingError
from streammask.strategies.base import (
    CompileContext,
    RowContext,
    StrategyOptions,
    Transform,
    b64decode,
    b64encode,
)
from streammask.types import ColumnType, Kind


class BucketOptions(StrategyOptions):
    strategy: Literal["bucket"]
    step: Decimal | None = Field(default=None, gt=0)
    boundaries: list[Decimal] | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _one_of(self) -> BucketOptions:
        if (self.step is None) == (self.boundaries is None):
            raise ValueError("bucket needs exactly one of `step` or `boundaries`")
        if self.boundaries is not None and self.boundaries != sorted(set(self.boundaries)):
            raise ValueError("bucket `boundaries` must be strictly increasing")
        return self


def band_floor(options: BucketOptions) -> Callable[[Decimal], Decimal]:
    if options.step is not None:
        step = options.step
        return lambda v: (v / step).to_integral_value(rounding=decimal.ROUND_FLOOR) * step
    bounds = options.boundaries or []
    return lambda v: bounds[max(0, bisect_right(bounds, v) - 1)]


def _encode_unscaled(unscaled: int) -> str:
    return b64encode(unscaled.to_bytes((unscaled.bit_length() + 8) // 8, "big", signed=True))


class Bucket:
    name: ClassVar[str] = "bucket"
    Options: ClassVar[type[StrategyOptions]] = BucketOptions
    kinds = frozenset({Kind.INTEGER, Kind.FLOAT, Kind.DECIMAL, Kind.VARIABLE_DECIMAL})

    def accepts(self, column: ColumnType) -> bool:
        return column.kind in self.kinds

    def compile(self, options: BucketOptions, column: ColumnType, ctx: CompileContext) -> Transform:
        floor = band_floor(options)
        name = ctx.column
        kind = column.kind
        if kind is Kind.INTEGER:
            lo, hi = column.int_range

            def bucket_int(value: Any, row: RowContext) -> Any:
                if isinstance(value, bool) or not isinstance(value, int | float):
                    raise MaskingError(f"value does not match the column's type {column.describe()}", column=name)
                if isinstance(value, float) and not column.known:
                    return float(floor(Decimal(repr(value))))
                return min(hi, max(lo, int(floor(Decimal(value)))))

            return bucket_int
        if kind is Kind.FLOAT:

            def bucket_float(value: Any, row: RowContext) -> Any:
                if isinstance(value, bool) or not isinstance(value, int | float):
                    raise MaskingError(f"value does not match the column's type {column.describe()}", column=name)
                return float(floor(Decimal(repr(float(value)))))

            return bucket_float
        if kind is Kind.DECIMAL:
            scale = column.scale
            step_unscaled = options.step.scaleb(scale) if options.step is not None else None
            if step_unscaled is not None and step_unscaled == step_unscaled.to_integral_value():
                int_step = int(step_unscaled)  # exact integer arithmetic on the unscaled value

                def bucket_decimal_fast(value: Any, row: RowContext) -> Any:
                    unscaled = int.from_bytes(b64decode(value, name), "big", signed=True)
                    return _encode_unscaled(unscaled // int_step * int_step)

                return bucket_decimal_fast

            def bucket_decimal(value: Any, row: RowContext) -> Any:
                unscaled = int.from_bytes(b64decode(value, name), "big", signed=True)
                banded = floor(Decimal(unscaled).scaleb(-scale))
                return _encode_unscaled(int(banded.scaleb(scale).to_integral_value(decimal.ROUND_FLOOR)))

            return bucket_decimal

        def bucket_variable(value: Any, row: RowContext) -> Any:
            if not isinstance(value, dict) or not isinstance(value.get("scale"), int):
                raise MaskingError("VariableScaleDecimal value is not a {scale, value} struct", column=name)
            scale = value["scale"]
            unscaled = int.from_bytes(b64decode(value.get("value"), name), "big", signed=True)
            banded = floor(Decimal(unscaled).scaleb(-scale))
            out = int(banded.scaleb(scale).to_integral_value(decimal.ROUND_FLOOR))
            return {**value, "value": _encode_unscaled(out)}

        return bucket_variable
