"""Special values (streammask/special.py) pass the strategies that meet them unchanged, and nothing
else does: infinity timestamps under ``shift``; blank strings under ``replace``. Plus io.debezium.time.Year,
which ``bucket`` (and only it, among the keyed strategies) masks as the integer it is."""

from __future__ import annotations

from typing import Any

import pytest
from helpers import compile_transform
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streammask import fakes
from streammask.errors import MaskingError
from streammask.keys import MasterKey
from streammask.special import INFINITY_TEXTS, INFINITY_TIMESTAMPS
from streammask.strategies import STRATEGIES
from streammask.strategies.base import RowContext
from streammask.types import (
    CONNECT_TIMESTAMP,
    DBZ_ISO_TIMESTAMP,
    DBZ_MICRO_TIMESTAMP,
    DBZ_NANO_TIMESTAMP,
    DBZ_TIMESTAMP,
    DBZ_YEAR,
    DBZ_ZONED_TIMESTAMP,
    INT_RANGES,
    ColumnType,
    infer,
)

KEY = MasterKey(bytes(range(32)), "test")
PROPS = settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])

INT64_LO, INT64_HI = INT_RANGES["int64"]
entities = st.one_of(st.none(), st.integers(INT64_LO, INT64_HI), st.text(max_size=12))

# -- shift: PostgreSQL infinity timestamps -----------------------------------------------------------------

DAY_SECONDS = 86_400
TIMESTAMP_TYPES = {
    "Timestamp": (ColumnType("int64", DBZ_TIMESTAMP), 1_000),
    "ConnectTimestamp": (ColumnType("int64", CONNECT_TIMESTAMP), 1_000),
    "MicroTimestamp": (ColumnType("int64", DBZ_MICRO_TIMESTAMP), 1_000_000),
    "NanoTimestamp": (ColumnType("int64", DBZ_NANO_TIMESTAMP), 1_000_000_000),
}
TEXT_TIMESTAMP_TYPES = {
    "ZonedTimestamp": ColumnType("string", DBZ_ZONED_TIMESTAMP),
    "IsoTimestamp": ColumnType("string", DBZ_ISO_TIMESTAMP),
    "schemaless": infer("infinity"),
}


def _shift(ctype: ColumnType, max_days: int = 30) -> Any:
    return compile_transform("shift", KEY, ctype, entity="cid", max_days=max_days)


def test_the_infinity_markers_are_debeziums_postgresql_encodings() -> None:
    expected = {
        9_223_372_036_825_200_000, -9_223_372_036_832_400_000,  # micros (PGStatement.DATE_*_INFINITY)
        9_223_372_036_825_200, -9_223_372_036_832_400,  # millis
        9_223_372_036_854_775_807, -9_223_372_036_854_775_808,  # nanos: Long.MAX_VALUE / MIN_VALUE
    }
    assert set(INFINITY_TIMESTAMPS) == expected
    assert set(INFINITY_TEXTS) == {"infinity", "-infinity"}


@pytest.mark.parametrize("name", sorted(TIMESTAMP_TYPES))
@PROPS
@given(marker=st.sampled_from(sorted(INFINITY_TIMESTAMPS)), entity=entities, max_days=st.integers(1, 36_500))
def test_shift_keeps_every_infinity_marker_in_every_timestamp_unit(
    name: str, marker: int, entity: object, max_days: int
) -> None:
    ctype, _ = TIMESTAMP_TYPES[name]
    assert _shift(ctype, max_days)(marker, RowContext({"cid": entity})) == marker


@pytest.mark.parametrize("name", sorted(TIMESTAMP_TYPES))
@PROPS
@given(data=st.data(), entity=entities, max_days=st.integers(1, 36_500))
def test_shift_moves_every_other_timestamp_by_whole_non_zero_days(
    name: str, data: st.DataObject, entity: object, max_days: int
) -> None:
    ctype, ticks = TIMESTAMP_TYPES[name]
    per_day = DAY_SECONDS * ticks
    margin = max_days * per_day  # values the shift cannot push out of int64
    value = data.draw(
        st.one_of(
            st.integers(INT64_LO + margin, INT64_HI - margin),
            st.sampled_from(sorted(INFINITY_TIMESTAMPS)).map(lambda m: m - 1 if m > 0 else m + 1),
        ).filter(lambda v: INT64_LO + margin <= v <= INT64_HI - margin and v not in INFINITY_TIMESTAMPS)
    )
    out = _shift(ctype, max_days)(value, RowContext({"cid": entity}))
    moved, rest = divmod(out - value, per_day)
    assert rest == 0 and 1 <= abs(moved) <= max_days


