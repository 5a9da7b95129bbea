"""The few calls of Kafka Connect's REST API that ``connect apply`` makes, with the retries a worker that
is starting or rebalancing needs. What Connect says back is shown with the values of credential keys blanked
out: a validation message can quote a value (the file holds provider references there, never a secret, but
the tool prints none of them either)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import requests

from streammask.connect.configs import SECRET_KEY
from streammask.errors import StreamMaskError

RETRIABLE = frozenset({409, 502, 503, 504})  # 409: a rebalance is in progress; 50x: a proxy or a busy herder
MAX_500 = 3  # a 500 can be a worker still starting, or a permanent fault (a connector class not installed)


class ConnectError(StreamMaskError):
    """Connect refused a call, or could not be reached before the deadline."""


def display_url(url: str) -> str:
    """The URL without user information, for messages."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = host + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def scrub(text: str, config: Mapping[str, str]) -> str:
    """``text`` with the value of every credential key (``configs.SECRET_KEY``) replaced by ``<KEY>``,
    longest first, so a message quoting one shows which key it was, not what it held."""
    secrets = [(k, v) for k, v in config.items() if SECRET_KEY.search(k) and v]
    for key, value in sorted(secrets, key=lambda kv: -len(kv[1])):
        text = text.replace(value, f"<{key}>")
    return text


def first_line(text: str, limit: int = 300) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"


class ConnectRest:
    def __init__(self, url: str, request_timeout_s: float = 10.0, session: requests.Session | None = None,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> None:
        self.url = url.rstrip("/")
        self.shown = display_url(self.url)
        self._timeout = request_timeout_s
        self._session = session or requests.Session()
        self._clock, self._sleep = clock, sleep

    def close(self) -> None:
        self._session.close()

    def _call(self, method: str, path: str, body: Any = None) -> requests.Response:
        return self._session.request(method, self.url + path, json=body, timeout=self._timeout,
                                     headers={"Accept": "application/json"})

    def wait_until_up(self, deadline: float, retry_s: float) -> str:
        """Connect's version, once its REST API answers; ConnectError at the deadline."""
        last = "no answer"
        while True:
            try:
                resp = self._call("GET", "/")
                if resp.status_code == 200:
                    return str(resp.json().get("version", "?"))
                last = f"HTTP {resp.status_code}"
            except (requests.ConnectionError, requests.Timeout) as exc:
                last = "timed out" if isinstance(exc, requests.Timeout) else "connection failed"
            except ValueError:
                last = "not Connect's REST API (no JSON)"
            if self._clock() + retry_s > deadline:
                raise ConnectError(f"Kafka Connect at {self.shown} did not answer before the timeout ({last})")
            self._sleep(retry_s)

    def put_config(self, name: str, config: Mapping[str, str], deadline: float, retry_s: float) -> bool:
        """Create or update connector ``name`` (idempotent: the same config again changes nothing); True when
        it was created. Retries while the worker rebalances; ConnectError when Connect refuses the config."""
        path = f"/connectors/{quote(name, safe='')}/config"
        errors_500 = 0
        while True:
            detail: str
            try:
                resp = self._call("PUT", path, dict(config))
                if resp.status_code in (200, 201):
                    return resp.status_code == 201
                detail = f"HTTP {resp.status_code}: {scrub(self._message(resp), config)}"
                errors_500 += resp.status_code == 500
                if resp.status_code not in RETRIABLE and (resp.status_code != 500 or errors_500 >= MAX_500):
                    raise ConnectError(f"{name}: Connect refused the config ({detail})")
            except (requests.ConnectionError, requests.Timeout) as exc:
                detail = "timed out" if isinstance(exc, requests.Timeout) else "connection failed"
            if self._clock() + retry_s > deadline:
                raise ConnectError(f"{name}: the config was not accepted before the timeout ({detail})")
            self._sleep(retry_s)

    def status(self, name: str) -> dict[str, Any] | None:
        """``GET /connectors/<name>/status``, or None while Connect has no status for it yet (404) or cannot
        answer right now (a rebalance, a connection error): the caller polls again."""
        try:
            resp = self._call("GET", f"/connectors/{quote(name, safe='')}/status")
        except (requests.ConnectionError, requests.Timeout):
            return None
        if resp.status_code == 200:
            doc = resp.json()
            return doc if isinstance(doc, dict) else None
        if resp.status_code == 404 or resp.status_code in RETRIABLE or resp.status_code == 500:
            return None
        raise ConnectError(f"{name}: status request refused (HTTP {resp.status_code})")

    @staticmethod
    def _message(resp: requests.Response) -> str:
        try:
            doc = resp.json()
        except ValueError:
            return first_line(resp.text) or "(no body)"
        return first_line(str(doc.get("message", ""))) if isinstance(doc, dict) else "(unexpected body)"
