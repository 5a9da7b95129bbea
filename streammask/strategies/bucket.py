"""``bucket``: a number becomes the lower bound of its band.

``step: 100`` gives bands [0,100), [100,200)…; ``boundaries: [18, 30, 50]`` gives [18,30), [30,50),
[50,∞), and values below the first boundary map to it. Integers (and io.debezium.time.Year) stay within
their type; decimals keep their scale; floats stay floats. NaN and ±Infinity (floats, or the strings
JsonConverter writes for them) have no band and hold no one's data: they pass unchanged. A string column
is bucketed when it holds numeric text (PostgreSQL numeric with ``decimal.handling.mode=string``), keeping
the text's number of fraction digits; any other text is an error.
"""

from __future__ import annotations

import decimal
import math
import re
from bisect import bisect_right
from collections.abc import Callable
from decimal import Decimal
from fractions import Fraction
from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from streammask.errors import MaskingError, TypeNotPreserved
from streammask.special import NON_FINITE_TEXTS
from streammask.strategies.base import (
    AcceptsKinds,
    CompileContext,
    RowContext,
    StrategyOptions,
    Transform,
    expect_type,
)
from streammask.types import ColumnType, Kind, VariableDecimal

# Numeric text as PostgreSQL and MySQL print a decimal (BigDecimal.toPlainString): no exponent, no '+'.
_NUMERIC_TEXT = re.compile(r"(-?)([0-9]+)(?:\.([0-9]+))?")
# Source types (Debezium's column.propagate.source.type) whose `length` is a precision, not characters.
_NUMERIC_SOURCE_TYPES = frozenset({"NUMERIC", "DECIMAL", "DEC", "NUMBER"})


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


def exact_band_floor(options: BucketOptions) -> Callable[[Fraction], Fraction]:
    """``band_floor`` on exact rationals, for decimals of any precision (Decimal arithmetic rounds at
    28 significant digits, which moves a 40-digit numeric into the wrong band)."""
    if options.step is not None:
        step = Fraction(options.step)
        return lambda v: math.floor(v / step) * step
    bounds = [Fraction(b) for b in options.boundaries or []]
    return lambda v: bounds[max(0, bisect_right(bounds, v) - 1)]


class Bucket(AcceptsKinds):
    name: ClassVar[str] = "bucket"
    Options: ClassVar[type[StrategyOptions]] = BucketOptions
    kinds: ClassVar[frozenset[Kind]] = frozenset(
        {Kind.INTEGER, Kind.FLOAT, Kind.DECIMAL, Kind.VARIABLE_DECIMAL, Kind.STRING}
    )

    def accepts(self, column: ColumnType) -> bool:
        return column.kind in self.kinds or column.is_year  # a year's band floor is still a year

    def compile(self, options: BucketOptions, column: ColumnType, ctx: CompileContext) -> Transform:
        floor = band_floor(options)
        exact_floor = exact_band_floor(options)
        name = ctx.column
        kind = column.kind
        isfinite = math.isfinite  # a closure cell: read per value, cheaper than the module attribute
        if kind is Kind.INTEGER or column.is_year:
            lo, hi = column.int_range

            def bucket_int(value: Any, row: RowContext) -> Any:
                if isinstance(value, bool) or not isinstance(value, int | float):
                    raise MaskingError(f"value does not match the column's type {column.describe()}", column=name)
                if isinstance(value, float):
                    if not isfinite(value):
                        raise MaskingError(f"value is not a finite number, as {column.describe()} needs", column=name)
                    if not column.known:
                        return float(floor(Decimal(repr(value))))
                return min(hi, max(lo, math.floor(floor(Decimal(value)))))

            return bucket_int
        if kind is Kind.FLOAT:

            def bucket_float(value: Any, row: RowContext) -> Any:
                if isinstance(value, bool) or not isinstance(value, int | float):
                    if value.__class__ is str and value in NON_FINITE_TEXTS:
                        return value  # JsonConverter's NaN / Infinity / -Infinity
                    raise MaskingError(f"value does not match the column's type {column.describe()}", column=name)
                if value.__class__ is float and not isfinite(value):
                    return value  # Avro's nan / inf: no band to floor to
                return float(floor(Decimal(repr(float(value)))))

            return bucket_float
        if kind is Kind.STRING:
            return _bucket_numeric_text(exact_floor, column, name)
        if kind is Kind.DECIMAL:
            scale = column.scale
            # Like integers within their type, decimals stay within their column's precision: a band
            # floor rounds toward -inf, so numeric(4,2)'s -99.99 would become -100.00 (5 digits).
            precision = column.param("connect.decimal.precision")
            most = 10 ** int(precision) - 1 if precision and precision.isdigit() else None

            def clamp(unscaled: int) -> int:
                return unscaled if most is None else min(most, max(-most, unscaled))

            step_unscaled = options.step.scaleb(scale) if options.step is not None else None
            if step_unscaled is not None and step_unscaled == step_unscaled.to_integral_value():
                int_step = int(step_unscaled)  # exact integer arithmetic on the unscaled value

                def bucket_decimal_fast(unscaled: int, row: RowContext) -> int:
                    banded = unscaled // int_step * int_step
                    if most is not None and not -most <= banded <= most:
                        banded = min(most, max(-most, banded))
                    return banded

                return bucket_decimal_fast

            ten_scale = Fraction(10) ** scale

            def bucket_decimal(unscaled: int, row: RowContext) -> int:
                return clamp(math.floor(exact_floor(unscaled / ten_scale) * ten_scale))

            return bucket_decimal

        def bucket_variable(value: VariableDecimal, row: RowContext) -> VariableDecimal:
            ten_scale = Fraction(10) ** value.scale
            return value._replace(unscaled=math.floor(exact_floor(value.unscaled / ten_scale) * ten_scale))

        return bucket_variable