@pytest.mark.parametrize("name", sorted(TEXT_TIMESTAMP_TYPES))
@PROPS
@given(text=st.sampled_from(sorted(INFINITY_TEXTS)), entity=entities, max_days=st.integers(1, 36_500))
def test_shift_keeps_infinity_strings_of_zoned_and_iso_timestamps(
    name: str, text: str, entity: object, max_days: int
) -> None:
    assert _shift(TEXT_TIMESTAMP_TYPES[name], max_days)(text, RowContext({"cid": entity})) == text


@pytest.mark.parametrize("name", sorted(TEXT_TIMESTAMP_TYPES))
@pytest.mark.parametrize("text", ["Infinity", "+infinity", "infinity ", "infinityZ", "-Infinity", "inf", "NaN"])
def test_shift_still_blocks_text_that_only_resembles_infinity(name: str, text: str) -> None:
    with pytest.raises(MaskingError) as info:
        _shift(TEXT_TIMESTAMP_TYPES[name])(text, RowContext({"cid": 1}))
    assert text not in str(info.value)



# -- replace: blank strings ----------------------------------------------------------------------------------

# Every character str.isspace() knows, ASCII and Unicode (tab, newline, no-break space, ideographic space...).
WHITESPACE = "".join(c for c in map(chr, range(0x3001)) if c.isspace())
blanks = st.one_of(st.just(""), st.text(alphabet=WHITESPACE, min_size=1, max_size=12))
STRING_TYPES = {
    "string": ColumnType("string"),
    "varchar(5)": ColumnType("string", parameters=(("__debezium.source.column.length", "5"),)),
    "schemaless": infer(""),
}


@pytest.mark.parametrize("kind", fakes.KINDS)
@PROPS
@given(blank=blanks, type_name=st.sampled_from(sorted(STRING_TYPES)), locale=st.sampled_from(["en_US", "de_DE"]))
def test_replace_keeps_empty_and_whitespace_only_strings_for_every_kind(
    kind: str, blank: str, type_name: str, locale: str
) -> None:
    t = compile_transform("replace", KEY, STRING_TYPES[type_name], kind=kind, locale=locale)
    assert t(blank, RowContext()) == blank


@pytest.mark.parametrize("kind", fakes.KINDS)
@PROPS
@given(text=st.text(min_size=1, max_size=16).filter(lambda t: not t.isspace()))
def test_replace_still_fakes_any_text_with_something_besides_whitespace(kind: str, text: str) -> None:
    """A name padded with spaces, or a lone character, is not blank: it is replaced by a non-blank fake."""
    t = compile_transform("replace", KEY, ColumnType("string"), kind=kind)
    for value in (text, f"  {text}\t"):
        out = t(value, RowContext())
        assert out.strip() and out != value


# -- bucket: io.debezium.time.Year ---------------------------------------------------------------------------

YEAR = ColumnType("int32", DBZ_YEAR)
INT32_LO, INT32_HI = INT_RANGES["int32"]


def test_bucket_masks_a_year_column_to_the_start_of_its_decade() -> None:
    t = compile_transform("bucket", KEY, YEAR, step=10)
    assert [t(y, RowContext()) for y in (1984, 1990, 2001, 2155, 1901)] == [1980, 1990, 2000, 2150, 1900]
    by_age = compile_transform("bucket", KEY, YEAR, boundaries=[1950, 1970, 1990])
    assert [by_age(y, RowContext()) for y in (1901, 1950, 1969, 1989, 2024)] == [1950, 1950, 1950, 1970, 1990]


@PROPS
@given(
    year=st.integers(INT32_LO, INT32_HI),
    step=st.one_of(st.integers(1, 10**10), st.decimals("0.01", "1000", places=2)),
)
def test_bucket_treats_a_year_exactly_like_an_int32(year: int, step: object) -> None:
    as_year = compile_transform("bucket", KEY, YEAR, step=step)(year, RowContext())
    as_int = compile_transform("bucket", KEY, ColumnType("int32"), step=step)(year, RowContext())
    assert as_year == as_int and type(as_year) is int and INT32_LO <= as_year <= INT32_HI


@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
def test_only_bucket_redact_and_keep_accept_a_year(strategy: str) -> None:
    """tokenize, hash or format-preserve would turn 1984 into year 7_391_044 or -12: no year at all."""
    assert STRATEGIES[strategy].accepts(YEAR) is (strategy in ("bucket", "redact", "keep"))


def test_a_year_named_on_a_non_integer_is_not_bucketed() -> None:
    assert not STRATEGIES["bucket"].accepts(ColumnType("string", DBZ_YEAR))
