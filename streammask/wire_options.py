"""The offline commands' wire-format options (``mask``, ``check``): flags, or a registry file, to the
settings ``codec.build_codecs`` takes, and the line form the output is written in.

The flags mirror the proxy config's ``format``, ``key_format`` and ``schema_registry``, and follow its rules:
Avro needs a source registry, and registry options without anything in Avro are refused rather than
ignored. A registry URL on the command line is visible to every user of the machine (``ps``): credentials
and TLS settings go in ``--registry-config``, a YAML file with the proxy config's ``schema_registry`` block.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import cast

from streammask.codec import SchemaRegistries, WireFormat
from streammask.codec.registry import RegistryConfig
from streammask.codec.settings import load_registry_file
from streammask.errors import StreamMaskError
from streammask.kcat_io import LineForm

FORMATS = ("json", "avro")


class UsageError(StreamMaskError):
    """Options that do not fit together; the message names the flags."""


@dataclass(frozen=True)
class WireOptions:
    value_format: WireFormat = "json"
    key_format: WireFormat | None = None
    registries: SchemaRegistries | None = None

    @property
    def line_form(self) -> LineForm:
        return LineForm.for_formats(self.value_format, self.key_format)


def add_wire_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("wire format", "records in Avro with a Confluent Schema Registry "
                                      "(Avro lines carry key_b64/payload_b64: base64 of the exact bytes)")
    group.add_argument("--format", choices=FORMATS, default="json", help="keys and values (default: json)")
    group.add_argument("--key-format", choices=FORMATS, help="keys only, when they differ from --format")
    group.add_argument("--schema-registry", metavar="URL", help="the registry the records' schema ids come from")
    group.add_argument("--target-schema-registry", metavar="URL",
                       help="where output schemas are registered and their ids taken (default: the source one)")
    group.add_argument("--subject-name-strategy", choices=("topic", "record"),
                       help="target subjects: <topic>-key/-value (topic, the default) or the record's full name")
    group.add_argument("--registry-config", metavar="FILE",
                       help="YAML with a schema_registry block (auth, TLS, ${ENV} references), instead of the URLs")


def wire_options(args: argparse.Namespace) -> WireOptions:
    """The options of ``args``, checked; ``UsageError`` or ``ConfigError`` (naming file and line) if not."""
    value_format = cast(WireFormat, args.format)
    key_format = cast("WireFormat | None", args.key_format)
    by_url = args.schema_registry is not None or args.target_schema_registry is not None
    if by_url and args.registry_config is not None:
        raise UsageError("give --registry-config or --schema-registry/--target-schema-registry, not both")
    if args.target_schema_registry is not None and args.schema_registry is None:
        raise UsageError("--target-schema-registry needs --schema-registry (the source registry)")
    avro = "avro" in (value_format, key_format)
    registry_given = by_url or args.registry_config is not None or args.subject_name_strategy is not None
    if not avro:
        if registry_given:
            raise UsageError("registry options given but nothing is avro; add --format avro (or --key-format avro)")
        return WireOptions(value_format, key_format)
    flag = "--format" if value_format == "avro" else "--key-format"
    if args.registry_config is not None:
        registries = load_registry_file(args.registry_config)
        if args.subject_name_strategy is not None:
            registries = registries.model_copy(update={"subject_name_strategy": args.subject_name_strategy})
    elif args.schema_registry is not None:
        target = args.target_schema_registry
        registries = SchemaRegistries(
            source=RegistryConfig(url=args.schema_registry),
            target=None if target is None else RegistryConfig(url=target),
            subject_name_strategy=args.subject_name_strategy or "topic",
        )
    else:
        raise UsageError(f"{flag} avro needs --schema-registry URL (or --registry-config FILE)")
    return WireOptions(value_format, key_format, registries)
