"""Debezium's events as its AvroConverter writes them, and Confluent's client to read the output (test
infrastructure for the Avro tests, imported as ``avro_events``).

- ``avro_text(connect_schema)``: the Avro schema text AvroData registers for a Connect schema
  (``streammask.codec.avro_schema.avro_schema_of``, printed compact as Avro's ``Schema.toString``);
- ``Reference(url)``: confluent-kafka's own ``AvroSerializer`` (``auto.register.schemas``) and
  ``AvroDeserializer`` over a registry: the reference encoder of the inputs and decoder of the outputs;
- ``frame(schema_id, text, datum)``: Confluent framing by hand with fastavro's raw writer, for records a
  serializer does not write (a given id, an Apicurio framing, a foreign Avro schema);
- ``raw_read(data, text)``: the raw datum of a framed record (bytes as bytes, decimals unscaled);
- ``registered_text(url, id)``, ``subject_ids(url, subject)``: what a registry holds, read over HTTP;
- ``fast_client(url, **settings)``: a streammask ``RegistryClient`` that retries once without waiting;
- ``connect_payload(data, connect_schema, url)``: a framed record as JsonConverter's payload, its schema read
  by id from the registry at ``url``.

What the reference serializer is fed. Debezium's converter writes raw Connect values: a Decimal's unscaled
bytes, dates and timestamps as ints. confluent-kafka's ``AvroSerializer`` parses the registered schema with
its logical types and expects Python values for them. ``Reference.serialize`` therefore turns the raw datum
(``avro_datum_of``) into those values by reading it back with fastavro *with* the schema's logical types
(``decimal.Decimal`` for a decimal, ``date`` for ``date``, an aware ``datetime`` for ``timestamp-millis``,
``time`` for ``time-millis``) and gives those to the serializer, which encodes them its own way (fastavro,
under it, writes a Decimal of -128, -32768… one sign byte longer than Java does: the same value). Debezium's
semantic types (``io.debezium.time.*``) carry no Avro logical type: they stay ints and strings.
"""

from __future__ import annotations

import io
import json
import threading
from functools import lru_cache
from typing import Any, Literal

import fastavro
import requests
from confluent_kafka.schema_registry import SchemaRegistryClient, record_subject_name_strategy
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from streammask.codec.avro_schema import avro_datum_of, avro_schema_of, connect_payload_of, strip_logical_types
from streammask.codec.registry import RegistryClient, RegistryConfig


def avro_text(connect_schema: dict[str, Any]) -> str:
    """The schema text AvroConverter registers for ``connect_schema``."""
    return json.dumps(avro_schema_of(connect_schema), separators=(",", ":"))


@lru_cache(maxsize=512)
def _raw_schema(text: str) -> Any:
    return fastavro.parse_schema(strip_logical_types(json.loads(text)), _write_hint=False)


@lru_cache(maxsize=512)
def _logical_schema(text: str) -> Any:
    return fastavro.parse_schema(json.loads(text), _write_hint=False)


def body(text: str, datum: Any) -> bytes:
    """The Avro binary body of a raw ``datum`` (logical types stripped: values as Debezium's converter holds
    them)."""
    out = io.BytesIO()
    fastavro.schemaless_writer(out, _raw_schema(text), datum)
    return out.getvalue()


def frame(schema_id: int, text: str, datum: Any) -> bytes:
    """Confluent's framing of a raw ``datum``: magic byte 0, the 4-byte id, the body."""
    return b"\x00" + schema_id.to_bytes(4, "big") + body(text, datum)


def schema_id_of(data: bytes) -> int:
    assert data[:1] == b"\x00" and len(data) >= 5, "not Confluent-framed"
    return int.from_bytes(data[1:5], "big")


def raw_read(data: bytes, text: str) -> Any:
    """The raw datum of a Confluent-framed record written with ``text``; the whole body must be read."""
    buf = io.BytesIO(data)
    buf.seek(5)
    datum = fastavro.schemaless_reader(buf, _raw_schema(text), None)
    assert buf.tell() == len(data), "bytes left after the Avro body"
    return datum


