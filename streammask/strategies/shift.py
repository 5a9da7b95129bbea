"""``shift``: dates and timestamps move by a keyed per-entity offset of whole days.

The offset (in [-max_days, -1] ∪ [1, max_days]) is derived from the *entity* column's raw value in the
entity's domain, so every date of one customer, in every table, moves by the same number of days and
intervals hold. Time of day and time zone are kept. Applies to io.debezium.time.Date, Timestamp,
MicroTimestamp, NanoTimestamp, ZonedTimestamp, Connect Date/Timestamp, and (without a schema)
ISO-8601 date or date-time strings. PostgreSQL's infinity timestamps (``streammask.special``) pass
unchanged: they name no date to move.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar, Literal

from pydantic import Field

from streammask.errors import EntityUnavailable, MaskingError, TypeNotPreserved
from streammask.special import INFINITY_TEXTS, INFINITY_TIMESTAMPS
from streammask.strategies.base import (
    AcceptsKinds,
    CompileContext,
    Memo,
    RowContext,
    StrategyOptions,
    Transform,
    canonical_bytes,
    expect_type,
)
from streammask.types import INT_RANGES, ColumnType, Kind

_NULL_ENTITY = b"\x00null"


class ShiftOptions(StrategyOptions):
    strategy: Literal["shift"]
    entity: str = Field(min_length=1)
    """Column whose value decides the offset (e.g. the customer id); must be classified in the table."""
    max_days: int = Field(default=30, ge=1, le=36_500)


class Shift(AcceptsKinds):
    name: ClassVar[str] = "shift"
    Options: ClassVar[type[StrategyOptions]] = ShiftOptions
    kinds: ClassVar[frozenset[Kind]] = frozenset({Kind.DATE, Kind.TIMESTAMP, Kind.ZONED_TIMESTAMP})

    def accepts(self, column: ColumnType) -> bool:
        return column.kind in self.kinds or (not column.known and column.kind is Kind.STRING)

    def compile(self, options: ShiftOptions, column: ColumnType, ctx: CompileContext) -> Transform:
        entity = options.entity
        max_days = options.max_days
        prf = ctx.prf(f"shift:{ctx.entity_domain(entity)}:{max_days}")
        name = ctx.column
        below = prf.below
        span = 2 * max_days

        def derive(raw: Any) -> int:
            n = below(_NULL_ENTITY if raw is None else canonical_bytes(raw), span)
            return n - max_days if n < max_days else n - max_days + 1

        offsets = Memo(derive)  # one entity's dates come together (before, after, key): derive once
        cached = offsets.lookup

        def offset_days(row: RowContext) -> int:
            for raw_row in row.rows:  # RowContext.lookup, inlined: once per date of every row
                if raw_row is not None and entity in raw_row:
                    raw = raw_row[entity]
                    break
            else:
                raise EntityUnavailable(
                    f"shift entity column {entity!r} is not in the event (add it to the message key "
                    "or use REPLICA IDENTITY FULL)",
                    column=name,
                )
            if raw.__class__ is not int and raw.__class__ is not str:
                return derive(raw)  # only exact ints and strings are memo keys (True == 1 as a key)
            days: int | None = cached(raw)
            return offsets.fill(raw) if days is None else days

        kind = column.kind
        if kind is Kind.DATE:
            lo, hi = INT_RANGES["int32"]

            def shift_date(value: Any, row: RowContext) -> Any:
                if value.__class__ is not int:
                    expect_type(value, int, column, name)
                return _in_range(value, value + offset_days(row), lo, hi, _FIRST_DAY, _LAST_DAY, name)

            return shift_date
        if kind is Kind.TIMESTAMP:
            ticks_per_day = 86_400 * column.ticks_per_second
            lo, hi = INT_RANGES["int64"]
            first, last = _FIRST_DAY * ticks_per_day, (_LAST_DAY + 1) * ticks_per_day - 1
            infinities = INFINITY_TIMESTAMPS

            def shift_timestamp(value: Any, row: RowContext) -> Any:
                if value.__class__ is not int:
                    expect_type(value, int, column, name)
                if value in infinities:
                    return value
                return _in_range(value, value + offset_days(row) * ticks_per_day, lo, hi, first, last, name)

            return shift_timestamp

        def shift_iso(value: Any, row: RowContext) -> Any:
            expect_type(value, str, column, name)
            try:
                day = dt.date.fromisoformat(value[:10])
            except ValueError:
                if value in INFINITY_TEXTS:  # here, not first: ordinary dates pay nothing for it
                    return value
                raise MaskingError("value is not an ISO-8601 date or date-time", column=name) from None
            try:
                moved = day + dt.timedelta(days=offset_days(row))
            except OverflowError:
                raise TypeNotPreserved("shifted date is outside years 1-9999", column=name) from None
            return moved.isoformat() + value[10:]

        return shift_iso


# Years 1-9999: what sinks (JDBC, java.time via Connect) take. A date inside them must not be moved out
# ("valid until 9999-12-31" is a common value); one already outside stays outside, as the source had it.
_FIRST_DAY = (dt.date(1, 1, 1) - dt.date(1970, 1, 1)).days
_LAST_DAY = (dt.date(9999, 12, 31) - dt.date(1970, 1, 1)).days


def _in_range(raw: int, shifted: int, lo: int, hi: int, first: int, last: int, column: str) -> int:
    if not lo <= shifted <= hi:
        raise TypeNotPreserved("shifted value is outside the column type's range", column=column)
    if first <= raw <= last and not first <= shifted <= last:
        raise TypeNotPreserved("shifted date is outside years 1-9999", column=column)
    return shifted
