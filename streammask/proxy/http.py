"""The metrics port: ``/metrics`` (Prometheus), ``/healthz`` (the loop is alive and no cluster has been
unreachable for too long), ``/readyz`` (alive, partitions assigned, every cluster and source topic there).
A 503's body says why."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from streammask.errors import StreamMaskError

Check = Callable[[], str | None]
"""Why the proxy is not ready (or not alive); None when that check passes."""


class Health:
    """Shared state the loop updates and the HTTP thread reads."""

    def __init__(self, stall_after_s: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._stall_after = stall_after_s
        self._beat = clock()
        self.ready = False  # partitions assigned
        self._readiness: list[Check] = []
        self._liveness: list[Check] = []

    def watch(self, *, ready: Check | None = None, alive: Check | None = None) -> None:
        """Add checks: ``ready`` keeps ``/readyz`` 503 while it gives a reason, ``alive`` ``/healthz`` too."""
        if ready is not None:
            self._readiness.append(ready)
        if alive is not None:
            self._liveness.append(alive)

    def beat(self) -> None:
        self._beat = self._clock()

    def idle(self) -> float:
        """Seconds since the loop last turned (``beat``)."""
        return self._clock() - self._beat

    def failing(self) -> str | None:
        """Why a liveness check fails (a cluster unreachable past broker_timeout_s), not counting a stalled
        loop: what the watchdog ends the process for when the main thread cannot (blocked in a Kafka call)."""
        return next((why for why in (check() for check in self._liveness) if why), None)

    def dead(self) -> str | None:
        """Why the process is not alive (None: it is)."""
        idle = self.idle()
        if idle >= self._stall_after:
            return f"stalled: the processing loop has not run for {idle:.0f} s"
        return next((why for why in (check() for check in self._liveness) if why), None)

    def alive(self) -> bool:
        return self.dead() is None

    def not_ready(self) -> str | None:
        """Why the proxy is not ready (None: it is)."""
        why = self.dead() or next((why for why in (check() for check in self._readiness) if why), None)
        if why is None and not self.ready:
            why = "no partitions assigned"
        return why


class PortUnavailable(StreamMaskError):
    """The metrics port cannot be bound (in use, or not allowed)."""


class MetricsServer:
    """``where`` says where the port was configured, for the error when it cannot be bound (e.g.
    ``metrics.port in config.yaml``)."""

    def __init__(self, host: str, port: int, registry: CollectorRegistry, health: Health,
                 where: str = "metrics.port") -> None:
        registry_, health_ = registry, health

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                if self.path.startswith("/metrics"):
                    self._send(200, generate_latest(registry_), CONTENT_TYPE_LATEST)
                elif self.path.startswith("/healthz"):
                    dead = health_.dead()
                    self._send(200 if dead is None else 503, f"{dead or 'ok'}\n".encode(), "text/plain")
                elif self.path.startswith("/readyz"):
                    why = health_.not_ready()
                    body = "ready" if why is None else f"not ready: {why}"
                    self._send(200 if why is None else 503, f"{body}\n".encode(), "text/plain")
                else:
                    self._send(404, b"not found\n", "text/plain")

            def _send(self, code: int, body: bytes, ctype: str) -> None:
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:  # quiet: no access log lines
                return

        try:
            self._server = ThreadingHTTPServer((host, port), Handler)
        except OSError as exc:
            why = (exc.strerror or str(exc)).lower()
            raise PortUnavailable(f"metrics port {port} on {host or 'all interfaces'} ({where}): {why}") from None
        self._thread = threading.Thread(target=self._server.serve_forever, name="metrics-http", daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
