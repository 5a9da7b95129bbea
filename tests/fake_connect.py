"""A small fake of Kafka Connect's REST API, over real HTTP (test infrastructure for ``streammask connect
apply``: no Connect worker can run on the CI machines). Registered from ``tests/conftest.py``; the
``fake_connect`` fixture gives one running ``FakeConnect``.

What it serves, with the shapes of Kafka Connect's REST API (docs "Kafka Connect REST Interface"):
``GET /`` (``{"version", "commit", "kafka_cluster_id"}``); ``PUT /connectors/{name}/config`` (201 and the
connector's info when it is new, 200 when it existed; 400 when the body's ``name`` differs from the URL's, or
a value is not a string); ``GET /connectors/{name}/status`` (``{"name", "connector": {"state", "worker_id"
[, "trace"]}, "tasks": [{"id", "state", "worker_id" [, "trace"]}], "type"}``, 404 with "No status found for
connector NAME" before the connector exists). Errors are ``{"error_code": N, "message": ...}``.

How a connector's status evolves after its config is put: by default, as a worker starts one: first no
status (404, the herder has not written it yet), then the connector RUNNING with no tasks, then its task(s)
RUNNING. ``script(name, [status, ...])`` replaces that with the given connector/task states, one per status
request (the last repeats); a state ``"FAILED: text"`` carries ``text`` as the trace. ``reply_next(n, status,
message)`` answers the next ``n`` PUTs with that error. ``stop()`` closes the socket (clients get "connection
refused"); ``start()`` listens again on the same port.

Not there: the other endpoints (plugins, validate, pause/resume, restart, offsets, topics), authentication,
TLS, and the worker itself (nothing runs: states are scripted).
"""

from __future__ import annotations

import json
import socket
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

import pytest

WORKER = "connect:8083"
DEFAULT_SCRIPT: list[tuple[str, list[str]] | None] = [None, ("RUNNING", []), ("RUNNING", ["RUNNING"])]


@dataclass
class Request:
    method: str
    path: str
    body: Any


@dataclass
class FakeConnect:
    port: int = 0
    requests: list[Request] = field(default_factory=list)
    configs: dict[str, dict[str, str]] = field(default_factory=dict)
    _scripts: dict[str, deque[tuple[str, list[str]] | None]] = field(default_factory=dict)
    _put_replies: deque[tuple[int, str]] = field(default_factory=deque)
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def script(self, name: str, states: list[tuple[str, list[str]] | None]) -> None:
        """Status answers for ``name``, one per request (the last repeats): None is a 404, else (connector
        state, task states)."""
        self._scripts[name] = deque(states)

    def reply_next(self, n: int, status: int, message: str) -> None:
        self._put_replies.extend([(status, message)] * n)

    def start(self) -> None:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                fake._handle(self, "GET", None)

            def do_PUT(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                fake._handle(self, "PUT", self.rfile.read(length))

            def log_message(self, format: str, *args: object) -> None:
                return

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        self.port = server.server_address[1]
        self._server = server
        threading.Thread(target=server.serve_forever, args=(0.05,), name="fake-connect", daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    # -- the API ----------------------------------------------------------------------------------

    def _handle(self, h: BaseHTTPRequestHandler, method: str, raw: bytes | None) -> None:
        body = json.loads(raw) if raw else None
        with self._lock:
            self.requests.append(Request(method, h.path, body))
            status, doc = self._route(method, h.path, body)
        data = json.dumps(doc).encode()
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)

    def _route(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        parts = [unquote(p) for p in path.split("?")[0].strip("/").split("/")] if path != "/" else []
        if method == "GET" and not parts:
            return 200, {"version": "3.9.0", "commit": "a60e31147e6b01ee", "kafka_cluster_id": "kit-cluster"}
        if method == "PUT" and len(parts) == 3 and parts[0] == "connectors" and parts[2] == "config":
            return self._put(parts[1], body)
        if method == "GET" and len(parts) == 3 and parts[0] == "connectors" and parts[2] == "status":
            return self._status(parts[1])
        return 404, {"error_code": 404, "message": "HTTP 404 Not Found"}

    def _put(self, name: str, body: Any) -> tuple[int, Any]:
        if self._put_replies:
            status, message = self._put_replies.popleft()
            return status, {"error_code": status, "message": message}
        if not isinstance(body, dict) or not all(isinstance(v, str) for v in body.values()):
            return 400, {"error_code": 400, "message": "Cannot deserialize value of type `java.util.HashMap`"}
        if body.get("name", name) != name:
            return 400, {"error_code": 400, "message": f"Connector name configuration ({body['name']}) doesn't "
                                                       f"match connector name in the URL ({name})"}
        created = name not in self.configs
        self.configs[name] = dict(body)
        self._scripts.setdefault(name, deque(DEFAULT_SCRIPT))
        kind = "sink" if "Sink" in body.get("connector.class", "") else "source"
        return (201 if created else 200), {"name": name, "config": body, "tasks": [], "type": kind}

    def _status(self, name: str) -> tuple[int, Any]:
        script = self._scripts.get(name)
        step = None
        if name in self.configs and script:
            step = script.popleft() if len(script) > 1 else script[0]
        if step is None:
            return 404, {"error_code": 404, "message": f"No status found for connector {name}"}
        connector_state, task_states = step
        kind = "sink" if "Sink" in self.configs[name].get("connector.class", "") else "source"
        return 200, {
            "name": name,
            "connector": _state(connector_state),
            "tasks": [{"id": i, **_state(s)} for i, s in enumerate(task_states)],
            "type": kind,
        }


def _state(text: str) -> dict[str, str]:
    if text.startswith("FAILED: "):
        return {"state": "FAILED", "worker_id": WORKER, "trace": text.removeprefix("FAILED: ")}
    return {"state": text, "worker_id": WORKER}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def fake_connect() -> Iterator[FakeConnect]:
    fake = FakeConnect()
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()
