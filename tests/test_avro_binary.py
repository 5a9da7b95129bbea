"""streammask.codec.avro_binary: the compiled reader and writer agree with fastavro on everything they accept.

The contract: whatever a compiled reader returns for a body it read to the end, fastavro's schemaless reader
returns too (same values, same types); whatever bytes a compiled writer writes, fastavro's schemaless writer
writes too. What they refuse, the codec hands to fastavro (tests at the end: its result or error stands).
"""

from __future__ import annotations

import io
import json
import math
import random
from typing import Any

import fastavro
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_avro_schema import schemas_and_payloads

from streammask.codec.avro import AvroCodec
from streammask.codec.avro_binary import Mismatch, compile_reader, compile_writer, generated_source
from streammask.codec.avro_schema import avro_datum_of, avro_schema_of, strip_logical_types
from streammask.codec.base import KEY, VALUE, RecordContext
from streammask.codec.registry import RegistryClient, RegistryConfig
from streammask.errors import DecodeError, MaskingError
from tests.fake_registry import FakeRegistry

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def parsed_of(avro: Any) -> Any:
    return fastavro.parse_schema(strip_logical_types(avro))


def fastavro_bytes(parsed: Any, datum: Any) -> bytes:
    out = io.BytesIO()
    fastavro.schemaless_writer(out, parsed, datum)
    return out.getvalue()


def fastavro_datum(parsed: Any, body: bytes) -> tuple[Any, int]:
    buf = io.BytesIO(body)
    datum = fastavro.schemaless_reader(buf, parsed, None)
    return datum, buf.tell()


def compiled_bytes(parsed: Any, datum: Any) -> bytes:
    writer = compile_writer(parsed)
    assert writer is not None
    out = bytearray()
    writer(datum, out)
    return bytes(out)


def typed(value: Any) -> Any:
    """The value with every type spelled out: 1 == 1.0 == True must not pass for the same datum."""
    if isinstance(value, dict):
        return ("dict", [(k, typed(v)) for k, v in value.items()])
    if isinstance(value, list):
        return ("list", [typed(v) for v in value])
    if isinstance(value, float) and math.isnan(value):
        return ("float", "nan")
    return (type(value).__name__, value)


def has_nan(value: Any) -> bool:
    if isinstance(value, float):
        return math.isnan(value)
    if isinstance(value, dict):
        return any(has_nan(v) for v in value.values())
    if isinstance(value, list):
        return any(has_nan(v) for v in value)
    return False


def generated(case: tuple[dict[str, Any], Any]) -> tuple[Any, Any, bytes]:
    connect, payload = case
    parsed = parsed_of(avro_schema_of(connect))
    datum = avro_datum_of(payload, connect)
    return parsed, datum, fastavro_bytes(parsed, datum)


# -- agreement on generated schemas and data ----------------------------------------------------------------------


@FAST
@given(schemas_and_payloads())
def test_the_compiled_reader_reads_what_fastavro_reads(case: tuple[dict[str, Any], Any]) -> None:
    parsed, _, body = generated(case)
    reader = compile_reader(parsed)
    assert reader is not None
    want, end = fastavro_datum(parsed, body)
    if has_nan(want):  # a NaN's bits are fastavro's business
        with pytest.raises(Mismatch):
            reader(body, 0)
        return
    got, at = reader(b"\x00\x00\x00\x00\x07" + body, 5)
    assert at == 5 + end == 5 + len(body)
    assert typed(got) == typed(want)


@FAST
@given(schemas_and_payloads())
def test_the_compiled_writer_writes_fastavro_s_bytes(case: tuple[dict[str, Any], Any]) -> None:
    parsed, _, body = generated(case)
    datum, _ = fastavro_datum(parsed, body)  # the values as the codec hands them back to the writer
    if has_nan(datum):
        with pytest.raises(Mismatch):
            compiled_bytes(parsed, datum)
        return
    assert compiled_bytes(parsed, datum) == body


