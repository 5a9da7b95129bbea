"""Avro records for tests, made by confluent-kafka's own serde (the reference encoder and decoder).

``AvroWriter.encode`` turns a JsonConverter record of the test events (``tests/events.py``: schema and
payload) into what Debezium's AvroConverter writes: the Connect schema as AvroData registers it
(``avro_schema_of``), registered under ``<topic>-key``/``-value`` in the given registry, and the payload as
its raw datum (``avro_datum_of``), framed by ``AvroSerializer``. ``decode`` reads a record back with
``AvroDeserializer`` against a registry, as a consumer of the masked topic would.
"""

from __future__ import annotations

import json
from typing import Any

import orjson
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from streammask.codec.avro_schema import avro_datum_of, avro_schema_of


def _context(topic: str, is_key: bool) -> SerializationContext:
    return SerializationContext(topic, MessageField.KEY if is_key else MessageField.VALUE)


class AvroWriter:
    """Encodes JSON test records as Avro against one registry (schemas registered on first use)."""

    def __init__(self, registry_url: str, **conf: str) -> None:
        """``conf``: more SchemaRegistryClient settings (``**{"basic.auth.user.info": "u:p"}``)."""
        self.client = SchemaRegistryClient({"url": registry_url, **conf})
        self._serializers: dict[str, AvroSerializer] = {}

    def encode(self, topic: str, record: bytes | None, is_key: bool = False) -> bytes | None:
        if record is None:
            return None
        doc = orjson.loads(record)
        text = json.dumps(avro_schema_of(doc["schema"]), separators=(",", ":"))
        serializer = self._serializers.get(text)
        if serializer is None:
            serializer = self._serializers[text] = AvroSerializer(
                self.client, text, conf={"auto.register.schemas": True})
        out: bytes = serializer(avro_datum_of(doc["payload"], doc["schema"]), _context(topic, is_key))
        return out

    def pair(self, topic: str, key: bytes | None, value: bytes | None) -> tuple[bytes | None, bytes | None]:
        return self.encode(topic, key, True), self.encode(topic, value)


def decode(registry_url: str, topic: str, data: bytes, is_key: bool = False, **conf: str) -> Any:
    """The datum in ``data``, read with the schema its id names in the registry at ``registry_url``."""
    return AvroDeserializer(SchemaRegistryClient({"url": registry_url, **conf}))(data, _context(topic, is_key))


def schema_id(data: bytes) -> int:
    assert data[0] == 0, "not Confluent-framed"
    return int.from_bytes(data[1:5], "big")


def shift_ids(registry_url: str, n: int = 3, **conf: str) -> None:
    """Register ``n`` unrelated schemas, so this registry's next ids differ from a fresh one's: a record that
    kept its source id would then be caught."""
    client = SchemaRegistryClient({"url": registry_url, **conf})
    for i in range(n):
        client.register_schema(f"unrelated-{i}-value", Schema(json.dumps(
            {"type": "record", "name": f"Unrelated{i}", "fields": [{"name": "x", "type": "int"}]}), "AVRO"))
