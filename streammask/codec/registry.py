"""Confluent Schema Registry over HTTP: the few calls the Avro codec needs, cached, retried, credential-safe.

Ids never change meaning in a registry, so ``schema(id)`` is cached for the life of the client and
``register``/``lookup`` by (subject, text); compatibility levels are read afresh (an operator may change
them while we run). Connection failures, timeouts, 429 and 5xx are retried with capped exponential backoff,
moving to the next URL of a comma-separated ``url``; every call is idempotent (registering a schema twice
gives one id), so POSTs are retried too. Other 4xx answers are the registry's verdict and are not retried.

Settings use Confluent's names (``basic.auth.user.info``…) and may reference ``${ENV}`` variables, resolved
when the client is built. Errors name the registry without credentials and the subject; never a secret
or a record value.
"""

from __future__ import annotations

import base64
import json
import os
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import requests
from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from streammask import __version__
from streammask.errors import RegistryError, StreamMaskError

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_ACCEPT = "application/vnd.schemaregistry.v1+json, application/vnd.schemaregistry+json, application/json"
_CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"
_MESSAGE_MAX = 300
# The registry's error codes (first three digits are the HTTP status), in the words our messages use.
_WHAT = {
    401: "unauthorized (check basic.auth.user.info / bearer.auth.token)",
    403: "forbidden",
    404: "no such endpoint (is url the registry's?)",
    40401: "subject not found",
    40402: "version not found",
    40403: "schema not found",
    40408: "subject has no compatibility level of its own",
    40901: "schema incompatible",
    42201: "invalid schema",
    42202: "invalid version",
    42203: "invalid compatibility level",
}
_NOT_FOUND = frozenset({40401, 40403})
_NO_SUBJECT_LEVEL = frozenset({40401, 40408})


class RegistryConfigError(StreamMaskError):
    """The registry settings cannot be used (an unset ``${VAR}``, a malformed URL or credential, a missing
    certificate file). Names the setting, never its value."""


class RegistryUnavailable(RegistryError):
    """No usable answer after every retry (connection, timeout, TLS, 429, 5xx): worth trying again later."""

    unreachable = True


class RegistryRejected(RegistryError):
    """The registry answered 4xx (incompatible, invalid, unauthorized…): retrying the same call will not help."""


class RegistryConfig(BaseModel):
    """Where the registry is and how to reach it. Aliases are Confluent's client property names."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    url: str = Field(min_length=1)
    """``http(s)://host:port``, or several separated by commas (tried in turn when one fails)."""
    basic_auth_user_info: SecretStr | None = Field(default=None, alias="basic.auth.user.info")
    """``user:password``; may also come from the URL's userinfo, but not both."""
    bearer_auth_token: SecretStr | None = Field(default=None, alias="bearer.auth.token")
    bearer_auth_logical_cluster: str | None = Field(default=None, alias="bearer.auth.logical.cluster")
    """Confluent Cloud's ``target-sr-cluster`` header, sent with the bearer token."""
    ssl_ca_location: str | None = Field(default=None, alias="ssl.ca.location")
    """A CA file (PEM) to verify the registry with, instead of the system's trust store."""
    ssl_certificate_location: str | None = Field(default=None, alias="ssl.certificate.location")
    ssl_key_location: str | None = Field(default=None, alias="ssl.key.location")
    """The client key (PEM, unencrypted); omit when it is inside the certificate file."""
    timeout_s: float = Field(default=10.0, gt=0)
    """Per request, for connecting and again for reading the answer."""
    retries: int = Field(default=3, ge=0, le=20)
    """Tries after the first one: 3 means up to 4 requests per call."""
    backoff_s: float = Field(default=0.5, ge=0)
    """Wait before the first retry; doubled for each next one, up to ``backoff_max_s``."""
    backoff_max_s: float = Field(default=10.0, ge=0)

    @model_validator(mode="after")
    def _checks(self) -> RegistryConfig:
        if self.basic_auth_user_info is not None and self.bearer_auth_token is not None:
            raise ValueError("give basic.auth.user.info or bearer.auth.token, not both")
        if self.bearer_auth_logical_cluster is not None and self.bearer_auth_token is None:
            raise ValueError("bearer.auth.logical.cluster needs bearer.auth.token")
        if self.ssl_key_location is not None and self.ssl_certificate_location is None:
            raise ValueError("ssl.key.location needs ssl.certificate.location")
        return self


