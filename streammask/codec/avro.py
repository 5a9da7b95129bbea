"""Avro through a Schema Registry: Debezium's events as Confluent's AvroConverter writes them.

Wire format (Confluent's, and Apicurio's ``as-confluent``): magic byte 0, a 4-byte big-endian schema id,
then the Avro binary body. The writer schema is fetched by id from the source registry (once: ids are
immutable), translated into Connect's data model (``avro_schema``), and read *without logical types*, so
values stay raw (a Decimal's bytes, a date's int) and re-encoding an unmasked value gives its bytes back.
Reading and writing take the schema's compiled fast path (``avro_binary``) for well-formed bodies and
exactly typed payloads, and fastavro's schemaless reader and writer for anything else: the same data, the
same bytes, fastavro's errors. A masked record is written with the same schema text, registered
under the target subject (``<target-topic>-key``/``-value``, or the record's full name), whose id the
target registry gives: a record never carries an id the target registry has not registered.

Apicurio's other framings are refused with code ``wrong-format``: its 8-byte global ids (which read as
schema id 0 here, an id Confluent never gives) and ids in headers (``apicurio.value.globalId`` and kin).
"""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any, Literal

from fastavro import parse_schema, schemaless_reader, schemaless_writer

from streammask.codec.avro_binary import Reader, Writer, compile_reader, compile_writer
from streammask.codec.avro_schema import connect_schema_of, strip_logical_types
from streammask.codec.base import Part, RecordContext, ValueForms, variable_forms
from streammask.codec.registry import RegistryClient
from streammask.errors import DecodeError, MaskingError, WrongFormat
from streammask.types import Kind

MAGIC = 0
SubjectStrategy = Literal["topic", "record"]
_APICURIO_HEADERS = frozenset({
    "apicurio.key.globalId", "apicurio.value.globalId", "apicurio.key.contentId", "apicurio.value.contentId",
})


@dataclass(frozen=True, slots=True)
class WriterSchema:
    """One source schema id, ready to read with and write back: its text (registered as it is on the
    target), its record's full name (RecordNameStrategy's subject), fastavro's parsed form without
    logical types, its Connect form, and its compiled reader and writer (None: fastavro only)."""

    schema_id: int
    text: str
    record_name: str | None
    parsed: Any
    connect: dict[str, Any]
    key: Hashable
    reader: Reader | None = None
    writer: Writer | None = None


class AvroDocument:
    """One decoded key or value. ``encode`` frames the masked payload with the target registry's id."""

    __slots__ = ("payload", "schema", "schema_key", "_codec", "_writer", "_record", "_part", "_data")

    def __init__(
        self, payload: Any, writer: WriterSchema, codec: AvroCodec, record: RecordContext, part: Part, data: bytes
    ) -> None:
        self.payload = payload
        self.schema: dict[str, Any] | None = writer.connect
        self.schema_key: Hashable | None = writer.key
        self._codec, self._writer, self._record, self._part, self._data = codec, writer, record, part, data

    def encode(self, payload: Any) -> bytes:
        head = self._codec.head(self._writer, self._record, self._part)
        fast = self._writer.writer
        if fast is not None:
            buf = bytearray(head)
            try:
                fast(payload, buf)
            except Exception:  # not the exactly typed case: fastavro writes it or says why not
                pass
            else:
                return bytes(buf)
        out = io.BytesIO()
        out.write(head)
        try:
            schemaless_writer(out, self._writer.parsed, payload)
        except (ValueError, TypeError, AttributeError, KeyError, OverflowError):  # never str(exc): it may quote
            raise MaskingError(  # the value
                f"{self._part.what}: the masked payload does not fit Avro schema id {self._writer.schema_id}"
            ) from None
        return out.getvalue()

    def reframed(self) -> bytes:
        """The input unchanged but for the schema id: the target registry's."""
        return b"".join((self._codec.head(self._writer, self._record, self._part), memoryview(self._data)[5:]))


def _unscaled(value: Any) -> int:
    if value.__class__ is not bytes:
        raise MaskingError("decimal value is not Avro bytes")
    return int.from_bytes(value, "big", signed=True)


