"""The leak guard: a raw value of a masked column anywhere in a record's output blocks the record (code
``leak-guard``, naming the column and the carrier, never the value); legitimate equality does not.

Each carrier the issue names is tried: a passthrough column that copies a masked one (whole, or inside a
longer text), the source block, a passed header, the key. The guard is checked on the real masker, so
these also prove that masking itself never leaves a raw value behind on these inputs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streammask.errors import PolicyError
from streammask.keys import MasterKey
from streammask.leak_guard import LeakFound, LeakGuard
from streammask.masker import RecordMasker
from streammask.outcome import BlockCode, Blocked, Masked, Outcome
from streammask.plan import ColumnStats, CompiledPolicy, GuardedTally, RowMasker
from streammask.policy import load_policy, parse_policy
from streammask.strategies.base import RowContext

try:
    from tests import events as ev
except ImportError:  # tests/ itself is on sys.path (rootdir without __init__.py)
    import events as ev  # type: ignore[no-redef]

KEY = MasterKey(bytes(range(32)), "t")
TABLE = "people"
TOPIC = ev.topic(TABLE)

POLICY = """
version: 1
key: {env: STREAMMASK_TEST_KEY, id: t}
tables:
  public.people:
    passthrough: [id, note, copy, total]
    fields:
      email:   {strategy: format-preserve}
      name:    {strategy: replace, kind: full_name}
      ssn:     {strategy: hash, length: 16}
      badge:   {strategy: tokenize}
      balance: {strategy: bucket, step: 100}
      tier:    {strategy: keep, approved_by: dpo@example.com, reason: tiers are public}