@FAST
@given(schemas_and_payloads(), st.randoms(use_true_random=False))
def test_a_corrupt_body_the_compiled_reader_accepts_fastavro_reads_alike(
    case: tuple[dict[str, Any], Any], rnd: random.Random
) -> None:
    parsed, _, body = generated(case)
    reader = compile_reader(parsed)
    assert reader is not None
    raw = bytearray(body)
    for _ in range(rnd.randint(1, 3)):
        action = rnd.choice(["flip", "cut", "grow"])
        if action == "flip" and raw:
            raw[rnd.randrange(len(raw))] = rnd.randrange(256)
        elif action == "cut" and raw:
            del raw[rnd.randrange(len(raw)):]
        else:
            raw.insert(rnd.randrange(len(raw) + 1), rnd.randrange(256))
    data = bytes(raw)
    try:
        got, at = reader(data, 0)
    except Exception:
        return  # refused: fastavro decides
    want, end = fastavro_datum(parsed, data)
    assert at == end
    assert typed(got) == typed(want)


ODD_VALUES = [True, False, 0, 1, -1, 2**31, -(2**31) - 1, 2**63, -(2**63) - 1, 1.5, float("nan"), float("inf"),
              1e39, "", "x", "\ud800", b"", b"x", bytearray(b"x"), None, [], {}, ("a",), {"x": 1}, [1, "a"]]


