"""A small, honest fake of Confluent Schema Registry's REST API, over real HTTP (test infrastructure).

Registered from ``tests/conftest.py`` as a pytest plugin. It provides:

- ``registry``: one running ``FakeRegistry``; ``source_registry`` and ``target_registry``: two independent ones;
- ``registry_factory(**options)``: more of them (basic auth, bearer token, TLS), stopped at teardown;
- ``registry_pki`` (session): a throw-away CA with server and client certificates for TLS mode.

What it serves, with the real registry's bodies, status codes and ``error_code`` values:
``GET /schemas/ids/{id}`` (query parameters ignored), ``GET /subjects``, ``GET /subjects/{s}/versions``,
``POST /subjects/{s}/versions`` (register), ``POST /subjects/{s}`` (lookup),
``GET /subjects/{s}/versions/{n|latest}``, ``GET|PUT /config`` and ``GET|PUT /config/{s}``
(``?defaultToGlobal=true`` falls back to the global level; otherwise a subject without its own level is
404/40408, as in the real registry - also for an unknown subject). Errors are
``{"error_code": N, "message": ...}`` with the status taken from N's first three digits.

How it judges schemas:

- Avro only: the text must be JSON that ``fastavro.parse_schema`` accepts, else 422/42201. Other
  ``schemaType`` values and non-empty ``references`` are refused with 42201 (the real one accepts them).
- "The same schema" is the same JSON once whitespace and key order are ignored and ``{"type": "int"}`` is
  read as ``"int"``: such texts get one global id in every subject, as the real registry's canonical form
  does. It does not resolve namespaces or drop ``doc``, so two texts the real registry might merge can get
  two ids here. What ``GET`` returns is the compact JSON of the first text registered for that id (the real
  registry also returns its own canonical text, not the bytes that were sent).
- Compatibility is Avro schema resolution, checked against the latest version (``*_TRANSITIVE``: all
  versions): a reader field missing from the writer needs a default; types must match or be promotable
  (int→long→float→double, string↔bytes); a writer union needs every branch readable, a reader union one
  branch that reads the writer; enum symbols the writer has need a place in the reader (or a reader
  ``default``); fixed sizes and record/enum/fixed names (unqualified, or a reader alias) must match.
  BACKWARD (the default) has the new schema read the old, FORWARD the old read the new, FULL both, NONE
  nothing. Logical types are not compared (as in Avro's SchemaCompatibility, which checks the underlying types).
  Re-registering a schema the subject already has returns its id without any check, as the real one does.

Test controls: ``requests`` (every request: method, raw path, query, lower-cased headers, body);
``fail_next(n, status)``, ``reply_next(n, status, raw_body)``, ``drop_next(n)`` (close the connection
unanswered) and ``stall_next(n, s)`` queue faults for the next requests, before authentication;
``force_error(subject, error_code)`` makes the next registration under a subject fail; ``down()`` closes
the listening socket and every open connection (clients see "connection refused"), ``up()`` listens again
on the same port. Optional basic auth and/or bearer token (401/401 otherwise); with ``pki`` it serves
HTTPS, and ``require_client_cert`` makes the TLS handshake demand a certificate signed by the test CA.

Not there: deletes (405), modes, contexts, metadata and rule sets, guids, ``normalize`` (ignored),
``/schemas/ids/{id}/versions``, leader forwarding; and the real registry's Jetty may refuse an encoded
``/`` (``%2F``) in a subject, which the fake decodes and accepts.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import ipaddress
import json
import socket
import ssl
import threading
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote

import fastavro
import pytest

CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"
LEVELS = frozenset({
    "NONE", "BACKWARD", "BACKWARD_TRANSITIVE", "FORWARD", "FORWARD_TRANSITIVE", "FULL", "FULL_TRANSITIVE",
})
_PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})
_PROMOTIONS = {
    "int": {"long", "float", "double"}, "long": {"float", "double"}, "float": {"double"},
    "string": {"bytes"}, "bytes": {"string"},
}
_MAX_VERSION = 2**31 - 1


class RegistryHttpError(Exception):
    """An error answer: the status is the error code's first three digits, as in the real registry."""

    def __init__(self, error_code: int, message: str) -> None:
        super().__init__(message)
        self.error_code = error_code
        self.message = message

    @property
    def status(self) -> int:
        return int(str(self.error_code)[:3])