def _bucket_numeric_text(exact_floor: Callable[[Fraction], Fraction], column: ColumnType, name: str) -> Transform:
    """A string column of decimals as text: "1234.56" -> "1200.00" (step 100), the scale read from
    each value; NaN and ±Infinity unchanged; anything else fails closed."""
    most, max_chars = _text_limits(column)

    def bucket_text(value: Any, row: RowContext) -> Any:
        if value.__class__ is not str:
            expect_type(value, str, column, name)
        if value in NON_FINITE_TEXTS:
            return value
        match = _NUMERIC_TEXT.fullmatch(value)
        if match is None:
            raise MaskingError("bucket needs numeric text (such as 123.45, NaN or Infinity) in a string column",
                               column=name)
        sign, whole, fraction = match.group(1), match.group(2), match.group(3) or ""
        scale = len(fraction)
        try:  # int <-> str is refused beyond 4300 digits (sys.int_info.default_max_str_digits)
            unscaled = int(sign + whole + fraction)
            banded = math.floor(exact_floor(Fraction(unscaled, 10**scale)) * 10**scale)
            if most is not None and not -most * 10**scale <= banded <= most * 10**scale:
                # like a Decimal, within the column's precision (floor toward -inf, or a first boundary)
                banded = math.floor(most * 10**scale) if banded > 0 else -math.floor(most * 10**scale)
            out = _decimal_text(banded, scale)
        except ValueError:
            raise MaskingError("numeric text has too many digits to bucket", column=name) from None
        if max_chars is not None and len(out) > max_chars:
            raise TypeNotPreserved("the band floor is longer than the column's length", column=name)
        return out

    return bucket_text


def _text_limits(column: ColumnType) -> tuple[Fraction | None, int | None]:
    """What Debezium's ``column.propagate.source.type`` says about a string column: for a numeric(p, s)
    source, the largest magnitude it holds (a band floor rounds toward -inf, so numeric(4,2)'s -99.99
    would need a fifth digit); for a varchar(n), its length in characters."""
    length = column.param("__debezium.source.column.length") or ""
    n = int(length) if length.isdigit() else 0
    if n == 0:
        return None, None
    if (column.param("__debezium.source.column.type") or "").upper() not in _NUMERIC_SOURCE_TYPES:
        return None, n
    if n > 1000:  # PostgreSQL's largest declared precision: beyond it, an unconstrained numeric
        return None, None
    scale = column.param("__debezium.source.column.scale") or "0"
    return Fraction(10**n - 1) / Fraction(10) ** (int(scale) if scale.lstrip("-").isdigit() else 0), None


def _decimal_text(unscaled: int, scale: int) -> str:
    digits = str(abs(unscaled)).rjust(scale + 1, "0")
    text = f"{digits[:-scale]}.{digits[-scale:]}" if scale else digits
    return f"-{text}" if unscaled < 0 else text
