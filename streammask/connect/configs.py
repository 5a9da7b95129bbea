"""Connector config files: Connect's REST format ``{"name": ..., "config": {...}}``, string values only, and
no secret written as a literal (a password must be a config provider reference such as
``${file:/path:key}`` or ``${env:VAR}``, resolved by the Connect worker, never stored in the file)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from streammask.errors import StreamMaskError

# Config keys whose value is a credential, by name (any connector: JDBC, Kafka clients, registries, clouds).
# Some words only count at the end: `basic.auth.credentials.source` names where credentials come from.
SECRET_KEY = re.compile(r"password|secret|user\.info|jaas\.config|(token|credentials|api\.key|private\.key)$", re.I)
# A whole value that is one provider reference: ${provider:key} or ${provider:path:key}.
PROVIDER_REF = re.compile(r"\$\{[A-Za-z0-9_.-]+:[^{}]+\}")
# A password inside a longer value (a JDBC URL's query, a JAAS line) that is not a provider reference.
EMBEDDED_PASSWORD = re.compile(r"password\s*=\s*(?![\"']?\$\{)", re.I)


class ConnectorFileError(StreamMaskError):
    """A connector config file that cannot be applied as it is; the message names the file and the key,
    never a value."""


@dataclass(frozen=True)
class ConnectorConfig:
    name: str
    config: dict[str, str]
    path: Path


def literal_secrets(config: dict[str, str]) -> list[str]:
    """Keys of ``config`` that hold a secret in clear text: a credential key whose value is not a provider
    reference, or any value with an embedded ``password=`` that is not one."""
    return [key for key, value in config.items()
            if (SECRET_KEY.search(key) and not PROVIDER_REF.fullmatch(value.strip()))
            or EMBEDDED_PASSWORD.search(value)]


def load_connector(path: str | Path) -> ConnectorConfig:
    path = Path(path)
    try:
        doc: Any = orjson.loads(path.read_bytes())
    except OSError as exc:
        raise ConnectorFileError(f"{path}: cannot read: {exc.strerror}") from None
    except orjson.JSONDecodeError as exc:
        raise ConnectorFileError(f"{path}: not JSON ({exc})") from None
    if not isinstance(doc, dict) or set(doc) != {"name", "config"}:
        raise ConnectorFileError(f'{path}: expected Connect\'s REST format {{"name": ..., "config": {{...}}}} '
                                 "and nothing else")
    name, config = doc["name"], doc["config"]
    if not isinstance(name, str) or not name or not isinstance(config, dict):
        raise ConnectorFileError(f"{path}: `name` must be a non-empty string and `config` an object")
    problems = [f"config.{k} is {type(v).__name__}, not a string (Connect configs are strings)"
                for k, v in config.items() if not isinstance(v, str)]
    if config.get("name", name) != name:
        problems.append("config.name differs from name")
    if "connector.class" not in config:
        problems.append("config.connector.class is missing")
    if problems:
        raise ConnectorFileError(f"{path}: " + "; ".join(problems))
    secrets = literal_secrets(config)
    if secrets:
        raise ConnectorFileError(
            f"{path}: {', '.join('config.' + k for k in secrets)} holds a secret in clear text; use a config "
            "provider reference resolved by the worker, e.g. ${file:/opt/connect/secrets/connect.properties:KEY} "
            "or ${env:VAR}")
    return ConnectorConfig(name, {**config, "name": name}, path)
