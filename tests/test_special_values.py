"""Special values (streammask/special.py) pass the strategies that meet them unchanged, and nothing
else does: infinity timestamps under ``shift``; NaN and ±Infinity under ``bucket``; blank strings under
``replace``. Plus what ``bucket`` newly masks: decimals as text in a string column, and
io.debezium.time.Year (which it alone, among the keyed strategies, masks as the integer it is)."""

from __future__ import annotations

import base64
import math
import re
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
from helpers import compile_transform
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streammask import fakes
from streammask.errors import MaskingError, TypeNotPreserved
from streammask.keys import MasterKey
from streammask.special import INFINITY_TEXTS, INFINITY_TIMESTAMPS, NON_FINITE_TEXTS
from streammask.strategies import STRATEGIES
from streammask.strategies.base import RowContext
from streammask.strategies.shapes import Shape, detect
from streammask.types import (
    CONNECT_TIMESTAMP,
    DBZ_ISO_TIMESTAMP,
    DBZ_MICRO_TIMESTAMP,
    DBZ_NANO_TIMESTAMP,
    DBZ_TIMESTAMP,
    DBZ_YEAR,
    DBZ_ZONED_TIMESTAMP,
    DECIMAL,
    INT_RANGES,
    VARIABLE_SCALE_DECIMAL,
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
@given(text=st.text(min_size=1, max_size=16).filter(lambda t: not t.isspace() and detect(t) is Shape.TEXT))
def test_replace_still_fakes_any_text_with_something_besides_whitespace(kind: str, text: str) -> None:
    """A name padded with spaces, or a lone character, is not blank: it is replaced by a non-blank fake.
    (A uuid- or address-shaped value is refused instead: see test_string_shapes.)"""
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


# -- bucket: NaN and ±Infinity; decimals as text ---------------------------------------------------------------

FLOAT_TYPES = {"float32": ColumnType("float32"), "float64": ColumnType("float64"), "schemaless": infer(1.5)}
TEXT_TYPES = {"string": ColumnType("string"), "schemaless": infer("1.5")}
steps = st.decimals("0.001", "100000", places=3).filter(lambda d: d > 0)
# (`+ 0` turns a -0.00 into 0.00: a boundary is a number, its sign of zero is not part of it)
boundaries = st.lists(st.decimals("-1e6", "1e6", places=2).map(lambda d: d + 0), min_size=1, max_size=6,
                      unique=True).map(sorted)
bucket_options = st.one_of(steps.map(lambda s: {"step": s}), boundaries.map(lambda b: {"boundaries": b}))
non_finite_floats = st.sampled_from([math.nan, math.inf, -math.inf])
# Decimal text as PostgreSQL prints a numeric: optional minus, digits, optional fraction.
numeric_texts = st.builds(
    lambda neg, whole, fraction: ("-" if neg else "") + whole + (f".{fraction}" if fraction else ""),
    st.booleans(),
    st.from_regex(r"[0-9]{1,30}", fullmatch=True),
    st.one_of(st.just(""), st.from_regex(r"[0-9]{1,12}", fullmatch=True)),
)


def _scale(text: str) -> int:
    return len(text.partition(".")[2])


@pytest.mark.parametrize("name", sorted(FLOAT_TYPES))
@PROPS
@given(options=bucket_options, special=st.one_of(non_finite_floats, st.sampled_from(sorted(NON_FINITE_TEXTS))))
def test_bucket_keeps_nan_and_infinities_of_float_columns(name: str, options: dict[str, Any], special: Any) -> None:
    out = compile_transform("bucket", KEY, FLOAT_TYPES[name], **options)(special, RowContext())
    assert type(out) is type(special)
    assert out == special or (math.isnan(special) and math.isnan(out))


@pytest.mark.parametrize("name", sorted(TEXT_TYPES))
@PROPS
@given(options=bucket_options, special=st.sampled_from(sorted(NON_FINITE_TEXTS)))
def test_bucket_keeps_nan_and_infinity_texts_of_string_columns(
    name: str, options: dict[str, Any], special: str
) -> None:
    assert compile_transform("bucket", KEY, TEXT_TYPES[name], **options)(special, RowContext()) == special


@pytest.mark.parametrize("width", ["int8", "int32", "int64"])
@pytest.mark.parametrize("special", [math.nan, math.inf, -math.inf, "NaN", "Infinity"], ids=repr)
def test_bucket_blocks_nan_and_infinity_in_an_integer_column(width: str, special: Any) -> None:
    """An integer column cannot hold them: the value is not what the schema says, so it fails closed."""
    with pytest.raises(MaskingError) as info:
        compile_transform("bucket", KEY, ColumnType(width), step=10)(special, RowContext())
    assert str(special) not in str(info.value)


@pytest.mark.parametrize("name", sorted(TEXT_TYPES))
@PROPS
@given(text=numeric_texts, step=steps)
def test_bucket_floors_numeric_text_to_its_band_keeping_its_scale(name: str, text: str, step: Decimal) -> None:
    out = compile_transform("bucket", KEY, TEXT_TYPES[name], step=step)(text, RowContext())
    assert re.fullmatch(r"-?[0-9]+(\.[0-9]+)?", out) and _scale(out) == _scale(text)
    # exact rationals: Decimal arithmetic rounds at 28 digits, and the texts have up to 42
    value, banded, exact_step = Fraction(text), Fraction(out), Fraction(step)
    quantum = Fraction(1, 10 ** _scale(text))
    band = math.floor(value / exact_step) * exact_step
    assert banded == math.floor(band / quantum) * quantum  # the band floor, floored to the text's own scale
    assert banded <= value < banded + exact_step + quantum


def test_bucket_numeric_text_examples() -> None:
    t = compile_transform("bucket", KEY, ColumnType("string"), step=100)
    cases = {"1234.56": "1200.00", "-87.65": "-100.00", "99": "0", "0.5": "0.0", "-0.00": "0.00", "100": "100"}
    assert {text: t(text, RowContext()) for text in cases} == cases
    fine = compile_transform("bucket", KEY, ColumnType("string"), step=Decimal("0.25"))
    assert [fine(v, RowContext()) for v in ("1.30", "1.3", "-0.1")] == ["1.25", "1.2", "-0.3"]



def _source(type_: str, length: int, scale: int | None = None) -> ColumnType:
    """A string column as Debezium describes it with column.propagate.source.type."""
    params = [("__debezium.source.column.length", str(length)), ("__debezium.source.column.type", type_)]
    if scale is not None:
        params.append(("__debezium.source.column.scale", str(scale)))
    return ColumnType("string", parameters=tuple(sorted(params)))


def test_bucket_numeric_text_stays_within_the_source_numerics_precision() -> None:
    """numeric(4,2) as text: the band floor of -99.95 (step 100) is -100.00, which needs 5 digits."""
    t = compile_transform("bucket", KEY, _source("NUMERIC", 4, 2), step=100)
    assert [t(v, RowContext()) for v in ("-99.95", "-0.01", "12.34", "99.99")] == ["-99.99", "-99.99", "0.00", "0.00"]
    high = compile_transform("bucket", KEY, _source("NUMERIC", 4, 2), boundaries=[1000])
    assert high("5.00", RowContext()) == "99.99"  # below the first boundary maps up to it, within 4 digits
    unconstrained = compile_transform("bucket", KEY, _source("NUMERIC", 131_089, 0), step=100)
    assert unconstrained("-99.95", RowContext()) == "-100.00"


@PROPS
@given(data=st.data(), step=st.one_of(steps, st.integers(1, 10**15).map(Decimal)), negative=st.booleans())
def test_bucket_numeric_text_never_needs_more_digits_than_its_source_precision(
    data: st.DataObject, step: Decimal, negative: bool
) -> None:
    precision = data.draw(st.integers(1, 20), label="precision")
    scale = data.draw(st.integers(0, min(precision, 6)), label="scale")
    unscaled = data.draw(st.integers(0, 10**precision - 1), label="unscaled")  # what numeric(p, s) holds
    digits = str(unscaled).rjust(scale + 1, "0")
    text = ("-" if negative else "") + (f"{digits[:-scale]}.{digits[-scale:]}" if scale else digits)
    out = compile_transform("bucket", KEY, _source("NUMERIC", precision, scale), step=step)(text, RowContext())
    assert _scale(out) == scale and len(out.lstrip("-").replace(".", "").lstrip("0")) <= precision


def test_bucket_numeric_text_longer_than_its_varchar_is_blocked() -> None:
    t = compile_transform("bucket", KEY, _source("VARCHAR", 5), step=100)
    assert t("12.34", RowContext()) == "0.00"
    with pytest.raises(TypeNotPreserved) as info:
        t("-0.07", RowContext())  # -100.00: 7 characters
    assert "0.07" not in str(info.value)


not_numeric = st.text(max_size=20).filter(
    lambda t: t not in NON_FINITE_TEXTS and re.fullmatch(r"-?[0-9]+(\.[0-9]+)?", t) is None
)


@pytest.mark.parametrize("name", sorted(TEXT_TYPES))
@PROPS
@given(text=st.one_of(not_numeric, st.sampled_from(["1e3", "+5", "1.", ".5", " 1", "1,5", "nan", "inf", "١٢", "0x1F"])))
def test_bucket_blocks_other_text_with_a_message_that_does_not_depend_on_it(name: str, text: str) -> None:
    t = compile_transform("bucket", KEY, TEXT_TYPES[name], step=10)
    with pytest.raises(MaskingError) as info:
        t(text, RowContext())
    with pytest.raises(MaskingError) as reference:
        t("not a number", RowContext())
    assert str(info.value) == str(reference.value)


def test_bucket_blocks_numeric_text_too_long_to_convert() -> None:
    with pytest.raises(MaskingError, match="too many digits"):
        compile_transform("bucket", KEY, ColumnType("string"), step=10)("9" * 5_000, RowContext())


# -- bucket: a value already on a boundary is its own band floor (legitimate equality) ---------------------------


def _unscaled(n: int) -> str:
    return base64.b64encode(n.to_bytes((n.bit_length() + 8) // 8, "big", signed=True)).decode()


@PROPS
@given(bounds=boundaries, data=st.data())
def test_bucket_keeps_a_value_that_is_a_boundary(bounds: list[Decimal], data: st.DataObject) -> None:
    bound = data.draw(st.sampled_from(bounds))
    row = RowContext()

    def t(ctype: ColumnType) -> Any:
        return compile_transform("bucket", KEY, ctype, boundaries=bounds)

    assert t(ColumnType("string"))(str(bound), row) == str(bound)
    assert t(ColumnType("float64"))(float(bound), row) == float(bound)
    decimal_2 = ColumnType("bytes", DECIMAL, parameters=(("scale", "2"),))
    encoded = _unscaled(int(bound.scaleb(2)))
    assert t(decimal_2)(encoded, row) == encoded
    variable = {"scale": 2, "value": encoded}
    assert t(ColumnType("struct", VARIABLE_SCALE_DECIMAL))(variable, row) == variable
    if bound == bound.to_integral_value():
        assert t(ColumnType("int64"))(int(bound), row) == int(bound)
