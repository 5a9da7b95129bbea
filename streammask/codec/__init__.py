"""Wire formats: one module per format behind ``base.Codec``; ``build_codecs`` makes a masker's pair from
the settings every command shares (``format``, ``key_format``, ``schema_registry``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict

from streammask.codec.base import Codec
from streammask.codec.registry import RegistryConfig

WireFormat = Literal["json", "avro"]


class SchemaRegistries(BaseModel):
    """Where Avro schemas are read (``source``) and registered for the output (``target``; omitted: the
    source registry, where ids then stay as they are)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: RegistryConfig
    target: RegistryConfig | None = None
    subject_name_strategy: Literal["topic", "record"] = "topic"
    """``topic``: ``<topic>-key``/``<topic>-value`` (TopicNameStrategy); ``record``: the record's full name."""


def build_codecs(
    value_format: WireFormat = "json",
    key_format: WireFormat | None = None,
    registries: SchemaRegistries | None = None,
    env: Mapping[str, str] | None = None,
) -> tuple[Codec, Codec]:
    """(value codec, key codec). Avro needs ``registries``; keys take the value's format unless
    ``key_format`` says otherwise. ``env`` resolves ``${VAR}`` in registry settings (default: os.environ)."""
    from streammask.codec.connect_json import ConnectJsonCodec

    formats = {value_format, key_format or value_format}
    made: dict[str, Codec] = {}
    if "json" in formats:
        made["json"] = ConnectJsonCodec()
    if "avro" in formats:
        if registries is None:
            raise ValueError("format avro needs schema_registry.source")
        from streammask.codec.avro import AvroCodec
        from streammask.codec.registry import RegistryClient

        source = RegistryClient(registries.source, env=env)
        target = None if registries.target is None else RegistryClient(registries.target, env=env)
        made["avro"] = AvroCodec(source, target, registries.subject_name_strategy)
    return made[value_format], made[key_format or value_format]


def close_codecs(*codecs: Codec) -> None:
    """Close ``codecs``, each once (keys and values often share one)."""
    for codec in dict.fromkeys(codecs):
        codec.close()


__all__ = ["Codec", "SchemaRegistries", "WireFormat", "build_codecs", "close_codecs"]