@dataclass(frozen=True)
class _Settings:
    """The config with ``${ENV}`` resolved and checked: what a session needs."""

    urls: tuple[str, ...]
    auth: requests.auth.AuthBase | None
    headers: dict[str, str]
    verify: str | bool
    cert: tuple[str, str] | str | None
    secrets: tuple[str, ...]


def _expand(config: RegistryConfig, env: Mapping[str, str]) -> dict[str, str | None]:
    values: dict[str, str | None] = {}
    missing: list[str] = []
    for name, info in RegistryConfig.model_fields.items():
        raw = getattr(config, name)
        if isinstance(raw, SecretStr):
            raw = raw.get_secret_value()
        if not isinstance(raw, str):
            continue
        key = info.alias or name

        def sub(m: re.Match[str], key: str = key) -> str:
            if m.group(1) not in env:
                missing.append(f"{key}: environment variable {m.group(1)} is not set")
                return ""
            return env[m.group(1)]

        values[key] = _ENV_REF.sub(sub, raw)
    if missing:
        raise RegistryConfigError("registry settings: " + "; ".join(missing))
    return values


def _split_url(entry: str) -> tuple[str, tuple[str, str] | None]:
    """The URL without userinfo, and the userinfo as (user, password) when there was one."""
    try:
        parts = urlsplit(entry.strip())
        userinfo, _, hostport = parts.netloc.rpartition("@")
        _ = parts.port  # raises ValueError for a malformed port
    except ValueError:
        raise RegistryConfigError("registry setting url: not a valid URL") from None
    clean = urlunsplit((parts.scheme, hostport, parts.path.rstrip("/"), "", ""))
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise RegistryConfigError(f"registry setting url: {clean or 'an entry'} is not an http(s)://host[:port] URL")
    if not userinfo:
        return clean, None
    user, sep, password = userinfo.partition(":")
    return clean, (unquote(user), unquote(password)) if sep else (unquote(user), "")


class _Bearer(requests.auth.AuthBase):
    """Set as the session's auth (not a plain header) so requests never swaps in ``.netrc`` credentials."""

    def __init__(self, token: str) -> None:
        self.token = token

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        r.headers["Authorization"] = f"Bearer {self.token}"
        return r


def _settings(config: RegistryConfig, env: Mapping[str, str]) -> _Settings:
    v = _expand(config, env)
    urls: list[str] = []
    url_auth: tuple[str, str] | None = None
    for entry in (v["url"] or "").split(","):
        if entry.strip():
            clean, userinfo = _split_url(entry)
            urls.append(clean)
            url_auth = url_auth or userinfo
    if not urls:
        raise RegistryConfigError("registry setting url: no URL given")
    auth: requests.auth.AuthBase | None = None
    secrets: list[str] = []
    basic = v.get("basic.auth.user.info")
    if basic is not None and url_auth is not None:
        raise RegistryConfigError("registry settings: credentials in both url and basic.auth.user.info; keep one")
    if basic is not None:
        user, sep, password = basic.partition(":")
        if not sep:
            raise RegistryConfigError("registry setting basic.auth.user.info: expected the form user:password")
        url_auth = (user, password)
    if url_auth is not None:
        auth = requests.auth.HTTPBasicAuth(*url_auth)
        secrets += [url_auth[1], base64.b64encode(":".join(url_auth).encode()).decode()]
    headers = {"Accept": _ACCEPT, "User-Agent": f"streammask/{__version__}"}
    token = v.get("bearer.auth.token")
    if token is not None:
        auth = _Bearer(token)
        secrets.append(token)
        if v.get("bearer.auth.logical.cluster"):
            headers["target-sr-cluster"] = str(v["bearer.auth.logical.cluster"])
    for key in ("ssl.ca.location", "ssl.certificate.location", "ssl.key.location"):
        path = v.get(key)
        if path is not None and not Path(path).is_file():
            raise RegistryConfigError(f"registry setting {key}: no file at {path}")
    cert_file, key_file = v.get("ssl.certificate.location"), v.get("ssl.key.location")
    cert = (cert_file, key_file) if cert_file and key_file else cert_file
    return _Settings(
        urls=tuple(urls),
        auth=auth,
        headers=headers,
        verify=v.get("ssl.ca.location") or True,
        cert=cert,
        secrets=tuple(s for s in secrets if s),
    )


