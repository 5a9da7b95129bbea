"""Kafka Connect's JsonConverter: ``{"schema": ..., "payload": ...}`` with ``schemas.enable=true``, the
bare payload without. Bytes and Decimals are base64 text (``decimal.format=BASE64``, the default)."""

from __future__ import annotations

import binascii
from collections.abc import Callable
from functools import partial
from typing import Any

import orjson

from streammask.codec.base import KEY, VALUE, Part, RecordContext, ValueForms, variable_forms
from streammask.errors import DecodeError, MaskingError, WrongFormat
from streammask.types import Kind

_FRAME_HEAD = b'{"schema":'
_FRAME_SEP = b',"payload":'


def split_converter_framing(doc: Any) -> tuple[dict[str, Any] | None, Any, bool]:
    """JsonConverter output is {"schema", "payload"} with schemas.enable=true, the bare payload without."""
    if isinstance(doc, dict) and len(doc) == 2 and "schema" in doc and "payload" in doc:
        schema = doc["schema"]
        return (schema if isinstance(schema, dict) else None), doc["payload"], True
    return None, doc, False


class SchemaTexts:
    """Schema texts already seen, each verified to be one complete JSON object, with its parsed form.

    JsonConverter repeats a byte-identical schema in every message. A text in this cache is a complete
    JSON object; JSON objects are prefix-free, so when a record starts with ``{"schema":`` followed by a
    cached text and ``,"payload":``, that text *is* the record's schema and only the payload needs
    parsing. Anything else takes the full parse.
    """

    __slots__ = ("_texts", "_recent")

    def __init__(self) -> None:
        self._texts: dict[bytes, dict[str, Any] | None] = {}
        self._recent: list[tuple[bytes, bytes, dict[str, Any] | None]] = []

    def find(self, raw: bytes) -> tuple[bytes, dict[str, Any] | None, int] | None:
        """(schema text, parsed schema, index of the payload separator) when raw is framed as cached."""
        for prefix, text, schema in self._recent:  # one in-place memcmp each: no slicing, no hashing
            if raw.startswith(prefix):
                return (text, schema, len(prefix) - len(_FRAME_SEP)) if raw.endswith(b"}") else None
        if not raw.startswith(_FRAME_HEAD) or not raw.endswith(b"}"):
            return None
        start = len(_FRAME_HEAD)
        idx = raw.find(_FRAME_SEP, start)
        while idx != -1:
            text = raw[start:idx]
            if text in self._texts:
                schema = self._texts[text]
                self._remember(text, schema)
                return text, schema, idx
            idx = raw.find(_FRAME_SEP, idx + 1)
        return None

    def learn(self, raw: bytes, schema: dict[str, Any] | None) -> bytes | None:
        """After a full parse: find and cache the raw text of the schema; None if not compact-framed."""
        if not raw.startswith(_FRAME_HEAD):
            return None
        idx = raw.find(_FRAME_SEP, len(_FRAME_HEAD))
        while idx != -1:
            text = raw[len(_FRAME_HEAD) : idx]
            try:
                parsed = orjson.loads(text)
            except orjson.JSONDecodeError:
                idx = raw.find(_FRAME_SEP, idx + 1)
                continue
            if parsed != schema or not text.startswith((b"{", b"null")):
                return None
            if len(self._texts) >= 4096:
                self._texts.clear()
            self._texts[text] = schema
            self._remember(text, schema)
            return text
        return None

    def _remember(self, text: bytes, schema: dict[str, Any] | None) -> None:
        """Keep the framing prefix ``{"schema":<text>,"payload":`` of the four latest texts."""
        prefix = b"".join((_FRAME_HEAD, text, _FRAME_SEP))
        self._recent = [(prefix, text, schema), *(r for r in self._recent if r[1] != text)][:4]