"""

FIELDS = [
    ev.col("id", "int32", False), ev.col("email", "string", True), ev.col("name", "string", True),
    ev.col("ssn", "string", True), ev.col("badge", "int64", True), ev.col("balance", "int64", True),
    ev.col("tier", "string", True), ev.col("note", "string", True), ev.col("copy", "string", True),
    ev.col("total", "int64", True),
]
ANNA = {"id": 7, "email": "anna.berg@mail.example", "name": "Anna Berg", "ssn": "123-45-6789",
        "badge": 9_123_456, "balance": 1_234, "tier": "gold", "note": None, "copy": None, "total": None}


def masker(extra: str = "") -> RecordMasker:
    return RecordMasker(CompiledPolicy(parse_policy((POLICY + extra).encode()), KEY))


GUARDED = masker()


def event(row: dict[str, Any], *, with_schema: bool = True, source_extra: dict[str, Any] | None = None) -> bytes:
    return ev.envelope(FIELDS, None, row, "c", table=TABLE, with_schema=with_schema, source_extra=source_extra)


def key(with_schema: bool = True) -> bytes:
    return ev.key([FIELDS[0]], {"id": 7}, table=TABLE, with_schema=with_schema)


def leak(outcome: Outcome, column: str, carrier: str) -> Blocked:
    """Blocked by the guard, naming ``column`` and ``carrier``, with no value of ANNA anywhere in it."""
    assert isinstance(outcome, Blocked), outcome
    reason = outcome.reason
    assert reason.code is BlockCode.LEAK_GUARD, reason
    assert reason.column == column and reason.table == "public.people", reason
    assert carrier in reason.detail, reason
    for value in ANNA.values():
        if isinstance(value, str) and len(value) > 3:
            assert value not in reason.describe()
    return outcome


# -- every carrier --------------------------------------------------------------------------------------


@pytest.mark.parametrize("with_schema", [True, False], ids=["schema", "schemaless"])
@pytest.mark.parametrize("column", ["email", "name", "ssn"])
def test_a_passthrough_column_copying_a_masked_value_blocks(with_schema: bool, column: str) -> None:
    row = {**ANNA, "copy": ANNA[column]}
    leak(GUARDED.mask(TOPIC, key(with_schema), event(row, with_schema=with_schema)), column, "after.copy")


def test_a_masked_value_inside_a_longer_passthrough_text_blocks() -> None:
    row = {**ANNA, "note": f"customer wrote from {ANNA['email']} twice"}
    leak(GUARDED.mask(TOPIC, key(), event(row)), "email", "value field after.note")


def test_a_masked_number_copied_whole_blocks_but_not_inside_a_longer_number() -> None:
    leak(GUARDED.mask(TOPIC, key(), event({**ANNA, "total": ANNA["badge"]})), "badge", "after.total")
    longer = GUARDED.mask(TOPIC, key(), event({**ANNA, "total": ANNA["badge"] * 10 + 1}))
    assert isinstance(longer, Masked), longer


def test_a_source_block_field_carrying_a_masked_value_blocks() -> None:
    out = GUARDED.mask(TOPIC, key(), event(ANNA, source_extra={"comment": f"by {ANNA['email']}"}))
    leak(out, "email", "value field source")


def test_a_passed_header_carrying_a_masked_value_blocks() -> None:
    headers = [("__debezium.context.note", ANNA["ssn"].encode())]
    leak(GUARDED.mask(TOPIC, key(), event(ANNA), headers), "ssn", "header __debezium.context.note")


def test_a_json_escaped_copy_is_found_too() -> None:
    quoted = 'Anna "the boss" Berg'
    row = {**ANNA, "name": quoted, "copy": quoted}
    leak(GUARDED.mask(TOPIC, key(), event(row)), "name", "after.copy")


# -- legitimate equality ----------------------------------------------------------------------------------


def test_a_clean_record_passes_with_the_guard_on() -> None:
    out = GUARDED.mask(TOPIC, key(), event(ANNA))
    assert isinstance(out, Masked), out


def test_a_bucket_value_already_on_a_boundary_is_not_a_leak() -> None:
    row = {**ANNA, "balance": 1_200_000, "total": 1_200_000}  # masked to itself: the output may show it
    assert isinstance(GUARDED.mask(TOPIC, key(), event(row)), Masked)


def test_a_kept_value_equal_to_a_passthrough_value_is_not_a_leak() -> None:
    row = {**ANNA, "tier": "platinum-plus", "copy": "platinum-plus"}
    assert isinstance(GUARDED.mask(TOPIC, key(), event(row)), Masked)


def test_values_shorter_than_min_length_are_not_searched() -> None:
    row = {**ANNA, "email": "a@b.c", "copy": "a@b.c"}  # 5 bytes < the default 6
    assert isinstance(GUARDED.mask(TOPIC, key(), event(row)), Masked)
    strict = masker("leak_guard: {min_length: 4}\n")
    leak(strict.mask(TOPIC, key(), event(row)), "email", "after.copy")


def _masker_of(outputs: dict[str, dict[str, Any]], strategy: str = "replace") -> RowMasker:
    """A row masker whose columns map given raw values to given outputs (what a strategy would give)."""
    columns = {
        name: ((lambda value, row, table=table: table[value]), ColumnStats("public.people", name, strategy))
        for name, table in outputs.items()
    }
    return RowMasker(columns, frozenset({"id", "x"}), GUARDED.compiled.placeholders)  # type: ignore[misc]


def _scan(row_masker: RowMasker, row: dict[str, Any], guard: LeakGuard | None = None) -> Any:
    tally = GuardedTally()
    row_masker.mask(row, RowContext(row), tally, "value field after")
    return (guard or LeakGuard(6)).scan(tally, [])


def test_an_occurrence_inside_a_masked_output_is_not_a_leak() -> None:
    """A raw value that another masked column's output happens to contain (a fake full name holding the
    raw last name) was produced by masking, not copied; a further copy in a passthrough column is a leak."""
    row_masker = _masker_of({"last": {"Johnson": "Miller"}, "full": {"Anna Lee": "Sarah Johnson"}})
    assert _scan(row_masker, {"id": 1, "last": "Johnson", "full": "Anna Lee"}) is None
    found = _scan(row_masker, {"id": 1, "last": "Johnson", "full": "Anna Lee", "x": "Johnson"})
    assert found is not None and found.column == "last" and "after.x" in found.where


def test_the_embedded_schema_is_not_searched() -> None:
    """An enum's `allowed` list names its values: the schema is structure, not a carrier."""
    policy = POLICY.replace("tier:    {strategy: keep, approved_by: dpo@example.com, reason: tiers are public}",
                            "tier:    {strategy: tokenize}")
    m = RecordMasker(CompiledPolicy(parse_policy(policy.encode()), KEY))
    fields = [*FIELDS[:6], ev.col("tier", "string", True, name="io.debezium.data.Enum",
                                  parameters={"allowed": "platinum,diamond,standard"}), *FIELDS[7:]]
    value = ev.envelope(fields, None, {**ANNA, "tier": "platinum"}, "c", table=TABLE)
    assert isinstance(m.mask(TOPIC, key(), value), Masked)


# -- the class: any masked value copied into any passthrough carrier ---------------------------------------

printable = st.text(st.characters(codec="utf-8", categories=("L", "N", "P", "S", "Zs")), min_size=6, max_size=30)


