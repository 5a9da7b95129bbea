"""Property tests (hypothesis): determinism, injectivity, key dependence, and no leak at record level."""

from __future__ import annotations

import datetime as dt
import math
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import orjson
import pytest
from helpers import compile_transform
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streammask import fakes
from streammask.errors import MaskingError
from streammask.keys import MasterKey
from streammask.masker import RecordMasker
from streammask.outcome import Masked
from streammask.plan import CompiledPolicy
from streammask.policy import parse_policy
from streammask.special import INFINITY_TIMESTAMPS
from streammask.strategies.base import RowContext, b64encode
from streammask.strategies.charclass import any_alphabet
from streammask.types import (
    DBZ_DATE,
    DBZ_MICRO_TIMESTAMP,
    DBZ_YEAR,
    DBZ_ZONED_TIMESTAMP,
    DECIMAL,
    ENUM,
    INT_RANGES,
    UUID,
    VARIABLE_SCALE_DECIMAL,
    ColumnType,
    infer,
)

# Module-level keys (not fixtures): @given tests run many examples per fixture instance.
KEY = MasterKey(bytes(range(32)), "test")
OTHER_KEY = MasterKey(bytes(range(100, 132)), "other")

PROPS = settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
FEW = settings(max_examples=40, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])

ALNUM = string.ascii_letters + string.digits
INT64_LO, INT64_HI = INT_RANGES["int64"]

int64s = st.integers(INT64_LO, INT64_HI)
ascii_text = st.text(alphabet=ALNUM + " -_.,:/+#", max_size=24)
any_text = st.text(max_size=24)