@dataclass(frozen=True)
class Seen:
    """One request as the fake received it: ``path`` is still percent-encoded, header names lower-cased."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(frozen=True)
class Pki:
    """PEM files of a test CA, a server certificate for 127.0.0.1/localhost and a client certificate."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


@dataclass(frozen=True)
class _Fault:
    kind: str  # "fail" | "drop" | "stall" | "raw"
    status: int = 503
    error_code: int = 503
    seconds: float = 0.0
    body: bytes = b""


@dataclass
class _Stored:
    schema_id: int
    text: str
    parsed: Any
    named: dict[str, Any]


@dataclass
class _Subject:
    versions: list[int] = field(default_factory=list)  # schema id of version i+1


# --- schema parsing and compatibility ------------------------------------------------------------------


def _collapse(node: Any) -> Any:
    """``{"type": "int"}`` and ``"int"`` are one schema; anything else keeps its shape."""
    if isinstance(node, dict):
        if set(node) == {"type"} and isinstance(node["type"], str) and node["type"] in _PRIMITIVES:
            return node["type"]
        return {k: _collapse(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_collapse(v) for v in node]
    return node


def parse_avro(text: str) -> tuple[str, str, Any, dict[str, Any]]:
    """(identity key, compact text, fastavro-parsed schema, named types) or 42201 for invalid Avro."""
    try:
        raw = _collapse(json.loads(text))
    except (ValueError, TypeError) as exc:
        raise RegistryHttpError(42201, f"Invalid schema: not JSON ({exc})") from None
    named: dict[str, Any] = {}
    try:
        parsed = fastavro.parse_schema(json.loads(json.dumps(raw)), named_schemas=named, _write_hint=False)
    except Exception as exc:  # fastavro raises several types (SchemaParseException, UnknownType, KeyError…)
        raise RegistryHttpError(42201, f"Invalid schema: {type(exc).__name__}: {exc}") from None
    key = json.dumps(raw, sort_keys=True, separators=(",", ":"))
    return key, json.dumps(raw, separators=(",", ":")), parsed, named


def _kind(schema: Any, named: dict[str, Any]) -> tuple[str, Any]:
    if isinstance(schema, list):
        return "union", schema
    if isinstance(schema, str):
        return (schema, schema) if schema in _PRIMITIVES else _kind(named[schema], named)
    inner = schema["type"]
    if isinstance(inner, str) and inner not in _PRIMITIVES and inner in named:
        return _kind(named[inner], named)
    if isinstance(inner, dict | list):
        return _kind(inner, named)
    return str(inner), schema


def _short(name: str) -> str:
    return name.rpartition(".")[2]


class _Resolution:
    """Avro schema resolution: can data written with ``writer`` be read with ``reader``? Collects why not."""

    def __init__(
        self, reader_named: dict[str, Any], writer_named: dict[str, Any], seen: set[tuple[int, int]] | None = None
    ) -> None:
        self.rn, self.wn = reader_named, writer_named
        self.problems: list[str] = []
        self._seen = set() if seen is None else seen  # named pairs under check: a recursive type is assumed fine

    def check(self, reader: Any, writer: Any, where: str) -> bool:
        rk, r = _kind(reader, self.rn)
        wk, w = _kind(writer, self.wn)
        if wk == "union":
            return all([self.check(reader, branch, where) for branch in w])
        if rk == "union":
            if any(_Resolution(self.rn, self.wn, set(self._seen)).check(branch, writer, where) for branch in r):
                return True
            return self._no(f"{where}: reader union has no branch for writer type {wk}")
        if rk != wk:
            if wk in _PROMOTIONS and rk in _PROMOTIONS[wk]:
                return True
            return self._no(f"{where}: type mismatch (reader {rk}, writer {wk})")
        if rk in _PRIMITIVES:
            return True
        if rk in ("record", "error", "enum", "fixed"):
            pair = (id(r), id(w))
            if pair in self._seen:
                return True
            self._seen.add(pair)
            aliases = {_short(a) for a in r.get("aliases", [])}
            if _short(r["name"]) != _short(w["name"]) and _short(w["name"]) not in aliases:
                return self._no(f"{where}: name mismatch (reader {r['name']}, writer {w['name']})")
        if rk == "array":
            return self.check(r["items"], w["items"], f"{where}[]")
        if rk == "map":
            return self.check(r["values"], w["values"], f"{where}{{}}")
        if rk == "fixed":
            return r["size"] == w["size"] or self._no(f"{where}: fixed size {w['size']} read as {r['size']}")
        if rk == "enum":
            missing = [s for s in w["symbols"] if s not in r["symbols"]]
            if missing and "default" not in r:
                return self._no(f"{where}: reader enum lacks symbols {missing}")
            return True
        return self._record(r, w, where)

    def _record(self, reader: dict[str, Any], writer: dict[str, Any], where: str) -> bool:
        written = {f["name"]: f for f in writer["fields"]}
        ok = True
        for f in reader["fields"]:
            names = [f["name"], *f.get("aliases", [])]
            match = next((written[n] for n in names if n in written), None)
            path = f"{where}.{f['name']}"
            if match is None:
                if "default" not in f:
                    ok = self._no(f"{path}: new field without a default (READER_FIELD_MISSING_DEFAULT_VALUE)")
            elif not self.check(f["type"], match["type"], path):
                ok = False
        return ok

    def _no(self, problem: str) -> bool:
        self.problems.append(problem)
        return False


def incompatibilities(new: _Stored, existing: list[_Stored], level: str) -> list[str]:
    """Why ``new`` may not follow ``existing`` (oldest first) under ``level``; empty when it may."""
    if level == "NONE" or not existing:
        return []
    against = existing if level.endswith("_TRANSITIVE") else existing[-1:]
    problems: list[str] = []
    for old in against:
        if level.startswith(("BACKWARD", "FULL")):
            check = _Resolution(new.named, old.named)
            if not check.check(new.parsed, old.parsed, "$"):
                problems += [f"new schema cannot read version id {old.schema_id}: {p}" for p in check.problems]
        if level.startswith(("FORWARD", "FULL")):
            check = _Resolution(old.named, new.named)
            if not check.check(old.parsed, new.parsed, "$"):
                problems += [f"schema id {old.schema_id} cannot read the new schema: {p}" for p in check.problems]
    return problems


# --- the server ---------------------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeRegistry

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Dropped and refused connections are part of the tests; keep them off stderr."""
        self.fake.handler_errors += 1


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    wbufsize = -1  # headers and body leave in one write: no Nagle/delayed-ACK stall of ~40 ms per request
    server: _Server

    def setup(self) -> None:
        fake = self.server.fake
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if fake.tls_context is not None:
            self.request = fake.tls_context.wrap_socket(self.request, server_side=True)
        fake._track(self.request, True)
        super().setup()

    def finish(self) -> None:
        with contextlib.suppress(OSError):
            super().finish()
        self.server.fake._track(self.request, False)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.server.fake._serve(self)

    do_POST = do_PUT = do_DELETE = do_GET

    def reply(self, status: int, payload: Any, content_type: str = CONTENT_TYPE) -> None:
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class FakeRegistry:
    """One registry: its state, its HTTP server and the test controls described in the module docstring."""

    def __init__(
        self,
        *,
        basic_auth: tuple[str, str] | None = None,
        bearer_token: str | None = None,
        pki: Pki | None = None,
        require_client_cert: bool = False,
    ) -> None:
        self.basic_auth = basic_auth
        self.bearer_token = bearer_token
        self.tls_context: ssl.SSLContext | None = None
        if pki is not None:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(pki.server_cert, pki.server_key)
            if require_client_cert:
                ctx.verify_mode = ssl.CERT_REQUIRED
                ctx.load_verify_locations(cafile=pki.ca)
            self.tls_context = ctx
        self.requests: list[Seen] = []
        self.handler_errors = 0
        self.global_level = "BACKWARD"
        self.subject_levels: dict[str, str] = {}
        self._schemas: dict[int, _Stored] = {}
        self._ids_by_key: dict[str, int] = {}
        self._subjects: dict[str, _Subject] = {}
        self._faults: deque[_Fault] = deque()
        self._raw_type = "text/html"
        self._forced: dict[str, deque[tuple[int, str]]] = {}
        self._lock = threading.RLock()
        self._conns: set[socket.socket] = set()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._stalls = threading.Event()
        self.port = 0

    # lifecycle

    def start(self) -> FakeRegistry:
        self.up()
        return self

    def up(self) -> None:
        """Listen (again) on ``self.port``; port 0 the first time, then the same port after ``down()``."""
        if self._server is not None:
            return
        self._stalls.clear()
        server = _Server(("127.0.0.1", self.port), _Handler)
        server.fake = self
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(target=self._accept, args=(server,), name=f"registry-{self.port}", daemon=True)
        self._thread.start()

    @staticmethod
    def _accept(server: _Server) -> None:
        """``serve_forever`` polls for its shutdown flag; a blocking accept ends at once when the socket is shut."""
        while True:
            try:
                conn, address = server.socket.accept()
            except OSError:
                return
            server.process_request(conn, address)

    def down(self) -> None:
        """Stop accepting and cut open connections: the port refuses connections until ``up()``."""
        server, self._server = self._server, None
        if server is None:
            return
        self._stalls.set()
        with contextlib.suppress(OSError):
            server.socket.shutdown(socket.SHUT_RDWR)
        server.server_close()
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            with contextlib.suppress(OSError, ValueError):
                conn.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)

    stop = down

    def __enter__(self) -> FakeRegistry:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        scheme = "https" if self.tls_context is not None else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    # test controls

    def fail_next(self, n: int = 1, status: int = 503, error_code: int | None = None) -> None:
        """Answer the next ``n`` requests with ``status`` (body ``error_code``, by default the status itself)."""
        code = error_code if error_code is not None else status
        self._faults.extend(_Fault("fail", status=status, error_code=code) for _ in range(n))

    def reply_next(self, n: int, status: int, body: bytes, content_type: str = "text/html") -> None:
        """Answer the next ``n`` requests with these raw bytes (a proxy's HTML page, a malformed body)."""
        self._faults.extend(_Fault("raw", status=status, body=body, error_code=0) for _ in range(n))
        self._raw_type = content_type

    def drop_next(self, n: int = 1) -> None:
        self._faults.extend(_Fault("drop") for _ in range(n))

    def stall_next(self, n: int = 1, seconds: float = 1.0) -> None:
        """Hold the next requests ``seconds`` before answering (cut short by ``down()``)."""
        self._faults.extend(_Fault("stall", seconds=seconds) for _ in range(n))

    def force_error(self, subject: str, error_code: int, message: str = "forced by the test", times: int = 1) -> None:
        """The next ``times`` registrations under ``subject`` fail with this error (e.g. 40901, 42201)."""
        self._forced.setdefault(subject, deque()).extend([(error_code, message)] * times)

    def calls(self, method: str | None = None, path: str | None = None) -> list[Seen]:
        """Requests so far, optionally only those with this method and/or raw path."""
        with self._lock:
            return [r for r in self.requests if (method in (None, r.method)) and (path in (None, r.path))]

    def clear_log(self) -> None:
        with self._lock:
            self.requests.clear()

    def register_direct(self, subject: str, schema: str) -> int:
        """Register without HTTP (test set-up)."""
        return int(self._register(subject, {"schema": schema})["id"])

    # HTTP

    def _track(self, conn: socket.socket, opened: bool) -> None:
        with self._lock:
            if opened:
                self._conns.add(conn)
            else:
                self._conns.discard(conn)

    def _serve(self, h: _Handler) -> None:
        body = h.rfile.read(int(h.headers.get("Content-Length") or 0))
        raw_path, _, query = h.path.partition("?")
        seen = Seen(h.command, raw_path, query, {k.lower(): v for k, v in h.headers.items()}, body)
        with self._lock:
            self.requests.append(seen)
            fault = self._faults.popleft() if self._faults else None
        if fault is not None and fault.kind == "drop":
            h.close_connection = True
            with contextlib.suppress(OSError):
                h.connection.shutdown(socket.SHUT_RDWR)
            return
        if fault is not None and fault.kind == "stall" and self._stalls.wait(fault.seconds):
            h.close_connection = True
            return
        if fault is not None and fault.kind == "raw":
            h.reply(fault.status, fault.body, self._raw_type)
            return
        try:
            if fault is not None and fault.kind == "fail":
                raise RegistryHttpError(fault.error_code, f"injected failure (HTTP {fault.status})")
            self._authenticate(seen)
            status, payload = 200, self._route(seen)
        except RegistryHttpError as err:
            status = fault.status if fault is not None and fault.kind == "fail" else err.status
            payload = {"error_code": err.error_code, "message": err.message}
        except Exception as exc:  # a bug in the fake: say so rather than drop the connection
            status, payload = 500, {"error_code": 50001, "message": f"fake registry bug: {exc!r}"}
        h.reply(status, payload)

    def _authenticate(self, seen: Seen) -> None:
        given = seen.headers.get("authorization", "")
        accepted: list[str] = []
        if self.basic_auth is not None:
            accepted.append("Basic " + base64.b64encode(":".join(self.basic_auth).encode()).decode())
        if self.bearer_token is not None:
            accepted.append(f"Bearer {self.bearer_token}")
        if accepted and given not in accepted:
            raise RegistryHttpError(401, "Unauthorized")

    def _route(self, seen: Seen) -> Any:
        parts = [unquote(p) for p in seen.path.strip("/").split("/")]
        params = parse_qs(seen.query)
        body = self._body(seen) if seen.method in ("POST", "PUT") else None
        match (seen.method, parts):
            case ("GET", ["schemas", "ids", schema_id]) if schema_id.isdigit():
                return self._schema_by_id(int(schema_id))
            case ("GET", ["subjects"]):
                with self._lock:
                    return sorted(s for s, v in self._subjects.items() if v.versions)
            case ("GET", ["subjects", subject, "versions"]):
                return list(range(1, len(self._subject(subject).versions) + 1))
            case ("POST", ["subjects", subject, "versions"]):
                return self._register(subject, body)
            case ("POST", ["subjects", subject]):
                return self._lookup(subject, body)
            case ("GET", ["subjects", subject, "versions", version]):
                return self._version(subject, version)
            case ("GET", ["config"]):
                return {"compatibilityLevel": self.global_level}
            case ("PUT", ["config"]):
                self.global_level = self._level(body)
                return {"compatibility": self.global_level}
            case ("GET", ["config", subject]):
                level = self.subject_levels.get(subject)
                if level is None and params.get("defaultToGlobal", ["false"])[0].lower() == "true":
                    level = self.global_level
                if level is None:
                    raise RegistryHttpError(
                        40408, f"Subject '{subject}' does not have subject-level compatibility configured"
                    )
                return {"compatibilityLevel": level}
            case ("PUT", ["config", subject]):
                level = self._level(body)
                self.subject_levels[subject] = level
                return {"compatibility": level}
            case (_, ["schemas" | "subjects" | "config", *_]) if seen.method not in ("GET", "POST", "PUT"):
                raise RegistryHttpError(405, "HTTP 405 Method Not Allowed")
        raise RegistryHttpError(404, "HTTP 404 Not Found")

    @staticmethod
    def _body(seen: Seen) -> dict[str, Any]:
        try:
            body = json.loads(seen.body or b"null")
        except ValueError as exc:
            raise RegistryHttpError(400, f"Unexpected character in request body: {exc}") from None
        if not isinstance(body, dict):
            raise RegistryHttpError(422, "Unrecognized request body: expected a JSON object")
        return body

    @staticmethod
    def _level(body: Any) -> str:
        level = str((body or {}).get("compatibility", "")).upper()
        if level not in LEVELS:
            raise RegistryHttpError(42203, "Invalid compatibility level. Valid values are none, backward, forward, "
                                    "full, backward_transitive, forward_transitive, and full_transitive")
        return level

    # registry state

    def _schema_by_id(self, schema_id: int) -> dict[str, Any]:
        with self._lock:
            stored = self._schemas.get(schema_id)
        if stored is None:
            raise RegistryHttpError(40403, "Schema not found")
        return {"schema": stored.text}

    def _subject(self, subject: str) -> _Subject:
        found = self._subjects.get(subject)
        if found is None or not found.versions:
            raise RegistryHttpError(40401, f"Subject '{subject}' not found.")
        return found

    def _parse_request(self, body: Any) -> tuple[str, _Stored]:
        text = (body or {}).get("schema")
        if not isinstance(text, str) or not text.strip():
            raise RegistryHttpError(42201, "Invalid schema: empty schema")
        if (body.get("schemaType") or "AVRO") != "AVRO":
            raise RegistryHttpError(42201, f"Invalid schema: the fake handles AVRO only, not {body['schemaType']}")
        if body.get("references"):
            raise RegistryHttpError(42201, "Invalid schema: the fake registry does not support references")
        key, compact, parsed, named = parse_avro(text)
        return key, _Stored(0, compact, parsed, named)

    def _register(self, subject: str, body: Any) -> dict[str, Any]:
        with self._lock:
            forced = self._forced.get(subject)
            if forced:
                code, message = forced.popleft()
                raise RegistryHttpError(code, message)
            key, new = self._parse_request(body)
            entry = self._subjects.setdefault(subject, _Subject())
            known = self._ids_by_key.get(key)
            if known is not None and known in entry.versions:
                return {"id": known}
            level = self.subject_levels.get(subject, self.global_level)
            problems = incompatibilities(new, [self._schemas[i] for i in entry.versions], level)
            if problems:
                raise RegistryHttpError(
                    40901,
                    f'Schema being registered is incompatible with an earlier schema for subject "{subject}", '
                    f"details: {problems}",
                )
            if known is None:
                known = max(self._schemas, default=0) + 1
                new.schema_id = known
                self._schemas[known] = new
                self._ids_by_key[key] = known
            entry.versions.append(known)
            return {"id": known}

    def _lookup(self, subject: str, body: Any) -> dict[str, Any]:
        with self._lock:
            entry = self._subject(subject)
            key, _ = self._parse_request(body)
            schema_id = self._ids_by_key.get(key)
            if schema_id is None or schema_id not in entry.versions:
                raise RegistryHttpError(40403, "Schema not found")
            return self._described(subject, entry.versions.index(schema_id) + 1, schema_id)

    def _version(self, subject: str, version: str) -> dict[str, Any]:
        with self._lock:
            entry = self._subject(subject)
            if version in ("latest", "-1"):
                number = len(entry.versions)
            elif version.isdigit() and 1 <= int(version) <= _MAX_VERSION:
                number = int(version)
            else:
                raise RegistryHttpError(42202, f"The specified version '{version}' is not a valid version id. "
                                        'Allowed values are between [1, 2^31-1] and the string "latest"')
            if number > len(entry.versions):
                raise RegistryHttpError(40402, f"Version {version} not found.")
            return self._described(subject, number, entry.versions[number - 1])

    def _described(self, subject: str, version: int, schema_id: int) -> dict[str, Any]:
        return {"subject": subject, "version": version, "id": schema_id, "schema": self._schemas[schema_id].text}


# --- TLS material -------------------------------------------------------------------------------------


def make_pki(directory: Path) -> Pki:
    """A CA and two leaf certificates (EC P-256, one day), written as PEM files under ``directory``."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = dt.datetime.now(dt.UTC)

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    def write(stem: str, key: ec.EllipticCurvePrivateKey, cert: x509.Certificate) -> tuple[Path, Path]:
        cert_path, key_path = directory / f"{stem}.crt", directory / f"{stem}.key"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ))
        return cert_path, key_path

    def builder(subject: str, issuer: str, key: ec.EllipticCurvePrivateKey) -> x509.CertificateBuilder:
        return (
            x509.CertificateBuilder().subject_name(name(subject)).issuer_name(name(issuer))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        )

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        builder("fake-registry test CA", "fake-registry test CA", ca_key)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=False, key_encipherment=False, data_encipherment=False,
            key_agreement=False, key_cert_sign=True, crl_sign=True, encipher_only=False, decipher_only=False,
        ), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key())

    def leaf(cn: str, usage: x509.ObjectIdentifier, san: list[x509.GeneralName]) -> tuple[Path, Path]:
        key = ec.generate_private_key(ec.SECP256R1())
        b = (
            builder(cn, "fake-registry test CA", key)
            .add_extension(aki, critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        )
        if san:
            b = b.add_extension(x509.SubjectAlternativeName(san), critical=False)
        return write(cn, key, b.sign(ca_key, hashes.SHA256()))

    ca_path = directory / "ca.crt"
    ca_path.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    server = leaf("server", ExtendedKeyUsageOID.SERVER_AUTH,
                  [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")])
    client = leaf("client", ExtendedKeyUsageOID.CLIENT_AUTH, [])
    return Pki(ca_path, server[0], server[1], client[0], client[1])


# --- fixtures -----------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def registry_pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("registry-pki"))


@pytest.fixture
def registry_factory() -> Iterator[Callable[..., FakeRegistry]]:
    made: list[FakeRegistry] = []

    def make(**options: Any) -> FakeRegistry:
        registry = FakeRegistry(**options).start()
        made.append(registry)
        return registry

    yield make
    for registry in made:
        registry.stop()


@pytest.fixture
def registry(registry_factory: Callable[..., FakeRegistry]) -> FakeRegistry:
    return registry_factory()


@pytest.fixture
def source_registry(registry_factory: Callable[..., FakeRegistry]) -> FakeRegistry:
    return registry_factory()


@pytest.fixture
def target_registry(registry_factory: Callable[..., FakeRegistry]) -> FakeRegistry:
    return registry_factory()