class JsonDocument:
    """One decoded key or value: converter framing, raw schema text (the cache key) and payload."""

    __slots__ = ("framed", "schema", "schema_key", "payload", "_compact", "_data")
    schema_key: bytes | None

    def __init__(self, schemas: SchemaTexts, data: bytes, record: RecordContext, part: Part) -> None:
        self._data = data
        hit = schemas.find(data)
        if hit is not None:
            text, self.schema, idx = hit
            try:
                self.payload = orjson.loads(data[idx + len(_FRAME_SEP) : -1])
            except orjson.JSONDecodeError:
                hit = None
            else:
                self.framed = True
                self.schema_key = text
                self._compact = True
        if hit is None:
            try:
                doc = orjson.loads(data)
            except orjson.JSONDecodeError:
                if data[:1] == b"\x00":
                    raise WrongFormat(f"{part.what} is not JSON: it is framed for a Schema Registry (Avro)") from None
                raise DecodeError(f"{part.what} is not valid JSON") from None
            self.schema, self.payload, self.framed = split_converter_framing(doc)
            self.schema_key = None
            self._compact = False
            if self.framed:
                if list(doc) == ["schema", "payload"]:
                    self.schema_key = schemas.learn(data, self.schema)
                    self._compact = self.schema_key is not None
                if self.schema_key is None:
                    self.schema_key = orjson.dumps(self.schema)

    def reframed(self) -> bytes:
        return self._data  # no schema id to rewrite

    def encode(self, payload: Any) -> bytes:
        if not self.framed:
            return orjson.dumps(payload)
        if self._compact and self.schema_key is not None:
            return b"".join((_FRAME_HEAD, self.schema_key, _FRAME_SEP, orjson.dumps(payload), b"}"))
        return orjson.dumps({"schema": self.schema, "payload": payload})


def _bytes(value: Any) -> bytes:
    """Connect bytes are base64 text; strict: anything else is an error, not silently skipped."""
    if value.__class__ is not str:
        raise MaskingError("bytes value is not a base64 string")
    try:
        return binascii.a2b_base64(value, strict_mode=True)
    except (binascii.Error, ValueError):
        raise MaskingError("bytes value is not valid base64") from None


def encode_bytes(data: bytes) -> str:
    """Connect bytes as JsonConverter writes them: base64 text."""
    return binascii.b2a_base64(data, newline=False).decode()


def _unscaled(value: Any) -> int:
    if value.__class__ is str:  # _bytes(), inlined: a frame less per decimal
        try:
            return int.from_bytes(binascii.a2b_base64(value, strict_mode=True), "big", signed=True)
        except (binascii.Error, ValueError):
            pass
    return int.from_bytes(_bytes(value), "big", signed=True)  # raises the error that says why


def encode_unscaled(unscaled: int) -> str:
    """A Connect Decimal's bytes: big-endian two's complement of the unscaled value, as base64."""
    raw = unscaled.to_bytes((unscaled.bit_length() + 8) // 8, "big", signed=True)
    return binascii.b2a_base64(raw, newline=False).decode()  # encode_bytes(), inlined: a frame less per value


_variable, _variable_struct = variable_forms(_unscaled, encode_unscaled)

FORMS = ValueForms(
    "connect-json",
    decoders={Kind.BYTES: _bytes, Kind.DECIMAL: _unscaled, Kind.VARIABLE_DECIMAL: _variable},
    encoders={Kind.BYTES: encode_bytes, Kind.DECIMAL: encode_unscaled, Kind.VARIABLE_DECIMAL: _variable_struct},
)


class ConnectJsonCodec:
    """JsonConverter's wire format, schemas enabled or not (told apart per record)."""

    name = "json"
    forms = FORMS
    decode: Callable[[bytes, RecordContext, Part], JsonDocument]

    def __init__(self) -> None:
        self._schemas = SchemaTexts()
        self.decode = partial(JsonDocument, self._schemas)  # no frame of its own (and no keywords): a hot path

    def close(self) -> None:
        """Nothing held."""


__all__ = [
    "FORMS", "KEY", "VALUE", "ConnectJsonCodec", "JsonDocument", "SchemaTexts", "encode_bytes", "encode_unscaled",
    "split_converter_framing",
]