class RegistryClient:
    """One registry, one HTTP session. Safe to share between threads (caches sit behind a lock)."""

    def __init__(
        self,
        config: RegistryConfig,
        *,
        env: Mapping[str, str] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """``env`` defaults to ``os.environ``; ``sleep`` is the backoff's clock (tests record the waits)."""
        self._config = config
        self._s = _settings(config, os.environ if env is None else env)
        self._sleep = sleep
        self._session = requests.Session()
        self._session.auth = self._s.auth
        self._session.headers.update(self._s.headers)
        self._lock = threading.Lock()
        self._current = 0
        self._schemas: dict[int, str] = {}
        self._ids: dict[tuple[str, str], int] = {}

    @property
    def url(self) -> str:
        """The registry's URL(s) for messages: never with credentials."""
        return ",".join(self._s.urls)

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def schema(self, schema_id: int) -> str:
        """The Avro schema text registered under ``schema_id`` (the registry's canonical text, which may differ
        in whitespace and key order from what was registered)."""
        with self._lock:
            cached = self._schemas.get(schema_id)
        if cached is not None:
            return cached
        body = self._call("GET", f"/schemas/ids/{int(schema_id)}", subject=None, what=f"schema id {schema_id}")
        text = body.get("schema")
        if not isinstance(text, str):
            raise RegistryError(f"schema id {schema_id}: answer without a schema", url=self.url)
        kind = body.get("schemaType", "AVRO")
        if kind != "AVRO":
            raise RegistryError(f"schema id {schema_id} is {kind}; streammask reads Avro only", url=self.url)
        if body.get("references"):
            raise RegistryError(f"schema id {schema_id} has references, which streammask does not resolve",
                                url=self.url)
        with self._lock:
            self._schemas[schema_id] = text
        return text

    def register(self, subject: str, schema_text: str) -> int:
        """The id of ``schema_text`` under ``subject``, registering it if the subject does not have it yet."""
        with self._lock:
            cached = self._ids.get((subject, schema_text))
        if cached is not None:
            return cached
        body = self._call("POST", f"/subjects/{_q(subject)}/versions", subject=subject, what="register",
                          body={"schema": schema_text})
        return self._remember(subject, schema_text, body)

    def lookup(self, subject: str, schema_text: str) -> int | None:
        """The id of ``schema_text`` if ``subject`` has it, else None (nothing is registered)."""
        with self._lock:
            cached = self._ids.get((subject, schema_text))
        if cached is not None:
            return cached
        try:
            body = self._call("POST", f"/subjects/{_q(subject)}", subject=subject, what="lookup",
                              body={"schema": schema_text})
        except RegistryRejected as err:
            if err.error_code in _NOT_FOUND:
                return None
            raise
        return self._remember(subject, schema_text, body)

    def compatibility(self, subject: str) -> str | None:
        """The subject's own compatibility level; None when it follows the global one."""
        try:
            body = self._call("GET", f"/config/{_q(subject)}", subject=subject, what="read compatibility")
        except RegistryRejected as err:
            if err.error_code in _NO_SUBJECT_LEVEL:
                return None
            raise
        return self._level(body, "compatibilityLevel", subject)

    def set_compatibility(self, subject: str, level: str) -> str:
        """Give ``subject`` its own level (``BACKWARD``, ``NONE``…); returns the level the registry now holds."""
        body = self._call("PUT", f"/config/{_q(subject)}", subject=subject, what="set compatibility",
                          body={"compatibility": level.upper()})
        return self._level(body, "compatibility", subject)

    def global_compatibility(self) -> str:
        return self._level(self._call("GET", "/config", subject=None, what="read compatibility"),
                           "compatibilityLevel", None)

    # internals

    def _remember(self, subject: str, schema_text: str, body: dict[str, Any]) -> int:
        schema_id = body.get("id")
        if not isinstance(schema_id, int) or isinstance(schema_id, bool):
            raise RegistryError("answer without a schema id", url=self.url, subject=subject)
        with self._lock:
            self._ids[(subject, schema_text)] = schema_id
        return schema_id

    def _level(self, body: dict[str, Any], key: str, subject: str | None) -> str:
        level = body.get(key)
        if not isinstance(level, str):
            raise RegistryError(f"answer without {key}", url=self.url, subject=subject)
        return level

    def _call(
        self, method: Literal["GET", "POST", "PUT"], path: str, *, subject: str | None, what: str,
        body: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """One logical call: attempts across URLs with backoff between them; the JSON object answered."""
        data = json.dumps(body) if body is not None else None
        headers = {"Content-Type": _CONTENT_TYPE} if data is not None else None
        attempts = self._config.retries + 1
        last, status, code = "", None, None
        for attempt in range(attempts):
            if attempt:
                self._sleep(min(self._config.backoff_s * 2 ** (attempt - 1), self._config.backoff_max_s))
            with self._lock:
                base = self._s.urls[self._current]
            try:
                resp = self._session.request(
                    method, base + path, data=data, headers=headers, timeout=self._config.timeout_s,
                    verify=self._s.verify, cert=self._s.cert, allow_redirects=False,
                )
            except requests.exceptions.SSLError:
                # A certificate problem is configuration, not weather: retrying would only delay the error.
                raise RegistryUnavailable(f"{what}: TLS handshake failed (check ssl.* settings and the "
                                          "registry's certificate)", url=self.url, subject=subject) from None
            except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as exc:
                last, status, code = ("timed out" if isinstance(exc, requests.Timeout) else "connection failed",
                                      None, None)
                self._next_url()
                continue
            if resp.status_code < 300:
                return self._json(resp, subject)
            status, code, message = resp.status_code, *self._error(resp)
            if status == 429 or status >= 500:
                last = f"HTTP {status}" + (f", error {code}" if code is not None else "")
                self._next_url()
                continue
            described = _WHAT.get(code or status, "rejected")
            detail = f"{what}: {described} ({status}" + (f", error {code})" if code is not None else ")")
            raise RegistryRejected(detail + (f": {message}" if message else ""), url=self.url, subject=subject,
                                   status=status, error_code=code)
        raise RegistryUnavailable(f"{what}: unreachable after {attempts} attempts (last: {last})", url=self.url,
                                  subject=subject, status=status, error_code=code)

    def _next_url(self) -> None:
        with self._lock:
            self._current = (self._current + 1) % len(self._s.urls)

    def _json(self, resp: requests.Response, subject: str | None) -> dict[str, Any]:
        try:
            body = resp.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise RegistryError(f"unexpected answer (HTTP {resp.status_code}, not a JSON object)", url=self.url,
                                subject=subject, status=resp.status_code)
        return body

    def _error(self, resp: requests.Response) -> tuple[int | None, str]:
        """The registry's error code and message (shortened, secrets blanked); (None, "") if not its format."""
        try:
            body = resp.json()
        except ValueError:
            return None, ""
        if not isinstance(body, dict):
            return None, ""
        code = body.get("error_code")
        message = str(body.get("message") or "")
        for secret in self._s.secrets:
            message = message.replace(secret, "***")
        if len(message) > _MESSAGE_MAX:
            message = message[:_MESSAGE_MAX] + "…"
        return (code if isinstance(code, int) and not isinstance(code, bool) else None), message


def _q(subject: str) -> str:
    """Subjects may hold ``/``, ``?`` or ``%``: quote everything so the name stays one path segment."""
    return quote(subject, safe="")