@settings(max_examples=120, deadline=None, database=None)
@given(
    column=st.sampled_from(["email", "name", "ssn"]),
    raw=printable,
    prefix=st.text(max_size=5),
    carrier=st.sampled_from(["copy", "note", "source", "header"]),
)
def test_any_raw_value_copied_into_any_carrier_blocks(column: str, raw: str, prefix: str, carrier: str) -> None:
    if len(raw.encode()) < 6 or raw.isspace():
        return
    row = {**ANNA, column: raw}
    text = prefix + (" " if raw.isascii() and raw.isdigit() else "") + raw  # digits match as whole numbers
    headers: list[tuple[str, bytes | None]] = []
    source_extra = None
    if carrier in ("copy", "note"):
        row[carrier] = text
    elif carrier == "source":
        source_extra = {"comment": text}
    else:
        headers = [("__debezium.context.x", text.encode())]
    out = GUARDED.mask(TOPIC, key(), event(row, source_extra=source_extra), headers)
    if isinstance(out, Blocked) and out.reason.code is not BlockCode.LEAK_GUARD:
        return  # the value itself cannot be masked (e.g. replace refuses an address-shaped value)
    assert isinstance(out, Blocked), f"{column} copied into {carrier} passed"
    assert out.reason.column == column
    detail = out.reason.detail
    where = detail[detail.index("(") + 1:detail.rindex(")")]  # field paths: structure, e.g. "value field after.copy"
    vocabulary = out.reason.describe().replace(detail, LeakFound("x", where).describe())
    assert raw not in out.reason.describe() or raw in vocabulary  # streammask's own words, not the value


# -- policy ------------------------------------------------------------------------------------------------


def test_turning_the_guard_off_needs_an_approval(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY + "leak_guard:\n  enabled: false\n")
    with pytest.raises(PolicyError) as info:
        load_policy(path)
    (problem,) = info.value.problems
    assert problem.line == POLICY.count("\n") + 1 and "approved_by" in problem.message
    path.write_text(POLICY + "leak_guard: {enabled: false, approved_by: dpo@example.com, reason: replay test}\n")
    off = RecordMasker(CompiledPolicy(load_policy(path), KEY))
    assert isinstance(off.mask(TOPIC, key(), event({**ANNA, "copy": ANNA["email"]})), Masked)


def test_min_length_must_be_positive(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY + "leak_guard: {min_length: 0}\n")
    with pytest.raises(PolicyError, match="min_length"):
        load_policy(path)


# -- a strategy that leaves a value unchanged ---------------------------------------------------------------


def _identity_masker(strategy: str) -> RowMasker:
    identity = lambda value, row: value  # noqa: E731 - a strategy that masks nothing, as a bug would
    return RowMasker({"nick": (identity, ColumnStats("public.people", "nick", strategy))}, frozenset({"id"}),
                     GUARDED.compiled.placeholders)


@pytest.mark.parametrize("strategy", ["format-preserve", "tokenize", "replace", "hash", "shift"])
def test_a_value_its_strategy_left_unchanged_is_a_leak(strategy: str) -> None:
    """What would have caught the circled-letter leak: format-preserve kept 'ⓐⓝⓝⓐ ⓑⓔⓡⓖ' as it was."""
    found = _scan(_identity_masker(strategy), {"id": 1, "nick": "ⓐⓝⓝⓐ ⓑⓔⓡⓖ"})
    assert found is not None and found.column == "nick"
    assert "after.nick" in found.where and "unchanged" in found.where and "ⓐ" not in found.describe()


@pytest.mark.parametrize(
    "unchanged", ["--- / ---", "      ", "__debezium_unavailable_value", "-infinity", "NaN", "ⓐⓝⓝⓐ", "123456"],
    ids=["punctuation", "spaces", "placeholder", "infinity", "nan", "few-forms", "six-digits"],
)
def test_values_unchanged_by_design_are_not_leaks(unchanged: str) -> None:
    """Passed on purpose, or a value with so few masked forms (31**4, 10**6) that a keyed map sends it to
    itself by chance: always the same value, which a hit would block for good."""
    guard = LeakGuard(6, GUARDED.compiled.placeholders)
    assert _scan(_identity_masker("format-preserve"), {"id": 1, "nick": unchanged}, guard) is None


def test_a_masked_value_equal_to_its_raw_one_but_of_another_type_is_still_searched() -> None:
    """1234567 masked to 1234567.0 compares equal, yet the output holds another value: the raw integer
    is looked for like any changed value, and a passthrough copy of it is a leak."""
    row_masker = _masker_of({"n": {1234567: 1234567.0}})
    assert _scan(row_masker, {"id": 1, "n": 1234567}) is None
    found = _scan(row_masker, {"id": 1, "n": 1234567, "x": "ref 1234567"})
    assert found is not None and found.column == "n" and "after.x" in found.where