def logical_datum(datum: Any, text: str) -> Any:
    """The raw ``datum`` as Python values for the schema's logical types (what AvroSerializer takes)."""
    buf = io.BytesIO(body(text, datum))
    return fastavro.schemaless_reader(buf, _logical_schema(text), None)


Auth = tuple[str, str] | None


_http = threading.local()


def _session() -> requests.Session:
    session: requests.Session | None = getattr(_http, "session", None)
    if session is None:
        session = _http.session = requests.Session()
    return session


def registered_text(url: str, schema_id: int, auth: Auth = None) -> str:
    """The schema text a registry holds for ``schema_id``, read over HTTP as any client would."""
    resp = _session().get(f"{url}/schemas/ids/{schema_id}", timeout=5, auth=auth)
    resp.raise_for_status()
    text = resp.json()["schema"]
    assert isinstance(text, str)
    return text


def subject_ids(url: str, subject: str, auth: Auth = None) -> list[int]:
    """The schema ids of a subject's versions, oldest first, read over HTTP ([] for an unknown subject)."""
    resp = _session().get(f"{url}/subjects/{subject}/versions", timeout=5, auth=auth)
    if resp.status_code == 404:
        return []
    resp.raise_for_status()
    return [_session().get(f"{url}/subjects/{subject}/versions/{v}", timeout=5, auth=auth).json()["id"]
            for v in resp.json()]


def connect_payload(data: bytes, connect_schema: dict[str, Any], registry_url: str) -> Any:
    """The JsonConverter payload of a Confluent-framed record, its schema text read by id from the registry:
    how a consumer with JsonConverter would see it."""
    return connect_payload_of(raw_read(data, registered_text(registry_url, schema_id_of(data))), connect_schema)


class Reference:
    """confluent-kafka's AvroSerializer and AvroDeserializer over one registry (its own client and caches).
    ``subjects``: ``topic`` (TopicNameStrategy, the default) or ``record`` (RecordNameStrategy); ``conf``: more
    client settings (``**{"basic.auth.user.info": "u:p"}``)."""

    def __init__(self, url: str, subjects: Literal["topic", "record"] = "topic", **conf: str) -> None:
        self.client = SchemaRegistryClient({"url": url, **conf})
        self.subjects = subjects
        self._serializers: dict[str, AvroSerializer] = {}
        self._deserializer = AvroDeserializer(self.client)
        self._lock = threading.Lock()

    def serializer(self, text: str) -> AvroSerializer:
        with self._lock:
            found = self._serializers.get(text)
            if found is None:
                conf: dict[str, Any] = {"auto.register.schemas": True}
                if self.subjects == "record":
                    conf["subject.name.strategy"] = record_subject_name_strategy
                found = self._serializers[text] = AvroSerializer(self.client, text, conf=conf)
            return found

    def serialize(self, topic: str, connect_schema: dict[str, Any], payload: Any, key: bool = False) -> bytes:
        """The record bytes Debezium's AvroConverter would write for a JsonConverter ``payload``."""
        text = avro_text(connect_schema)
        datum = logical_datum(avro_datum_of(payload, connect_schema), text)
        field = MessageField.KEY if key else MessageField.VALUE
        data = self.serializer(text)(datum, SerializationContext(topic, field))
        assert isinstance(data, bytes)
        return data

    def deserialize(self, topic: str, data: bytes, key: bool = False) -> Any:
        """The record as confluent-kafka reads it: writer schema by id from this registry, logical types
        applied (``Decimal``, ``date``, ``datetime``, ``time``)."""
        return self._deserializer(data, SerializationContext(topic, MessageField.KEY if key else MessageField.VALUE))


def fast_client(url: str, **settings: Any) -> RegistryClient:
    """A streammask registry client for tests: one retry, no backoff wait, short timeouts."""
    config = RegistryConfig.model_validate({"url": url, "retries": 1, "backoff_s": 0, "timeout_s": 5, **settings})
    return RegistryClient(config, env={}, sleep=lambda _s: None)