def _paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path]
    if isinstance(value, dict):
        for k, v in value.items():
            found += _paths(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found += _paths(v, (*path, i))
    return found


def _replaced(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {**value, head: _replaced(value[head], rest, new)}
    copy = list(value)
    copy[head] = _replaced(value[head], rest, new)
    return copy


@FAST
@given(schemas_and_payloads(), st.randoms(use_true_random=False))
def test_a_datum_the_compiled_writer_accepts_fastavro_writes_alike(
    case: tuple[dict[str, Any], Any], rnd: random.Random
) -> None:
    """Odd values anywhere (wrong types, out of range, NaN, missing or extra fields): the compiled writer
    refuses them or writes what fastavro writes."""
    parsed, datum, _ = generated(case)
    writer = compile_writer(parsed)
    assert writer is not None
    mutation = rnd.choice(["replace", "replace", "drop", "add"])
    if mutation == "replace":
        odd = _replaced(datum, rnd.choice(_paths(datum)), rnd.choice(ODD_VALUES))
    else:
        structs = [p for p in _paths(datum) if isinstance(_at(datum, p), dict) and _at(datum, p)]
        if not structs:
            return
        path = rnd.choice(structs)
        changed = dict(_at(datum, path))
        if mutation == "drop":
            changed.pop(rnd.choice(list(changed)))
        else:
            changed["zz_extra"] = 1
        odd = _replaced(datum, path, changed)
    out = bytearray()
    try:
        writer(odd, out)
    except Exception:
        return  # refused: fastavro decides
    assert bytes(out) == fastavro_bytes(parsed, odd)


def _at(value: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        value = value[step]
    return value


# -- what the compiled code refuses -------------------------------------------------------------------------------

RECORD = {"type": "record", "name": "R", "namespace": "t", "fields": [
    {"name": "i", "type": "int"}, {"name": "l", "type": ["null", "long"], "default": None},
    {"name": "f", "type": "float"}, {"name": "d", "type": "double"}, {"name": "b", "type": "boolean"},
    {"name": "s", "type": "string"}, {"name": "y", "type": "bytes"},
    {"name": "x", "type": {"type": "fixed", "name": "X", "size": 2}},
    {"name": "e", "type": {"type": "enum", "name": "E", "symbols": ["A", "B"]}},
    {"name": "a", "type": {"type": "array", "items": "string"}},
    {"name": "m", "type": {"type": "map", "values": "long"}},
]}
DATUM = {"i": -3, "l": 1_700_000_000_000, "f": 1.5, "d": -2.25, "b": True, "s": "héllo", "y": b"\x00\xff",
         "x": b"ab", "e": "B", "a": ["p", "q"], "m": {"k": 300}}


def test_every_type_round_trips_with_fastavro_s_bytes() -> None:
    parsed = parsed_of(RECORD)
    body = fastavro_bytes(parsed, DATUM)
    assert compiled_bytes(parsed, DATUM) == body
    reader = compile_reader(parsed)
    assert reader is not None
    assert reader(body, 0) == (DATUM, len(body))


@pytest.mark.parametrize(("field", "value"), [
    ("i", 2**31), ("i", True), ("l", 2**63), ("l", 1.0), ("f", 1), ("f", float("nan")), ("f", 1e39),
    ("d", float("nan")), ("d", 2), ("b", 1), ("s", b"x"), ("s", "\ud800"), ("y", bytearray(b"x")), ("y", "x"),
    ("x", b"abc"), ("e", "C"), ("a", ("p",)), ("m", {1: 2}),
])
def test_the_compiled_writer_refuses_what_is_not_exactly_typed(field: str, value: Any) -> None:
    writer = compile_writer(parsed_of(RECORD))
    assert writer is not None
    with pytest.raises(Exception):  # noqa: B017 - any exception: the codec falls back to fastavro
        writer({**DATUM, field: value}, bytearray())


def test_the_compiled_writer_refuses_a_record_without_exactly_its_fields() -> None:
    writer = compile_writer(parsed_of(RECORD))
    assert writer is not None
    with pytest.raises(Mismatch):
        writer({k: v for k, v in DATUM.items() if k != "l"}, bytearray())  # fastavro would use the default
    with pytest.raises(Mismatch):
        writer({**DATUM, "zz": 1}, bytearray())
    with pytest.raises(KeyError):
        writer({**{k: v for k, v in DATUM.items() if k != "l"}, "zz": 1}, bytearray())


@pytest.mark.parametrize("body", [
    b"\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01",  # a varint of more than 64 bits
    b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\x7f",  # 10 bytes but beyond 64 bits
    b"\x80",  # cut short
])
def test_the_compiled_reader_refuses_varints_fastavro_reads_its_own_way(body: bytes) -> None:
    reader = compile_reader(parsed_of("long"))
    assert reader is not None
    with pytest.raises((Mismatch, IndexError)):
        reader(body, 0)


@pytest.mark.parametrize(("schema", "body"), [
    ("boolean", b"\x02"),
    ("int", b"\x80\x80\x80\x80\x10"),  # 2**31: beyond an int
    (["null", "string"], b"\x80\x00"),  # a union index, not minimal
    (["null", "string"], b"\x04"),  # no such branch
    ("string", b"\x03"),  # a negative length
    ("string", b"\x06ab"),  # longer than the body
    ("string", b"\x02\xff"),  # not UTF-8
    ("float", b"\x00\x00\xc0\x7f"),  # NaN
    ({"type": "enum", "name": "E", "symbols": ["A"]}, b"\x02"),
    ({"type": "array", "items": "string"}, b"\x14\x00"),  # more items than bytes left
])
def test_the_compiled_reader_refuses_what_is_not_well_formed(schema: Any, body: bytes) -> None:
    reader = compile_reader(parsed_of(schema))
    assert reader is not None
    with pytest.raises(Exception):  # noqa: B017 - any exception: the codec falls back to fastavro
        reader(body, 0)


def test_items_of_no_bytes_are_read() -> None:
    parsed = parsed_of({"type": "array", "items": {"type": "record", "name": "Empty", "fields": []}})
    reader = compile_reader(parsed)
    assert reader is not None
    assert reader(b"\x06\x00", 0) == ([{}, {}, {}], 2) == (fastavro_datum(parsed, b"\x06\x00")[0], 2)


def test_recursive_records_and_named_references_compile() -> None:
    node = {"type": "record", "name": "Node", "fields": [
        {"name": "v", "type": "long"}, {"name": "next", "type": ["null", "Node"], "default": None}]}
    parsed = parsed_of(node)
    datum = {"v": 1, "next": {"v": 2, "next": None}}
    body = fastavro_bytes(parsed, datum)
    assert compiled_bytes(parsed, datum) == body
    reader = compile_reader(parsed)
    assert reader is not None
    assert reader(body, 0) == (datum, len(body))


def test_unions_beyond_null_and_one_type_are_left_to_fastavro_for_writing() -> None:
    parsed = parsed_of({"type": "record", "name": "U", "fields": [{"name": "u", "type": ["int", "string"]}]})
    assert compile_writer(parsed) is None
    reader = compile_reader(parsed)
    assert reader is not None
    assert reader(b"\x02\x02a", 0) == ({"u": "a"}, 3)
    assert compile_reader(parsed_of(["null", "int", "string"])) is None


def test_a_logical_type_kept_is_not_compiled() -> None:
    parsed = fastavro.parse_schema({"type": "int", "logicalType": "date"})
    assert compile_reader(parsed) is None and compile_writer(parsed) is None


def test_field_names_are_quoted_as_literals() -> None:
    name = "a'}, p); raise SystemExit #"
    parsed = fastavro.parse_schema(
        {"type": "record", "name": "Q", "fields": [{"name": name, "type": "int"}]}, _write_hint=False
    )
    assert f"{{{name!r}: v" in generated_source(parsed)
    reader = compile_reader(parsed)
    assert reader is not None
    assert reader(b"\x02", 0) == ({name: 1}, 1)


# -- the codec: the fast path where it applies, fastavro elsewhere --------------------------------------------------

CODEC_SCHEMA = {"type": "record", "name": "V", "namespace": "t", "fields": [
    {"name": "id", "type": "int"}, {"name": "score", "type": "double"},
    {"name": "note", "type": ["null", "string"], "default": None}]}


@pytest.fixture
def codec_and_id(registry: FakeRegistry) -> tuple[AvroCodec, int]:
    schema_id = registry.register_direct("t-value", json.dumps(CODEC_SCHEMA))
    return AvroCodec(RegistryClient(RegistryConfig(url=registry.url))), schema_id


def framed(schema_id: int, datum: Any) -> bytes:
    return b"\x00" + schema_id.to_bytes(4, "big") + fastavro_bytes(parsed_of(CODEC_SCHEMA), datum)


def test_the_codec_reads_and_writes_through_the_compiled_path(codec_and_id: tuple[AvroCodec, int]) -> None:
    codec, schema_id = codec_and_id
    data = framed(schema_id, {"id": 7, "score": 0.5, "note": "n"})
    doc = codec.decode(data, RecordContext("t", "t"), VALUE)
    writer = codec._writers[schema_id]
    assert writer.reader is not None and writer.writer is not None
    assert doc.payload == {"id": 7, "score": 0.5, "note": "n"}
    assert doc.encode(doc.payload) == data


def test_the_codec_hands_what_the_compiled_path_refuses_to_fastavro(codec_and_id: tuple[AvroCodec, int]) -> None:
    codec, schema_id = codec_and_id
    doc = codec.decode(framed(schema_id, {"id": 7, "score": 0.5, "note": None}), RecordContext("t", "t"), VALUE)
    # an int where the schema has a double, a missing field with a default: fastavro writes them
    assert doc.encode({"id": 7, "score": 2}) == framed(schema_id, {"id": 7, "score": 2.0, "note": None})
    with pytest.raises(MaskingError, match="does not fit Avro schema id"):
        doc.encode({"id": "seven", "score": 0.5, "note": None})
    nan = framed(schema_id, {"id": 1, "score": float("nan"), "note": None})
    assert math.isnan(codec.decode(nan, RecordContext("t", "t"), VALUE).payload["score"])
    with pytest.raises(DecodeError, match="bytes beyond its Avro body"):
        codec.decode(nan + b"\x00", RecordContext("t", "t"), KEY)
    with pytest.raises(DecodeError, match="does not decode with Avro schema id"):
        codec.decode(nan[:-3], RecordContext("t", "t"), VALUE)


# -- masking: the same outcomes as with fastavro alone -------------------------------------------------------------


class _InProcessRegistry:
    """The registry calls AvroCodec makes, without HTTP (thousands of subjects here): ids by schema text."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.texts: dict[int, str] = {}
        self.ids: dict[str, int] = {}

    def register(self, subject: str, text: str) -> int:
        if text not in self.ids:
            self.ids[text] = len(self.ids) + 1
            self.texts[self.ids[text]] = text
        return self.ids[text]

    def schema(self, schema_id: int) -> str:
        return self.texts[schema_id]

    def compatibility(self, subject: str) -> str | None:
        return None


def _avro_corpus(
    registry: _InProcessRegistry, cases: list[Any]
) -> list[tuple[str, bytes, bytes, list[tuple[str, bytes | None]]]]:
    """Every 20th of the golden corpus's records with a key and a schema, as Confluent-framed Avro, each also
    with a byte of its value changed, cut short, one byte too long, and a byte of its key changed."""
    import orjson

    rnd = random.Random(3)
    out = []
    for case in cases[::20]:
        try:
            value, key = orjson.loads(case.value or b""), orjson.loads(case.key or b"")
        except orjson.JSONDecodeError:
            continue
        if not all(isinstance(d, dict) and d.keys() == {"schema", "payload"} for d in (value, key)):
            continue
        try:
            framed_parts = []
            for part, doc in (("key", key), ("value", value)):
                avro = avro_schema_of(doc["schema"])
                body = fastavro_bytes(parsed_of(avro), avro_datum_of(doc["payload"], doc["schema"]))
                schema_id = registry.register(f"{case.topic}-{part}", json.dumps(avro))
                framed_parts.append(b"\x00" + schema_id.to_bytes(4, "big") + body)
        except Exception:  # no Avro form: the corpus has JSON-only shapes
            continue
        k, v = framed_parts
        headers = list(case.headers)
        flipped = bytearray(v)
        flipped[rnd.randrange(5, len(v))] = rnd.randrange(256)
        key_flipped = bytearray(k)
        key_flipped[rnd.randrange(5, len(k))] ^= 0xFF
        out += [(case.topic, k, v, headers), (case.topic, k, bytes(flipped), headers),
                (case.topic, k, v[: rnd.randrange(5, len(v))], headers), (case.topic, k, v + b"\x00", headers),
                (case.topic, bytes(key_flipped), v, headers)]
    return out


def test_masking_avro_gives_the_outcomes_fastavro_alone_gives(monkeypatch: pytest.MonkeyPatch) -> None:
    from golden_corpus import KEY as GOLDEN_KEY
    from golden_corpus import corpus, describe

    from streammask.codec import avro as avro_module
    from streammask.masker import RecordMasker
    from streammask.plan import CompiledPolicy
    from streammask.policy import parse_policy

    policy, cases = corpus()
    source = _InProcessRegistry("source")
    records = _avro_corpus(source, cases)
    assert len(records) > 1000

    def outcomes() -> list[bytes]:
        codec = AvroCodec(source, _InProcessRegistry("target"))  # type: ignore[arg-type]
        masker = RecordMasker(CompiledPolicy(parse_policy(policy, "golden"), GOLDEN_KEY), codec)
        return [describe(masker.mask(topic, k, v, h, target_topic=f"out.{topic}")) for topic, k, v, h in records]

    compiled = outcomes()
    monkeypatch.setattr(avro_module, "compile_reader", lambda parsed: None)
    monkeypatch.setattr(avro_module, "compile_writer", lambda parsed: None)
    alone = outcomes()
    assert sum(o.startswith(b'["masked"') for o in compiled) > 250
    assert compiled == alone
