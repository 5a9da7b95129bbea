"""The kcat -J line reader and writer: exactly kcat's shape is read (and written back as it was), plus
streammask's lossless ``key_b64``/``payload_b64`` form (test_kcat_line_form.py); any other line is refused
with a reason that names a field, never a value.

kcat's shape, from its writer (edenhill/kcat, json.c ``fmt_msg_output_json``): topic, partition, offset,
tstype and ts (together, when the record has a timestamp), broker, headers (a flat [name, value, …] list,
only when the record has headers), key, payload. Written out here, independently of streammask's code.
"""

from __future__ import annotations

import re
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streammask.errors import DecodeError
from streammask.kcat_io import format_line, parse_line
from streammask.outcome import SourceRecord

PROPS = settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])

KCAT_FIELDS = ("topic", "partition", "offset", "tstype", "ts", "broker", "headers", "key", "payload")
# streammask's own lossless form of key and payload (base64 of the bytes): read too, tested in test_kcat_line_form.py.
LOSSLESS_FIELDS = ("key_b64", "payload_b64")
REQUIRED = ("topic", "partition", "offset", "key", "payload")
INT32_MAX, INT64_MAX = 2**31 - 1, 2**63 - 1

KCAT_WRITES = "(kcat -J writes only topic, partition, offset, tstype, ts, broker, headers, key, payload)"

# Every string a refused line carries starts with this: no part of it may reach a reason.
SENTINEL = "Zq7Leak"

topics = st.from_regex(r"[A-Za-z0-9._-]{1,60}", fullmatch=True).filter(lambda t: t not in (".", ".."))
nullable_text = st.none() | st.text(max_size=40)
int64s = st.integers(-(2**63), INT64_MAX)
secret_text = st.text(max_size=16).map(lambda s: SENTINEL + s)
json_values: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | int64s | st.floats(allow_nan=False, allow_infinity=False) | secret_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(secret_text, inner, max_size=3),
    max_leaves=8,
)


@st.composite
def kcat_lines(draw: st.DrawFn) -> dict[str, Any]:
    """A line as kcat -C -J writes it, in its field order, with every optional part present or not."""
    doc: dict[str, Any] = {
        "topic": draw(topics), "partition": draw(st.integers(0, INT32_MAX)), "offset": draw(st.integers(0, INT64_MAX)),
    }
    if draw(st.booleans()):
        doc["tstype"] = draw(st.sampled_from(["create", "logappend", "unknown"]))
        doc["ts"] = draw(int64s)
    if draw(st.booleans()):
        doc["broker"] = draw(st.integers(-1, INT32_MAX))
    headers = draw(st.lists(st.tuples(st.text(max_size=12), nullable_text), max_size=4))
    if headers:
        doc["headers"] = [item for pair in headers for item in pair]
    doc["key"] = draw(nullable_text)
    doc["payload"] = draw(nullable_text)
    return doc


def refusal(doc: Any) -> str:
    with pytest.raises(DecodeError) as info:
        parse_line(orjson.dumps(doc), 7)
    message = str(info.value)
    assert message.startswith("line 7: ")
    assert SENTINEL not in message
    return message


def with_field(doc: dict[str, Any], name: str, value: Any, position: int) -> dict[str, Any]:
    items = list(doc.items())
    items.insert(position % (len(items) + 1), (name, value))
    return dict(items)


# -- kcat's shape is read, and written back byte for byte --------------------------------------------------


@PROPS
@given(kcat_lines())
def test_every_kcat_line_is_read_and_written_back_unchanged(doc: dict[str, Any]) -> None:
    line = orjson.dumps(doc)
    record = parse_line(line, 1)
    assert (record.coordinates.topic, record.coordinates.partition, record.coordinates.offset) == (
        doc["topic"], doc["partition"], doc["offset"],
    )
    assert record.key == (None if doc["key"] is None else doc["key"].encode())
    assert record.value == (None if doc["payload"] is None else doc["payload"].encode())
    assert format_line(record, record.key, record.value, record.headers) == line + b"\n"


@PROPS
@given(kcat_lines(), nullable_text, nullable_text)
def test_written_lines_carry_only_kcat_fields_with_the_given_key_and_value(
    doc: dict[str, Any], key: str | None, value: str | None
) -> None:
    record = parse_line(orjson.dumps(doc), 1)
    out = orjson.loads(format_line(record, None if key is None else key.encode(), None if value is None else
                                   value.encode(), []))
    assert list(out) == [f for f in KCAT_FIELDS if f in doc and f != "headers"]
    assert (out["key"], out["payload"]) == (key, value)


def test_a_record_holds_only_typed_fields() -> None:
    fields = set(SourceRecord.__dataclass_fields__)
    assert fields == {"coordinates", "key", "value", "headers", "tstype", "ts", "broker"}


# -- any other line is refused, naming the field ------------------------------------------------------------


@PROPS
@given(kcat_lines(), st.text(min_size=1, max_size=20).filter(lambda n: n not in KCAT_FIELDS + LOSSLESS_FIELDS),
       json_values, st.integers(0, 20))
def test_a_line_with_any_field_kcat_does_not_write_is_refused_without_its_value(
    doc: dict[str, Any], name: str, value: Any, position: int
) -> None:
    message = refusal(with_field(doc, name, value, position))
    if name in ("payload_error", "key_error"):
        assert f"`{name}`: kcat could not deserialise" in message
    elif name in ("key_schema_id", "value_schema_id"):
        assert "without -s avro" in message
    elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        assert f"unknown field `{name}`" in message
    else:  # a name that is not an identifier could itself be data: the reason is the same for every such name
        assert message == f"line 7: unknown field (names not shown: not plain identifiers) {KCAT_WRITES}"