def _unscaled_bytes(unscaled: int) -> bytes:
    """The minimal big-endian two's complement, as Java's BigInteger.toByteArray gives it (-128 is one byte)."""
    return unscaled.to_bytes(((unscaled if unscaled >= 0 else ~unscaled).bit_length() + 8) // 8, "big", signed=True)


_variable, _variable_struct = variable_forms(_unscaled, _unscaled_bytes)


def _bytes(value: Any) -> bytes:
    if value.__class__ is not bytes:
        raise MaskingError("bytes value is not Avro bytes")
    return value  # exactly bytes: immutable, nothing to copy


def _same(value: Any) -> Any:
    return value


FORMS = ValueForms(
    "avro",
    decoders={Kind.BYTES: _bytes, Kind.DECIMAL: _unscaled, Kind.VARIABLE_DECIMAL: _variable},
    encoders={Kind.BYTES: _same, Kind.DECIMAL: _unscaled_bytes, Kind.VARIABLE_DECIMAL: _variable_struct},
)


class AvroCodec:
    """Reads with the ``source`` registry, writes ids of the ``target`` one (the source's when None).
    ``subjects``: ``topic`` (TopicNameStrategy: ``<topic>-key``/``-value``) or ``record`` (RecordNameStrategy:
    the record's full name). Thread-safe: caches sit behind a lock."""

    name = "avro"
    forms = FORMS

    def __init__(
        self, source: RegistryClient, target: RegistryClient | None = None, subjects: SubjectStrategy = "topic"
    ) -> None:
        self.source = source
        self.target = target or source
        self.subjects = subjects
        self._writers: dict[int, WriterSchema] = {}
        self._target_ids: dict[tuple[str, int], int] = {}
        self._levels_copied: set[str] = set()
        self._heads: dict[tuple[int, str, bool], bytes] = {}
        self._latest: list[tuple[bytes, WriterSchema] | None] = [None, None]  # per value, key: frame head, writer
        self._lock = threading.Lock()

    def close(self) -> None:
        """Close the registry clients' sessions (one, when source and target are the same registry)."""
        self.source.close()
        if self.target is not self.source:
            self.target.close()

    def decode(self, data: bytes, record: RecordContext, part: Part) -> AvroDocument:
        latest = self._latest[part.is_key]  # the frame head read last: a topic's records mostly share it
        same = latest is not None and data.__class__ is bytes and data.startswith(latest[0])
        if not same and (len(data) < 5 or data[0] != MAGIC):
            raise WrongFormat(f"{part.what} is not Confluent-framed Avro (magic byte 0 and a 4-byte schema id)")
        if record.headers and any(name in _APICURIO_HEADERS for name, _ in record.headers):
            raise WrongFormat(f"{part.what}: Apicurio's schema ids in headers are not read; use as-confluent framing")
        if same and latest is not None:
            writer = latest[1]
            schema_id = writer.schema_id
        else:
            schema_id = int.from_bytes(data[1:5], "big")
            if schema_id == 0:
                raise WrongFormat(
                    f"{part.what}: schema id 0 (Apicurio's 8-byte ids are not read; use as-confluent framing)"
                )
            writer = self._writers.get(schema_id) or self._learn(schema_id)
            if data.__class__ is bytes:
                self._latest[part.is_key] = (data[:5], writer)
        fast = writer.reader
        if fast is not None and data.__class__ is bytes:
            try:
                payload, end = fast(data, 5)
            except Exception:  # not the well-formed case: fastavro reads it or says why not
                end = -1
            if end == len(data):
                return AvroDocument(payload, writer, self, record, part, data)
        body = io.BytesIO(data)
        body.seek(5)
        try:
            payload = schemaless_reader(body, writer.parsed, None)
        except Exception:  # never str(exc): fastavro's messages may quote the bytes
            raise DecodeError(f"{part.what} does not decode with Avro schema id {schema_id}") from None
        if body.tell() != len(data):
            raise DecodeError(f"{part.what} has bytes beyond its Avro body (schema id {schema_id})")
        return AvroDocument(payload, writer, self, record, part, data)

    def _learn(self, schema_id: int) -> WriterSchema:
        text = self.source.schema(schema_id)
        try:
            parsed_json = json.loads(text)
            connect = connect_schema_of(parsed_json)
            # fastavro's "parsed" marker (the default hint) makes schemaless_reader and _writer use the parsed
            # form as it is; without it they parse the schema again on every call
            parsed = parse_schema(strip_logical_types(parsed_json))
        except DecodeError as exc:
            raise DecodeError(f"Avro schema id {schema_id}: {exc}") from None
        except Exception:
            raise DecodeError(f"Avro schema id {schema_id} from {self.source.url} does not parse") from None
        name = _record_name(parsed_json)
        writer = WriterSchema(
            schema_id, text, name, parsed, connect, ("avro", self.source.url, schema_id),
            compile_reader(parsed), compile_writer(parsed),
        )
        with self._lock:
            self._writers[schema_id] = writer
        return writer

    def head(self, writer: WriterSchema, record: RecordContext, part: Part) -> bytes:
        """The 5-byte Confluent frame head of ``writer``'s output for this record: magic byte and target id."""
        key = (writer.schema_id, record.target_topic, part.is_key)
        head = self._heads.get(key)
        if head is None:
            head = b"\x00" + self.target_id(writer, record, part).to_bytes(4, "big")
            with self._lock:
                if len(self._heads) >= 4096:
                    self._heads.clear()
                self._heads[key] = head
        return head

    def target_id(self, writer: WriterSchema, record: RecordContext, part: Part) -> int:
        """The target registry's id of ``writer``'s text under the target subject: registered on first use,
        after copying the source subject's own compatibility level to it."""
        subject = self._subject(writer, record.target_topic, part)
        key = (subject, writer.schema_id)
        found = self._target_ids.get(key)
        if found is not None:
            return found
        if subject not in self._levels_copied:
            level = self.source.compatibility(self._subject(writer, record.source_topic, part))
            if level is not None and self.target.compatibility(subject) != level:
                self.target.set_compatibility(subject, level)
            with self._lock:
                self._levels_copied.add(subject)
        target_id = self.target.register(subject, writer.text)
        with self._lock:
            self._target_ids[key] = target_id
        return target_id

    def _subject(self, writer: WriterSchema, topic: str, part: Part) -> str:
        if self.subjects == "record" and writer.record_name is not None:
            return writer.record_name
        return f"{topic}-{'key' if part.is_key else 'value'}"


def _record_name(schema: Any) -> str | None:
    """The full name of a record schema (RecordNameStrategy's subject); None for other types."""
    if not isinstance(schema, dict) or schema.get("type") != "record" or not isinstance(schema.get("name"), str):
        return None
    name: str = schema["name"]
    namespace = schema.get("namespace")
    return name if "." in name or not namespace else f"{namespace}.{name}"
