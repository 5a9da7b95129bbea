"""The lossless line form: ``key_b64``/``payload_b64`` (standard base64 of the exact bytes) in place of
``key``/``payload``. Any bytes go through a line and come back identical; either form is read per field,
never both; kcat's own form is still what JSON output is; a bad base64 field is refused by name, never by
value. The base64 written here comes from Python's ``base64`` module, independently of streammask's."""

from __future__ import annotations

import base64
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streammask.errors import DecodeError
from streammask.kcat_io import KCAT, LineForm, format_line, parse_line
from streammask.outcome import Coordinates, SourceRecord

PROPS = settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
SENTINEL = "Zq7Leak"
BINARY = LineForm(key_b64=True, payload_b64=True)
nullable_bytes = st.none() | st.binary(max_size=300)


def b64(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(data).decode()


def line(**fields: Any) -> dict[str, Any]:
    return {"topic": "db.public.t", "partition": 2, "offset": 41, "tstype": "create", "ts": 5, "broker": 1, **fields}


def refusal(doc: dict[str, Any]) -> str:
    with pytest.raises(DecodeError) as info:
        parse_line(orjson.dumps(doc), 3)
    message = str(info.value)
    assert message.startswith("line 3: ") and SENTINEL not in message
    return message


@PROPS
@given(nullable_bytes, nullable_bytes)
def test_any_bytes_survive_a_line_and_come_back_identical(key: bytes | None, value: bytes | None) -> None:
    """Written in base64, read back, written again: the same bytes and the same line (null stays null,
    empty stays empty)."""
    record = SourceRecord(Coordinates("db.public.t", 0, 9), key, value, [], "create", 5, 1)
    written = format_line(record, key, value, [], BINARY)
    back = parse_line(written, 1)
    assert (back.key, back.value) == (key, value)
    assert back == record
    assert format_line(back, back.key, back.value, [], BINARY) == written
    out = orjson.loads(written)
    assert (out["key_b64"], out["payload_b64"]) == (b64(key), b64(value))
    assert "key" not in out and "payload" not in out


@PROPS
@given(st.none() | st.text(max_size=40), nullable_bytes, st.booleans())
def test_each_field_may_come_in_either_form(text: str | None, data: bytes | None, key_is_text: bool) -> None:
    fields = {"key": text, "payload_b64": b64(data)} if key_is_text else {"key_b64": b64(data), "payload": text}
    record = parse_line(orjson.dumps(line(**fields)), 1)
    as_text = None if text is None else text.encode("utf-8", "surrogateescape")
    assert (record.key, record.value) == ((as_text, data) if key_is_text else (data, as_text))


@PROPS
@given(nullable_bytes, nullable_bytes)
def test_base64_fields_read_as_the_exact_bytes(key: bytes | None, value: bytes | None) -> None:
    record = parse_line(orjson.dumps(line(key_b64=b64(key), payload_b64=b64(value))), 1)
    assert (record.key, record.value) == (key, value)


def test_output_keeps_kcats_field_order_with_the_base64_fields_in_place() -> None:
    record = parse_line(orjson.dumps(line(headers=["h", "v"], key="k", payload="p")), 1)
    out = orjson.loads(format_line(record, b"\x00\xff", None, record.headers, BINARY))
    assert list(out) == ["topic", "partition", "offset", "tstype", "ts", "broker", "headers", "key_b64", "payload_b64"]
    assert (out["key_b64"], out["payload_b64"]) == ("AP8=", None)


def test_the_default_form_is_kcats_text_byte_for_byte() -> None:
    doc = line(key='{"id":1}', payload='{"op":"c"}')
    record = parse_line(orjson.dumps(doc), 1)
    assert format_line(record, record.key, record.value, []) == orjson.dumps(doc) + b"\n"
    assert format_line(record, record.key, record.value, [], KCAT) == orjson.dumps(doc) + b"\n"


@pytest.mark.parametrize(("value_format", "key_format", "form"), [
    ("json", None, LineForm(False, False)),
    ("avro", None, LineForm(True, True)),
    ("avro", "json", LineForm(False, True)),
    ("json", "avro", LineForm(True, False)),
])
def test_the_form_follows_each_parts_wire_format(value_format: str, key_format: str | None, form: LineForm) -> None:
    assert LineForm.for_formats(value_format, key_format) == form


def test_a_mixed_line_writes_each_field_in_its_own_form() -> None:
    record = parse_line(orjson.dumps(line(key="k", payload="p")), 1)
    out = orjson.loads(format_line(record, b'{"id":1}', b"\x00\x00\x00\x00\x07\x02", [], LineForm(False, True)))
    assert (out["key"], out["payload_b64"]) == ('{"id":1}', "AAAAAAcC")


@pytest.mark.parametrize("field", ["key", "payload"])
def test_both_forms_of_one_field_are_refused(field: str) -> None:
    doc = line(key=None, payload=None, **{f"{field}_b64": "AA=="})
    assert refusal(doc) == f"line 3: `{field}` and `{field}_b64` are two forms of one field; give one"


def test_a_line_with_neither_form_is_refused_as_missing_the_kcat_field() -> None:
    assert refusal(line(key_b64=None)) == "line 3: missing `payload`"


@pytest.mark.parametrize("text", [
    SENTINEL,                 # not the alphabet
    "QQ",                     # unpadded
    "QR==",                   # non-canonical: unused bits set
    "Q Q==",                  # whitespace
    "-_8=",                   # the URL-safe alphabet
    "QQ==\n",                 # a trailing newline
    "ä" + SENTINEL,           # not ASCII
])
def test_bad_base64_is_refused_naming_the_field_not_the_value(text: str) -> None:
    message = refusal(line(key=None, payload_b64=text))
    assert message == "line 3: `payload_b64` is not canonical base64 (RFC 4648 standard alphabet, padded)"


@pytest.mark.parametrize("value", [5, [SENTINEL], {"a": SENTINEL}, True])
def test_a_base64_field_of_another_json_type_is_refused(value: Any) -> None:
    assert refusal(line(key_b64=value, payload=None)) == "line 3: `key_b64` must be a base64 string or null"


def test_unknown_fields_still_refuse_a_base64_line() -> None:
    message = refusal(line(key_b64=None, payload_b64="AA==", value_b64="AA=="))
    assert "unknown field `value_b64`" in message
