"""A ``schema_registry`` block as a config file holds it: checked at start, with file and line.

The proxy config and the offline CLI's ``--registry-config`` file share it. Its values keep their
``${VAR}`` references: the registry client resolves them when it is built, so no config object ever holds
a secret. What is checked here, before any record is read: every variable referenced is set (the problem
names the variable and the line, never a value), and each registry's settings make a client (a URL of
the right shape, credentials of the right form, certificate files that exist). No request is sent.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path

from pydantic import SecretStr, ValidationError

from streammask.codec import SchemaRegistries
from streammask.codec.registry import _ENV_REF, RegistryClient, RegistryConfig, RegistryConfigError
from streammask.errors import ConfigError, PolicyProblem
from streammask.yamldoc import YamlDoc, YamlPath, describe_validation_error, parse_yaml

# _ENV_REF is the client's own pattern: what is checked here is exactly what the client will resolve.


def _settings_text(config: RegistryConfig) -> Iterator[tuple[str, str]]:
    """(Confluent property name, raw text) of every text setting."""
    for name, info in RegistryConfig.model_fields.items():
        raw = getattr(config, name)
        if isinstance(raw, SecretStr):
            raw = raw.get_secret_value()
        if isinstance(raw, str):
            yield info.alias or name, raw


def registry_problems(
    registries: SchemaRegistries, doc: YamlDoc, at: YamlPath, label: str, env: Mapping[str, str] | None = None
) -> list[PolicyProblem]:
    """What stops these settings from making registry clients. ``at``: where the block sits in ``doc``;
    ``label``: its name in messages (``config.schema_registry``)."""
    env = os.environ if env is None else env
    problems: list[PolicyProblem] = []
    for side, config in (("source", registries.source), ("target", registries.target)):
        if config is None:
            continue
        where = (*at, side)
        unset = [
            PolicyProblem(f"{label}.{side}.{key}: environment variable {name} is not set", file=doc.source,
                          line=doc.line_of((*where, key)))
            for key, text in _settings_text(config) for name in _ENV_REF.findall(text) if name not in env
        ]
        problems += unset
        if unset:
            continue
        try:
            RegistryClient(config, env=env).close()
        except RegistryConfigError as exc:
            problems.append(PolicyProblem(f"{label}.{side}: {exc}", file=doc.source, line=doc.line_of(where)))
    return problems


def load_registry_file(path: str | Path) -> SchemaRegistries:
    """A YAML file holding only a ``schema_registry`` block (the proxy config's), for the offline CLI."""
    src = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError([PolicyProblem(f"cannot read registry config: {exc.strerror}", file=src)]) from None
    doc, problems = parse_yaml(raw, src)
    if doc is None:
        raise ConfigError(problems)
    if not isinstance(doc.data, dict) or "schema_registry" not in doc.data:
        raise ConfigError([PolicyProblem("expected a mapping with a `schema_registry` block", file=src, line=1)])
    extra = sorted(str(k) for k in doc.data if k != "schema_registry")
    if extra:
        raise ConfigError([PolicyProblem(f"unknown option {extra[0]!r}; this file holds only `schema_registry`",
                                         file=src, line=doc.line_of((extra[0],)))])
    try:
        registries = SchemaRegistries.model_validate(doc.data["schema_registry"])
    except ValidationError as exc:
        raise ConfigError([
            PolicyProblem(describe_validation_error(e, ("schema_registry", *e["loc"])), file=src,
                          line=doc.line_of(("schema_registry", *e["loc"])))
            for e in exc.errors()
        ]) from None
    problems = registry_problems(registries, doc, ("schema_registry",), "schema_registry")
    if problems:
        raise ConfigError(problems)
    return registries