@PROPS
@given(kcat_lines(), st.sampled_from(["payload_error", "key_error", "key_schema_id", "value_schema_id"]), json_values)
def test_lines_kcat_deserialised_or_could_not_decode_are_refused(doc: dict[str, Any], name: str, value: Any) -> None:
    message = refusal({**doc, name: value})
    assert f"`{name}`" in message
    assert ("could not deserialise" if name.endswith("_error") else "Avro-deserialised") in message


def test_a_raw_event_in_an_extra_field_is_refused() -> None:
    raw = orjson.dumps({"before": None, "after": {"id": 1, "email": SENTINEL + "@example.org"}, "op": "c"}).decode()
    doc = {"topic": "db.public.customers", "partition": 0, "offset": 3, "key": None, "payload": None, "raw": raw}
    assert refusal(doc) == f"line 7: unknown field `raw` {KCAT_WRITES}"


def test_many_unknown_fields_are_named_up_to_five() -> None:
    doc = {"topic": "t", "partition": 0, "offset": 0, "key": None, "payload": None}
    doc.update({f"f{i}": i for i in range(7)})
    doc[SENTINEL + "@x"] = 1
    assert "unknown fields `f0`, `f1`, `f2`, `f3`, `f4` and 3 more (names not shown)" in refusal(doc)


@PROPS
@given(kcat_lines(), st.sets(st.sampled_from(REQUIRED), min_size=1))
def test_a_line_missing_any_required_field_is_refused_naming_each(doc: dict[str, Any], missing: set[str]) -> None:
    message = refusal({k: v for k, v in doc.items() if k not in missing})
    assert message == "line 7: missing " + ", ".join(f"`{name}`" for name in REQUIRED if name in missing)


@pytest.mark.parametrize("kept", ["tstype", "ts"])
def test_tstype_and_ts_come_together(kept: str) -> None:
    doc = {"topic": "t", "partition": 0, "offset": 0, kept: "create" if kept == "tstype" else 5, "key": None,
           "payload": None}
    assert "`tstype` and `ts` come together" in refusal(doc)


def is_int(v: Any) -> bool:
    return v.__class__ is int


# What kcat writes in each field; any other JSON value there is refused.
ACCEPTS = {
    "topic": lambda v: isinstance(v, str),  # names are checked against Kafka's rule below
    "partition": is_int,
    "offset": is_int,
    "tstype": lambda v: v in ("create", "logappend", "unknown"),
    "ts": is_int,
    "broker": is_int,
    "headers": lambda v: isinstance(v, list),
    "key": lambda v: v is None or isinstance(v, str),
    "payload": lambda v: v is None or isinstance(v, str),
}


@PROPS
@given(kcat_lines(), st.sampled_from(KCAT_FIELDS), json_values)
def test_a_field_of_the_wrong_type_is_refused_naming_it(doc: dict[str, Any], name: str, value: Any) -> None:
    if ACCEPTS[name](value):
        return
    doc = {**doc, name: value}
    if name in ("tstype", "ts"):  # both or neither
        doc.setdefault("tstype", "create")
        doc.setdefault("ts", 0)
    assert f"`{name}`" in refusal(doc)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("partition", True), ("partition", -1), ("partition", 2**31), ("partition", 0.0), ("partition", "0"),
        ("offset", "12"), ("offset", -1), ("offset", 1.5), ("offset", False),
        ("broker", True), ("broker", -2), ("ts", "1717412400000"), ("tstype", "Create"),
        ("topic", ""), ("topic", "a b"), ("topic", ".."), ("topic", "x" * 250), ("topic", SENTINEL + "@example.org"),
        ("key", 5), ("payload", {"after": {"email": SENTINEL}}), ("payload", [SENTINEL]),
    ],
)
def test_values_kcat_never_writes_are_refused(name: str, value: Any) -> None:
    doc = {"topic": "t", "partition": 0, "offset": 0, "tstype": "create", "ts": 1, "broker": 1, "key": None,
           "payload": None, name: value}
    assert f"`{name}`" in refusal(doc)


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({"a": ["b"]}, "`headers` is an object (kcat's header map form)"),
        ("a=b", "`headers` must be a flat [name, value, …] list"),
        (None, "`headers` must be a flat [name, value, …] list"),
        (["name"], "of even length"),
        (["a", "b", "c"], "of even length"),
        ([1, "b"], "`headers` names must be strings"),
        ([None, "b"], "`headers` names must be strings"),
        (["a", 1], "`headers` values must be a string or null"),
        (["a", [SENTINEL]], "`headers` values must be a string or null"),
    ],
)
def test_headers_other_than_kcats_flat_list_are_refused(headers: Any, reason: str) -> None:
    doc = {"topic": "t", "partition": 0, "offset": 0, "headers": headers, "key": None, "payload": None}
    assert reason in refusal(doc)


@pytest.mark.parametrize("line", [b"not json", b"[1, 2]", b'"a string"', b"null", b"\xff\xfe", b'{"topic": '])
def test_a_line_that_is_not_a_json_object_is_refused(line: bytes) -> None:
    with pytest.raises(DecodeError, match=r"^line 3: not a JSON object$"):
        parse_line(line, 3)