def encode_unscaled(n: int) -> str:
    return b64encode(n.to_bytes((n.bit_length() + 8) // 8, "big", signed=True))


@dataclass(frozen=True)
class Case:
    """One strategy on one column type, with a generator of values and of the rows they sit in."""

    id: str
    strategy: str
    ctype: ColumnType
    values: st.SearchStrategy[Any]
    options: dict[str, Any] = field(default_factory=dict)
    entity: st.SearchStrategy[Any] | None = None  # shift: the entity column's value

    def compile(self, key: MasterKey = KEY) -> Callable[[Any, RowContext], Any]:
        return compile_transform(self.strategy, key, self.ctype, **self.options)


ENUM_T = ColumnType("string", ENUM, parameters=(("allowed", "a,b,c,d,e,f,g"),))
DATE_T = ColumnType("int32", DBZ_DATE)

CASES = [
    Case("tokenize-int64", "tokenize", ColumnType("int64"), int64s),
    Case("tokenize-int16", "tokenize", ColumnType("int16"), st.integers(-(2**15), 2**15 - 1)),
    Case("tokenize-string", "tokenize", ColumnType("string"), ascii_text),
    Case("tokenize-uuid", "tokenize", ColumnType("string", UUID), st.uuids().map(str)),
    Case("tokenize-bytes", "tokenize", ColumnType("bytes"), st.binary(max_size=40).map(b64encode)),
    Case("tokenize-enum", "tokenize", ENUM_T, st.sampled_from("abcdefg")),
    Case("fp-text", "format-preserve", ColumnType("string"), any_text),
    Case(
        "fp-email",
        "format-preserve",
        ColumnType("string"),
        st.builds("{}@{}".format, st.text(ALNUM + ".", min_size=1, max_size=12), st.sampled_from(["x.org", "y.io"])),
    ),
    Case("fp-int32", "format-preserve", ColumnType("int32"), st.integers(-(2**31), 2**31 - 1)),
    Case(
        "fp-decimal",
        "format-preserve",
        ColumnType("bytes", DECIMAL, parameters=(("scale", "2"),)),
        st.integers(-(10**30), 10**30).map(encode_unscaled),
    ),
    Case("replace-full_name", "replace", ColumnType("string"), any_text, {"kind": "full_name"}),
    Case("replace-email", "replace", ColumnType("string"), any_text, {"kind": "email"}),
    Case("replace-city-de", "replace", ColumnType("string"), any_text, {"kind": "city", "locale": "de_DE"}),
    Case("redact", "redact", ColumnType("string", optional=False), any_text),
    Case("shift-date", "shift", DATE_T, st.integers(-50_000, 50_000), {"entity": "cid"}, int64s),
    Case(
        "shift-micro",
        "shift",
        ColumnType("int64", DBZ_MICRO_TIMESTAMP),
        st.one_of(st.integers(-(10**17), 10**17), st.sampled_from(sorted(INFINITY_TIMESTAMPS))),
        {"entity": "cid"},
        st.one_of(st.none(), ascii_text),
    ),
    Case(
        "shift-zoned",
        "shift",
        ColumnType("string", DBZ_ZONED_TIMESTAMP),
        st.datetimes(dt.datetime(1900, 1, 1), dt.datetime(2100, 1, 1), timezones=st.timezones()).map(
            lambda d: d.isoformat()
        ),
        {"entity": "cid"},
        int64s,
    ),
    Case("bucket-int", "bucket", ColumnType("int64"), int64s, {"step": 1000}),
    Case(
        "bucket-float",
        "bucket",
        ColumnType("float64"),
        st.one_of(st.floats(-1e12, 1e12), st.sampled_from([math.inf, -math.inf, "NaN", "Infinity", "-Infinity"])),
        {"step": Decimal("0.25")},
    ),
    Case(
        "bucket-text",
        "bucket",
        ColumnType("string"),
        st.one_of(st.decimals(allow_nan=False, allow_infinity=False).map("{:f}".format), st.sampled_from(["NaN"])),
        {"step": 100},
    ),
    Case("bucket-year", "bucket", ColumnType("int32", DBZ_YEAR), st.integers(1901, 2155), {"step": 10}),
    Case(
        "bucket-vsd",
        "bucket",
        ColumnType("struct", VARIABLE_SCALE_DECIMAL),
        st.builds(
            lambda s, v: {"scale": s, "value": encode_unscaled(v)}, st.integers(0, 8), st.integers(-(10**40), 10**40)
        ),
        {"boundaries": [-1000, 0, Decimal("0.5"), 10**20]},
    ),
    Case("hash-string", "hash", ColumnType("string"), any_text),
    Case("hash-int64", "hash", ColumnType("int64"), int64s),
    Case("hash-bytes", "hash", ColumnType("bytes"), st.binary(max_size=40).map(b64encode), {"length": 20}),
    Case("hash-uuid", "hash", ColumnType("string", UUID), st.uuids().map(str)),
    Case("keep", "keep", infer("x"), any_text, {"approved_by": "dpo", "reason": "public data"}),
]


def _row_strategy(case: Case) -> st.SearchStrategy[RowContext]:
    if case.entity is None:
        return st.just(RowContext({}))
    return case.entity.map(lambda e: RowContext({"cid": e}))


# -- determinism ---------------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_deterministic(case: Case) -> None:
    first, second = case.compile(), case.compile()  # two independent compilations, separate caches

    @PROPS
    @given(st.lists(st.tuples(case.values, _row_strategy(case)), min_size=1, max_size=5))
    def run(items: list[tuple[Any, RowContext]]) -> None:
        for value, row in items:
            out = first(value, row)
            assert first(value, row) == out
            assert second(value, row) == out

    run()


# -- tokenize: injective, shape-keeping ------------------------------------------------------------

_tok_int = compile_transform("tokenize", KEY, ColumnType("int64"))
_tok_int32 = compile_transform("tokenize", KEY, ColumnType("int32"))
_tok_str = compile_transform("tokenize", KEY, ColumnType("string"))


@PROPS
@given(st.sets(int64s, min_size=2, max_size=60))
def test_tokenize_int_injective(values: set[int]) -> None:
    outs = [_tok_int(v, RowContext()) for v in values]
    assert len(set(outs)) == len(values)
    assert all(INT64_LO <= o <= INT64_HI and (o < 0) == (v < 0) for v, o in zip(values, outs, strict=True))


@PROPS
@given(st.sets(st.integers(-(2**31), 2**31 - 1), min_size=2, max_size=60))
def test_tokenize_int32_injective_in_range(values: set[int]) -> None:
    outs = [_tok_int32(v, RowContext()) for v in values]
    assert len(set(outs)) == len(values)
    assert all(-(2**31) <= o < 2**31 for o in outs)


@PROPS
@given(st.sets(st.text(alphabet=ALNUM + " -_.@", max_size=12), min_size=2, max_size=60))
def test_tokenize_string_injective(values: set[str]) -> None:
    outs = [_tok_str(v, RowContext()) for v in values]
    assert len(set(outs)) == len(values)


def _shape(ch: str) -> str:
    for name, chars in (("d", string.digits), ("l", string.ascii_lowercase), ("u", string.ascii_uppercase)):
        if ch in chars:
            return name
    return ch


@PROPS
@given(any_text)
def test_tokenize_string_shape_or_refusal(value: str) -> None:
    if any(not c.isascii() and c.isalnum() for c in value):
        with pytest.raises(MaskingError) as info:
            _tok_str(value, RowContext())
        assert value not in str(info.value)
        return
    out = _tok_str(value, RowContext())
    assert [_shape(c) for c in out] == [_shape(c) for c in value]


_fp_text = compile_transform("format-preserve", KEY, ColumnType("string"), mode="text")


@PROPS
@given(any_text)
def test_format_preserve_text_shape(value: str) -> None:
    out = _fp_text(value, RowContext())
    assert len(out) == len(value)
    for a, b in zip(value, out, strict=True):
        alpha = any_alphabet(a)
        if alpha is None:
            assert a == b
        else:
            assert b in alpha
            if not a.isascii() and a.isalpha() and ord(a) > 0xFF:
                assert a != b  # letters outside Latin-1 never survive


# -- a different key gives different outputs --------------------------------------------------------

KEYED = [
    Case("tokenize-int64", "tokenize", ColumnType("int64"), st.integers(2**15, INT64_HI)),
    Case("tokenize-string", "tokenize", ColumnType("string"), st.text(ALNUM, min_size=6, max_size=20)),
    Case("tokenize-uuid", "tokenize", ColumnType("string", UUID), st.uuids().map(str)),
    Case("fp-text", "format-preserve", ColumnType("string"), st.text(ALNUM, min_size=6, max_size=20)),
    Case("fp-int64", "format-preserve", ColumnType("int64"), st.integers(10**6, INT64_HI)),
    Case(
        "replace-street", "replace", ColumnType("string"), st.text(min_size=1, max_size=20), {"kind": "street_address"}
    ),
    Case("hash-string", "hash", ColumnType("string"), st.text(max_size=20)),
    Case("hash-int64", "hash", ColumnType("int64"), st.integers(2**31, INT64_HI)),
    Case("shift-date", "shift", DATE_T, st.integers(-50_000, 50_000), {"entity": "cid"}),
]


@pytest.mark.parametrize("case", KEYED, ids=[c.id for c in KEYED])
def test_other_key_changes_most_outputs(case: Case) -> None:
    mine, theirs = case.compile(KEY), case.compile(OTHER_KEY)

    @FEW
    @given(st.lists(case.values, min_size=20, max_size=40, unique=True))
    def run(values: list[Any]) -> None:
        # shift: each value is its own entity, so every value draws its own offset
        rows = [RowContext({"cid": i}) for i in range(len(values))]
        differ = sum(mine(v, r) != theirs(v, r) for v, r in zip(values, rows, strict=True))
        assert differ >= 0.7 * len(values)

    run()


# -- record level: nothing masked survives ------------------------------------------------------------

POLICY = b"""
version: 1
key: {env: STREAMMASK_TEST_KEY, id: t}
tables:
  public.t:
    passthrough: [status]
    fields:
      id: {strategy: tokenize}
      first_name: {strategy: replace, kind: first_name}
      full_name: {strategy: replace, kind: full_name, locale: de_DE}
      email: {strategy: format-preserve}
      code: {strategy: format-preserve, mode: text}
      login: {strategy: tokenize, domain: logins}
      secret: {strategy: hash}
      account: {strategy: hash}
      balance: {strategy: format-preserve}
      ssn: {strategy: redact}
      pin: {strategy: redact}
      birth: {strategy: shift, entity: id}
      visit: {strategy: shift, entity: id, max_days: 30}
"""

_compiled = CompiledPolicy(parse_policy(POLICY, "leak-policy.yaml"), KEY)
_masker = RecordMasker(_compiled)

# Generators are chosen so that a masked value cannot reproduce an input by coincidence: strings of
# 16+ letters/digits (a format-preserved or tokenized copy equals its input with probability <= 26^-16,
# and a 16-character input is absent from any 64-digit hex hash with probability ~ 49 * 16^-16), and
# integers of 13+ digits (absent from any other number or hash with probability < 10^-11).
long_words = st.text(alphabet=ALNUM, min_size=16, max_size=40)
big_ints = st.one_of(st.integers(10**12, 2**62), st.integers(-(2**62), -(10**12)))
days = st.dates(dt.date(1900, 1, 1), dt.date(2100, 12, 31))
rows = st.fixed_dictionaries(
    {
        "id": big_ints,
        "first_name": long_words,
        "full_name": long_words,
        "email": st.builds("{}@{}".format, long_words, st.sampled_from(["corp.example", "mail.test"])),
        "code": long_words,
        "login": long_words,
        "secret": long_words,
        "account": big_ints,
        "balance": big_ints,
        "ssn": long_words,
        "pin": big_ints,
        "birth": days.map(dt.date.isoformat),
        "visit": st.datetimes(dt.datetime(1900, 1, 1), dt.datetime(2100, 12, 31)).map(lambda d: d.isoformat() + "Z"),
        "status": st.sampled_from(["active", "closed"]),
    }
)


def _secret_texts(row: dict[str, Any]) -> list[bytes]:
    """The texts that must not appear in the output: every masked value, or its masked part."""
    texts = []
    for column, value in row.items():
        if column in ("status", "birth", "visit"):
            continue  # passthrough; dates are checked for change (another date may legitimately match)
        if column == "email":
            value = value.split("@")[0]  # the domain is kept by design
        texts.append(str(value).encode())
    return texts


@settings(max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(row=rows, op=st.sampled_from(["c", "u", "d", "r"]))
def test_record_masking_leaks_no_masked_value(row: dict[str, Any], op: str) -> None:
    before = row if op in ("u", "d") else None
    after = row if op != "d" else None
    envelope = {
        "before": before,
        "after": after,
        "source": {
            "version": "2.7.0.Final",
            "connector": "postgresql",
            "name": "server",
            "schema": "public",
            "table": "t",
            "db": "app",
            "ts_ms": 1,
            "lsn": 22,
            "snapshot": "false",
        },
        "op": op,
        "ts_ms": 1,
    }
    key = orjson.dumps({"id": row["id"]})
    value = orjson.dumps(envelope)
    outcome = _masker.mask("server.public.t", key, value)
    assert isinstance(outcome, Masked), outcome
    assert outcome.key is not None and outcome.value is not None
    for text in _secret_texts(row):
        assert text not in outcome.key, text
        assert text not in outcome.value, text

    masked = orjson.loads(outcome.value)
    rows_out = [r for r in (masked["before"], masked["after"]) if r is not None]
    assert rows_out
    for out in rows_out:
        assert set(out) == set(row)
        assert out["status"] == row["status"]
        assert out["ssn"] is None and out["pin"] is None
        assert out["first_name"] in fakes.pool("en_US", "first_name")
        assert out["email"].split("@")[1] == row["email"].split("@")[1]
        assert len(out["code"]) == len(row["code"])
        # shift: the date moved, by the same whole number of days for both columns of the entity
        assert out["birth"] != row["birth"]
        assert out["visit"][:10] != row["visit"][:10] and out["visit"][10:] == row["visit"][10:]
        moved_birth = (dt.date.fromisoformat(out["birth"]) - dt.date.fromisoformat(row["birth"])).days
        moved_visit = (dt.date.fromisoformat(out["visit"][:10]) - dt.date.fromisoformat(row["visit"][:10])).days
        assert moved_birth == moved_visit and 1 <= abs(moved_birth) <= 30
    # key and value rows mask the id identically (joins and compaction keep working)
    assert orjson.loads(outcome.key)["id"] == rows_out[0]["id"]
    if len(rows_out) == 2:
        assert rows_out[0] == rows_out[1]
